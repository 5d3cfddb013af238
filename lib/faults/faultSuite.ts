/**
 * The fault-injection suite (`npm run test:faults`; a small size runs inside `npm test`): the real
 * `itl` commands, killed at random moments (SIGKILL, SIGINT), writing into a full disk (ITL_FAULT_WRITE,
 * and a small tmpfs when `unshare -rm` works), into a read-only mount, run concurrently, and fed the
 * hostile inputs of issue 24. After each fault the command is run again, and what it leaves must equal
 * what an uninterrupted run made: bit-identical checkpoints, the same data build, the same result
 * file; meanwhile, nothing half-written may look complete. It prints the faults injected, the runs
 * compared and the mismatches (each named).
 *
 * The model is the demo's tokenizer with a ~70k-parameter LLaMA, so a training run of 8 steps and its
 * evaluation take seconds; threads are pinned (ITL_TORCH_THREADS=1) so every run computes the same bits.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { writeDemoConfig } from '../demo/demoModel.js';
import { writeDemoTokenizer } from '../demo/demoTokenizer.js';
import { parseToolRequest } from '../data/toolRequest.js';
import { Model } from '../native/Model.js';
import type { Runtime } from '../native/Runtime.js';
import { ItlChild } from '../util/itlChild.js';
import { checkpointNames, compareDataBuild, compareKeyedResults, compareResultsCsv, compareRun, leftovers } from './compareRuns.js';
import {
  canUnshare,
  childrenOf,
  isRunning,
  type ItlRun,
  runInNamespace,
  runItl,
  SeededRandom,
  type Tally,
  newTally,
} from './faultRunner.js';

export interface FaultSuiteOptions {
  /** A fresh folder for everything the suite writes. */
  root: string;
  /** Rounds of the kill scenarios (data build, train SIGKILL and SIGINT, eval, injected ENOSPC). */
  rounds: number;
  seed: number;
  /** Also kill `itl demo --scale smoke` at random points (minutes: the larger size). */
  demo: boolean;
  runtime: () => Runtime;
  log: (line: string) => void;
}

export interface FaultSuiteResult extends Tally {
  seed: number;
  rounds: number;
  seconds: number;
  /** Which of the optional scenarios ran (a tmpfs and a read-only mount need `unshare -rm`). */
  namespaces: boolean;
}

const RUN = 'sft_Smol135M_facts=32-epochs=2-batch=8-gradAcc=1-LR=1e-3-loraR=0-loraA=0-tool';
const PEOPLE = 60;
/** The data build that is killed: large enough to take a moment. */
const BIG_PEOPLE = 6000;
const ENV = { ITL_TORCH_THREADS: '1', ITL_BLAS_THREADS: '1', CI: '1' };

interface Fixture {
  model: string;
  data: string;
  dataBig: string;
  runs: string;
  runDir: string;
  eval: string;
  resultFile: string;
  cache: string;
  demo?: string;
  /** How long the uninterrupted commands took, in ms: kills are drawn within these. */
  times: { dataBig: number; train: number; eval: number; demo: number };
  /** Bytes of one complete checkpoint (for sizing the tmpfs that cannot hold two). */
  checkpointBytes: number;
}

const dataArgs = (out: string, people: number) => ['data', 'build', '--people', String(people), '--seed', '5', '--out', out];
const trainArgs = (f: Fixture, saveDir: string, data = f.data) => [
  'train',
  '--run-name',
  RUN,
  '--model',
  f.model,
  '--data',
  data,
  '--save-dir',
  saveDir,
  '--save-steps',
  '2',
  '--cache-dir',
  f.cache,
  '--resume',
];
const evalArgs = (f: Fixture, evalDir: string) => [
  'eval',
  'recall',
  '--models-dir',
  f.runs,
  '--eval-dir',
  evalDir,
  '--train-examples',
  '4',
  '--test-examples',
  '2',
  '--batch-size',
  '4',
];
const demoArgs = (out: string) => ['demo', '--scale', 'smoke', '--out', out];

function folderBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const stats = statSync(join(dir, name));
    if (stats.isFile()) total += stats.size;
  }
  return total;
}

function expectOk(run: ItlRun, what: string): void {
  if (run.status !== 0) throw new Error(`${what} failed (status ${run.status}):\n${run.stderr.slice(-2000)}`);
}

async function makeFixture(o: FaultSuiteOptions): Promise<Fixture> {
  const ref = join(o.root, 'reference');
  const f: Fixture = {
    model: join(ref, 'model'),
    data: join(ref, 'data'),
    dataBig: join(ref, 'data-big'),
    runs: join(ref, 'runs'),
    runDir: join(ref, 'runs', RUN),
    eval: join(ref, 'eval'),
    resultFile: join(ref, 'eval', 'recall', RUN, 'checkpoints_recall_results.json'),
    cache: join(o.root, 'cache'),
    times: { dataBig: 0, train: 0, eval: 0, demo: 0 },
    checkpointBytes: 0,
  };
  await writeDemoTokenizer(f.model);
  await writeDemoConfig(f.model, { hidden: 32, intermediate: 64, layers: 2, heads: 2, kvHeads: 1 });
  (await Model.initFromConfig(o.runtime(), f.model, 1, f.model)).dispose();
  expectOk(await runItl(dataArgs(f.data, PEOPLE), { env: ENV }), 'the reference data build');
  const big = await runItl(dataArgs(f.dataBig, BIG_PEOPLE), { env: ENV });
  expectOk(big, 'the reference data build (large)');
  const train = await runItl(trainArgs(f, f.runs), { env: ENV });
  expectOk(train, 'the reference training run');
  const evaluation = await runItl(evalArgs(f, f.eval), { env: ENV });
  expectOk(evaluation, 'the reference evaluation');
  f.times = { dataBig: big.ms, train: train.ms, eval: evaluation.ms, demo: 0 };
  f.checkpointBytes = folderBytes(join(f.runDir, checkpointNames(f.runDir)[0]!));
  if (o.demo) {
    f.demo = join(ref, 'demo');
    const demo = await runItl(demoArgs(f.demo), { env: ENV });
    expectOk(demo, 'the reference demo');
    f.times.demo = demo.ms;
  }
  o.log(
    `faults: reference runs: data build ${(big.ms / 1000).toFixed(1)} s, training ${(train.ms / 1000).toFixed(1)} s ` +
      `(${checkpointNames(f.runDir).length} checkpoints of ${(f.checkpointBytes / 1024).toFixed(0)} KiB), evaluation ${(evaluation.ms / 1000).toFixed(1)} s` +
      (o.demo ? `, demo ${(f.times.demo / 1000).toFixed(1)} s` : ''),
  );
  return f;
}

interface Context {
  f: Fixture;
  o: FaultSuiteOptions;
  random: SeededRandom;
  tally: Tally;
  work: string;
}

function check(c: Context, differences: string[], scenario: string): void {
  for (const difference of differences) c.tally.mismatches.push(`${scenario}: ${difference}`);
}

const roots = (c: Context, candidate: string) => ({ reference: c.f.runs, candidate });

/** A run after its fault: never an abort, and its checkpoints so far equal the reference's. */
function checkCutShort(c: Context, run: ItlRun, saveDir: string, scenario: string, stopped = false): void {
  if (/terminate called|Aborted|core dumped/.test(run.stderr) || run.status === 134)
    c.tally.mismatches.push(`${scenario}: the process aborted:\n${run.stderr.slice(-600)}`);
  check(c, compareRun(c.f.runDir, join(saveDir, RUN), { complete: false, roots: roots(c, saveDir), stopCheckpoints: stopped }), scenario);
}

/** Runs `itl train --resume` until it finishes, then compares the whole run with the reference. */
async function finishAndCompare(c: Context, saveDir: string, scenario: string, stopped = false): Promise<void> {
  const rerun = await runItl(trainArgs(c.f, saveDir), { env: ENV });
  if (rerun.status !== 0) {
    c.tally.mismatches.push(`${scenario}: the rerun failed (status ${rerun.status}): ${rerun.stderr.trim().split('\n').pop()}`);
    return;
  }
  check(c, compareRun(c.f.runDir, join(saveDir, RUN), { complete: true, roots: roots(c, saveDir), stopCheckpoints: stopped }), scenario);
  c.tally.compared++;
}

async function trainKilled(c: Context, signal: 'SIGKILL' | 'SIGINT'): Promise<void> {
  const scenario = `train ${signal}`;
  const saveDir = join(c.work, `runs-${signal.toLowerCase()}`);
  // Half the kills land anywhere from the start (loading, tokenising, training), half once training
  // runs (a SIGINT before the trainer's handler is installed simply ends the process).
  const duringTraining = signal === 'SIGINT' || c.random.next() < 0.5;
  const at = duringTraining ? c.random.between(0, 0.3) * c.f.times.train : c.random.between(0.1, 1) * c.f.times.train;
  const run = await runItl(trainArgs(c.f, saveDir), {
    env: ENV,
    killAfterMs: at,
    signal,
    killAfterOutput: duringTraining ? /step \d+\/\d+/ : undefined,
  });
  if (run.killed) c.tally.faults++;
  // A SIGINT makes the trainer finish its step and write a checkpoint there (checkpoint-<step>, off the
  // save interval): an extra checkpoint, compared with nothing, and the run's others must still be identical.
  const stopped = signal === 'SIGINT' && run.killed && run.status === 0;
  checkCutShort(c, run, saveDir, scenario, stopped);
  // (A signal that arrives once the last step is done finds nothing left to stop: "done at step".)
  if (
    signal === 'SIGINT' &&
    run.killed &&
    run.status === 0 &&
    !/itl: (stopped at step \d+; .*checkpoint-\d+ is complete|done at step \d+)/.test(run.stderr)
  ) {
    c.tally.mismatches.push(`${scenario}: exit 0 without saying where it stopped`);
  }
  c.tally.notes.push(
    `${scenario} ${(at / 1000).toFixed(1)} s after ${duringTraining ? 'the first step' : 'the start'}: ` +
      `${run.killed ? `status ${run.status}` : 'finished first'}, checkpoints [${checkpointNames(join(saveDir, RUN)).join(', ')}]`,
  );
  await finishAndCompare(c, saveDir, scenario, stopped);
}

async function trainDiskFull(c: Context): Promise<void> {
  const spec = c.random.pick([
    'ENOSPC:/optimizer.pt',
    'ENOSPC:checkpoint-4.tmp',
    'EIO:/model.safetensors',
    'ENOSPC:/trainer_state.json',
    'EDQUOT:checkpoint-6.tmp',
  ]);
  const scenario = `train ${spec}`;
  const saveDir = join(c.work, 'runs-enospc');
  const run = await runItl(trainArgs(c.f, saveDir), { env: { ...ENV, ITL_FAULT_WRITE: spec } });
  c.tally.faults++;
  if (run.status !== 1 || !/cannot write checkpoint-\d+ \(.*\); .* \[ITL_IO\]/s.test(run.stderr)) {
    c.tally.mismatches.push(
      `${scenario}: expected exit 1 with an ITL_IO error naming the checkpoint, got status ${run.status}: ${run.stderr.slice(-400)}`,
    );
  }
  checkCutShort(c, run, saveDir, scenario);
  const staging = readdirSync(join(saveDir, RUN)).filter((name) => name.startsWith('.checkpoint-'));
  if (staging.length > 0) c.tally.mismatches.push(`${scenario}: staging folders left: ${staging.join(', ')}`);
  c.tally.notes.push(`${scenario}: status ${run.status}, checkpoints [${checkpointNames(join(saveDir, RUN)).join(', ')}]`);
  await finishAndCompare(c, saveDir, scenario);
}

/** A real full disk: the run folder on a tmpfs that holds one checkpoint but not two. */
async function trainTmpfs(c: Context): Promise<void> {
  const scenario = 'train on a full tmpfs';
  const mount = join(c.work, 'tmpfs');
  const out = join(c.work, 'runs-tmpfs');
  mkdirSync(mount, { recursive: true });
  mkdirSync(out, { recursive: true });
  const size = Math.ceil((c.f.checkpointBytes * 1.5) / 4096) * 4096 + 64 * 1024;
  const args = trainArgs(c.f, mount)
    .map((a) => `'${a.replaceAll("'", `'\\''`)}'`)
    .join(' ');
  const result = await runInNamespace(
    `mount -t tmpfs -o size=${size} tmpfs '${mount}' || exit 99; $ITL ${args}; status=$?; cp -a '${mount}/.' '${out}/'; exit $status`,
    ENV,
  );
  c.tally.faults++;
  if (
    result.status !== 1 ||
    !/No space left on device/.test(result.stderr) ||
    !/\[ITL_IO\]/.test(result.stderr) ||
    /terminate called/.test(result.stderr)
  ) {
    c.tally.mismatches.push(
      `${scenario}: expected exit 1 with ITL_IO "No space left on device", got status ${result.status}: ${result.stderr.slice(-400)}`,
    );
  }
  check(c, compareRun(c.f.runDir, join(out, RUN), { complete: false, roots: roots(c, out) }), scenario);
  c.tally.notes.push(
    `${scenario} (${(size / 1024).toFixed(0)} KiB): status ${result.status}, checkpoints [${checkpointNames(join(out, RUN)).join(', ')}]`,
  );
  await finishAndCompare(c, out, scenario);
}

async function dataKilled(c: Context): Promise<void> {
  const scenario = 'data build SIGKILL';
  const out = join(c.work, 'data-big');
  const at = c.random.between(0.2, 1) * c.f.times.dataBig;
  const run = await runItl(dataArgs(out, BIG_PEOPLE), { env: ENV, killAfterMs: at });
  if (run.killed) c.tally.faults++;
  // Cut short, the output folder is absent or complete: never half of one.
  if (existsSync(out)) check(c, compareDataBuild(c.f.dataBig, out), `${scenario} (the folder a killed build left)`);
  c.tally.notes.push(
    `${scenario} at ${(at / 1000).toFixed(1)} s: ${run.killed ? 'killed' : 'finished first'}; output ${existsSync(out) ? 'complete' : 'absent'}`,
  );
  if (!existsSync(out)) {
    const rerun = await runItl(dataArgs(out, BIG_PEOPLE), { env: ENV });
    if (rerun.status !== 0) c.tally.mismatches.push(`${scenario}: the rerun failed: ${rerun.stderr.trim()}`);
  }
  check(c, compareDataBuild(c.f.dataBig, out), scenario);
  check(
    c,
    leftovers(c.work)
      .filter((path) => path.includes('.data-big.'))
      .map((path) => `${path}: left behind`),
    scenario,
  );
  c.tally.compared++;
}

async function evalKilled(c: Context): Promise<void> {
  const scenario = 'eval SIGKILL';
  const evalDir = join(c.work, 'eval');
  const file = join(evalDir, 'recall', RUN, 'checkpoints_recall_results.json');
  const at = c.random.between(0.15, 1) * c.f.times.eval;
  const run = await runItl(evalArgs(c.f, evalDir), { env: ENV, killAfterMs: at });
  if (run.killed) c.tally.faults++;
  check(c, compareKeyedResults(c.f.resultFile, file, false), scenario);
  const before = existsSync(file) ? Object.keys(JSON.parse(readFileSync(file, 'utf8'))).length : 0;
  c.tally.notes.push(
    `${scenario} at ${(at / 1000).toFixed(1)} s: ${run.killed ? 'killed' : 'finished first'} with ${before} entries written`,
  );
  const rerun = await runItl(evalArgs(c.f, evalDir), { env: ENV });
  if (rerun.status !== 0) c.tally.mismatches.push(`${scenario}: the rerun failed: ${rerun.stderr.trim().split('\n').pop()}`);
  check(c, compareKeyedResults(c.f.resultFile, file, true), scenario);
  check(
    c,
    leftovers(evalDir).map((path) => `${path}: left behind`),
    scenario,
  );
  c.tally.compared++;
}

async function demoKilled(c: Context): Promise<void> {
  const scenario = 'demo SIGKILL';
  const out = join(c.work, 'demo');
  const at = c.random.between(0.1, 0.9) * c.f.times.demo;
  const child = new ItlChild({ args: demoArgs(out), env: { ...process.env, ...ENV }, stdio: 'pipe' });
  child.process.stdout!.resume();
  child.process.stderr!.resume();
  await Promise.race([child.exited, new Promise((r) => setTimeout(r, at))]);
  let orphans: number[] = [];
  if (child.running && child.pid !== undefined) {
    orphans = childrenOf(child.pid);
    process.kill(child.pid, 'SIGKILL'); // the demo alone: its children must follow by themselves
    c.tally.faults++;
  }
  await child.exited;
  for (let i = 0; i < 300 && orphans.some(isRunning); i++) await new Promise((r) => setTimeout(r, 100));
  const left = orphans.filter(isRunning);
  if (left.length > 0) {
    c.tally.mismatches.push(`${scenario}: children still running 30 s after the demo was killed: ${left.join(', ')}`);
    for (const pid of left) process.kill(pid, 'SIGKILL');
  }
  c.tally.notes.push(
    `${scenario} at ${(at / 1000).toFixed(1)} s: ${orphans.length} child process(es) at the kill, ${left.length} left running`,
  );
  const rerun = await runItl(demoArgs(out), { env: ENV });
  if (rerun.status !== 0) c.tally.mismatches.push(`${scenario}: the rerun failed: ${rerun.stderr.trim().split('\n').pop()}`);
  check(c, compareResultsCsv(join(c.f.demo!, 'results', 'results.csv'), join(out, 'results', 'results.csv')), scenario);
  c.tally.compared++;
}

async function concurrentWriters(c: Context): Promise<void> {
  // Three builds of one folder: one builds, the others are refused naming it; the output is whole.
  const out = join(c.work, 'data-concurrent');
  const runs = await Promise.all([0, 1, 2].map(() => runItl(dataArgs(out, BIG_PEOPLE), { env: ENV })));
  c.tally.faults++;
  const ok = runs.filter((r) => r.status === 0).length;
  const refused = runs.filter((r) => r.status === 1 && /is in use by pid \d+ on .*\[ITL_LOCKED\]|already exists/.test(r.stderr)).length;
  if (ok < 1 || ok + refused !== 3)
    c.tally.mismatches.push(`concurrent data builds: ${ok} built, ${refused} refused: ${runs.map((r) => r.stderr.trim()).join(' | ')}`);
  check(c, compareDataBuild(c.f.dataBig, out), 'concurrent data builds');
  c.tally.compared++;
  // Two evaluations into one folder at once: every entry kept, equal to the uninterrupted evaluation's.
  const evalDir = join(c.work, 'eval-concurrent');
  const evaluations = await Promise.all([0, 1].map(() => runItl(evalArgs(c.f, evalDir), { env: ENV })));
  c.tally.faults++;
  for (const e of evaluations)
    if (e.status !== 0) c.tally.mismatches.push(`concurrent evaluations: status ${e.status}: ${e.stderr.trim().split('\n').pop()}`);
  check(
    c,
    compareKeyedResults(c.f.resultFile, join(evalDir, 'recall', RUN, 'checkpoints_recall_results.json'), true),
    'concurrent evaluations',
  );
  check(
    c,
    leftovers(evalDir).map((path) => `${path}: left behind`),
    'concurrent evaluations',
  );
  c.tally.compared++;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** Hostile inputs: each must be refused fast with a message naming the cause, with nothing written. */
async function hostileInputs(c: Context): Promise<void> {
  const expectRefusal = (name: string, run: ItlRun, pattern: RegExp, withinMs = 60_000) => {
    c.tally.faults++;
    if (run.status === 0 || !pattern.test(run.stderr + run.stdout) || run.ms > withinMs) {
      c.tally.mismatches.push(
        `hostile input (${name}): expected a refusal matching ${pattern} within ${withinMs / 1000} s; ` +
          `got status ${run.status} after ${(run.ms / 1000).toFixed(1)} s: ${(run.stderr + run.stdout).trim().slice(-300)}`,
      );
    }
  };
  const copyModel = (name: string, edit: (config: Record<string, unknown>, tokenizer: Record<string, unknown>) => void) => {
    const dir = join(c.work, name);
    cpSync(c.f.model, dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    const tokenizer = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    edit(config, tokenizer);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizer));
    return dir;
  };
  const copyData = (name: string) => {
    const dir = join(c.work, name);
    cpSync(c.f.data, dir, { recursive: true });
    return dir;
  };

  const layers = copyModel('model-layers', (config) => void (config.num_hidden_layers = 1e9));
  expectRefusal(
    'num_hidden_layers 1e9',
    await runItl(['model', 'info', layers], { env: ENV }),
    /num_hidden_layers is 1000000000 but the checkpoint .* holds 2 layers \[ITL_CONFIG\]/,
  );
  const hidden = copyModel('model-hidden', (config) => void (config.hidden_size = 1e9));
  expectRefusal('hidden_size 1e9', await runItl(['model', 'info', hidden], { env: ENV }), /hidden_size 1000000000 imply .* \[ITL_CONFIG\]/);
  const template = copyModel(
    'model-template',
    (_config, tokenizer) => void (tokenizer.chat_template = '<|im_start|>{% for i in range(100000000) %}x{% endfor %}'),
  );
  const messages = join(c.work, 'messages.json');
  writeFileSync(messages, JSON.stringify([{ role: 'user', content: 'hi' }]));
  expectRefusal(
    'a 10^8-iteration chat template',
    await runItl(['chat-template', '--model', template, '--messages', messages], { env: ENV }),
    /rendering one dialogue stopped/,
    30_000,
  );

  const garbage = copyData('data-garbage-db');
  writeFileSync(join(garbage, 'facts.sqlite'), 'not a database');
  const checkpoint = join(c.f.runDir, checkpointNames(c.f.runDir).pop()!);
  const garbageEval = join(c.work, 'eval-garbage');
  expectRefusal(
    'a garbage facts.sqlite',
    await runItl(
      [
        'eval',
        'recall',
        '--model',
        checkpoint,
        '--data',
        garbage,
        '--facts',
        '32',
        '--mode',
        'tool',
        '--eval-dir',
        garbageEval,
        '--train-examples',
        '4',
        '--test-examples',
        '2',
      ],
      { env: ENV },
    ),
    new RegExp(`${join(garbage, 'facts.sqlite')} has 14 bytes`),
  );
  if (existsSync(join(garbageEval, 'recall'))) c.tally.mismatches.push('hostile input (garbage facts.sqlite): a result was written');

  const flipped = copyData('data-flipped');
  const shard = join(flipped, 'dataset', readdirSync(join(flipped, 'dataset')).find((n) => n.endsWith('.arrow'))!);
  const bytes = readFileSync(shard);
  bytes[bytes.length - 100] ^= 0x20;
  writeFileSync(shard, bytes);
  expectRefusal(
    'a flipped byte in a shard',
    await runItl(trainArgs(c.f, join(c.work, 'runs-flipped'), flipped), { env: ENV }),
    /does not match .*manifest\.json .*\[ITL_DATA\]/,
  );

  const escaping = copyData('data-escaping');
  unlinkSync(join(escaping, 'manifest.json'));
  const state = join(escaping, 'dataset', 'state.json');
  writeFileSync(state, readFileSync(state, 'utf8').replace(/"filename": "[^"]+"/, '"filename": "../../../../etc/passwd"'));
  expectRefusal(
    '_data_files leaving the dataset',
    await runItl(['data', 'show', escaping], { env: ENV }),
    /lies outside the dataset folder/,
  );

  expectRefusal(
    'an output under /proc',
    await runItl(dataArgs('/proc/itl-faults/data', 5), { env: ENV }),
    /on the kernel's proc file system/,
    30_000,
  );

  // Nodes without a shared file system: two ranks, each with its own --save-dir.
  const port = String(await freePort());
  const ranks = await Promise.all(
    [0, 1].map((rank) =>
      runItl(trainArgs(c.f, join(c.work, `node${rank}`)), {
        env: {
          ...ENV,
          RANK: String(rank),
          WORLD_SIZE: '2',
          LOCAL_RANK: '0',
          LOCAL_WORLD_SIZE: '1',
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: port,
        },
      }),
    ),
  );
  expectRefusal(
    'ranks without a shared --save-dir',
    ranks[0]!,
    /do not see the files rank 0 writes .* Multi-node training needs a --save-dir on a file system every node mounts/,
  );

  // The tool-request parser on 100,000 characters of the input that made the old expression backtrack.
  c.tally.faults++;
  const text = `\`\`\`sql\nFIND occupation FOR${' '.repeat(100_000)}x`;
  const started = performance.now();
  parseToolRequest(text);
  const ms = performance.now() - started;
  if (ms > 50) c.tally.mismatches.push(`hostile input (100,000-character tool request): parsed in ${ms.toFixed(1)} ms`);
}

/** A data build on a disk that fills: ITL_IO naming the folder, and nothing left behind. */
async function dataTmpfs(c: Context): Promise<void> {
  const mount = join(c.work, 'tmpfs-data');
  mkdirSync(mount, { recursive: true });
  const args = dataArgs(join(mount, 'facts'), BIG_PEOPLE)
    .map((a) => `'${a}'`)
    .join(' ');
  const result = await runInNamespace(
    `mount -t tmpfs -o size=256k tmpfs '${mount}' || exit 99; $ITL ${args}; status=$?; echo "left: $(ls -A '${mount}')"; exit $status`,
    ENV,
  );
  c.tally.faults++;
  if (
    result.status !== 1 ||
    !/cannot write the dataset into .*: no space left on the device \((ENOSPC|SQLITE_FULL)\) \[ITL_IO\]/.test(result.stderr) ||
    !/^left: $/m.test(result.stdout)
  ) {
    c.tally.mismatches.push(
      `data build on a full tmpfs: expected exit 1 with ITL_IO ENOSPC and nothing left, got status ${result.status}: ` +
        `${result.stderr.slice(-300)} ${result.stdout.trim()}`,
    );
  }
}

/** Read-only output folder: refused before any work. */
async function readOnlyOutput(c: Context): Promise<void> {
  const mount = join(c.work, 'read-only');
  mkdirSync(mount, { recursive: true });
  const args = evalArgs(c.f, join(mount, 'eval'))
    .map((a) => `'${a}'`)
    .join(' ');
  const result = await runInNamespace(
    `mount --bind '${mount}' '${mount}' && mount -o remount,bind,ro '${mount}' || exit 99; $ITL ${args}`,
    ENV,
  );
  c.tally.faults++;
  if (result.status !== 1 || !/read-only file system \(EROFS\) \[ITL_IO\]/.test(result.stderr) || /recall sft_/.test(result.stderr)) {
    c.tally.mismatches.push(
      `read-only --eval-dir: expected exit 1 with EROFS before any evaluation, got status ${result.status}: ${result.stderr.slice(-300)}`,
    );
  }
}

export async function runFaultSuite(o: FaultSuiteOptions): Promise<FaultSuiteResult> {
  const started = performance.now();
  rmSync(o.root, { recursive: true, force: true });
  mkdirSync(o.root, { recursive: true });
  const f = await makeFixture(o);
  const tally = newTally();
  const random = new SeededRandom(o.seed);
  const namespaces = canUnshare();
  const context = (name: string): Context => {
    const work = join(o.root, name);
    mkdirSync(work, { recursive: true });
    return { f, o, random, tally, work };
  };
  const once = context('once');
  await hostileInputs(once);
  await concurrentWriters(once);
  if (namespaces) {
    await trainTmpfs(once);
    await dataTmpfs(once);
    await readOnlyOutput(once);
  } else {
    tally.notes.push('unshare -rm is not available here: the tmpfs and read-only scenarios did not run');
  }
  for (let round = 1; round <= o.rounds; round++) {
    const c = context(`round-${round}`);
    await dataKilled(c);
    await trainKilled(c, 'SIGKILL');
    await trainKilled(c, 'SIGINT');
    await trainDiskFull(c);
    await evalKilled(c);
    if (o.demo) await demoKilled(c);
    o.log(
      `faults: round ${round}/${o.rounds}: ${tally.faults} faults injected, ${tally.compared} runs compared, ${tally.mismatches.length} mismatches so far`,
    );
  }
  for (const note of tally.notes) o.log(`faults:   ${note}`);
  return { ...tally, seed: o.seed, rounds: o.rounds, seconds: (performance.now() - started) / 1000, namespaces };
}

/** The suite's last line: what the README's Reliability section quotes. */
export function formatFaultSummary(result: FaultSuiteResult): string {
  return (
    `faults injected: ${result.faults}, runs compared: ${result.compared}, mismatches: ${result.mismatches.length} ` +
    `(seed ${result.seed}, ${result.rounds} round(s), ${result.seconds.toFixed(0)} s${result.namespaces ? '' : ', without tmpfs/read-only scenarios'})`
  );
}
