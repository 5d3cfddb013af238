/**
 * `itl` commands run as child processes — by `itl demo` (its stages), `itl grid` (its steps) and
 * `itl launch` (its workers) — through one helper, so the three treat their children alike:
 *   - each child runs in its own process group: a terminal's Ctrl-C reaches it once, through the
 *     parent, and a signal sent to the group also reaches whatever the child started;
 *   - the child is told its parent's pid (ITL_PARENT_PID) and, at startup (followParent, called by
 *     the CLI), asks the kernel for SIGTERM when that parent dies (PR_SET_PDEATHSIG): a parent that is
 *     SIGKILLed leaves no child running (`itl train` then checkpoints and exits as on any SIGTERM);
 *   - the parent passes SIGINT/SIGTERM on (forwardSignals) and waits for the child to exit;
 *   - an exit is reported as a shell would (128 + the signal's number).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ItlError } from '../errors.js';

/** bin/itl.js, from dist/util/ (compiled) or lib/util/ (tests): two levels up. */
export const ITL_ENTRY = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'itl.js');

/** The variable through which a child learns which process it must not outlive. */
export const PARENT_PID_ENV = 'ITL_PARENT_PID';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What a shell would report: the code, or 128 + the signal's number. */
  status: number;
}

export interface ItlChildOptions {
  /** The `itl` arguments (`['train', '--run-name', …]`). */
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** inherit: the child writes to our terminal; pipe: the caller reads `process.stdout`/`stderr`. */
  stdio: 'inherit' | 'pipe';
  /** The script run with node (default: bin/itl.js). */
  entry?: string;
}

export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + ((signal ? (osConstants.signals as Record<string, number>)[signal] : undefined) ?? 0);
}

export class ItlChild {
  readonly process: ChildProcess;
  /** Resolves once the child has exited and its output has been read to the end. */
  readonly exited: Promise<ChildExit>;
  private done = false;

  constructor(options: ItlChildOptions) {
    this.process = spawn(process.execPath, [options.entry ?? ITL_ENTRY, ...options.args], {
      env: { ...(options.env ?? process.env), [PARENT_PID_ENV]: String(process.pid) },
      stdio: options.stdio === 'inherit' ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group (see the header)
    });
    this.exited = new Promise((resolveExit, reject) => {
      this.process.on('error', (error) => {
        this.done = true;
        reject(new ItlError('ITL_IO', `cannot start itl ${options.args[0] ?? ''}: ${error.message}`, { cause: error }));
      });
      this.process.on('close', (code, signal) => {
        this.done = true;
        resolveExit({ code, signal, status: exitStatus(code, signal) });
      });
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get running(): boolean {
    return !this.done;
  }

  /** Sends `signal` to the child's whole process group (itself and what it started). */
  signal(signal: NodeJS.Signals): void {
    if (this.done || this.process.pid === undefined) return;
    try {
      process.kill(-this.process.pid, signal);
    } catch {
      // it has just exited
    }
  }
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * Calls `onSignal` for each SIGINT/SIGTERM this process receives (instead of dying of it) until the
 * returned function is called: the caller passes it on to its children and decides how to end.
 */
export function forwardSignals(onSignal: (signal: NodeJS.Signals) => void): () => void {
  for (const signal of FORWARDED) process.on(signal, onSignal);
  return () => {
    for (const signal of FORWARDED) process.off(signal, onSignal);
  };
}

export type WatchParent = (signal: number, parentPid: number) => 'armed' | 'parent-gone' | 'unsupported';

/**
 * Called by the CLI at startup. When this process was started by ItlChild, it asks for SIGTERM on the
 * parent's death (through `watch`, the addon's prctl); a parent already gone ends this process now;
 * where the kernel cannot do it (not Linux), the parent pid is polled once a second instead. The
 * variable is removed so that processes this one starts do not inherit it.
 */
export function followParent(env: NodeJS.ProcessEnv, watch: () => WatchParent): void {
  const raw = env[PARENT_PID_ENV];
  if (raw === undefined) return;
  delete env[PARENT_PID_ENV];
  if (env !== process.env) delete process.env[PARENT_PID_ENV];
  const parent = Number(raw);
  if (!Number.isSafeInteger(parent) || parent <= 0) return;
  const state = watch()(osConstants.signals.SIGTERM, parent);
  if (state === 'parent-gone' || (state === 'unsupported' && process.ppid !== parent)) {
    process.kill(process.pid, 'SIGTERM');
    return;
  }
  if (state === 'unsupported') {
    setInterval(() => {
      if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM');
    }, 1000).unref();
  }
}
