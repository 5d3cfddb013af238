/**
 * The evaluation result files, in the study's layout and field names (DESIGN.md, "Result files"),
 * so `itl analyze` and the study's own tooling read them unchanged:
 *   EVAL/recall/<run>/checkpoints_recall_results.json   { "checkpoint-<step>": {…} }
 *   EVAL/hellaswag/<run>/<checkpoint>/results_<timestamp>.json (base models: hellaswag/base_models/<model>/…)
 *   EVAL/kl_tv/<run>/checkpoint_kl_eval_results.json    { "checkpoint-<step>": {…} }
 * and ours, beside them (general ability on held-out questions, the demo's stand-in for HellaSwag):
 *   EVAL/general/<run>/checkpoint_general_results.json  { "checkpoint-<step>": {…} }
 *   EVAL/general/base_models/<model>/general_results.json
 * Every write goes through writeFileAtomic (a crash leaves the previous file or the new one, never
 * half of one), and a keyed file's read-modify-write holds the file's lock (`<file>.lock`), so
 * concurrent evaluations writing into one file keep every entry.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { ItlError } from '../errors.js';
import { withLock } from '../util/fileLock.js';
import { ioError } from '../util/ioError.js';
import { makeFolder } from '../util/outputFolder.js';
import { removeStaleTemporaries, writeFileAtomic } from '../util/writeFileAtomic.js';

export type Metric = 'recall' | 'hellaswag' | 'kl' | 'general';

export const RECALL_FILE = 'checkpoints_recall_results.json';
export const KL_FILE = 'checkpoint_kl_eval_results.json';
export const GENERAL_FILE = 'checkpoint_general_results.json';
export const BASE_GENERAL_FILE = 'general_results.json';
export const BASE_MODELS_FOLDER = 'base_models';

/** The metric's folder under EVAL (the study calls KL/TV's folder kl_tv). */
export function metricFolder(evalDir: string, metric: Metric): string {
  return join(evalDir, metric === 'kl' ? 'kl_tv' : metric);
}

const KEYED_FILES = { recall: RECALL_FILE, kl: KL_FILE, general: GENERAL_FILE } as const;

export function keyedFilePath(evalDir: string, metric: keyof typeof KEYED_FILES, run: string): string {
  return join(metricFolder(evalDir, metric), run, KEYED_FILES[metric]);
}

/** A base model's general-ability result: EVAL/general/base_models/<model>/general_results.json. */
export function baseGeneralFilePath(evalDir: string, model: string): string {
  return join(metricFolder(evalDir, 'general'), BASE_MODELS_FOLDER, model, BASE_GENERAL_FILE);
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
    await writeFileAtomic(path, JSON.stringify(sorted, null, 2) + '\n');
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

/** Whether a folder already holds a results_<timestamp>.json (anywhere below it, as lm-eval nests them). */
export async function hasResultsFile(folder: string): Promise<boolean> {
  let entries;
  try {
    entries = await readdir(folder, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ioError('list', folder, error);
  }
  return entries.some((e) => e.isFile() && /^results_.*\.json$/.test(e.name));
}
