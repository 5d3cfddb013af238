/**
 * One row of the results table: one (run, checkpoint), or a base model (`<Model>-<mode>_base`,
 * dataset_size 0, checkpoint 0). Column names are the study's (large_scale_results.csv), so its
 * tooling and ours read the same table; the extra columns come after them. A metric that was not
 * measured is absent, never 0.
 */
import { ItlError } from '../errors.js';
import { EVAL_TASKS } from '../eval/tasks/registry.js';
import { findModel, type ModelInfo } from '../train/models.js';
import { parseRunName, type RunName, type TrainingMode } from '../train/runName.js';

export const STUDY_METRICS = [
  'recall',
  'recall_stderr',
  'hellaswag_absolute',
  'hellaswag_absolute_stderr',
  'hellaswag_relative',
  'hellaswag_relative_stderr',
  'tv',
  'tv_stderr',
  'kl',
  'kl_stderr',
] as const;

/**
 * Ours, not the study's: both recall splits (the `recall` column holds the one selection uses), acc_norm, training
 * state, exact-match general ability on held-out questions (`itl eval general`), and how many seeds a row averages
 * (aggregateSeeds.ts; absent for a table of one evaluation folder).
 */
export const EXTRA_METRICS = [
  'recall_train',
  'recall_train_stderr',
  'recall_test',
  'recall_test_stderr',
  'hellaswag_acc_norm',
  'hellaswag_acc_norm_stderr',
  'epoch',
  'train_loss',
  'general_absolute',
  'general_absolute_stderr',
  'general_relative',
  'general_relative_stderr',
  'seeds',
] as const;

export type KnownMetric = (typeof STUDY_METRICS)[number] | (typeof EXTRA_METRICS)[number];
/** A known column, or one an evaluation task adds (lib/eval/tasks/registry.ts: e.g. arc_easy_absolute). */
export type Metric = KnownMetric | (string & {});
/** Every column, in the table's order: the study's, ours, then those of tasks added since (after all the others). */
export const METRICS: readonly Metric[] = [
  ...new Set<Metric>([...STUDY_METRICS, ...EXTRA_METRICS, ...EVAL_TASKS.flatMap((t) => t.columns)]),
];

export interface ResultRow {
  /** The run name, or `<Model>-<mode>_base` for a base model. */
  run: string;
  /** `<Model>-<mode>`, e.g. `Smol360M-weight`. */
  model: string;
  /** As the study writes it: 500, 1k, 5k, 10k, 50k (or `all`); 0 for a base model. */
  dataset_size: string;
  /** The checkpoint's global step; 0 for a base model. */
  checkpoint_nbr: number;
  metrics: Partial<Record<Metric, number>>;
}

/** What a row's names say: which model and mode, how many facts; `run` is absent for base rows. */
export interface RowIdentity {
  model: ModelInfo;
  mode: TrainingMode;
  base: boolean;
  facts: number;
  runName?: RunName;
}

const BASE_SUFFIX = '_base';

/** `Smol135M-weight` → the model and mode, or an error naming the value. */
export function parseModelColumn(value: string): { model: ModelInfo; mode: TrainingMode } {
  const dash = value.lastIndexOf('-');
  const model = dash > 0 ? findModel(value.slice(0, dash)) : undefined;
  const mode = value.slice(dash + 1);
  if (!model || (mode !== 'weight' && mode !== 'tool')) {
    throw new ItlError('ITL_DATA', `model '${value}': expected <Model>-<weight|tool> with a study model (e.g. Smol360M-weight)`);
  }
  return { model, mode };
}

export function modelColumn(run: RunName): string {
  return `${run.model}-${run.mode}`;
}

export function isBaseRow(row: ResultRow): boolean {
  return row.run === baseRunName(row.model);
}

export function baseRunName(model: string): string {
  return model + BASE_SUFFIX;
}

/** 500 → '500', 1000 → '1k', 50000 → '50k' (the study's labels); other counts as plain numbers. */
export function datasetSizeLabel(facts: number): string {
  return facts >= 1000 && facts % 1000 === 0 ? `${facts / 1000}k` : String(facts);
}

/** Checks that a row's run, model and dataset_size agree, and says what they describe. */
export function identifyRow(row: ResultRow): RowIdentity {
  const { model, mode } = parseModelColumn(row.model);
  if (row.run === baseRunName(row.model)) {
    return { model, mode, base: true, facts: 0 };
  }
  const runName = parseRunName(row.run);
  if (modelColumn(runName) !== row.model) {
    throw new ItlError('ITL_DATA', `run '${row.run}' is a ${modelColumn(runName)} run but its model column says '${row.model}'`);
  }
  return { model, mode, base: false, facts: runName.facts, runName };
}
