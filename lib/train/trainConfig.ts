/**
 * The configuration of one `itl train` run: the run name's fields (lib/train/runName.ts) with the
 * flags' overrides, what it trains on and where it goes, and every training option
 * (lib/train/trainOptions.ts, which holds their defaults). A plain typed object, resolved and checked
 * once here; `runRecord` is what run_config.json stores, so evaluation and analysis can find the
 * model, data and mode of a run without parsing its name.
 */
import path from 'node:path';

import { ItlError } from '../errors.js';
import type { Provenance } from '../util/provenance.js';
import { formatRunName, parseRunName, type RunName } from './runName.js';
import { TRAIN_OPTIONS, type TrainOptions, checkTrainOption, recordedTrainOptions, resolveTrainOptions } from './trainOptions.js';

export { RUN_CONFIG_FILE } from './runFolder.js';
export const RUN_CONFIG_FORMAT_VERSION = 1;

export interface TrainConfig {
  run: RunName;
  /** The folder name under saveDir: the run name of the effective settings. */
  runName: string;
  /** The model folder (or ORG/NAME) to train; the run name's model is then a label. */
  model: string;
  data: string;
  saveDir: string;
  /** Every training option, the run name's fields included (equal to `run`'s). */
  options: TrainOptions;
}

/**
 * The run name with its override flags (keyed by flag, as yargs gives them) applied, each checked as
 * the option schema says; the result is checked again by formatting and parsing it back.
 */
export function effectiveRun(runName: string, flags: Record<string, unknown>): RunName {
  const run: Record<string, unknown> = { ...parseRunName(runName) };
  for (const [name, spec] of Object.entries(TRAIN_OPTIONS)) {
    if (!('runName' in spec)) continue;
    if (flags[spec.flag] !== undefined) run[name] = flags[spec.flag];
    checkTrainOption(spec, run[name]);
  }
  const effective = run as unknown as RunName;
  if (effective.loraR > 0 && effective.loraAlpha === 0) {
    throw new ItlError('ITL_USAGE', `LoRA rank ${effective.loraR} needs a positive alpha (loraA=…)`);
  }
  return parseRunName(formatRunName(effective));
}

/** What `itl train`'s flags say about the run: its name, its inputs and the option flags (keyed by flag, as yargs gives them). */
export interface TrainRequest {
  runName: string;
  model?: string;
  data: string;
  saveDir: string;
  flags: Record<string, unknown>;
}

/**
 * The run's configuration: the run name with the override flags applied (its folder is the name of
 * the effective settings), then every other option from its flag or its default. `defaultModel` finds
 * the run name's model when no --model is given. ITL_USAGE naming the first bad flag.
 */
export function resolveTrainConfig(
  request: TrainRequest,
  defaultModel: (label: string) => string,
  warn?: (line: string) => void,
): TrainConfig {
  const run = effectiveRun(request.runName, request.flags);
  const options = resolveTrainOptions(request.flags, run, warn);
  const model = request.model ?? defaultModel(run.model);
  return { run, runName: formatRunName(run), model, data: request.data, saveDir: request.saveDir, options };
}

export function runDir(config: TrainConfig): string {
  return path.join(config.saveDir, config.runName);
}

/** run_config.json: what the run was, in the field names evaluation reads. */
export function runRecord(
  config: TrainConfig,
  resolved: { modelFolder: string; tokenized: { train: string; eval: string }; provenance: Provenance },
): Record<string, unknown> {
  return {
    format_version: RUN_CONFIG_FORMAT_VERSION,
    run_name: config.runName,
    model_label: config.run.model,
    model: path.resolve(resolved.modelFolder),
    data: path.resolve(config.data),
    ...recordedTrainOptions(config.options),
    tokenized: { train: path.resolve(resolved.tokenized.train), eval: path.resolve(resolved.tokenized.eval) },
    // What the run trains from, by content: a resume compares it (lib/train/runTraining.ts).
    provenance: resolved.provenance,
  };
}
