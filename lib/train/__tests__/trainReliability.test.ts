/**
 * `itl train` never mixes two runs under one name: one process trains a run at a time (the second
 * fails naming the first), a resume with another model or dataset is refused naming the difference
 * (and run_config.json is left alone), so is a resume whose rows would be tokenised otherwise (the
 * same rows under a new tokenizer hash go on), and a damaged latest checkpoint is named and the
 * previous complete one resumed instead.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { listCheckpoints, RUN_LOCK_FILE } from '../runFolder.js';
import { runItl as itl, initTinySmolLM } from '../../cli/__tests__/runItl.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const RUN = 'sft_Smol135M_facts=8-epochs=4-batch=8-gradAcc=1-LR=1e-3-loraR=0-loraA=0-weight';

describe('itl train keeps one run one run', () => {
  let scratch: string;
  let model: string;
  let data: string;
  let other: string;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-train-reliability-'));
    model = join(scratch, 'tiny');
    data = join(scratch, 'data');
    other = join(scratch, 'other-data');
    await initTinySmolLM(model, 3);
    expect((await itl(['data', 'build', '--people', '12', '--seed', '1', '--out', data])).code).toBe(0);
    expect((await itl(['data', 'build', '--people', '12', '--seed', '2', '--out', other])).code).toBe(0);
  }, 300_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('a second trainer of the same run fails at once, naming the first', async () => {
    const saveDir = join(scratch, 'concurrent');
    const args = [
      'train',
      '--run-name',
      RUN,
      '--data',
      data,
      '--save-dir',
      saveDir,
      '--model',
      model,
      '--epochs',
      '400',
      '--save-steps',
      '1000',
    ];
    const first = spawn(process.execPath, [join(root, 'bin', 'itl.js'), '--torch-threads', '1', ...args], { stdio: 'ignore' });
    const exited = new Promise((done) => first.on('exit', done));
    const lock = join(saveDir, RUN.replace('epochs=4', 'epochs=400'), RUN_LOCK_FILE);
    while (!existsSync(lock) && first.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    const second = await itl([...args, '--resume']);
    first.kill('SIGKILL');
    await exited;
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`is in use by pid ${first.pid} .*\\[ITL_LOCKED\\]`));
  }, 300_000);

  test('--resume with another dataset is refused and run_config.json is left alone; a damaged checkpoint falls back', async () => {
    const saveDir = join(scratch, 'resume');
    const args = ['train', '--run-name', RUN, '--save-dir', saveDir, '--model', model, '--save-steps', '2'];
    expect((await itl([...args, '--data', data])).code).toBe(0);
    const runDir = join(saveDir, RUN);
    const record = readFileSync(join(runDir, 'run_config.json'), 'utf8');

    const mixed = await itl([...args, '--data', other, '--resume']);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toMatch(/trained on other inputs: data: .*data \(seed 1, 12 people\) vs .*other-data \(seed 2, 12 people\)/);
    expect(readFileSync(join(runDir, 'run_config.json'), 'utf8')).toBe(record);

    // The last checkpoint's optimizer state is cut short: the resume names it and takes checkpoint-2.
    truncateSync(join(runDir, 'checkpoint-4', 'optimizer.pt'), 100);
    const resumed = await itl([...args, '--data', data, '--resume']);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`${join(runDir, 'checkpoint-4')} cannot be resumed`);
    expect(resumed.stderr).toContain('resuming at step 2');
    expect(listCheckpoints(runDir).map((c) => c.step)).toEqual([2, 4]);
  }, 300_000);

  test('--resume on rows tokenised otherwise is refused; the same rows under another tokenizer hash go on', async () => {
    const folder = join(scratch, 'tiny-template');
    await initTinySmolLM(folder, 3);
    const saveDir = join(scratch, 'rows');
    const args = ['train', '--run-name', RUN, '--save-dir', saveDir, '--model', folder, '--data', data, '--save-steps', '2'];
    expect((await itl(args)).code).toBe(0);
    const runDir = join(saveDir, RUN);
    const recordFile = join(runDir, 'run_config.json');
    const record = readFileSync(recordFile, 'utf8');
    const configFile = join(folder, 'tokenizer_config.json');
    const original = readFileSync(configFile, 'utf8');

    // Another default system prompt: every row changes, the model and the data do not.
    writeFileSync(configFile, original.replace('You are a helpful AI assistant', 'You are a careful AI assistant'));
    const other = await itl([...args, '--resume']);
    expect([other.code, other.stderr]).toEqual([1, expect.stringMatching(/whose train rows were tokenised otherwise .*\[ITL_CONFIG\]/)]);
    expect(readFileSync(recordFile, 'utf8')).toBe(record);

    // The same template with one more key: a new cache entry, the same rows.
    writeFileSync(configFile, JSON.stringify({ ...JSON.parse(original), itl_test_note: 'same rows' }));
    const same = await itl([...args, '--resume']);
    expect([same.code, same.stderr]).toEqual([0, expect.stringContaining('resuming at step 4')]);
    expect(same.stderr).not.toContain('cannot check');
    const moved = JSON.parse(readFileSync(recordFile, 'utf8')).tokenized.train;
    expect(moved).not.toBe(JSON.parse(record).tokenized.train);

    // The recorded entry gone: nothing left to compare with, said, and the run goes on.
    rmSync(moved, { recursive: true, force: true });
    writeFileSync(configFile, original);
    const unchecked = await itl([...args, '--resume']);
    expect(unchecked.code).toBe(0);
    expect(unchecked.stderr).toContain(`cannot check that the train rows are those ${runDir} started with (${moved} is gone or damaged)`);
  }, 300_000);
});
