/**
 * What a checkpoint is as a model to load: a full checkpoint is its own model folder; a LoRA
 * checkpoint is its base model plus the adapter (`resolveCheckpoint`). Where `--model DIR` results go
 * (`singleFolderTarget`). The run folders themselves are lib/train/runFolder.ts's.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { ItlError } from '../errors.js';
import { type LoadModelOptions, Model } from '../native/Model.js';
import type { Runtime } from '../native/Runtime.js';
import { checkpointStep, isDirectory } from '../train/runFolder.js';

/** A model to evaluate: a folder, and the LoRA adapter applied to it when there is one. */
export interface ResolvedCheckpoint {
  model: string;
  adapter?: string;
}

/**
 * The model folder and adapter of a checkpoint: a full checkpoint (config.json) is itself the
 * model; a LoRA checkpoint (PEFT adapter_config.json, no config.json) is its
 * `base_model_name_or_path` plus the adapter. Anything else is a checkpoint-format error.
 */
export async function resolveCheckpoint(dir: string): Promise<ResolvedCheckpoint> {
  if (!isDirectory(dir)) throw new ItlError('ITL_IO', `${dir}: no such folder`);
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
  if (checkpointStep(base) !== undefined) return { name: basename(dirname(absolute)), checkpoint: base, flat: false };
  return { name: base, checkpoint: 'checkpoint-0', flat: true };
}
