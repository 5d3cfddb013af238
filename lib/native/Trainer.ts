/**
 * A training run held by the native trainer (native/core/train/trainer.h): an opaque handle whose
 * `run()` trains on a native thread of its own until the next checkpoint is written, reporting
 * every optimiser step. The rows cross once, as Int32Arrays; weights never cross. `requestStop()`
 * (safe at any time) ends the run after the step in progress, with a checkpoint. Call `dispose()`.
 */
import { ItlError } from '../errors.js';
import type { TokenizedDataset } from '../tokenize/TokenizedDatasetCache.js';
import type { NativeTrainerOptionFields, Precision } from '../train/trainOptions.js';
import type { Runtime } from './Runtime.js';
import { type NativeModelHandle, Model } from './Model.js';
import { type Progress, nativeCall } from './addon.js';

export type { Precision } from '../train/trainOptions.js';

/**
 * What the native trainer takes (read by create_request in native/addon/addon_trainer.cpp into
 * TrainerOptions, native/core/train/trainer.h). Every field is required — the addon holds no
 * defaults and rejects a missing or unknown field, naming it: the training options come from the
 * option schema (lib/train/trainOptions.ts, `nativeTrainOptions`), the rest describes the run's place.
 */
export type NativeTrainerOptions = NativeRunPlace & NativeTrainerOptionFields;

/** The request's fields that are not training options: what is trained, where, and by which rank. */
export interface NativeRunPlace {
  /** The model folder to load. */
  model: string;
  /** cpu, cuda or cuda:N (a data-parallel rank's own GPU). */
  device: string;
  runDir: string;
  /** Recorded in adapters as base_model_name_or_path. */
  baseModel: string;
  /** Written at padded positions (masked, so its value never matters). */
  padId: number;
  /** Files copied into every checkpoint (the tokenizer's). */
  checkpointFiles: string[];
  /** JSON text written into every checkpoint as run_config.json ('' for none). */
  runRecord: string;
  /** A checkpoint folder of this run to continue from, or null. */
  resumeFrom: string | null;
  /** The data-parallel job (torchrun's contract); rank 0 of 1 alone. */
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
}

export interface TrainingSchedule {
  trainRows: number;
  microBatchesPerEpoch: number;
  updatesPerEpoch: number;
  totalSteps: number;
  warmupSteps: number;
  stepsPerEpoch: number;
  evalSteps: number;
  saveSteps: number;
  loggingSteps: number;
}

export interface TrainerInfo {
  schedule: TrainingSchedule;
  globalStep: number;
  precision: Precision;
  device: string;
  parameterCount: number;
  trainableParameters: number;
  lora: { r: number; alpha: number; dropout: number };
  running: boolean;
  rank: number;
  /** Seconds the gradient all-reduce added to the steps so far (0 alone). */
  communicationSeconds: number;
}

export interface RunOutcome {
  globalStep: number;
  /** The last step is done and checkpointed. */
  finished: boolean;
  /** requestStop() ended this run early (a checkpoint was written). */
  stopped: boolean;
  /** The folder written at this save point, or null when the save policy wrote none. */
  checkpoint: string | null;
}

/** One optimiser step, as the metrics log records it. */
export interface StepRecord {
  step: number;
  epoch: number;
  loss: number;
  learning_rate: number;
  grad_norm: number;
  tokens: number;
  label_tokens: number;
  tokens_per_s: number;
  padding_fraction: number;
}
export interface EvalRecord {
  step: number;
  epoch: number;
  eval_loss: number;
  eval_runtime: number;
}
export type TrainingEvent =
  | { kind: 'step'; record: StepRecord; totalSteps: number }
  | { kind: 'eval'; record: EvalRecord; totalSteps: number };

type NativeRows = Pick<TokenizedDataset, 'ids' | 'labels' | 'offsets'>;

export interface NativeTrainerHandle {
  info(): TrainerInfo;
  run(onProgress?: (progress: Progress) => void): Promise<RunOutcome>;
  requestStop(): void;
  model(): NativeModelHandle;
  dispose(): void;
}

export interface NativeTrainerApi {
  createTrainer(options: NativeTrainerOptions, train: NativeRows, evalRows: NativeRows): Promise<NativeTrainerHandle>;
}

function toEvent(progress: Progress): TrainingEvent | undefined {
  if (progress.record === undefined || (progress.phase !== 'step' && progress.phase !== 'eval')) return undefined;
  const record = JSON.parse(progress.record);
  return progress.phase === 'step'
    ? { kind: 'step', record, totalSteps: progress.total }
    : { kind: 'eval', record, totalSteps: progress.total };
}

export class Trainer {
  private handle: NativeTrainerHandle | undefined;

  private constructor(handle: NativeTrainerHandle) {
    this.handle = handle;
  }

  /** Loads the model, applies LoRA, builds the optimiser and, with resumeFrom, restores a checkpoint. */
  static async create(runtime: Runtime, options: NativeTrainerOptions, train: NativeRows, evalRows: NativeRows): Promise<Trainer> {
    // A malformed request throws synchronously in the addon: inside the async function it becomes
    // a rejection, which nativeCall turns into an ItlError with the addon's code.
    return new Trainer(await nativeCall((async () => runtime.native.createTrainer(options, train, evalRows))()));
  }

  private live(): NativeTrainerHandle {
    if (!this.handle) throw new ItlError('ITL_INVALID_ARGUMENT', 'this trainer was disposed');
    return this.handle;
  }

  info(): TrainerInfo {
    return this.live().info();
  }

  /** Trains until the next checkpoint (save interval, last step or a stop request). */
  run(onEvent?: (event: TrainingEvent) => void): Promise<RunOutcome> {
    const onProgress =
      onEvent &&
      ((progress: Progress) => {
        const event = toEvent(progress);
        if (event) onEvent(event);
      });
    return nativeCall(this.live().run(onProgress));
  }

  requestStop(): void {
    this.handle?.requestStop();
  }

  /** The model being trained (adapters included), for generation or evaluation between runs. */
  model(): Model {
    return Model.fromHandle(this.live().model());
  }

  dispose(): void {
    this.handle?.dispose();
    this.handle = undefined;
  }
}
