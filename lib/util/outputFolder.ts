/**
 * Output folders, made and checked before any work. Node's own recursive mkdir spins for ever under
 * /proc (each mkdir there fails with ENOENT, which its loop reads as "make the parent first"), so the
 * folders are made one level at a time below the nearest existing one, after checking that one is a
 * folder on an ordinary file system. Every failure is ITL_IO naming the path and the cause.
 */
import { mkdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { ItlError } from '../errors.js';
import { ioError } from './ioError.js';

/** Kernel file systems that hold no files of ours (statfs f_type, linux/magic.h). */
const SPECIAL_FILE_SYSTEMS: Record<number, string> = {
  40864: 'proc',
  1650812274: 'sysfs',
  7377: 'devpts',
  2613483: 'cgroup',
  1667723888: 'cgroup2',
  1684170528: 'debugfs',
  1953653091: 'tracefs',
  1935894131: 'securityfs',
  3405662737: 'bpf',
  1634035564: 'pstore',
  1650812272: 'configfs',
  3730735588: 'efivarfs',
  1702057283: 'fusectl',
  427819522: 'mqueue',
};

/** Creates `folder` and its missing parents; refuses special file systems and files in the way. */
export function makeFolder(folder: string, what = 'a folder'): void {
  const target = resolve(folder);
  const missing: string[] = [];
  let existing = target;
  for (;;) {
    const stats = statOrNull(existing);
    if (stats) {
      if (!stats.isDirectory()) {
        const where = existing === target ? '' : ` (inside ${target})`;
        throw new ItlError('ITL_IO', `cannot use ${existing} as ${what}${where}: it is a file, and a folder is expected`);
      }
      break;
    }
    missing.unshift(existing);
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  refuseSpecialFileSystem(existing, target, what);
  for (const path of missing) {
    try {
      mkdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && statOrNull(path)?.isDirectory()) continue; // made by someone else meanwhile
      throw ioError(`create ${what}`, path, error);
    }
  }
}

/**
 * What the CLI calls before any work: the folder exists or can be made, and a file can be written in
 * it (a read-only mount, a full disk or a missing permission shows now, not after hours of work).
 */
export function checkOutputFolder(folder: string, what = 'the output folder'): void {
  makeFolder(folder, what);
  const probe = resolve(folder, `.itl-write-test-${process.pid}`);
  try {
    writeFileSync(probe, 'itl\n');
  } catch (error) {
    throw ioError(`write in ${what}`, resolve(folder), error);
  } finally {
    rmSync(probe, { force: true });
  }
}

function refuseSpecialFileSystem(existing: string, target: string, what: string): void {
  let type: number;
  try {
    type = Number(statfsSync(existing).type);
  } catch {
    return; // no statfs here: nothing to tell
  }
  const name = SPECIAL_FILE_SYSTEMS[type];
  if (name)
    throw new ItlError(
      'ITL_IO',
      `cannot use ${target} as ${what}: ${existing} is on the kernel's ${name} file system, which holds no ordinary files`,
    );
}

function statOrNull(path: string): ReturnType<typeof statSync> | null {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') return null; // a file further up: found on the way up
    throw ioError('read', path, error);
  }
}
