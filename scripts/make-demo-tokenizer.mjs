#!/usr/bin/env node
// Writes lib/demo/tokenizer.json, the byte-level BPE tokenizer `itl demo` gives its model, trained
// by Hugging Face's `tokenizers` (scripts/train_demo_tokenizer.py) on the demo's own kind of text:
// facts dialogues of 3,000 people drawn with a seed the demo does not use (names are first and last
// name atoms, so unseen people are spelt with the same pieces) and 20,000 general dialogues.
// Run after `npm run build`, with a Python that has `tokenizers` (the reference environment has):
//   node scripts/make-demo-tokenizer.mjs [PYTHON] [VOCAB_SIZE]   (default .venv-reference/bin/python, 1024)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { buildFactsDataset } = await import(join(root, 'dist/data/buildFactsDataset.js'));
const { openFactsDataset } = await import(join(root, 'dist/data/openFactsDataset.js'));
const { generalQuestions } = await import(join(root, 'dist/demo/generalTasks.js'));

const python = process.argv[2] ?? join(root, '.venv-reference/bin/python');
const vocabSize = process.argv[3] ?? '1024';
const scratch = mkdtempSync(join(tmpdir(), 'itl-demo-tokenizer-'));
try {
  const data = join(scratch, 'facts');
  await buildFactsDataset({
    people: 3000,
    seed: 977,
    atomsDir: join(root, 'lib/data/atoms'),
    templatesDir: join(root, 'lib/data/templates'),
    outDir: data,
    force: false,
    previewRows: 0,
    maxShardBytes: 64 << 20,
  });
  const lines = [];
  const dataset = openFactsDataset(data);
  for (const row of dataset.rows(0, dataset.numRows)) {
    for (const message of [...row.qa, ...row.qatool]) lines.push(`${message.role}\n${message.content}`);
  }
  dataset.close();
  for (const q of generalQuestions(20000, 977)) lines.push(`user\n${q.question}`, `assistant\n${q.answer}`);
  const corpus = join(scratch, 'corpus.txt');
  writeFileSync(corpus, `${lines.join('\n')}\n`);
  const out = join(root, 'lib/demo/tokenizer.json');
  const result = spawnSync(python, [join(root, 'scripts/train_demo_tokenizer.py'), corpus, out, vocabSize], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
  console.log(`wrote ${out} (${vocabSize} tokens, from ${lines.length} texts)`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
