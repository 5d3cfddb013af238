/**
 * The evaluation result files, in the study's layout and field names (docs/design.md, "Result files"),
 * so `itl analyze` and the study's own tooling read them unchanged:
 *   EVAL/recall/<run>/checkpoints_recall_results.json   { "checkpoint-<step>": {…} }
 *   EVAL/hellaswag/<run>/<checkpoint>/results_<timestamp>.json (base models: hellaswag/base_models/<model>/…)
 *   EVAL/kl_tv/<run>/checkpoint_kl_eval_results.json    { "checkpoint-<step>": {…} }
 * and ours, beside them (general ability on held-out questions, the demo's stand-in for HellaSwag):
 *   EVAL/general/<run>/checkpoint_general_results.json  { "checkpoint-<step>": {…} }
 *   EVAL/general/base_models/<model>/general_results.json
 * Each task (lib/eval/tasks/) names its folder and files; these are the shapes they share.
 * Every write goes through writeFileAtomic (a crash leaves the previous file or the new one, never
 * half of one), and a keyed file's read-modify-write holds the file's lock (`<file>.lock`), so
 * concurrent evaluations writing into one file keep every entry.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { ItlError } from '../errors.js';
import { withLock } from '../util/fileLock.js';
import { ioError } from '../util/ioError.js';
import { makeFolder } from '../util/outputFolder.js';
import { removeStaleTemporaries, writeFileAtomic } from '../util/writeFileAtomic.js';

export const BASE_MODELS_FOLDER = 'base_models';

/** A per-run file keyed by checkpoint: EVAL/<folder>/<run>/<file>. */
export function keyedFilePath(evalDir: string, folder: string, run: string, file: string): string {
  return join(evalDir, folder, run, file);
}

/** A base model's own file: EVAL/<folder>/base_models/<model>/<file>. */
export function baseFilePath(evalDir: string, folder: string, model: string, file: string): string {
  return join(evalDir, folder, BASE_MODELS_FOLDER, model, file);
}

/**
 * lm-eval's results folder of one evaluated model: EVAL/<folder>/<run>/<checkpoint>/, for a base
 * model EVAL/<folder>/base_models/<model>/, for a single non-checkpoint folder EVAL/<folder>/<name>/.
 */
export function lmEvalFolder(
  evalDir: string,
  folder: string,
  target: { run: string; checkpoint: string; baseModel?: boolean; flat?: boolean },
): string {
  if (target.baseModel) return join(evalDir, folder, BASE_MODELS_FOLDER, target.run);
  return target.flat ? join(evalDir, folder, target.run) : join(evalDir, folder, target.run, target.checkpoint);
}

/** A `{ "checkpoint-<step>": {…} }` file, or {} when it does not exist yet; a malformed one is an error (never overwritten). */
export async function readKeyedFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw ioError('read', path, error);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ItlError('ITL_DATA', `${path}: not valid JSON (${(error as Error).message}); move it away to re-evaluate`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ItlError('ITL_DATA', `${path}: expected an object keyed by 'checkpoint-<step>'`);
  }
  return value as Record<string, unknown>;
}

/** How long a writer waits for another process's read-modify-write of the same file (each takes milliseconds). */
const KEYED_FILE_LOCK_WAIT_MS = 120_000;

/** Adds (or replaces) one checkpoint's entry, rewriting the file atomically under the file's lock. */
export async function writeKeyedEntry(path: string, checkpoint: string, entry: unknown): Promise<void> {
  makeFolder(dirname(path));
  await withLock(`${path}.lock`, { what: `result file ${path}`, waitMs: KEYED_FILE_LOCK_WAIT_MS, pollMs: 20 }, async () => {
    await removeStaleTemporaries(path); // a writer killed mid-write left it
    const document = await readKeyedFile(path);
    document[checkpoint] = entry;
    const sorted = Object.fromEntries(Object.entries(document).sort(([a], [b]) => stepOf(a) - stepOf(b) || (a < b ? -1 : 1)));
    await writeFileAtomic(path, `${JSON.stringify(sorted, null, 2)}\n`);
  });
}

function stepOf(key: string): number {
  const match = /^checkpoint-(\d+)$/.exec(key);
  return match ? Number(match[1]) : Number.MAX_SAFE_INTEGER;
}

/** lm-evaluation-harness's file timestamp: ISO time with ':' replaced, e.g. 2026-11-30T10-05-00.123. */
export function resultsTimestamp(date = new Date()): string {
  return date.toISOString().replace(/Z$/, '').replaceAll(':', '-');
}

/**
 * The newest `results_<timestamp>.json` anywhere under a folder (lm-eval nests it under a folder
 * named after the model path, and a re-run adds a later timestamp beside the old one); undefined when none.
 */
export async function latestResultsFile(folder: string): Promise<string | undefined> {
  let entries;
  try {
    entries = await readdir(folder, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError('list', folder, error);
  }
  const found = entries.filter((e) => e.isFile() && /^results_.*\.json$/.test(e.name)).map((e) => join(e.parentPath, e.name));
  found.sort((a, b) => (basename(a) < basename(b) ? -1 : basename(a) > basename(b) ? 1 : 0));
  return found.at(-1);
}

/** Whether a folder already holds a results_<timestamp>.json (anywhere below it, as lm-eval nests them). */
export async function hasResultsFile(folder: string): Promise<boolean> {
  return (await latestResultsFile(folder)) !== undefined;
}
