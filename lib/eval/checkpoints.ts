/**
 * What `itl eval` evaluates: the runs under RUNS (`RUNS/<run>/checkpoint-<step>/`, each run's
 * training configuration in `RUNS/<run>/run_config.json`), a single folder (`--model DIR
 * [--adapter DIR]`), or the runs' base models (`--base`). A checkpoint is resolved to the model
 * folder to load and the LoRA adapter to apply on top, in one function (`resolveCheckpoint`).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { ItlError } from '../errors.js';
import { type LoadModelOptions, Model } from '../native/Model.js';
import type { Runtime } from '../native/Runtime.js';

/** The fields of run_config.json the evaluation reads (the trainer writes more). */
export interface RunConfig {
  format_version: number;
  run_name: string;
  model_label: string;
  /** Absolute path of the base model folder. */
  model: string;
  /** Absolute path of the facts dataset. */
  data: string;
  facts: number;
  mode: 'weight' | 'tool';
  date_string: string;
  lora_r?: number;
}

export interface RunFolder {
  /** The run folder's name: the result files' <run>. */
  name: string;
  dir: string;
  /** `checkpoint-<step>` folder names, by step. */
  checkpoints: string[];
}

/** A model to evaluate: a folder, and the LoRA adapter applied to it when there is one. */
export interface ResolvedCheckpoint {
  model: string;
  adapter?: string;
}

export { RUN_CONFIG_FILE } from '../train/trainConfig.js';
import { RUN_CONFIG_FILE } from '../train/trainConfig.js';
const CHECKPOINT = /^checkpoint-(0|[1-9]\d*)$/;

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The run folders under `modelsDir` and their complete checkpoints. A folder still being written
 * carries a `.tmp…` suffix and never matches `checkpoint-<step>`; hidden folders are skipped.
 */
export async function listRuns(modelsDir: string): Promise<RunFolder[]> {
  let entries;
  try {
    entries = await readdir(modelsDir, { withFileTypes: true });
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot list the runs folder ${modelsDir}: ${(error as Error).message}`, { cause: error });
  }
  const runs: RunFolder[] = [];
  for (const entry of entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const dir = join(modelsDir, entry.name);
    const checkpoints = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && CHECKPOINT.test(e.name))
      .map((e) => e.name)
      .sort((a, b) => Number(a.slice(11)) - Number(b.slice(11)));
    runs.push({ name: entry.name, dir, checkpoints });
  }
  return runs;
}

function fail(path: string, what: string): never {
  throw new ItlError('ITL_CONFIG', `${path}: ${what}`);
}

/** Reads and checks `RUNS/<run>/run_config.json`, naming the file and field of anything wrong. */
export async function readRunConfig(runDir: string): Promise<RunConfig> {
  const path = join(runDir, RUN_CONFIG_FILE);
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    fail(path, missing ? 'missing (the run\'s training configuration; pass --data and --facts to evaluate recall without it)'
      : `not readable JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'expected a JSON object');
  const config = value as Record<string, unknown>;
  if (config.format_version !== 1) fail(path, `expected format_version 1 but found ${JSON.stringify(config.format_version)}`);
  for (const key of ['run_name', 'model_label', 'model', 'data', 'date_string'] as const) {
    if (typeof config[key] !== 'string' || config[key] === '') fail(path, `'${key}' must be a non-empty string, found ${JSON.stringify(config[key])}`);
  }
  if (!Number.isInteger(config.facts) || (config.facts as number) < 1) fail(path, `'facts' must be a positive integer, found ${JSON.stringify(config.facts)}`);
  if (config.mode !== 'weight' && config.mode !== 'tool') fail(path, `'mode' must be "weight" or "tool", found ${JSON.stringify(config.mode)}`);
  return config as unknown as RunConfig;
}

/**
 * The model folder and adapter of a checkpoint: a full checkpoint (config.json) is itself the
 * model; a LoRA checkpoint (PEFT adapter_config.json, no config.json) is its
 * `base_model_name_or_path` plus the adapter. Anything else is a checkpoint-format error.
 */
export async function resolveCheckpoint(dir: string): Promise<ResolvedCheckpoint> {
  if (!(await isDirectory(dir))) throw new ItlError('ITL_IO', `${dir}: no such folder`);
  if (existsSync(join(dir, 'config.json'))) return { model: dir };
  const adapterConfig = join(dir, 'adapter_config.json');
  if (!existsSync(adapterConfig)) {
    throw new ItlError('ITL_CHECKPOINT_FORMAT', `${dir}: neither config.json (a full checkpoint) nor adapter_config.json (a LoRA adapter)`);
  }
  let base: unknown;
  try {
    base = (JSON.parse(await readFile(adapterConfig, 'utf8')) as Record<string, unknown>).base_model_name_or_path;
  } catch (error) {
    throw new ItlError('ITL_CHECKPOINT_FORMAT', `${adapterConfig}: not readable JSON (${(error as Error).message})`);
  }
  if (typeof base !== 'string' || base === '') {
    throw new ItlError('ITL_CHECKPOINT_FORMAT', `${adapterConfig}: no base_model_name_or_path`);
  }
  return { model: base, adapter: dir };
}

/** Loads what `resolveCheckpoint` named: the model folder, with the LoRA adapter applied when there is one. */
export async function loadResolved(runtime: Runtime, resolved: ResolvedCheckpoint, options: LoadModelOptions): Promise<Model> {
  return Model.load(runtime, resolved.model, resolved.adapter === undefined ? options : { ...options, adapter: resolved.adapter });
}

/**
 * Where `--model DIR` results go: EVAL/<metric>/<folder name>/ (HellaSwag's results file directly
 * in it; recall and KL keyed `checkpoint-0`), or for DIR = …/<run>/checkpoint-<step>, exactly where
 * that checkpoint's results go when its run is evaluated.
 */
export function singleFolderTarget(dir: string): { name: string; checkpoint: string; flat: boolean } {
  const absolute = resolve(dir);
  const base = basename(absolute);
  if (CHECKPOINT.test(base)) return { name: basename(dirname(absolute)), checkpoint: base, flat: false };
  return { name: base, checkpoint: 'checkpoint-0', flat: true };
}
