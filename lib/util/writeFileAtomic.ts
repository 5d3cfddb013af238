/**
 * The one way the project replaces a small file (result files, run records, markers, caches): readers
 * see the old file or the new one, never half of one, and a file that was reported written survives a
 * power cut. The rule: write a temporary sibling, fsync it, rename it over the target, fsync the folder
 * (so the rename itself is on disk; file systems that cannot fsync a folder are let off). Missing
 * parent folders are created (makeFolder: never under /proc or /sys, never through a file). Failures are ITL_IO naming the path and the cause; the temporary file is
 * removed. ITL_FAULT_WRITE (faultInjection.ts) makes chosen writes fail, for tests.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { injectedWriteFault } from './faultInjection.js';
import { isRunning } from './fileLock.js';
import { ioError } from './ioError.js';
import { makeFolder } from './outputFolder.js';

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const folder = dirname(path);
  makeFolder(folder);
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  let handle: FileHandle | undefined;
  try {
    handle = await open(temporary, 'wx');
    const fault = injectedWriteFault(path);
    if (fault) {
      await handle.write(bytes.subarray(0, bytes.byteLength >> 1));
      throw fault;
    }
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temporary, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(temporary, { force: true }).catch(() => undefined);
    throw ioError('write', path, error);
  }
  await syncFolder(folder);
}

/** fsync of a folder makes a rename in it durable; some file systems refuse it (EINVAL), which is let pass. */
export async function syncFolder(folder: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(folder, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR' && code !== 'EPERM') throw ioError('flush the folder', folder, error);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Removes the temporary siblings of `path` (`<name>.tmp-<pid>-…`) that processes no longer running
 * left (killed mid-write). For writers that hold the file's lock, so no live writer's file is removed.
 */
export async function removeStaleTemporaries(path: string): Promise<void> {
  const folder = dirname(path);
  const prefix = `${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isSafeInteger(pid) && pid !== process.pid && !isRunning(pid)) await rm(join(folder, name), { force: true });
  }
}
