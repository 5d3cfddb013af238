/**
 * `itl launch`: K worker processes on this node with torchrun's environment contract (RANK,
 * WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; also GROUP_RANK, and one
 * thread per worker when unset: OMP_NUM_THREADS=1 as torchrun does, and ITL_BLAS_THREADS=1, since
 * itl otherwise gives OpenBLAS every core in each worker). Each line a worker prints comes out prefixed with
 * its rank. SIGINT/SIGTERM are forwarded to the workers; the first worker that fails decides the exit
 * status and the others are stopped (SIGTERM, then SIGKILL after a grace period), so no process is
 * left behind. Not elastic: a failed worker is not restarted (torchrun's --max-restarts 0).
 *
 * Workers are started through the shared child helper (lib/util/itlChild.ts): each in its own process
 * group, so that a terminal's Ctrl-C reaches it once, through us, and stopping it also stops anything
 * it started; and each dies with us, even when we are SIGKILLed. Exit status: 0 when every worker
 * succeeded, also after a SIGINT/SIGTERM that every worker answered by stopping cleanly (exit 0:
 * `itl train` has written its checkpoint); else the first failure's status, or 128 + the signal's
 * number when interrupted workers did not all exit 0.
 */
import { ItlError } from '../errors.js';
import { exitStatus, forwardSignals, ItlChild } from '../util/itlChild.js';
import { DEFAULT_MASTER_PORT } from './distEnv.js';

export interface LaunchPlan {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
}

export interface LaunchIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface LaunchOptions extends LaunchPlan {
  /** The script every worker runs with node (bin/itl.js), and its arguments. */
  entry: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  io: LaunchIo;
  /** How long a worker may take to exit after SIGTERM before SIGKILL (torchrun: 30 s). */
  killGraceMs?: number;
  /** Forward this process's SIGINT/SIGTERM to the workers (the CLI does; tests in-process do not). */
  forwardSignals?: boolean;
}

export const DEFAULT_KILL_GRACE_MS = 15000;

function usage(message: string): ItlError {
  return new ItlError('ITL_USAGE', message);
}

function positiveInteger(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 1) throw usage(`expected a positive integer for ${name} but received ${value}`);
}

export function validateLaunchPlan(plan: LaunchPlan): void {
  positiveInteger(plan.nprocPerNode, '--nproc-per-node');
  positiveInteger(plan.nnodes, '--nnodes');
  if (!Number.isInteger(plan.nodeRank) || plan.nodeRank < 0 || plan.nodeRank >= plan.nnodes) {
    throw usage(`--node-rank ${plan.nodeRank} is outside the ${plan.nnodes} node(s) of --nnodes`);
  }
  if (!Number.isInteger(plan.masterPort) || plan.masterPort < 1 || plan.masterPort > 65535) {
    throw usage(`expected a port between 1 and 65535 for --master-port but received ${plan.masterPort}`);
  }
  if (plan.masterAddr === '') throw usage('--master-addr is empty');
}

/** The environment of local worker `localRank`: the caller's plus torchrun's variables. */
export function workerEnv(plan: LaunchPlan, localRank: number, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base,
    RANK: String(plan.nodeRank * plan.nprocPerNode + localRank),
    WORLD_SIZE: String(plan.nnodes * plan.nprocPerNode),
    LOCAL_RANK: String(localRank),
    LOCAL_WORLD_SIZE: String(plan.nprocPerNode),
    GROUP_RANK: String(plan.nodeRank),
    MASTER_ADDR: plan.masterAddr,
    MASTER_PORT: String(plan.masterPort),
  };
  // torchrun's default: K processes each running a full thread pool would oversubscribe the cores.
  if (plan.nprocPerNode > 1) {
    for (const name of ['OMP_NUM_THREADS', 'ITL_BLAS_THREADS']) if (base[name] === undefined || base[name] === '') env[name] = '1';
  }
  return env;
}

/** Splits a stream into lines and prints each with a prefix; a last partial line is flushed at the end. */
class PrefixedLines {
  private pending = '';
  constructor(
    private readonly prefix: string,
    private readonly write: (text: string) => void,
  ) {}
  push(chunk: string): void {
    const text = this.pending + chunk;
    const lines = text.split('\n');
    this.pending = lines.pop()!;
    if (lines.length > 0) this.write(lines.map((line) => `${this.prefix}${line}\n`).join(''));
  }
  flush(): void {
    if (this.pending !== '') this.write(`${this.prefix}${this.pending}\n`);
    this.pending = '';
  }
}

interface Worker {
  rank: number;
  child: ItlChild;
  exited: Promise<number>;
  done: boolean;
}

function signalGroup(worker: Worker, signal: NodeJS.Signals): void {
  if (!worker.done) worker.child.signal(signal); // the whole group: the worker and what it started
}

function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * What a worker started and left running when it exited (or what was still dying from our signal)
 * is killed, and we wait until its process group is empty: nothing outlives `itl launch`.
 */
async function clearGroups(workers: Worker[]): Promise<void> {
  const groups = workers.map((worker) => worker.child.pid).filter((pid): pid is number => pid !== undefined);
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Empty already.
    }
  }
  for (let i = 0; i < 250 && groups.some(groupExists); ++i) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Runs the workers to completion. Resolves with 0 when all succeed, else with the status of the
 * first one to fail (or 128 + the signal's number when we were interrupted).
 */
export async function launch(options: LaunchOptions): Promise<number> {
  validateLaunchPlan(options);
  if (options.args.length === 0) throw usage('name the itl command to run after --, e.g. itl launch --nproc-per-node 2 -- train …');
  const graceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const workers: Worker[] = [];
  let firstFailure: { rank: number; status: number } | undefined;
  let interrupted: NodeJS.Signals | undefined;
  let stopping = false;
  let killTimer: NodeJS.Timeout | undefined;

  // Ask every worker still running to stop, and make sure it does.
  const stopAll = (signal: NodeJS.Signals) => {
    for (const worker of workers) signalGroup(worker, signal);
    if (stopping) return;
    stopping = true;
    killTimer = setTimeout(() => {
      for (const worker of workers) signalGroup(worker, 'SIGKILL');
    }, graceMs);
  };

  const onSignal = (signal: NodeJS.Signals) => {
    interrupted ??= signal;
    options.io.stderr(`itl launch: ${signal} received, stopping ${workers.filter((w) => !w.done).length} worker(s)\n`);
    stopAll(signal);
  };
  const stopForwarding = options.forwardSignals ? forwardSignals(onSignal) : () => {};
  const statuses: number[] = [];

  try {
    for (let localRank = 0; localRank < options.nprocPerNode; ++localRank) {
      const rank = options.nodeRank * options.nprocPerNode + localRank;
      const child = new ItlChild({
        args: options.args,
        entry: options.entry,
        env: workerEnv(options, localRank, options.env),
        stdio: 'pipe',
      });
      const prefix = `[rank ${rank}] `;
      const out = new PrefixedLines(prefix, options.io.stdout);
      const err = new PrefixedLines(prefix, options.io.stderr);
      child.process.stdout!.setEncoding('utf8').on('data', (chunk: string) => out.push(chunk));
      child.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => err.push(chunk));
      const worker: Worker = {
        rank,
        child,
        done: false,
        exited: child.exited
          .then(
            (exit) => exit.status,
            (error: Error) => {
              options.io.stderr(`${prefix}${error.message}\n`);
              return 127;
            },
          )
          .then((status) => {
            // The process has exited and its output has been read to the end.
            out.flush();
            err.flush();
            worker.done = true;
            statuses[localRank] = status;
            return status;
          }),
      };
      workers.push(worker);
      void worker.exited.then((status) => {
        if (status === 0 || firstFailure !== undefined || interrupted !== undefined) return;
        firstFailure = { rank, status };
        const running = workers.filter((w) => !w.done).length;
        if (running > 0)
          options.io.stderr(`itl launch: rank ${rank} exited with status ${status}; stopping the other ${running} worker(s)\n`);
        stopAll('SIGTERM');
      });
    }
    await Promise.all(workers.map((worker) => worker.exited));
    await clearGroups(workers);
  } finally {
    if (killTimer) clearTimeout(killTimer);
    stopForwarding();
  }
  if (firstFailure) return firstFailure.status;
  if (interrupted) {
    if (statuses.every((status) => status === 0)) {
      options.io.stderr(`itl launch: ${interrupted}: every worker stopped cleanly (exit 0)\n`);
      return 0;
    }
    return statuses.find((status) => status !== 0) ?? exitStatus(null, interrupted);
  }
  return 0;
}

export { DEFAULT_MASTER_PORT };
