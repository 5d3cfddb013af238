/**
 * In-tool recall uses the dataset's own facts.sqlite, checked before the model is asked anything: a
 * garbage, missing or swapped database stops the evaluation with its path (issue 24: it used to fail
 * after every first turn had been generated, or silently query a neighbouring dataset's database).
 */
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { runItl as itl } from '../../cli/__tests__/runItl.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SMOLLM = join(root, '..', 'shared', 'reference', 'models', 'HuggingFaceTB__SmolLM2-135M-Instruct');

let scratch: string;
let data: string;
let model: string;
beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'itl-recall-db-'));
  data = join(scratch, 'datasets', 'facts');
  model = join(scratch, 'model');
  expect((await itl(['data', 'build', '--people', '30', '--seed', '2', '--out', data])).code).toBe(0);
  expect((await itl(['model', 'init', '--preset', 'tiny-smollm', '--out', model, '--seed', '1'])).code).toBe(0);
  for (const file of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
    copyFileSync(join(SMOLLM, file), join(model, file));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const recall = (evalDir: string) =>
  itl([
    'eval',
    'recall',
    '--model',
    model,
    '--data',
    data,
    '--facts',
    '20',
    '--mode',
    'tool',
    '--eval-dir',
    join(scratch, evalDir),
    '--train-examples',
    '4',
    '--test-examples',
    '2',
    '--batch-size',
    '4',
    '--json',
  ]);

test('a garbage facts.sqlite fails the checkpoint with its path, before any result is written', async () => {
  const db = join(data, 'facts.sqlite');
  const good = join(scratch, 'good.sqlite');
  copyFileSync(db, good);
  writeFileSync(db, 'this is not a database');
  try {
    const result = await recall('eval-garbage');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).failures).toEqual([expect.stringContaining(`${db} has 22 bytes, the manifest says`)]);
    expect(existsSync(join(scratch, 'eval-garbage', 'recall'))).toBe(false);
  } finally {
    copyFileSync(good, db);
  }
  const fine = await recall('eval-fine');
  expect(fine.code).toBe(0);
  expect(JSON.parse(fine.stdout).evaluated).toHaveLength(1);
});

test("a missing facts.sqlite is named; a neighbour's database is never used instead", async () => {
  const db = join(data, 'facts.sqlite');
  const saved = join(scratch, 'saved.sqlite');
  copyFileSync(db, saved);
  cpSync(saved, join(dirname(data), 'facts.sqlite')); // another database right beside the dataset folder
  unlinkSync(db);
  try {
    const result = await recall('eval-missing');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).failures).toEqual([expect.stringContaining(`${db} is missing from the dataset`)]);
  } finally {
    copyFileSync(saved, db);
  }
});
