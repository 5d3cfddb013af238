/**
 * Gathers every evaluation result under EVAL (the layout of docs/design.md, "Result files") into one row
 * per (run, checkpoint), plus base-model rows. A file that is malformed, or a folder whose name is
 * not a run name, is reported by path and skipped; everything else is still aggregated, so a
 * half-finished evaluation still yields a table.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { ItlError } from '../errors.js';
import { findModelByDirectoryName } from '../train/models.js';
import { parseRunName, type RunName } from '../train/runName.js';
import { baseRunName, datasetSizeLabel, modelColumn, type Metric, type ResultRow } from './ResultRow.js';
import { relativeAccuracy } from './relativeAccuracy.js';

export interface CollectOptions {
  evalDir: string;
  /** Training output (RUNS/<run>/checkpoint-<step>/trainer_state.json), for epochs and training loss. */
  runsDir?: string;
}

export interface Collected {
  rows: ResultRow[];
  /** One line per skipped file or folder, starting with its path. */
  problems: string[];
}

type Metrics = Partial<Record<Metric, number>>;
/** run name → checkpoint step → metrics */
type RunTable = Map<string, { run: RunName; steps: Map<number, Metrics> }>;

const CHECKPOINT = /^checkpoint-(0|[1-9]\d*)$/;
const BASE_MODELS = 'base_models';

async function listDirectories(path: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ItlError('ITL_IO', `${path}: cannot list (${(error as Error).message})`);
  }
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ItlError('ITL_DATA', `${path}: not valid JSON (${(error as Error).message})`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A number field, or undefined when absent or null; anything else is an error naming the key. */
function optionalNumber(entry: Record<string, unknown>, key: string, where: string): number | undefined {
  const value = entry[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ItlError('ITL_DATA', `${where}: '${key}' is ${JSON.stringify(value)}, expected a number`);
  }
  return value;
}

function requiredNumber(entry: Record<string, unknown>, key: string, where: string): number {
  const value = optionalNumber(entry, key, where);
  if (value === undefined) throw new ItlError('ITL_DATA', `${where}: '${key}' is missing`);
  return value;
}

/** `{ "checkpoint-<step>": {…} }` → step → entry, naming the file and key of anything else. */
function checkpointEntries(document: unknown, path: string): Map<number, Record<string, unknown>> {
  if (!isObject(document)) throw new ItlError('ITL_DATA', `${path}: expected an object keyed by 'checkpoint-<step>'`);
  const entries = new Map<number, Record<string, unknown>>();
  for (const [key, entry] of Object.entries(document)) {
    const match = CHECKPOINT.exec(key);
    if (!match) throw new ItlError('ITL_DATA', `${path}: key '${key}' is not 'checkpoint-<step>'`);
    if (!isObject(entry)) throw new ItlError('ITL_DATA', `${path}: '${key}' is not an object`);
    entries.set(Number(match[1]), entry);
  }
  return entries;
}

function recallMetrics(entry: Record<string, unknown>, where: string): Metrics {
  const metrics: Metrics = {
    recall_train: optionalNumber(entry, 'accuracy_train', where),
    recall_train_stderr: optionalNumber(entry, 'stderr_train', where),
    recall_test: optionalNumber(entry, 'accuracy_test', where),
    recall_test_stderr: optionalNumber(entry, 'stderr_test', where),
  };
  if (metrics.recall_train === undefined && metrics.recall_test === undefined) {
    throw new ItlError('ITL_DATA', `${where}: neither 'accuracy_train' nor 'accuracy_test' is given`);
  }
  return metrics;
}

function klMetrics(entry: Record<string, unknown>, where: string): Metrics {
  return {
    kl: requiredNumber(entry, 'kl_mean', where),
    kl_stderr: optionalNumber(entry, 'kl_stderr', where),
    tv: requiredNumber(entry, 'tv_mean', where),
    tv_stderr: optionalNumber(entry, 'tv_stderr', where),
  };
}

/** General ability (lib/eval/general.ts): a checkpoint's entry or a base model's file. */
function generalMetrics(entry: Record<string, unknown>, where: string): Metrics {
  return {
    general_absolute: requiredNumber(entry, 'accuracy', where),
    general_absolute_stderr: optionalNumber(entry, 'stderr', where),
  };
}

/** lm-evaluation-harness's results file: `results.hellaswag["acc,none"]` and friends. */
function hellaswagMetrics(document: unknown, path: string): Metrics {
  const task = isObject(document) && isObject(document.results) ? document.results.hellaswag : undefined;
  if (!isObject(task)) throw new ItlError('ITL_DATA', `${path}: no 'results.hellaswag' object`);
  return {
    hellaswag_absolute: requiredNumber(task, 'acc,none', `${path}: results.hellaswag`),
    hellaswag_absolute_stderr: optionalNumber(task, 'acc_stderr,none', `${path}: results.hellaswag`),
    hellaswag_acc_norm: optionalNumber(task, 'acc_norm,none', `${path}: results.hellaswag`),
    hellaswag_acc_norm_stderr: optionalNumber(task, 'acc_norm_stderr,none', `${path}: results.hellaswag`),
  };
}

/**
 * The newest `results_<timestamp>.json` anywhere under a checkpoint's folder: lm-eval nests it
 * under a folder named after the model path, and a re-run adds a later timestamp beside the old one.
 */
async function latestResultsFile(folder: string): Promise<string | undefined> {
  const found: string[] = [];
  for (const entry of await readdir(folder, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && /^results_.*\.json$/.test(entry.name)) found.push(join(entry.parentPath, entry.name));
  }
  found.sort((a, b) => (basename(a) < basename(b) ? -1 : basename(a) > basename(b) ? 1 : 0));
  return found.at(-1);
}

class Collector {
  readonly runs: RunTable = new Map();
  readonly problems: string[] = [];

  /** Runs `work`, turning a thrown error into a reported, skipped item. */
  async attempt(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.problems.push((error as Error).message);
    }
  }

  /** The run a result folder belongs to, or undefined (reported) when its name is not a run name. */
  runFor(folder: string, name: string): RunName | undefined {
    try {
      return parseRunName(name);
    } catch (error) {
      this.problems.push(`${folder}: unknown run-name pattern, skipped (${(error as Error).message})`);
      return undefined;
    }
  }

  merge(name: string, run: RunName, step: number, metrics: Metrics): void {
    const entry = this.runs.get(name) ?? { run, steps: new Map<number, Metrics>() };
    this.runs.set(name, entry);
    const existing = entry.steps.get(step) ?? {};
    for (const [key, value] of Object.entries(metrics) as [Metric, number | undefined][]) {
      if (value !== undefined) existing[key] = value;
    }
    entry.steps.set(step, existing);
  }
}

/** Recall and KL/TV share one shape: EVAL/<folder>/<run>/<file> holding `{"checkpoint-<step>": {...}}`. */
async function collectPerRunFile(
  evalDir: string,
  c: Collector,
  folder: string,
  file: string,
  metricsOf: (entry: Record<string, unknown>, where: string) => Metrics,
): Promise<void> {
  const root = join(evalDir, folder);
  for (const name of await listDirectories(root)) {
    if (name === BASE_MODELS) continue;
    const run = c.runFor(join(root, name), name);
    if (!run) continue;
    const path = join(root, name, file);
    if (!(await exists(path))) continue;
    await c.attempt(async () => {
      const parsed = [...checkpointEntries(await readJson(path), path)].map(
        ([step, entry]) => [step, metricsOf(entry, `${path}: checkpoint-${step}`)] as const,
      );
      for (const [step, metrics] of parsed) c.merge(name, run, step, metrics);
    });
  }
}

async function collectHellaswag(evalDir: string, c: Collector): Promise<void> {
  const root = join(evalDir, 'hellaswag');
  for (const name of await listDirectories(root)) {
    if (name === BASE_MODELS) continue;
    const run = c.runFor(join(root, name), name);
    if (!run) continue;
    for (const folder of await listDirectories(join(root, name))) {
      const path = join(root, name, folder);
      const match = CHECKPOINT.exec(folder);
      if (!match) {
        c.problems.push(`${path}: not a 'checkpoint-<step>' folder, skipped`);
        continue;
      }
      await c.attempt(async () => {
        const file = await latestResultsFile(path);
        if (file) c.merge(name, run, Number(match[1]), hellaswagMetrics(await readJson(file), file));
      });
    }
  }
}

/** Base-model HellaSwag and general ability by model short name. */
async function collectBaseModels(evalDir: string, c: Collector): Promise<Map<string, Metrics>> {
  const root = join(evalDir, 'hellaswag', BASE_MODELS);
  const base = new Map<string, Metrics>();
  const generalRoot = join(evalDir, 'general', BASE_MODELS);
  for (const folder of await listDirectories(generalRoot)) {
    const path = join(generalRoot, folder, 'general_results.json');
    const model = findModelByDirectoryName(folder);
    if (!model) {
      c.problems.push(`${join(generalRoot, folder)}: not a known model (expected a short name such as Smol135M or a Hugging Face id), skipped`);
      continue;
    }
    if (!(await exists(path))) continue;
    await c.attempt(async () => {
      const document = await readJson(path);
      if (!isObject(document)) throw new ItlError('ITL_DATA', `${path}: expected an object`);
      base.set(model.shortName, generalMetrics(document, path));
    });
  }
  for (const folder of await listDirectories(root)) {
    const path = join(root, folder);
    const model = findModelByDirectoryName(folder);
    if (!model) {
      c.problems.push(`${path}: not a study model (expected a short name such as Smol135M or a Hugging Face id), skipped`);
      continue;
    }
    await c.attempt(async () => {
      const file = await latestResultsFile(path);
      if (file) base.set(model.shortName, { ...base.get(model.shortName), ...hellaswagMetrics(await readJson(file), file) });
    });
  }
  return base;
}

/** Epoch and the last logged training loss at each checkpoint, from the Trainer's state file. */
async function collectTraining(runsDir: string, c: Collector): Promise<void> {
  for (const [name, { run, steps }] of c.runs) {
    for (const step of steps.keys()) {
      const path = join(runsDir, name, `checkpoint-${step}`, 'trainer_state.json');
      if (!(await exists(path))) continue;
      await c.attempt(async () => {
        const state = await readJson(path);
        if (!isObject(state) || !Array.isArray(state.log_history)) {
          throw new ItlError('ITL_DATA', `${path}: expected a Trainer state with a 'log_history' array`);
        }
        const epoch = optionalNumber(state, 'epoch', path);
        let loss: number | undefined;
        for (const [k, record] of state.log_history.entries()) {
          if (!isObject(record)) throw new ItlError('ITL_DATA', `${path}: log_history[${k}] is not an object`);
          const recordStep = optionalNumber(record, 'step', `${path}: log_history[${k}]`);
          const recordLoss = optionalNumber(record, 'loss', `${path}: log_history[${k}]`);
          if (recordLoss !== undefined && (recordStep === undefined || recordStep <= step)) loss = recordLoss;
        }
        c.merge(name, run, step, { epoch, train_loss: loss });
      });
    }
  }
}

/** The `recall` column: the split the study's selection reads for this mode. */
function selectionRecall(run: RunName, m: Metrics): Metrics {
  return run.mode === 'weight'
    ? { recall: m.recall_train, recall_stderr: m.recall_train_stderr }
    : { recall: m.recall_test, recall_stderr: m.recall_test_stderr };
}

function relativeMetrics(m: Metrics, base: Metrics | undefined): Metrics {
  const out: Metrics = {};
  if (m.hellaswag_absolute !== undefined && base?.hellaswag_absolute !== undefined) {
    const { relative, relativeStderr } = relativeAccuracy(
      m.hellaswag_absolute,
      m.hellaswag_absolute_stderr,
      base.hellaswag_absolute,
      base.hellaswag_absolute_stderr,
    );
    Object.assign(out, { hellaswag_relative: relative, hellaswag_relative_stderr: relativeStderr });
  }
  if (m.general_absolute !== undefined && base?.general_absolute !== undefined && base.general_absolute > 0) {
    const { relative, relativeStderr } = relativeAccuracy(m.general_absolute, m.general_absolute_stderr, base.general_absolute, base.general_absolute_stderr);
    Object.assign(out, { general_relative: relative, general_relative_stderr: relativeStderr });
  }
  return out;
}

function withoutUndefined(metrics: Metrics): Metrics {
  return Object.fromEntries(Object.entries(metrics).filter(([, v]) => v !== undefined)) as Metrics;
}

function buildRows(runs: RunTable, base: Map<string, Metrics>): ResultRow[] {
  const rows: ResultRow[] = [];
  const baseModels = new Set<string>();
  for (const name of [...runs.keys()].sort()) {
    const { run, steps } = runs.get(name)!;
    const baseMetrics = base.get(run.model);
    if (baseMetrics) baseModels.add(modelColumn(run));
    for (const step of [...steps.keys()].sort((a, b) => a - b)) {
      const m = steps.get(step)!;
      rows.push({
        run: name,
        model: modelColumn(run),
        dataset_size: datasetSizeLabel(run.facts),
        checkpoint_nbr: step,
        metrics: withoutUndefined({ ...m, ...selectionRecall(run, m), ...relativeMetrics(m, baseMetrics) }),
      });
    }
  }
  for (const model of [...baseModels].sort()) {
    const shortName = model.slice(0, model.lastIndexOf('-'));
    const b = base.get(shortName)!;
    rows.push({
      run: baseRunName(model),
      model,
      dataset_size: '0',
      checkpoint_nbr: 0,
      // The base model's divergence from itself is 0 by definition, not a missing measurement.
      metrics: withoutUndefined({
        ...b,
        ...relativeMetrics(b, b),
        ...(b.hellaswag_absolute !== undefined ? { hellaswag_relative_stderr: 0 } : {}),
        ...(b.general_absolute !== undefined && b.general_absolute > 0 ? { general_relative_stderr: 0 } : {}),
        kl: 0,
        kl_stderr: 0,
        tv: 0,
        tv_stderr: 0,
      }),
    });
  }
  return rows;
}

export async function collectResults(options: CollectOptions): Promise<Collected> {
  if (!(await exists(options.evalDir))) {
    throw new ItlError('ITL_IO', `evaluation folder '${options.evalDir}' does not exist`);
  }
  const c = new Collector();
  await collectPerRunFile(options.evalDir, c, 'recall', 'checkpoints_recall_results.json', recallMetrics);
  await collectHellaswag(options.evalDir, c);
  await collectPerRunFile(options.evalDir, c, 'kl_tv', 'checkpoint_kl_eval_results.json', klMetrics);
  await collectPerRunFile(options.evalDir, c, 'general', 'checkpoint_general_results.json', generalMetrics);
  const base = await collectBaseModels(options.evalDir, c);
  if (options.runsDir) await collectTraining(options.runsDir, c);
  return { rows: buildRows(c.runs, base), problems: c.problems };
}
