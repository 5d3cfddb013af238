/**
 * Exclusive lock files: one writer per run folder, result file or dataset output. The lock is a small
 * JSON file (owner pid, host, boot id, the pid's start time, when and by what command it was taken)
 * created atomically (written aside, then hard-linked into place, which fails if the name exists),
 * so a lock file is never seen half-written.
 *
 * A lock whose owner is gone is stale and taken over with a message: on this host that means the
 * pid is not running, or runs a different process (its start time differs: the pid was reused), or
 * the machine rebooted since (another boot id). An owner on another host cannot be checked; such a
 * lock is treated as live, and the error says which host holds it and which file to remove.
 *
 * Taking over goes through a short-lived guard file (`<lock>.takeover`), so two processes that both
 * find the same stale lock cannot both win; a normal acquisition never removes a file, so it cannot
 * clobber a live lock. Not covered: a process killed inside the guard's few microseconds while two
 * others race to take over its guard.
 *
 * Locks are released by `release()`, on process exit, and on SIGINT/SIGTERM/SIGHUP when nothing else
 * in the process handles the signal (the process then dies of the signal as it would have). After a
 * SIGKILL the lock file stays and is found stale by the next process.
 *
 * Locks are per process, not per call: a second acquisition of a lock the same process holds waits
 * for the first to be released (so concurrent async writers in one process also take turns).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

import { ItlError } from '../errors.js';

export interface LockOwner {
  pid: number;
  host: string;
  /** /proc/sys/kernel/random/boot_id: a reboot makes every recorded pid meaningless. */
  boot_id: string | null;
  /** The pid's start time in clock ticks since boot (/proc/<pid>/stat field 22): tells a reused pid apart. */
  pid_start: string | null;
  /** ISO time the lock was taken. */
  started: string;
  /** What the owner is doing, for the messages of those who wait (`itl data build --out x`). */
  command: string;
  /** Distinguishes this acquisition from any other, so a release never removes someone else's lock. */
  nonce: string;
}

export interface LockOptions {
  /** What the lock protects, for messages ("dataset output folder /x/facts"). */
  what?: string;
  /** How long to wait for a live owner, in ms: 0 fails at once (the default), Infinity waits for ever. */
  waitMs?: number;
  /** Poll interval while waiting, in ms. */
  pollMs?: number;
  /** Messages for the user: a stale lock taken over, waiting for a live one. */
  log?: (message: string) => void;
  /** Recorded in the lock file (default: this process's command line). */
  command?: string;
}

/** The process holding `path`, or null when the file does not exist (or is not a lock file). */
export function readLockOwner(path: string): LockOwner | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError(`cannot read the lock file ${path}`, error);
  }
  try {
    const value = JSON.parse(text) as LockOwner;
    if (Number.isSafeInteger(value.pid) && typeof value.host === 'string' && typeof value.nonce === 'string') return value;
  } catch {
    // fall through: not ours
  }
  throw new ItlError(
    'ITL_IO',
    `${path} is not an itl lock file (${JSON.stringify(text.slice(0, 80))}); remove it if no itl process is using it`,
  );
}

/** Why `owner` no longer holds its lock (a sentence), or null when it may still be running. */
export function staleReason(owner: LockOwner): string | null {
  if (owner.host !== hostname()) return null;
  const bootId = currentBootId();
  if (owner.boot_id && bootId && owner.boot_id !== bootId) return `the machine has restarted since pid ${owner.pid} took it`;
  if (!isRunning(owner.pid)) return `pid ${owner.pid} is no longer running`;
  const start = processStartTime(owner.pid);
  if (owner.pid_start && start && owner.pid_start !== start) return `pid ${owner.pid} is now another process`;
  return null;
}

export function describeOwner(owner: LockOwner): string {
  return `pid ${owner.pid} on ${owner.host} (since ${owner.started}: ${owner.command})`;
}

export class FileLock {
  private released = false;

  constructor(
    readonly path: string,
    readonly owner: LockOwner,
  ) {}

  /** Removes the lock file if it is still ours; idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this);
    if (held.size === 0) uninstallSignalHandlers();
    try {
      const current = readLockOwner(this.path);
      if (current?.nonce === this.owner.nonce) unlinkSync(this.path);
    } catch {
      // Already gone or replaced: nothing of ours to remove.
    }
  }
}

/** Takes the lock at `path` (the file is created; its folder must exist), waiting as `options` say. */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<FileLock> {
  const waitMs = options.waitMs ?? 0;
  const pollMs = options.pollMs ?? 100;
  const what = options.what ?? path;
  const deadline = Date.now() + waitMs;
  let announced = false;
  for (;;) {
    const lock = tryCreate(path, options.command);
    if (lock) return lock;
    const owner = readLockOwner(path);
    if (owner === null) continue; // released between our attempt and the read
    const reason = staleReason(owner);
    if (reason !== null) {
      if (takeOver(path, owner))
        options.log?.(`${what}: took over a stale lock (${reason}; it was taken ${owner.started} by ${owner.command})`);
      continue;
    }
    if (Date.now() >= deadline) {
      const waited = waitMs > 0 ? `; waited ${Math.round(waitMs / 1000)} s` : '';
      const remote = owner.host === hostname() ? '' : ` (another host: if that process is gone, remove ${path})`;
      throw new ItlError('ITL_LOCKED', `${what} is in use by ${describeOwner(owner)}${waited}${remote}`);
    }
    if (!announced) {
      options.log?.(`${what} is in use by ${describeOwner(owner)}; waiting for it`);
      announced = true;
    }
    await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
  }
}

/** Runs `work` holding the lock at `path`, releasing it however `work` ends. */
export async function withLock<T>(path: string, options: LockOptions, work: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(path, options);
  try {
    return await work();
  } finally {
    lock.release();
  }
}

function tryCreate(path: string, command: string | undefined): FileLock | null {
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    boot_id: currentBootId(),
    pid_start: processStartTime(process.pid),
    started: new Date().toISOString(),
    command: command ?? commandLine(),
    nonce: randomBytes(8).toString('hex'),
  };
  const text = `${JSON.stringify(owner)}\n`;
  const aside = `${path}.${process.pid}.${owner.nonce}`;
  try {
    writeFileSync(aside, text, { flag: 'wx' });
  } catch (error) {
    throw ioError(`cannot create the lock file ${path}`, error);
  }
  try {
    linkSync(aside, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return null;
    // File systems without hard links: an exclusive create (a reader may then see an empty file for a moment).
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw ioError(`cannot create the lock file ${path}`, error);
    if (!createExclusive(path, text)) return null;
  } finally {
    unlinkQuietly(aside);
  }
  const lock = new FileLock(path, owner);
  if (held.size === 0) installSignalHandlers();
  held.add(lock);
  return lock;
}

function createExclusive(path: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw ioError(`cannot create the lock file ${path}`, error);
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Removes the stale lock `owner` held, under the guard; false when someone else got there first. */
function takeOver(path: string, owner: LockOwner): boolean {
  const guard = `${path}.takeover`;
  const guardLock = tryCreateGuard(guard);
  if (!guardLock) return false;
  try {
    // Re-read under the guard: another process may have taken over (and now hold) the lock meanwhile.
    const current = readLockOwner(path);
    if (current?.nonce !== owner.nonce) return false;
    unlinkQuietly(path);
    return true;
  } finally {
    unlinkQuietly(guard);
  }
}

function tryCreateGuard(guard: string): boolean {
  const text = `${JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() })}\n`;
  if (createExclusive(guard, text)) return true;
  // A guard is held for microseconds; one left behind is a process killed inside it.
  try {
    const owner = JSON.parse(readFileSync(guard, 'utf8')) as { pid: number; host: string };
    if (owner.host === hostname() && !isRunning(owner.pid)) unlinkQuietly(guard);
  } catch {
    // gone, or being written: try again on the next round
  }
  return false;
}

// ---- process facts (Linux /proc; elsewhere the checks fall back to the pid alone) ----

let bootId: string | null | undefined;

function currentBootId(): string | null {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = null;
    }
  }
  return bootId;
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised command, which may hold spaces). */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function commandLine(): string {
  const args = process.argv.slice(1).map((a, i) => (i === 0 ? a.replace(/^.*\//, '') : a));
  return args.join(' ').slice(0, 200);
}

// ---- release on exit and on signals ----

const held = new Set<FileLock>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function releaseAll(): void {
  for (const lock of [...held]) lock.release();
}

function onSignal(signal: NodeJS.Signals): void {
  // Someone else handles this signal (a trainer checkpoints on SIGINT): let it; 'exit' releases later.
  if (process.listenerCount(signal) > 1) return;
  releaseAll();
  uninstallSignalHandlers();
  process.kill(process.pid, signal);
}

function installSignalHandlers(): void {
  process.on('exit', releaseAll);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstallSignalHandlers(): void {
  process.off('exit', releaseAll);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

function ioError(message: string, error: unknown): ItlError {
  const e = error as NodeJS.ErrnoException;
  return new ItlError('ITL_IO', `${message}: ${e.code ?? ''} ${e.message}`.trim(), { cause: error });
}
