/**
 * Reading result files back (analysis, reuse checks): JSON with the file named in every error, and
 * number fields checked by key. A malformed file is an ITL_DATA error naming the file and the key;
 * analysis reports it and goes on.
 */
import { readdir, readFile } from 'node:fs/promises';

import { ItlError } from '../../errors.js';
import { checkpointStep } from '../../train/runFolder.js';

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A file's JSON, or undefined when the file does not exist. */
export async function readJsonIfPresent(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ItlError('ITL_IO', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ItlError('ITL_DATA', `${path}: not valid JSON (${(error as Error).message})`);
  }
}

/** The visible sub-folders of `path`, sorted; none when it does not exist. */
export async function listDirectories(path: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ItlError('ITL_IO', `${path}: cannot list (${(error as Error).message})`);
  }
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** A number field, or undefined when absent or null; anything else is an error naming the key. */
export function optionalNumber(entry: Record<string, unknown>, key: string, where: string): number | undefined {
  const value = entry[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ItlError('ITL_DATA', `${where}: '${key}' is ${JSON.stringify(value)}, expected a number`);
  }
  return value;
}

export function requiredNumber(entry: Record<string, unknown>, key: string, where: string): number {
  const value = optionalNumber(entry, key, where);
  if (value === undefined) throw new ItlError('ITL_DATA', `${where}: '${key}' is missing`);
  return value;
}

/** `{ "checkpoint-<step>": {…} }` → step → entry, naming the file and key of anything else. */
export function checkpointEntries(document: unknown, path: string): Map<number, Record<string, unknown>> {
  if (!isObject(document)) throw new ItlError('ITL_DATA', `${path}: expected an object keyed by 'checkpoint-<step>'`);
  const entries = new Map<number, Record<string, unknown>>();
  for (const [key, entry] of Object.entries(document)) {
    const step = checkpointStep(key);
    if (step === undefined) throw new ItlError('ITL_DATA', `${path}: key '${key}' is not 'checkpoint-<step>'`);
    if (!isObject(entry)) throw new ItlError('ITL_DATA', `${path}: '${key}' is not an object`);
    entries.set(step, entry);
  }
  return entries;
}

/** The provenance an entry records: null when it has none (written before provenance was recorded). */
export function recordedProvenance(entry: unknown): Record<string, unknown> | null {
  return isObject(entry) && isObject(entry.provenance) ? entry.provenance : null;
}
