/**
 * The study's grid as a list of steps, each one `itl` command: the facts dataset (one `data build`),
 * one `train` per run, the evaluations of every run's checkpoints (recall, HellaSwag, KL/TV), the
 * base models' HellaSwag, and the analysis. A step is plain data (stage, model, mode, run) so the
 * filters (gridFilter.ts) select on it; its command line is built only for the steps selected, so a
 * selection without HellaSwag needs no HellaSwag file.
 */
import { join } from 'node:path';

import { ItlError } from '../errors.js';
import { findModel } from '../train/models.js';
import type { TrainingMode } from '../train/runName.js';
import { type GridRun, STUDY_RUNS } from './studyGrid.js';

/** In the order the grid runs them: each stage reads what the previous ones wrote. */
export const GRID_STAGES = ['data', 'train', 'recall', 'hellaswag', 'base', 'kl', 'analyze'] as const;
export type GridStage = (typeof GRID_STAGES)[number];

/** Names that stand for several stages in filters. */
export const STAGE_GROUPS: Readonly<Record<string, readonly GridStage[]>> = {
  eval: ['recall', 'hellaswag', 'base', 'kl'],
};

/** The study's dataset: 50,000 people (200,000 rows), seed 0. */
export const STUDY_PEOPLE = 50_000;
export const STUDY_DATA_SEED = 0;

export interface GridStep {
  stage: GridStage;
  /** The model's short name (`Smol135M`); undefined for data and analyze, which serve every run. */
  model?: string;
  /** The run's mode; undefined where the step serves both (data, analyze, a base model). */
  mode?: TrainingMode;
  /** The run this step trains or evaluates (train, recall, hellaswag, kl). */
  run?: GridRun;
}

export interface GridOptions {
  /** The `itl data build` output folder. */
  data: string;
  /** Training output: RUNS/<run>/checkpoint-<step>/. */
  runs: string;
  /** Evaluation output: EVAL/recall/, EVAL/hellaswag/, EVAL/kl_tv/. */
  evalDir: string;
  /** Analysis output: RESULTS/results.csv, plots, report. */
  results: string;
  /** Where the model folders are, as ORG/NAME (the layout of $ITL_MODELS); else train resolves the name itself. */
  modelsDir?: string;
  /** HellaSwag's validation set (jsonl or a Hugging Face on-disk dataset): needed by the hellaswag and base steps. */
  hellaswag?: string;
  device: string;
  precision: 'fp32' | 'bf16' | 'bf16-mixed';
  dtype: 'fp32' | 'bf16';
  /** `itl eval --batch-size`: rows per forward at the start (eval's default when undefined). */
  evalBatchSize?: number;
  /** Train through `itl launch --nproc-per-node K` (data-parallel on one node). */
  nprocPerNode?: number;
  masterPort?: number;
}

/** Every step of the study's grid, in order. */
export function gridSteps(runs: readonly GridRun[] = STUDY_RUNS): GridStep[] {
  const steps: GridStep[] = [{ stage: 'data' }];
  const perRun = (stage: GridStage) => runs.map((run): GridStep => ({ stage, model: run.model, mode: run.mode, run }));
  steps.push(...perRun('train'), ...perRun('recall'), ...perRun('hellaswag'));
  // One base model per model of the grid (its in-weight and in-tool runs share it), in table order.
  for (const model of new Set(runs.map((run) => run.model))) steps.push({ stage: 'base', model });
  steps.push(...perRun('kl'), { stage: 'analyze' });
  return steps;
}

/** The runs folder pattern of a model's runs: `sft_<Model>_*` (the base step evaluates what they were trained from). */
export function modelRunsPattern(model: string): string {
  return `sft_${model}_*`;
}

function evalFlags(o: GridOptions): string[] {
  const flags = ['--eval-dir', o.evalDir, '--device', o.device, '--dtype', o.dtype];
  if (o.evalBatchSize !== undefined) flags.push('--batch-size', String(o.evalBatchSize));
  return flags;
}

function hellaswagFile(o: GridOptions): string {
  if (o.hellaswag === undefined) {
    throw new ItlError(
      'ITL_USAGE',
      'the hellaswag and base steps need --hellaswag FILE (the validation jsonl or a Hugging Face on-disk dataset); ' +
        'or leave them out, e.g. --only train or --only recall,kl',
    );
  }
  return o.hellaswag;
}

function trainArgv(run: GridRun, o: GridOptions): string[] {
  const argv = ['train', '--run-name', run.name, '--data', o.data, '--save-dir', o.runs];
  if (o.modelsDir !== undefined) argv.push('--model', join(o.modelsDir, findModel(run.model)!.hfId));
  // --resume: a rerun after a time limit or pre-emption continues the run instead of refusing it.
  argv.push('--device', o.device, '--precision', o.precision, '--resume');
  if (o.nprocPerNode === undefined) return argv;
  const launch = ['launch', '--nproc-per-node', String(o.nprocPerNode)];
  if (o.masterPort !== undefined) launch.push('--master-port', String(o.masterPort));
  return [...launch, '--', ...argv];
}

/** The `itl` arguments (without the entry) of one step. */
export function stepArgv(step: GridStep, o: GridOptions): string[] {
  switch (step.stage) {
    case 'data':
      return ['data', 'build', '--people', String(STUDY_PEOPLE), '--seed', String(STUDY_DATA_SEED), '--out', o.data];
    case 'train':
      return trainArgv(step.run!, o);
    case 'recall':
    case 'kl':
      return ['eval', step.stage, '--models-dir', o.runs, '--run', step.run!.name, ...evalFlags(o)];
    case 'hellaswag':
      return ['eval', 'hellaswag', '--models-dir', o.runs, '--run', step.run!.name, '--hellaswag', hellaswagFile(o), ...evalFlags(o)];
    case 'base':
      return [
        'eval',
        'hellaswag',
        '--base',
        '--models-dir',
        o.runs,
        '--run',
        modelRunsPattern(step.model!),
        '--hellaswag',
        hellaswagFile(o),
        ...evalFlags(o),
      ];
    case 'analyze':
      return ['analyze', '--eval-dir', o.evalDir, '--runs-dir', o.runs, '--out', o.results];
  }
}

/** A short name for logs: the stage and what it is about. */
export function stepLabel(step: GridStep): string {
  if (step.run) return `${step.stage} ${step.run.name}`;
  if (step.model) return `${step.stage} ${step.model}`;
  return step.stage;
}
