/**
 * The run folder, one convention for everyone who reads or writes it (train, eval, grid, analyze, demo):
 *
 *   RUNS/<run>/run_config.json           what the run is (lib/train/trainConfig.ts writes it)
 *   RUNS/<run>/checkpoint-<step>/        a complete checkpoint: the trainer writes it as a hidden
 *                                        `.checkpoint-<step>.tmp-<pid>/`, trainer_state.json last, and
 *                                        renames it; a folder of that name without trainer_state.json
 *                                        (copied by hand, damaged) is incomplete and never used
 *   RUNS/<run>/.checkpoint-<step>.old-<pid>/  the previous folder of that name while it is replaced
 *   RUNS/<run>/metrics.jsonl             one line per logged step
 *   RUNS/<run>/.itl-train.lock           the lock of the process training it (one writer per run)
 *
 * Cleanup is this module's alone: the native trainer only renames its own staging folder into place
 * (and drops the `.old` it moved aside); leftovers of processes that died are removed here, at the
 * start of the next training of the run, and never while their writer is alive.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ItlError } from '../errors.js';
import type { TrainingMode } from '../tokenize/labelMask.js';
import { isRunning } from '../util/fileLock.js';

export const RUN_CONFIG_FILE = 'run_config.json';
export const TRAINER_STATE_FILE = 'trainer_state.json';
export const METRICS_FILE = 'metrics.jsonl';
/** Held by the process training the run (lib/util/fileLock.ts): one writer per run. */
export const RUN_LOCK_FILE = '.itl-train.lock';

const CHECKPOINT = /^checkpoint-(0|[1-9]\d*)$/;
const TEMPORARY = /^\.checkpoint-(0|[1-9]\d*)\.(tmp|old)-(\d+)$/;

export interface CheckpointFolder {
  step: number;
  /** `checkpoint-<step>`: the key of the result files. */
  name: string;
  path: string;
}

export interface RunFolder {
  /** The run folder's name: the result files' <run>. */
  name: string;
  dir: string;
  /** Complete checkpoints, by step. */
  checkpoints: CheckpointFolder[];
}

export const checkpointName = (step: number): string => `checkpoint-${step}`;

/** The step of a `checkpoint-<step>` name, or undefined for any other name. */
export function checkpointStep(name: string): number | undefined {
  const match = CHECKPOINT.exec(name);
  return match ? Number(match[1]) : undefined;
}

function directoryNames(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ItlError('ITL_IO', `cannot list ${dir}: ${(error as Error).message}`, { cause: error });
  }
}

/** Whether a `checkpoint-<step>` folder is complete: the trainer writes trainer_state.json last. */
export function isCompleteCheckpoint(path: string): boolean {
  return existsSync(join(path, TRAINER_STATE_FILE));
}

/** Complete checkpoints of `runDir`, by step (none when the folder does not exist). */
export function listCheckpoints(runDir: string): CheckpointFolder[] {
  return directoryNames(runDir)
    .map((name) => ({ name, step: checkpointStep(name) }))
    .filter((c): c is { name: string; step: number } => c.step !== undefined)
    .map(({ name, step }) => ({ step, name, path: join(runDir, name) }))
    .filter((c) => isCompleteCheckpoint(c.path))
    .sort((a, b) => a.step - b.step);
}

export function latestCheckpoint(runDir: string): CheckpointFolder | undefined {
  return listCheckpoints(runDir).at(-1);
}

/** `checkpoint-<step>` folders that are not complete (no trainer_state.json): reported, never evaluated or resumed. */
export function incompleteCheckpoints(runDir: string): string[] {
  return directoryNames(runDir)
    .filter((name) => checkpointStep(name) !== undefined && !isCompleteCheckpoint(join(runDir, name)))
    .map((name) => join(runDir, name));
}

/** The run folders under `runsDir` (hidden folders aside), by name, with their complete checkpoints. */
export async function listRuns(runsDir: string): Promise<RunFolder[]> {
  let entries;
  try {
    entries = await readdir(runsDir, { withFileTypes: true });
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot list the runs folder ${runsDir}: ${(error as Error).message}`, { cause: error });
  }
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort()
    .map((name) => ({ name, dir: join(runsDir, name), checkpoints: listCheckpoints(join(runsDir, name)) }));
}

/**
 * Staging and moved-aside folders whose writer is gone (its pid is not alive on this machine): what a
 * killed save left behind. A live writer's folders are left alone.
 */
export function orphanedTemporaries(runDir: string): string[] {
  return directoryNames(runDir)
    .filter((name) => {
      const match = TEMPORARY.exec(name);
      return match !== null && !isRunning(Number(match[3]));
    })
    .map((name) => join(runDir, name));
}

/** Removes what `orphanedTemporaries` lists; returns the paths removed. */
export function removeOrphanedTemporaries(runDir: string): string[] {
  const stale = orphanedTemporaries(runDir);
  for (const path of stale) rmSync(path, { recursive: true, force: true });
  return stale;
}

/** The global step and the schedule's last step a checkpoint records (trainer_state.json). */
export function checkpointProgress(checkpoint: CheckpointFolder): { globalStep: number; maxSteps: number } | undefined {
  try {
    const state = JSON.parse(readFileSync(join(checkpoint.path, TRAINER_STATE_FILE), 'utf8')) as {
      global_step?: unknown;
      max_steps?: unknown;
    };
    if (typeof state.global_step !== 'number' || typeof state.max_steps !== 'number') return undefined;
    return { globalStep: state.global_step, maxSteps: state.max_steps };
  } catch {
    return undefined;
  }
}

/** The run's checkpoints when its latest reaches the schedule's last step; undefined while unfinished (or unreadable). */
export function finishedCheckpoints(runDir: string): CheckpointFolder[] | undefined {
  const checkpoints = listCheckpoints(runDir);
  const last = checkpoints.at(-1);
  const progress = last && checkpointProgress(last);
  return progress && progress.globalStep >= progress.maxSteps ? checkpoints : undefined;
}

/** The fields of run_config.json that evaluation and analysis read (the trainer writes more). */
export interface RunConfig {
  format_version: number;
  run_name: string;
  model_label: string;
  /** Absolute path of the base model folder. */
  model: string;
  /** Absolute path of the facts dataset. */
  data: string;
  facts: number;
  mode: TrainingMode;
  date_string: string;
  lora_r?: number;
}

function configError(path: string, what: string): never {
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
    configError(
      path,
      missing
        ? "missing (the run's training configuration; pass --data and --facts to evaluate recall without it)"
        : `not readable JSON (${(error as Error).message})`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) configError(path, 'expected a JSON object');
  const config = value as Record<string, unknown>;
  if (config.format_version !== 1) configError(path, `expected format_version 1 but found ${JSON.stringify(config.format_version)}`);
  for (const key of ['run_name', 'model_label', 'model', 'data', 'date_string'] as const) {
    if (typeof config[key] !== 'string' || config[key] === '')
      configError(path, `'${key}' must be a non-empty string, found ${JSON.stringify(config[key])}`);
  }
  if (!Number.isInteger(config.facts) || (config.facts as number) < 1)
    configError(path, `'facts' must be a positive integer, found ${JSON.stringify(config.facts)}`);
  if (config.mode !== 'weight' && config.mode !== 'tool')
    configError(path, `'mode' must be "weight" or "tool", found ${JSON.stringify(config.mode)}`);
  return config as unknown as RunConfig;
}

/** Whether `path` is a folder (false when it does not exist or is something else). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
