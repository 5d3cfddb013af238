/**
 * The launcher with real worker processes: a stand-in worker script (fixtures/launchWorker.mjs)
 * in-process, and `itl launch` itself through the bin with a real itl command and with signals.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { errorOf } from '../../testing/errorOf.js';
import { launch, validateLaunchPlan, workerEnv, type LaunchOptions } from '../launcher.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..', '..');
const fixture = join(here, 'fixtures', 'launchWorker.mjs');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'itl-launch-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function captured() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t) } };
}

function options(scenario: string, io: LaunchOptions['io'], extra: Partial<LaunchOptions> = {}): LaunchOptions {
  return {
    nprocPerNode: 3,
    nnodes: 1,
    nodeRank: 0,
    masterAddr: '127.0.0.1',
    masterPort: 29555,
    entry: fixture,
    args: [scenario, dir],
    env: { PATH: process.env.PATH },
    io,
    killGraceMs: 1500,
    ...extra,
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every pid the workers recorded (workers and their children), as numbers. */
function recordedPids(): number[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.pid'))
    .map((name) => Number(readFileSync(join(dir, name), 'utf8')))
    .filter((pid) => pid > 0); // a file caught between its creation and its write
}

describe('worker environment', () => {
  test("torchrun's variables, global ranks from the node rank", () => {
    const plan = { nprocPerNode: 4, nnodes: 2, nodeRank: 1, masterAddr: 'node0', masterPort: 29400 };
    expect(workerEnv(plan, 2, { HOME: '/home/u', RANK: '99' })).toEqual({
      HOME: '/home/u',
      RANK: '6',
      WORLD_SIZE: '8',
      LOCAL_RANK: '2',
      LOCAL_WORLD_SIZE: '4',
      GROUP_RANK: '1',
      MASTER_ADDR: 'node0',
      MASTER_PORT: '29400',
      OMP_NUM_THREADS: '1',
      ITL_BLAS_THREADS: '1',
    });
    expect(workerEnv(plan, 0, { OMP_NUM_THREADS: '4', ITL_BLAS_THREADS: '2' })).toMatchObject({
      OMP_NUM_THREADS: '4',
      ITL_BLAS_THREADS: '2',
    });
    expect(workerEnv({ ...plan, nprocPerNode: 1 }, 0, {}).OMP_NUM_THREADS).toBeUndefined();
    expect(workerEnv({ ...plan, nprocPerNode: 1 }, 0, {}).ITL_BLAS_THREADS).toBeUndefined();
  });

  test('plans that cannot work are usage errors', () => {
    const plan = { nprocPerNode: 2, nnodes: 2, nodeRank: 0, masterAddr: 'node0', masterPort: 29400 };
    expect(errorOf(() => validateLaunchPlan({ ...plan, nodeRank: 2 }))).toMatchObject({
      code: 'ITL_USAGE',
      message: '--node-rank 2 is outside the 2 node(s) of --nnodes',
    });
    expect(errorOf(() => validateLaunchPlan({ ...plan, nprocPerNode: 0 })).message).toBe(
      'expected a positive integer for --nproc-per-node but received 0',
    );
    expect(errorOf(() => validateLaunchPlan({ ...plan, nprocPerNode: 1.5 })).code).toBe('ITL_USAGE');
    expect(errorOf(() => validateLaunchPlan({ ...plan, masterPort: 0 })).message).toBe(
      'expected a port between 1 and 65535 for --master-port but received 0',
    );
  });
});

describe('launch', () => {
  test('every worker gets its rank; output comes back line by line, prefixed', async () => {
    const { out, io } = captured();
    const status = await launch(options('env', io, { nnodes: 2, nodeRank: 1 }));
    expect(status).toBe(0);
    const lines = out.stdout.trim().split('\n').sort();
    expect(lines).toHaveLength(3);
    lines.forEach((line, i) => {
      const rank = 3 + i;
      expect(line.startsWith(`[rank ${rank}] `)).toBe(true);
      expect(JSON.parse(line.slice(`[rank ${rank}] `.length))).toEqual({
        RANK: String(rank),
        WORLD_SIZE: '6',
        LOCAL_RANK: String(i),
        LOCAL_WORLD_SIZE: '3',
        GROUP_RANK: '1',
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: '29555',
        OMP_NUM_THREADS: '1',
        ITL_BLAS_THREADS: '1',
      });
    });
    // A last line without a newline is still printed, whole, once the worker has exited.
    expect(out.stderr.split('\n').filter(Boolean).sort()).toEqual([
      '[rank 3] partial line from 3',
      '[rank 4] partial line from 4',
      '[rank 5] partial line from 5',
    ]);
  });

  test('the first failure decides the status and stops the others, children included', async () => {
    const { out, io } = captured();
    const status = await launch(options('fail', io));
    expect(status).toBe(3);
    expect(out.stderr).toContain('[rank 1] rank 1 gives up');
    expect(out.stderr).toContain('itl launch: rank 1 exited with status 3; stopping the other 2 worker(s)');
    const pids = recordedPids();
    expect(pids).toHaveLength(4); // ranks 0 and 2, and a child of each
    expect(pids.filter(alive)).toEqual([]);
  });

  test('a worker that ignores SIGTERM is killed after the grace period', async () => {
    const { out, io } = captured();
    const status = await launch(options('stubborn', io, { killGraceMs: 1000 }));
    expect(status).toBe(3);
    expect(out.stdout).toContain('ignores SIGTERM');
    expect(recordedPids().filter(alive)).toEqual([]);
  });

  test('a worker that cannot be started is a failure', async () => {
    const { io } = captured();
    const status = await launch(options('env', io, { entry: join(dir, 'missing.mjs') }));
    expect(status).toBe(1); // node's own status for a missing script
  });

  test('nothing to run is a usage error', async () => {
    const { io } = captured();
    await expect(launch(options('env', io, { args: [] }))).rejects.toMatchObject({ code: 'ITL_USAGE' });
  });
});

describe('itl launch (the bin)', () => {
  const bin = join(root, 'bin', 'itl.js');

  test('runs a real itl command in every worker', () => {
    const result = spawnSync(
      process.execPath,
      [bin, 'launch', '--nproc-per-node', '2', '--master-port', '29556', '--', 'model', 'presets', '--json'],
      {
        encoding: 'utf8',
        timeout: 120000,
      },
    );
    expect(result.status).toBe(0);
    for (const rank of [0, 1]) {
      const json = result.stdout
        .split('\n')
        .filter((l) => l.startsWith(`[rank ${rank}] `))
        .map((l) => l.slice(9))
        .join('\n');
      expect(JSON.parse(json).map((p: { name: string }) => p.name)).toContain('tiny-llama32');
    }
  });

  test("a failing command's status comes back", () => {
    const result = spawnSync(process.execPath, [bin, 'launch', '--nproc-per-node', '2', '--', 'model', 'info', join(dir, 'nothing-here')], {
      encoding: 'utf8',
      timeout: 120000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/\[rank [01]\] itl: /);
  });

  test('usage errors', () => {
    const noCommand = spawnSync(process.execPath, [bin, 'launch', '--nproc-per-node', '2'], { encoding: 'utf8' });
    expect(noCommand.status).toBe(2);
    expect(noCommand.stderr).toContain('name the itl command to run after --');
    const multiNode = spawnSync(process.execPath, [bin, 'launch', '--nproc-per-node', '2', '--nnodes', '2', '--', 'doctor'], {
      encoding: 'utf8',
    });
    expect(multiNode.status).toBe(2);
    expect(multiNode.stderr).toContain('--nnodes 2 needs --master-addr');
  });

  // SIGTERM to the launcher reaches every worker (and their children), and it exits 128 + 15.
  // The workers are the stand-in script, run by launch() from the compiled dist/ in a process of its own.
  test('signals are forwarded and nothing is left behind', async () => {
    const driver = `
      import { launch } from ${JSON.stringify(join(root, 'dist', 'train', 'launcher.js'))};
      process.exitCode = await launch({ nprocPerNode: 2, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29557,
        entry: ${JSON.stringify(fixture)}, args: ['wait', ${JSON.stringify(dir)}], env: process.env, forwardSignals: true,
        killGraceMs: 5000, io: { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) } });`;
    const launcher = spawn(process.execPath, ['--input-type=module', '-e', driver], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    launcher.stdout.on('data', (d) => (stdout += d));
    launcher.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((done) => launcher.on('close', (code) => done(code)));
    // Wait until both workers and their children are up.
    for (let i = 0; i < 600 && recordedPids().length < 4; ++i) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(join(dir, 'rank1.pid'))).toBe(true);
    launcher.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(stdout).toContain('[rank 0] rank 0 ready');
    expect(stderr).toContain('itl launch: SIGTERM received, stopping 2 worker(s)');
    expect(recordedPids().filter(alive)).toEqual([]);
  });

  /** launch() from the compiled dist/ in a process of its own, with the stand-in workers of `scenario`. */
  function driver(scenario: string) {
    const source = `
      import { launch } from ${JSON.stringify(join(root, 'dist', 'train', 'launcher.js'))};
      process.exitCode = await launch({ nprocPerNode: 2, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29558,
        entry: ${JSON.stringify(fixture)}, args: ['${scenario}', ${JSON.stringify(dir)}], env: process.env, forwardSignals: true,
        killGraceMs: 5000, io: { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) } });`;
    const launcher = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = { stdout: '', stderr: '' };
    launcher.stdout.on('data', (d) => (output.stdout += d));
    launcher.stderr.on('data', (d) => (output.stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      launcher.on('close', (code, signal) => done({ code, signal })),
    );
    return { launcher, output, exited };
  }

  async function waitForPids(count: number): Promise<void> {
    for (let i = 0; i < 600 && recordedPids().length < count; ++i) await new Promise((r) => setTimeout(r, 100));
    expect(recordedPids()).toHaveLength(count);
  }

  // Issue 24: `itl launch … -- train` exited 130 on SIGINT although the workers checkpointed and exited 0.
  test("workers that stop cleanly on SIGINT make the launch exit 0, with rank 0's stopping line shown", async () => {
    const { launcher, output, exited } = driver('graceful');
    await waitForPids(2);
    launcher.kill('SIGINT');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(output.stderr).toContain(`[rank 0] itl: stopped at step 3; ${dir}/checkpoint-3 is complete; continue with --resume`);
    expect(output.stderr).toContain('itl launch: SIGINT: every worker stopped cleanly (exit 0)');
  });

  // Issue 24: a SIGKILLed parent left its children running. The workers ask for SIGTERM on the
  // parent's death at startup, as the itl CLI does; SIGKILL gives the launcher no chance to act.
  test('a SIGKILLed launcher leaves no worker running', async () => {
    const { launcher, exited } = driver('follow');
    await waitForPids(4);
    const workers = ['rank0', 'rank1'].map((name) => Number(readFileSync(join(dir, `${name}.pid`), 'utf8')));
    launcher.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');
    for (let i = 0; i < 100 && workers.some(alive); ++i) await new Promise((r) => setTimeout(r, 100));
    expect(workers.filter(alive)).toEqual([]);
    // The workers' own children are in their process groups; the worker's death does not reach them
    // (itl commands start none that outlive them), so end them here.
    for (const pid of recordedPids().filter(alive)) process.kill(pid, 'SIGKILL');
  });
});
