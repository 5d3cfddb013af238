/**
 * Gathers every evaluation result under EVAL (the layout of docs/design.md, "Result files") into one row
 * per (run, checkpoint), plus base-model rows. A file that is malformed, or a folder whose name is
 * not a run name, is reported by path and skipped; everything else is still aggregated, so a
 * half-finished evaluation still yields a table.
 */
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { ItlError } from '../errors.js';
import type { ResultSink } from '../eval/tasks/EvalTask.js';
import { readJsonIfPresent, isObject, optionalNumber } from '../eval/tasks/readResults.js';
import { EVAL_TASKS } from '../eval/tasks/registry.js';
import { findModelByDirectoryName } from '../train/models.js';
import { parseRunName, type RunName } from '../train/runName.js';
import { checkpointName, TRAINER_STATE_FILE } from '../train/runFolder.js';
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

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function defined(metrics: Record<string, number | undefined>): Metrics {
  return Object.fromEntries(Object.entries(metrics).filter(([, v]) => v !== undefined)) as Metrics;
}

/** Where every task's results land: rows by run and step, and base models by short name. */
class Collector implements ResultSink {
  readonly runs: RunTable = new Map();
  readonly base = new Map<string, Metrics>();
  readonly problems: string[] = [];

  async attempt(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.problems.push((error as Error).message);
    }
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  isRun(folder: string, name: string): boolean {
    try {
      parseRunName(name);
      return true;
    } catch (error) {
      // Reported once per folder, however many tasks have results in it.
      const line = `${folder}: unknown run-name pattern, skipped (${(error as Error).message})`;
      if (!this.problems.includes(line)) this.problems.push(line);
      return false;
    }
  }

  addRun(folder: string, name: string, step: number, metrics: Record<string, number | undefined>): void {
    if (!this.isRun(folder, name)) return;
    const run = parseRunName(name);
    const entry = this.runs.get(name) ?? { run, steps: new Map<number, Metrics>() };
    this.runs.set(name, entry);
    entry.steps.set(step, { ...entry.steps.get(step), ...defined(metrics) });
  }

  addBase(folder: string, metrics: Record<string, number | undefined>): void {
    const model = findModelByDirectoryName(basename(folder));
    if (!model) {
      this.problems.push(`${folder}: not a known model (expected a short name such as Smol135M or a Hugging Face id), skipped`);
      return;
    }
    this.base.set(model.shortName, { ...this.base.get(model.shortName), ...defined(metrics) });
  }
}

/** Epoch and the last logged training loss at each checkpoint, from the Trainer's state file. */
async function collectTraining(runsDir: string, c: Collector): Promise<void> {
  for (const [name, { steps }] of c.runs) {
    for (const step of steps.keys()) {
      const path = join(runsDir, name, checkpointName(step), TRAINER_STATE_FILE);
      if (!(await exists(path))) continue;
      await c.attempt(async () => {
        const state = await readJsonIfPresent(path);
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
        c.addRun(join(runsDir, name), name, step, { epoch, train_loss: loss });
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

/** 100 × accuracy ÷ the base model's, for every task that reports one relative to the base (HellaSwag, general, …). */
function relativeMetrics(m: Metrics, base: Metrics | undefined): Metrics {
  const out: Metrics = {};
  for (const column of EVAL_TASKS.flatMap((t) => (t.relative ? [t.relative] : []))) {
    const value = m[column.absolute];
    const baseValue = base?.[column.absolute];
    if (value === undefined || baseValue === undefined || !(baseValue > 0)) continue;
    const { relative, relativeStderr } = relativeAccuracy(value, m[column.absoluteStderr], baseValue, base![column.absoluteStderr]);
    out[column.relative] = relative;
    if (relativeStderr !== undefined) out[column.relativeStderr] = relativeStderr;
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
        // The base model relative to itself is exactly 100: no spread.
        ...Object.fromEntries(
          EVAL_TASKS.flatMap((t) => (t.relative && (b[t.relative.absolute] ?? 0) > 0 ? [[t.relative.relativeStderr, 0]] : [])),
        ),
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
  for (const task of EVAL_TASKS) await task.collect(options.evalDir, c);
  if (options.runsDir) await collectTraining(options.runsDir, c);
  return { rows: buildRows(c.runs, c.base), problems: c.problems };
}
