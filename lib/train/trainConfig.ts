/**
 * The configuration of one `itl train` run: the run name's fields (lib/train/runName.ts), explicit
 * overrides, and the settings the study left at transformers' defaults. A plain typed object,
 * validated once here; `runRecord` is what run_config.json stores, so evaluation and analysis can
 * find the model, data and mode of a run without parsing its name.
 */
import path from 'node:path';

import { ItlError } from '../errors.js';
import type { Precision } from '../native/Trainer.js';
import { formatRunName, parseRunName, type RunName, type TrainingMode } from './runName.js';

export { RUN_CONFIG_FILE } from './runFolder.js';
export const RUN_CONFIG_FORMAT_VERSION = 1;
/** Rows N..N+29 give the eval loss, as in the study. */
export const DEFAULT_EVAL_ROWS = 30;

export interface TrainConfig {
  run: RunName;
  /** The folder name under saveDir: the run name of the effective settings. */
  runName: string;
  /** The model folder (or ORG/NAME) to train; the run name's model is then a label. */
  model: string;
  data: string;
  saveDir: string;
  loraDropout: number;
  seed: number;
  precision: Precision;
  device: string;
  evalRows: number;
  evalBatch: number;
  /** 0: from the epoch length as the study did (eval every half epoch, save every 2 epochs). */
  evalSteps: number;
  saveSteps: number;
  loggingSteps: number;
  warmupRatio: number;
  maxGradNorm: number;
  dateString: string;
  initAdapter?: string;
  merge: boolean;
}

export interface RunOverrides {
  facts?: number;
  epochs?: number;
  batch?: number;
  gradAcc?: number;
  lr?: number;
  loraR?: number;
  loraAlpha?: number;
  mode?: TrainingMode;
}

function positiveInteger(value: number, flag: string, min = 1): number {
  if (!Number.isInteger(value) || value < min) throw new ItlError('ITL_USAGE', `expected an integer ≥ ${min} for ${flag} but received ${value}`);
  return value;
}

/** The run name with explicit flags applied; the result is checked by formatting and parsing it back. */
export function effectiveRun(runName: string, overrides: RunOverrides): RunName {
  const run = { ...parseRunName(runName) };
  for (const [key, value] of Object.entries(overrides) as [keyof RunOverrides, number | TrainingMode | undefined][]) {
    if (value !== undefined) (run as Record<string, unknown>)[key] = value;
  }
  positiveInteger(run.facts, '--facts');
  positiveInteger(run.epochs, '--epochs');
  positiveInteger(run.batch, '--batch');
  positiveInteger(run.gradAcc, '--grad-acc');
  positiveInteger(run.loraR, '--lora-r', 0);
  positiveInteger(run.loraAlpha, '--lora-alpha', 0);
  if (!(run.lr > 0)) throw new ItlError('ITL_USAGE', `expected a positive --lr but received ${run.lr}`);
  if (run.mode !== 'weight' && run.mode !== 'tool') throw new ItlError('ITL_USAGE', `expected weight or tool for --mode but received ${run.mode}`);
  if (run.loraR > 0 && run.loraAlpha === 0) throw new ItlError('ITL_USAGE', `LoRA rank ${run.loraR} needs a positive alpha (loraA=…)`);
  return parseRunName(formatRunName(run));
}

export function validateTrainConfig(config: TrainConfig): TrainConfig {
  if (!(config.loraDropout >= 0 && config.loraDropout < 1)) throw new ItlError('ITL_USAGE', `expected --lora-dropout in [0, 1) but received ${config.loraDropout}`);
  positiveInteger(config.seed, '--seed', 0);
  positiveInteger(config.evalRows, '--eval-rows', 0);
  positiveInteger(config.evalBatch, '--eval-batch');
  positiveInteger(config.evalSteps, '--eval-steps', 0);
  positiveInteger(config.saveSteps, '--save-steps', 0);
  positiveInteger(config.loggingSteps, '--logging-steps');
  if (!(config.warmupRatio >= 0 && config.warmupRatio <= 1)) throw new ItlError('ITL_USAGE', `expected --warmup-ratio in [0, 1] but received ${config.warmupRatio}`);
  if (!(config.maxGradNorm >= 0)) throw new ItlError('ITL_USAGE', `expected --max-grad-norm ≥ 0 but received ${config.maxGradNorm}`);
  if (config.initAdapter !== undefined && config.run.loraR === 0) {
    throw new ItlError('ITL_USAGE', '--init-adapter continues a LoRA adapter: the run needs loraR > 0');
  }
  if (config.merge && config.run.loraR === 0) throw new ItlError('ITL_USAGE', '--merge applies to LoRA runs (loraR > 0)');
  return config;
}

export function runDir(config: TrainConfig): string {
  return path.join(config.saveDir, config.runName);
}

/** run_config.json: what the run was, in the field names evaluation reads. */
export function runRecord(config: TrainConfig, resolved: { modelFolder: string; tokenized: { train: string; eval: string } }): Record<string, unknown> {
  return {
    format_version: RUN_CONFIG_FORMAT_VERSION,
    run_name: config.runName,
    model_label: config.run.model,
    model: path.resolve(resolved.modelFolder),
    data: path.resolve(config.data),
    facts: config.run.facts,
    mode: config.run.mode,
    epochs: config.run.epochs,
    batch: config.run.batch,
    grad_acc: config.run.gradAcc,
    lr: config.run.lr,
    lora_r: config.run.loraR,
    lora_alpha: config.run.loraAlpha,
    lora_dropout: config.loraDropout,
    seed: config.seed,
    precision: config.precision,
    device: config.device,
    eval_rows: config.evalRows,
    date_string: config.dateString,
    init_adapter: config.initAdapter ? path.resolve(config.initAdapter) : null,
    tokenized: { train: path.resolve(resolved.tokenized.train), eval: path.resolve(resolved.tokenized.eval) },
  };
}
