/**
 * An evaluation task: everything `itl eval <task>`, `itl train --eval <task>`, `itl grid` and `itl
 * analyze` need to know about one kind of evaluation, in one module (lib/eval/tasks/<task>.ts) listed
 * once in lib/eval/tasks/registry.ts:
 *
 *   flags        the command-line flags it adds (the same on `itl eval` and `itl train`)
 *   settings     those flags, checked once at the command line's edge
 *   open         what every checkpoint shares (documents, prompts, a dataset), read once
 *   provenance   what besides the model determines its numbers: recorded with each result and
 *                compared before a result is reused
 *   evaluate     one loaded model → its result entry, written atomically
 *   recorded     the provenance of an existing result (is it done, and done the same way?)
 *   collect      the results read back into analysis rows
 *
 * The drivers (runEvaluation.ts for `itl eval`, lib/train/trainEvaluation.ts for training) own
 * finding checkpoints, loading models, skipping, locking and reporting; a task owns its numbers and files.
 */
import type { Options } from 'yargs';

import type { Runtime } from '../../native/Runtime.js';
import type { ModelDtype } from '../../native/Model.js';
import type { ChatTokenizer } from '../../tokenize/ChatTokenizer.js';
import type { TrainingMode } from '../../train/runName.js';
import type { Provenance } from '../../util/provenance.js';
import type { BatchSize } from '../BatchSize.js';
import type { EvalModel } from '../EvalModel.js';

/** Where one result goes: EVAL/<task folder>/<run>/…, keyed or foldered by `checkpoint`. */
export interface ResultTarget {
  evalDir: string;
  /** The run folder's name; for a base model, the model's name (results under base_models/<name>). */
  run: string;
  /** `checkpoint-<step>`; `checkpoint-0` for base models and single folders. */
  checkpoint: string;
  /** A base model (`--base`): EVAL/<task>/base_models/<run>/. */
  baseModel?: boolean;
  /** A folder that is not a checkpoint (`--model DIR`): lm-eval-style results directly in EVAL/<task>/<run>/. */
  flat?: boolean;
}

/** What a task knows of the model under evaluation before it is loaded: enough to decide reuse. */
export interface SubjectDescription {
  /** What is evaluated, for messages: a checkpoint folder, a model folder, `<run dir>@step N` in training. */
  label: string;
  /** The model's identity (lib/util/provenance.ts): the folder evaluated and, for a LoRA adapter, its base. */
  identity: Pick<Provenance, 'model' | 'adapter_base'>;
  /** The LoRA adapter applied to the model, when one is (recorded in lm-eval results files). */
  adapter?: string;
  dateString: string;
  /** What the run says (run_config.json, `itl train`'s configuration, or --data/--facts/--mode/--base-model). */
  run: RunFacts;
  /** Why a run field may be missing (the run_config.json problem), for the error a task raises when it needs one. */
  runProblem?: string;
}

export interface RunFacts {
  data?: string;
  facts?: number;
  mode?: TrainingMode;
  /** The model the run was trained from (KL's reference). */
  baseModel?: string;
}

/** A loaded subject: the model and the tokenizer to talk to it with. */
export interface Subject extends SubjectDescription {
  model: EvalModel;
  tokenizer: ChatTokenizer;
}

/** What a task may use while open: the engine, the batch size (backed off on out-of-memory), a log. */
export interface TaskContext {
  runtime: Runtime;
  evalDir: string;
  batch: BatchSize;
  /** How models the task loads itself (KL's base model) are loaded: as the evaluated ones. */
  loadOptions: { device: string; dtype: ModelDtype };
  log: (message: string) => void;
}

/** Where analysis collects rows: one call per result read back. */
export interface ResultSink {
  /** Whether a result folder's name is a run name; a folder that is not is reported (once) and its results skipped. */
  isRun(folder: string, name: string): boolean;
  /** Records metrics of a run's checkpoint; `folder` is the result folder, reported if its name is not a run name. */
  addRun(folder: string, run: string, step: number, metrics: Record<string, number | undefined>): void;
  /** Records metrics of a base model by its folder name under base_models/. */
  addBase(folder: string, metrics: Record<string, number | undefined>): void;
  /** Runs `work`; a thrown error becomes a reported, skipped item (analysis goes on). */
  attempt(work: () => Promise<void>): Promise<void>;
  problem(message: string): void;
}

/** An accuracy a task measures that analysis also reports relative to the base model (100 × acc ÷ base acc). */
export interface RelativeColumn {
  absolute: string;
  absoluteStderr: string;
  relative: string;
  relativeStderr: string;
}

export interface EvalTask<Settings = unknown, State = unknown> {
  /** The name on the command line: `itl eval <name>`, `itl train --eval <name>`. */
  readonly name: string;
  readonly describe: string;
  /** Its flags; a flag two tasks share must be declared identically (the registry checks). */
  readonly flags: Readonly<Record<string, Options>>;
  /** `true` when base models can be evaluated (`--base`), else why not. */
  readonly baseModels: true | string;
  /** The analysis columns it produces (results.csv), in order. */
  readonly columns: readonly string[];
  readonly relative?: RelativeColumn;
  /** The parsed flags (camel-cased keys as yargs gives them) → settings; ITL_USAGE naming a missing or bad flag. */
  settings(args: Record<string, unknown>): Settings;
  open(settings: Settings, context: TaskContext): Promise<State>;
  /** Its part of the provenance (data, base model, options); the driver adds the model's identity. */
  provenance(state: State, subject: SubjectDescription): Promise<Provenance>;
  /** Evaluates the subject, writes its result (with `provenance`) and returns a one-line summary. */
  evaluate(state: State, subject: Subject, target: ResultTarget, provenance: Provenance): Promise<string>;
  /** An existing result's provenance: undefined when there is no result; null when it records none (an older itl wrote it). */
  recorded(target: ResultTarget): Promise<Provenance | null | undefined>;
  collect(evalDir: string, sink: ResultSink): Promise<void>;
  close(state: State): void;
}

export type { Provenance };
