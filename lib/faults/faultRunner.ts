/**
 * The fault suite's plumbing: `itl` commands as child processes with their output captured, a kill
 * at a chosen moment, commands inside a private mount namespace (a small tmpfs, a read-only mount:
 * `unshare -rm`, when the kernel allows it), a seeded random source and the tally the suite prints.
 */
import { spawn, spawnSync } from 'node:child_process';

import { ItlChild, ITL_ENTRY } from '../util/itlChild.js';

export interface ItlRun {
  status: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Whether our kill reached the process before it exited of its own accord. */
  killed: boolean;
  ms: number;
  pid: number | undefined;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Send `signal` (default SIGKILL) to the command's process group this many ms after it starts… */
  killAfterMs?: number;
  /** …or after its output first matches this (then `killAfterMs` counts from there). */
  killAfterOutput?: RegExp;
  signal?: NodeJS.Signals;
  /** Called with the child once it runs (to find its own children, say). */
  onStart?: (child: ItlChild) => void;
}

/** Runs `itl ARGS…` to its end (or to our kill), capturing its output. */
export async function runItl(args: string[], options: RunOptions = {}): Promise<ItlRun> {
  const started = performance.now();
  const child = new ItlChild({ args, env: { ...process.env, ...options.env }, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  let killed = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer ??= setTimeout(() => {
      if (!child.running) return;
      killed = true;
      child.signal(options.signal ?? 'SIGKILL');
    }, options.killAfterMs);
  };
  const watch = (text: string) => {
    if (options.killAfterMs !== undefined && options.killAfterOutput?.test(text)) arm();
  };
  child.process.stdout!.setEncoding('utf8').on('data', (d: string) => watch((stdout += d)));
  child.process.stderr!.setEncoding('utf8').on('data', (d: string) => watch((stderr += d)));
  options.onStart?.(child);
  if (options.killAfterMs !== undefined && options.killAfterOutput === undefined) arm();
  try {
    const exit = await child.exited;
    return { status: exit.status, signal: exit.signal, stdout, stderr, killed, ms: performance.now() - started, pid: child.pid };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Whether `unshare -rm` gives this process a private mount namespace (tmpfs and read-only mounts). */
export function canUnshare(): boolean {
  const probe = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /tmp 2>/dev/null && echo ok'], {
    encoding: 'utf8',
  });
  return probe.status === 0 && probe.stdout.trim() === 'ok';
}

/** `script` (sh) in a private mount namespace; `$ITL` in it runs the itl entry. */
export function runInNamespace(script: string, env: NodeJS.ProcessEnv = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('unshare', ['-rm', 'sh', '-c', script], {
      env: { ...process.env, ...env, ITL: `${process.execPath} ${ITL_ENTRY}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => resolve({ status: code ?? 1, stdout, stderr }));
  });
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pids whose parent is `pid` (Linux /proc), for finding a pipeline's running children. */
export function childrenOf(pid: number): number[] {
  const result = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return result.stdout.split('\n').filter(Boolean).map(Number);
}

/** A small seeded generator (the suite prints its seed, so a failing sequence of kills can be replayed). */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }
  next(): number {
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    return this.state / 2 ** 32;
  }
  between(low: number, high: number): number {
    return low + (high - low) * this.next();
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

export interface Tally {
  /** Faults that took effect: a process killed before it finished, a write made to fail, a hostile input refused. */
  faults: number;
  /** Reruns (or interrupted runs) compared with the uninterrupted run's results. */
  compared: number;
  mismatches: string[];
  /** One line per scenario run, for the log. */
  notes: string[];
}

export function newTally(): Tally {
  return { faults: 0, compared: 0, mismatches: [], notes: [] };
}
