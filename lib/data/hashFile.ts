/** Size and sha256 of a file, read in 1 MiB blocks: what a data build's manifest records and its readers check. */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

import { ioError } from '../util/ioError.js';

export interface FileRecord {
  bytes: number;
  sha256: string;
}

export function hashFile(path: string): FileRecord {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(1 << 20);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw ioError('read', path, error);
  }
  let bytes = 0;
  try {
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; bytes += n) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return { bytes, sha256: hash.digest('hex') };
}
