/**
 * The training options of `itl train`, declared once: each entry gives the option's flag, its one
 * default, its check, and where it goes — its key in run_config.json (`record`) and in the native
 * trainer request (`native`, read by native/addon/addon_trainer.cpp into TrainerOptions). The yargs
 * flags, the run record and the request are derived from this table; the addon and the C++ core hold
 * no defaults of their own (a request missing a field is rejected, naming it). Adding an option is one
 * entry here plus, when the trainer reads it, one line in create_request and a TrainerOptions field.
 *
 * Entries marked `runName` have no default: the run name gives their value and the flag overrides it
 * (lib/train/trainConfig.ts, effectiveRun). Not here: what a run trains on and where it goes (run
 * name, --data, --save-dir, --model), how the command behaves (--resume, --cache-dir, --json), and the
 * in-training evaluation flags (lib/train/trainEvaluation.ts).
 */
import path from 'node:path';

import type { Argv, Options } from 'yargs';

import { ItlError } from '../errors.js';
import { DEFAULT_DATE_STRING } from '../tokenize/ChatTokenizer.js';

interface BaseSpec<T> {
  /** The `itl train` flag (kebab-case). */
  flag: string;
  describe: string;
  /** The value when the flag is not given: the option's only default. */
  default?: T;
  /** The run name gives the value (no default); the flag overrides it. */
  runName?: true;
  /** Key in run_config.json; absent: not recorded. */
  record?: string;
  /** Key in the native trainer request (NativeTrainerOptions); absent: not sent. */
  native?: string;
  /** Former flag names still accepted, hidden from the help (a deprecation warning is printed). */
  deprecatedAliases?: readonly string[];
}

interface NumberSpec extends BaseSpec<number> {
  type: 'number';
  integer?: true;
  /** Bounds; `open` makes them exclusive: [min, max], (min, max], … */
  min?: number;
  max?: number;
  minOpen?: true;
  maxOpen?: true;
}
interface StringSpec extends BaseSpec<string> {
  type: 'string';
  /** A filesystem path: made absolute when resolved, so the record and the request name the same file. */
  path?: true;
}
interface BooleanSpec extends BaseSpec<boolean> {
  type: 'boolean';
}
interface ChoiceSpec<C extends string = string> extends BaseSpec<C> {
  type: 'choice';
  choices: readonly C[];
}
type OptionSpec = NumberSpec | StringSpec | BooleanSpec | ChoiceSpec;

export const TRAIN_OPTIONS = {
  // The run name's fields: sft_<Model>_facts=<N>-epochs=<E>-batch=<B>-gradAcc=<G>-LR=<lr>-loraR=<r>-loraA=<alpha>-<mode>.
  facts: {
    flag: 'facts',
    type: 'number',
    integer: true,
    min: 1,
    runName: true,
    record: 'facts',
    describe: 'override the run name: training rows N',
  },
  epochs: {
    flag: 'epochs',
    type: 'number',
    integer: true,
    min: 1,
    runName: true,
    record: 'epochs',
    native: 'epochs',
    describe: 'override the run name: epochs',
  },
  batch: {
    flag: 'batch',
    type: 'number',
    integer: true,
    min: 1,
    runName: true,
    record: 'batch',
    native: 'batch',
    describe: 'override the run name: rows per micro-batch on one device',
  },
  gradAcc: {
    flag: 'grad-acc',
    type: 'number',
    integer: true,
    min: 1,
    runName: true,
    record: 'grad_acc',
    native: 'gradAccumulation',
    describe: 'override the run name: micro-batches per optimiser step',
  },
  lr: {
    flag: 'lr',
    type: 'number',
    min: 0,
    minOpen: true,
    runName: true,
    record: 'lr',
    native: 'learningRate',
    describe: 'override the run name: peak learning rate',
  },
  loraR: {
    flag: 'lora-r',
    type: 'number',
    integer: true,
    min: 0,
    runName: true,
    record: 'lora_r',
    native: 'loraR',
    describe: 'override the run name: LoRA rank (0 = full fine-tuning)',
  },
  loraAlpha: {
    flag: 'lora-alpha',
    type: 'number',
    integer: true,
    min: 0,
    runName: true,
    record: 'lora_alpha',
    native: 'loraAlpha',
    describe: 'override the run name: LoRA alpha',
  },
  mode: {
    flag: 'mode',
    type: 'choice',
    choices: ['weight', 'tool'] as const,
    runName: true,
    record: 'mode',
    describe: 'override the run name: in-weight (qa) or in-tool (qatool) dialogues',
  },
  // LoRA beyond the run name.
  loraDropout: {
    flag: 'lora-dropout',
    type: 'number',
    min: 0,
    max: 1,
    maxOpen: true,
    default: 0.05,
    record: 'lora_dropout',
    native: 'loraDropout',
    describe: 'dropout on the LoRA input (training only)',
  },
  initAdapter: {
    flag: 'init-adapter',
    type: 'string',
    path: true,
    record: 'init_adapter',
    native: 'initAdapter',
    describe: 'start from this PEFT adapter folder (LoRA runs)',
  },
  merge: {
    flag: 'merge',
    type: 'boolean',
    default: false,
    record: 'merge',
    native: 'saveMerged',
    describe: 'LoRA: also write merged full weights to checkpoint-<step>/merged',
  },
  seed: {
    flag: 'seed',
    type: 'number',
    integer: true,
    min: 0,
    default: 42,
    record: 'seed',
    native: 'seed',
    describe: 'epoch shuffles, LoRA initialisation and dropout',
  },
  precision: {
    flag: 'precision',
    type: 'choice',
    choices: ['fp32', 'bf16', 'bf16-mixed'] as const,
    default: 'fp32',
    record: 'precision',
    native: 'precision',
    describe: 'fp32; bf16 = pure bf16 weights and optimiser state (the study); bf16-mixed = fp32 master weights',
  },
  // The native request's device is per rank (cuda → cuda:<local rank>): lib/train/runTraining.ts.
  device: {
    flag: 'device',
    type: 'string',
    default: 'cpu',
    record: 'device',
    describe: 'cpu, cuda or cuda:N',
  },
  evalRows: {
    flag: 'eval-rows',
    type: 'number',
    integer: true,
    min: 0,
    default: 30,
    record: 'eval_rows',
    describe: 'rows after the training rows that give the eval loss',
  },
  evalLossBatch: {
    flag: 'eval-loss-batch',
    type: 'number',
    integer: true,
    min: 1,
    default: 8,
    record: 'eval_loss_batch',
    native: 'evalLossBatch',
    deprecatedAliases: ['eval-batch'],
    describe: 'rows per eval-loss forward',
  },
  evalSteps: {
    flag: 'eval-steps',
    type: 'number',
    integer: true,
    min: 0,
    default: 0,
    record: 'eval_steps',
    native: 'evalSteps',
    describe: 'evaluate every N optimiser steps (0: every half epoch, as the study)',
  },
  saveSteps: {
    flag: 'save-steps',
    type: 'number',
    integer: true,
    min: 0,
    default: 0,
    record: 'save_steps',
    native: 'saveSteps',
    describe: 'checkpoint every N steps (0: every 2 epochs, as the study); always at the last step',
  },
  loggingSteps: {
    flag: 'logging-steps',
    type: 'number',
    integer: true,
    min: 1,
    default: 5,
    record: 'logging_steps',
    native: 'loggingSteps',
    describe: 'log (trainer_state.json, plain progress lines) every N steps',
  },
  // The optimiser and its schedule (transformers' TrainingArguments names, the study's values).
  lrScheduler: {
    flag: 'lr-scheduler',
    type: 'choice',
    choices: ['constant_with_warmup', 'linear', 'cosine'] as const,
    default: 'constant_with_warmup',
    record: 'lr_scheduler',
    native: 'lrScheduler',
    describe:
      'after the warm-up: constant (the study), linear or cosine (half a cycle) down to 0 at the last step, as transformers ' +
      'computes them',
  },
  warmupRatio: {
    flag: 'warmup-ratio',
    type: 'number',
    min: 0,
    max: 1,
    default: 0.05,
    record: 'warmup_ratio',
    native: 'warmupRatio',
    describe: 'linear warm-up over ceil(ratio × total steps)',
  },
  weightDecay: {
    flag: 'weight-decay',
    type: 'number',
    min: 0,
    default: 0,
    record: 'weight_decay',
    native: 'weightDecay',
    describe: "AdamW's decoupled weight decay (as transformers' Trainer: not on norm weights or biases)",
  },
  adamBeta1: {
    flag: 'adam-beta1',
    type: 'number',
    min: 0,
    max: 1,
    maxOpen: true,
    default: 0.9,
    record: 'adam_beta1',
    native: 'adamBeta1',
    describe: "AdamW's β1",
  },
  adamBeta2: {
    flag: 'adam-beta2',
    type: 'number',
    min: 0,
    max: 1,
    maxOpen: true,
    default: 0.999,
    record: 'adam_beta2',
    native: 'adamBeta2',
    describe: "AdamW's β2",
  },
  adamEpsilon: {
    flag: 'adam-epsilon',
    type: 'number',
    min: 0,
    minOpen: true,
    default: 1e-8,
    record: 'adam_epsilon',
    native: 'adamEpsilon',
    describe: "AdamW's ε",
  },
  maxGradNorm: {
    flag: 'max-grad-norm',
    type: 'number',
    min: 0,
    default: 1,
    record: 'max_grad_norm',
    native: 'maxGradNorm',
    describe: 'clip the global gradient norm (0: no clipping)',
  },
  dateString: {
    flag: 'date-string',
    type: 'string',
    default: DEFAULT_DATE_STRING,
    record: 'date_string',
    describe: 'the date Llama 3 chat templates print',
  },
  saveCheckpoints: {
    flag: 'save-checkpoints',
    type: 'choice',
    choices: ['all', 'last', 'none'] as const,
    default: 'all',
    record: 'save_checkpoints',
    native: 'saveCheckpoints',
    describe: 'which save points reach the disk (last: only the final one, and one on a stop)',
  },
  // How a micro-batch is computed (the same rows and loss either way; only the float rounding differs).
  packing: {
    flag: 'packing',
    type: 'choice',
    choices: ['on', 'off'] as const,
    default: 'on',
    record: 'packing',
    native: 'packing',
    describe: "on: each micro-batch's rows end to end, attending within each row (no padding); off: padded to the longest row",
  },
  lossChunk: {
    flag: 'loss-chunk',
    type: 'number',
    integer: true,
    min: 0,
    default: 0,
    record: 'loss_chunk',
    native: 'lossChunk',
    describe: 'label positions whose full-vocabulary logits exist at once in the loss (0: automatic, about 16 million logits at a time)',
  },
  collectiveTimeout: {
    flag: 'collective-timeout',
    type: 'number',
    min: 0,
    minOpen: true,
    default: 600,
    native: 'collectiveTimeoutSeconds',
    describe: 'data-parallel: seconds after which a rank that died or hangs ends the others',
  },
} as const satisfies Record<string, OptionSpec>;

type Schema = typeof TRAIN_OPTIONS;
export type TrainOptionName = keyof Schema;

/** The value type of one entry: choices as their union, optional paths (no default, not the run name's) as `| undefined`. */
type ValueOf<S> =
  | (S extends { type: 'choice'; choices: readonly (infer C)[] }
      ? C
      : S extends { type: 'number' }
        ? number
        : S extends { type: 'boolean' }
          ? boolean
          : string)
  | (S extends { default: unknown } | { runName: true } ? never : undefined);

/** Every option's value for one run (run-name fields included, after the flags' overrides). */
export type TrainOptions = { -readonly [K in TrainOptionName]: ValueOf<Schema[K]> };

/** What an absent value becomes in the native request: null stands for "none". */
type NativeValueOf<S> = Exclude<ValueOf<S>, undefined> | (undefined extends ValueOf<S> ? null : never);

/** The options part of the native trainer request, keyed as the addon reads them. */
export type NativeTrainerOptionFields = {
  -readonly [K in TrainOptionName as Schema[K] extends { native: infer N extends string } ? N : never]: NativeValueOf<Schema[K]>;
};

export type Precision = TrainOptions['precision'];
export type LrScheduler = TrainOptions['lrScheduler'];
export type SaveCheckpoints = TrainOptions['saveCheckpoints'];

function entries(): [TrainOptionName, OptionSpec][] {
  return Object.entries(TRAIN_OPTIONS) as [TrainOptionName, OptionSpec][];
}

/** The options that have a default, with it (run-name fields and optional paths have none). */
export function trainOptionDefaults(): Partial<TrainOptions> {
  const defaults: Record<string, unknown> = {};
  for (const [name, spec] of entries()) if (spec.default !== undefined) defaults[name] = spec.default;
  return defaults as Partial<TrainOptions>;
}

/**
 * A run's options outside `itl train` (benchmarks, tests): the defaults with `run`'s values on top,
 * every value checked as the flags would be.
 */
export function trainOptionsWith(run: Pick<TrainOptions, RunNameOption> & Partial<TrainOptions>): TrainOptions {
  const options: Record<string, unknown> = { ...trainOptionDefaults(), ...run };
  for (const [name, spec] of entries()) if (options[name] !== undefined) checkTrainOption(spec, options[name]);
  return options as TrainOptions;
}

/** How yargs shows a default (strings quoted), so help text reads as if yargs held it. */
function shownDefault(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? `"${value}"` : String(value);
}

/**
 * The yargs options of every entry (and hidden ones for deprecated aliases). They carry no yargs
 * default — an absent flag stays undefined, so `resolveTrainOptions` applies the schema's default and
 * can tell a given flag from a defaulted one — but the help shows it.
 */
export function trainOptionFlags(): Record<string, Options> {
  const flags: Record<string, Options> = {};
  for (const [, spec] of entries()) {
    const shown = { describe: spec.describe, defaultDescription: shownDefault(spec.default) };
    const type = spec.type === 'choice' ? { choices: spec.choices as unknown as string[] } : { type: spec.type };
    flags[spec.flag] = { ...type, ...shown };
    for (const alias of spec.deprecatedAliases ?? []) flags[alias] = { ...type, hidden: true, describe: `former name of --${spec.flag}` };
  }
  return flags;
}

/** "a, b or c" */
function alternatives(choices: readonly string[]): string {
  return choices.length < 2 ? choices.join('') : `${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`;
}

/** `y` with every option's flag declared (`trainOptionFlags`); their values reach `resolveTrainOptions` untyped, by flag. */
export function withTrainOptionFlags<T>(y: Argv<T>): Argv<T> {
  return y.options(trainOptionFlags()) as unknown as Argv<T>;
}

function describeRange(spec: NumberSpec): string {
  if (spec.max === undefined) return `${spec.minOpen ? '>' : '≥'} ${spec.min}`;
  return `in ${spec.minOpen ? '(' : '['}${spec.min}, ${spec.max}${spec.maxOpen ? ')' : ']'}`;
}

/** ITL_USAGE naming the flag when `value` does not fit the entry. */
export function checkTrainOption(spec: OptionSpec, value: unknown): void {
  const flag = `--${spec.flag}`;
  switch (spec.type) {
    case 'number': {
      const n = value as number;
      if (spec.integer) {
        if (typeof n !== 'number' || !Number.isInteger(n) || n < (spec.min ?? -Infinity)) {
          throw new ItlError('ITL_USAGE', `expected an integer ≥ ${spec.min} for ${flag} but received ${value}`);
        }
        return;
      }
      const ok =
        typeof n === 'number' &&
        Number.isFinite(n) &&
        (spec.min === undefined || (spec.minOpen ? n > spec.min : n >= spec.min)) &&
        (spec.max === undefined || (spec.maxOpen ? n < spec.max : n <= spec.max));
      if (!ok) throw new ItlError('ITL_USAGE', `expected ${flag} ${describeRange(spec)} but received ${value}`);
      return;
    }
    case 'choice':
      if (!spec.choices.includes(value as string)) {
        throw new ItlError('ITL_USAGE', `expected ${alternatives(spec.choices)} for ${flag} but received ${value}`);
      }
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw new ItlError('ITL_USAGE', `expected true or false for ${flag} but received ${value}`);
      return;
    case 'string':
      if (typeof value !== 'string' || value === '') {
        throw new ItlError('ITL_USAGE', `expected a non-empty string for ${flag} but received '${value}'`);
      }
  }
}

/**
 * The options of one run from parsed flags (keyed by flag, as yargs gives them) and the run name's
 * fields (after their overrides): each absent flag takes the schema's default, each value is checked,
 * paths are made absolute. A deprecated alias counts as its option's flag (`warn` is told).
 */
export function resolveTrainOptions(
  flags: Record<string, unknown>,
  runFields: Pick<TrainOptions, RunNameOption>,
  warn: (line: string) => void = () => {},
): TrainOptions {
  const options: Record<string, unknown> = {};
  for (const [name, spec] of entries()) {
    if (spec.runName) {
      options[name] = runFields[name as RunNameOption];
      continue;
    }
    let value = flags[spec.flag];
    for (const alias of spec.deprecatedAliases ?? []) {
      if (flags[alias] === undefined) continue;
      if (value !== undefined) throw new ItlError('ITL_USAGE', `give --${spec.flag} alone (--${alias} is its former name)`);
      warn(`itl: --${alias} is deprecated: use --${spec.flag}\n`);
      value = flags[alias];
    }
    value ??= spec.default;
    if (value === undefined) continue;
    checkTrainOption(spec, value);
    options[name] = spec.type === 'string' && spec.path ? path.resolve(value as string) : value;
  }
  const resolved = options as TrainOptions;
  if (resolved.initAdapter !== undefined && resolved.loraR === 0) {
    throw new ItlError('ITL_USAGE', '--init-adapter continues a LoRA adapter: the run needs loraR > 0');
  }
  if (resolved.merge && resolved.loraR === 0) throw new ItlError('ITL_USAGE', '--merge applies to LoRA runs (loraR > 0)');
  return resolved;
}

/** The entries whose value the run name gives. */
export type RunNameOption = { [K in TrainOptionName]: Schema[K] extends { runName: true } ? K : never }[TrainOptionName];

/** run_config.json's fields for the options: each entry with a `record` key, absent values as null. */
export function recordedTrainOptions(options: TrainOptions): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [name, spec] of entries()) if (spec.record) record[spec.record] = options[name] ?? null;
  return record;
}

/** The options part of the native trainer request: each entry with a `native` key, absent values as null. */
export function nativeTrainOptions(options: TrainOptions): NativeTrainerOptionFields {
  const request: Record<string, unknown> = {};
  for (const [name, spec] of entries()) if (spec.native) request[spec.native] = options[name] ?? null;
  return request as NativeTrainerOptionFields;
}

/**
 * The options as a Markdown table (flag, default, meaning, run_config.json key, native request key):
 * the docs' table, kept equal to this by scripts/train-options-table.mjs.
 */
export function trainOptionsTable(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const lines = ['| flag | default | meaning | run_config.json | native request |', '|---|---|---|---|---|'];
  for (const [, spec] of entries()) {
    const shown = spec.runName ? 'the run name' : spec.default === undefined ? 'none' : `\`${shownDefault(spec.default)}\``;
    const choices = spec.type === 'choice' ? ` (${spec.choices.map((c) => `\`${c}\``).join(', ')})` : '';
    const aliases = (spec.deprecatedAliases ?? []).map((a) => `; formerly \`--${a}\` (still accepted, deprecated)`).join('');
    const code = (text: string | undefined) => (text ? `\`${text}\`` : '—');
    const meaning = `${cell(spec.describe)}${choices}${aliases}`;
    lines.push(`| \`--${spec.flag}\` | ${shown} | ${meaning} | ${code(spec.record)} | ${code(spec.native)} |`);
  }
  return lines.join('\n');
}
