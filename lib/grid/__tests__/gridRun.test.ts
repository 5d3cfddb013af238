/**
 * Running the grid: steps in order, finished ones skipped (read from the files the steps write),
 * the first failure stops it with its exit status, a signal stops it after the running step; and
 * end to end through the `itl` entry, each step a child process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type GridOptions, type GridStep, gridSteps, stepArgv } from '../gridPlan.js';
import { stepDone } from '../gridState.js';
import { runGrid, signalStatus } from '../runGrid.js';
import { STUDY_RUNS } from '../studyGrid.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'itl-grid-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const options = (): GridOptions => ({
  data: join(dir, 'data'),
  runs: join(dir, 'runs'),
  evalDir: join(dir, 'eval'),
  results: join(dir, 'results'),
  hellaswag: 'h.jsonl',
  device: 'cpu',
  precision: 'fp32',
  dtype: 'fp32',
});

function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value));
}

/** A run folder as the trainer leaves it: checkpoint-<step>/trainer_state.json for each step. */
function writeRun(name: string, steps: number[], maxSteps: number): void {
  for (const step of steps)
    writeJson(join(dir, 'runs', name, `checkpoint-${step}`, 'trainer_state.json'), { global_step: step, max_steps: maxSteps });
}

describe('runGrid', () => {
  const steps = gridSteps().slice(0, 5); // data and four train steps
  const names = (log: string[]) => log.map((line) => line.replace(/^itl grid: \[\s*\d+\/\d+\] /, ''));

  it('runs the steps in order, skips the done ones, and reports', async () => {
    const ran: string[][] = [];
    const log: string[] = [];
    const summary = await runGrid(steps, {
      argv: (step) => [step.stage, step.run?.name ?? ''],
      done: async (step) => (step.stage === 'data' || step.run === STUDY_RUNS[1] ? 'done already' : undefined),
      execute: async (argv) => {
        ran.push(argv);
        return { status: 0 };
      },
      format: (argv) => argv.join(' '),
      log: (line) => log.push(line),
    });
    expect(ran).toEqual([0, 2, 3].map((i) => ['train', STUDY_RUNS[i].name]));
    expect(summary).toEqual({ status: 0, ran: 3, skipped: 2, notRun: 0 });
    expect(names(log)).toEqual([
      'done (done already), skipped: data ',
      `train ${STUDY_RUNS[0].name}`,
      `done (done already), skipped: train ${STUDY_RUNS[1].name}`,
      `train ${STUDY_RUNS[2].name}`,
      `train ${STUDY_RUNS[3].name}`,
      'itl grid: 3 step(s) run, 2 already done',
    ]);
  });

  it('stops at the first failure with its exit status', async () => {
    const ran: GridStep[] = [];
    const log: string[] = [];
    const summary = await runGrid(steps, {
      argv: (step) => [step.stage],
      done: async () => undefined,
      execute: async () => ({ status: ran.push(steps[ran.length]) === 3 ? 7 : 0 }),
      format: (argv) => argv.join(' '),
      log: (line) => log.push(line),
    });
    expect(ran).toHaveLength(3);
    expect(summary).toEqual({ status: 7, ran: 3, skipped: 0, notRun: 2 });
    expect(log.at(-1)).toBe('itl grid: [3/5] failed with exit status 7; 2 step(s) not run: train');
  });

  it('names the signal when the step it interrupted ends non-zero', async () => {
    const log: string[] = [];
    const summary = await runGrid(steps, {
      argv: (step) => [step.stage],
      done: async () => undefined,
      execute: async () => ({ status: 130 }),
      format: (argv) => argv.join(' '),
      log: (line) => log.push(line),
      interrupted: () => 'SIGINT',
    });
    expect(summary.status).toBe(130);
    // the check before each step comes first: here the signal was already there
    expect(log).toEqual(['itl grid: SIGINT: stopped; 5 step(s) not run']);
  });

  it('starts no step after a signal, and exits 128 + its number', async () => {
    let signal: NodeJS.Signals | undefined;
    const ran: string[][] = [];
    const summary = await runGrid(steps, {
      argv: (step) => [step.stage],
      done: async () => undefined,
      execute: async (argv) => {
        ran.push(argv);
        signal = 'SIGTERM'; // arrives while the step runs; the step still ends cleanly (a checkpoint)
        return { status: 0 };
      },
      format: (argv) => argv.join(' '),
      log: () => {},
      interrupted: () => signal,
    });
    expect(ran).toHaveLength(1);
    expect(summary).toEqual({ status: signalStatus('SIGTERM'), ran: 1, skipped: 0, notRun: 4 });
    expect(summary.status).toBe(143);
  });
});

describe('stepDone', () => {
  const [data, train0] = gridSteps();
  const step = (stage: string, index: number) => gridSteps().find((s) => s.stage === stage && s.run?.index === index)!;
  const base = (model: string) => gridSteps().find((s) => s.stage === 'base' && s.model === model)!;
  const run0 = STUDY_RUNS[0].name;

  it('data: done once the folder has its manifest', async () => {
    expect(await stepDone(data, options())).toBeUndefined();
    mkdirSync(join(dir, 'data'));
    expect(await stepDone(data, options())).toBeUndefined();
    writeFileSync(join(dir, 'data', 'manifest.json'), '{}');
    expect(await stepDone(data, options())).toMatch(/is built/);
  });

  it('train: done when the last complete checkpoint is at max_steps', async () => {
    expect(await stepDone(train0, options())).toBeUndefined();
    writeRun(run0, [10, 20], 40);
    expect(await stepDone(train0, options())).toBeUndefined();
    // a folder still being written is no checkpoint
    writeJson(join(dir, 'runs', run0, '.checkpoint-40.tmp-123', 'trainer_state.json'), { global_step: 40, max_steps: 40 });
    expect(await stepDone(train0, options())).toBeUndefined();
    writeRun(run0, [40], 40);
    expect(await stepDone(train0, options())).toBe('finished at step 40');
    expect(await stepDone(step('train', 1), options())).toBeUndefined();
  });

  it('recall, kl, hellaswag: done when the run is finished and every checkpoint has its result', async () => {
    writeRun(run0, [20], 40);
    const recall = step('recall', 0);
    const kl = step('kl', 0);
    const hellaswag = step('hellaswag', 0);
    const recallFile = join(dir, 'eval', 'recall', run0, 'checkpoints_recall_results.json');
    writeJson(recallFile, { 'checkpoint-20': {} });
    expect(await stepDone(recall, options())).toBeUndefined(); // the run is not finished: more checkpoints will come
    writeRun(run0, [40], 40);
    expect(await stepDone(recall, options())).toBeUndefined();
    writeJson(recallFile, { 'checkpoint-20': {}, 'checkpoint-40': {} });
    expect(await stepDone(recall, options())).toBe('all 2 checkpoints evaluated');
    expect(await stepDone(kl, options())).toBeUndefined();
    writeJson(join(dir, 'eval', 'kl_tv', run0, 'checkpoint_kl_eval_results.json'), { 'checkpoint-20': {}, 'checkpoint-40': {} });
    expect(await stepDone(kl, options())).toBe('all 2 checkpoints evaluated');
    writeJson(join(dir, 'eval', 'hellaswag', run0, 'checkpoint-20', 'results_2026-01-01T00-00-00.json'), {});
    expect(await stepDone(hellaswag, options())).toBeUndefined();
    writeJson(join(dir, 'eval', 'hellaswag', run0, 'checkpoint-40', 'nested', 'results_2026-01-01T00-00-00.json'), {});
    expect(await stepDone(hellaswag, options())).toBe('all 2 checkpoints evaluated');
  });

  it('base: done when base_models/<model>/ has a results file; analyze: never', async () => {
    expect(await stepDone(base('Lam3B'), options())).toBeUndefined();
    writeJson(join(dir, 'eval', 'hellaswag', 'base_models', 'Lam3B', 'results_2026-01-01T00-00-00.json'), {});
    expect(await stepDone(base('Lam3B'), options())).toBe('evaluated');
    expect(await stepDone(base('Lam8B'), options())).toBeUndefined();
    expect(await stepDone(gridSteps().at(-1)!, options())).toBeUndefined();
  });

  it('the paths it reads are the ones the commands write to', () => {
    const o = options();
    expect(stepArgv(train0, o)).toEqual(expect.arrayContaining(['--save-dir', o.runs, '--run-name', run0]));
    expect(stepArgv(data, o)).toEqual(expect.arrayContaining(['--out', o.data]));
    expect(stepArgv(step('recall', 0), o)).toEqual(
      expect.arrayContaining(['--models-dir', o.runs, '--eval-dir', o.evalDir, '--run', run0]),
    );
  });
});

describe('itl grid through the itl entry', () => {
  const itl = (args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'itl.js'), ...args], { encoding: 'utf8', cwd: dir });

  it('runs a step as a child process and stops with its exit status when it fails', () => {
    const result = itl(['grid', '--only', 'train,recall', '--index', '3', '--data', 'missing-data', '--runs', 'runs', '--device', 'cpu']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      `itl grid: [1/2] itl train --run-name ${STUDY_RUNS[3].name} --data missing-data --save-dir runs --device cpu`,
    );
    expect(result.stderr).toContain('itl: the data folder missing-data does not exist (make one with itl data build) [ITL_IO]');
    expect(result.stderr).toContain('itl grid: [1/2] failed with exit status 1; 1 step(s) not run');
    expect(result.stderr).not.toContain('[2/2] itl eval');
  });

  it('passes SIGTERM on to the running step and exits 128 + 15 without starting the next', async () => {
    const child = spawn(process.execPath, [join(root, 'bin', 'itl.js'), 'grid', '--only', 'data,analyze', '--data', 'facts'], { cwd: dir });
    let stderr = '';
    let sent = false;
    const status = await new Promise<number | null>((resolveStatus) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (!sent && stderr.includes('[1/2] itl data build')) sent = child.kill('SIGTERM');
      });
      child.on('close', (code) => resolveStatus(code));
    });
    expect(status).toBe(143);
    expect(stderr).toContain('itl grid: [1/2] SIGTERM: the step ended with exit status 143; 1 step(s) not run');
    expect(stderr).not.toContain('itl analyze');
    expect(existsSync(join(dir, 'facts'))).toBe(false);
  });

  it('builds the dataset, then skips it when run again', () => {
    const first = itl(['grid', '--stage', 'data', '--data', 'facts']);
    expect(first.stderr).toContain('itl grid: [1/1] itl data build --people 50000 --seed 0 --out facts');
    expect(first.status).toBe(0);
    expect(existsSync(join(dir, 'facts', 'manifest.json'))).toBe(true);
    expect(first.stdout).toMatch(/wrote 50000 people, 200000 rows/);
    const second = itl(['grid', '--stage', 'data', '--data', 'facts']);
    expect(second.status).toBe(0);
    expect(second.stderr).toContain('itl grid: [1/1] done (facts is built), skipped: itl data build --people 50000 --seed 0 --out facts');
    expect(second.stderr).toContain('itl grid: 0 step(s) run, 1 already done');
  });
});
