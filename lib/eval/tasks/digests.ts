/** sha256 digests of the inputs a task reads (prompts, questions, documents), recorded in its provenance. */
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import { hashFile } from '../../data/hashFile.js';
import { ioError } from '../../util/ioError.js';

export const fileDigest = (path: string): string => hashFile(path).sha256;

/** sha256 of a file, or of a folder's files (their relative names, in order, and sha256s): a jsonl file or an on-disk dataset. */
export function pathDigest(path: string): string {
  let files: string[];
  try {
    if (!statSync(path).isDirectory()) return fileDigest(path);
    files = readdirSync(path, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => relative(path, join(e.parentPath, e.name)))
      .sort();
  } catch (error) {
    throw ioError('read', path, error);
  }
  const digest = createHash('sha256');
  for (const file of files) digest.update(`${file}\0${fileDigest(join(path, file))}\n`);
  return digest.digest('hex');
}
