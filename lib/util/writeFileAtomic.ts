/** Writes a file through a temporary sibling renamed into place: readers see the old file or the new one, never half of one. */
import { rm, rename, writeFile } from 'node:fs/promises';

import { ItlError } from '../errors.js';

export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeFile(temp, text);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw new ItlError('ITL_IO', `cannot write ${file}: ${(error as Error).message}`, { cause: error });
  }
}
