/**
 * `itl eval <task>`: finds what to evaluate (every checkpoint of every run under RUNS, the runs' base
 * models, or one folder), reuses what was already evaluated the same way, evaluates the rest one
 * checkpoint at a time through the task (lib/eval/tasks/), writing each result as soon as it is done,
 * and reports every failure by path while still evaluating everything else. The caller exits non-zero
 * when `failures` is not empty.
 *
 * Reuse is decided by provenance: a result records the model's identity and everything else that
 * fixes its numbers (the task's data, limits, seeds, base model…); an existing result is skipped when
 * its record equals what is asked now, and otherwise refused with the differences named (`recompute`
 * replaces it). Concurrent evaluations into one EVAL folder divide the work: each target is evaluated
 * under a lock, and a target another process holds is left to it and checked again at the end.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { asItlError, ItlError } from '../errors.js';
import type { ModelDtype } from '../native/Model.js';
import type { Runtime } from '../native/Runtime.js';
import { DEFAULT_DATE_STRING } from '../tokenize/ChatTokenizer.js';
import { loadTokenizer } from '../tokenize/loadTokenizer.js';
import type { TrainingMode } from '../train/runName.js';
import { checkpointName, listRuns, readRunConfig, RUN_CONFIG_FILE, type RunConfig, type RunFolder } from '../train/runFolder.js';
import { acquireLock, type FileLock } from '../util/fileLock.js';
import { globToRegExp } from '../util/glob.js';
import { describeDifferences, modelIdentity, type Provenance, provenanceDifferences } from '../util/provenance.js';
import { BatchSize } from './BatchSize.js';
import { loadResolved, type ResolvedCheckpoint, resolveCheckpoint, singleFolderTarget } from './evalSubjects.js';
import type { EvalTask, ResultTarget, SubjectDescription, TaskContext } from './tasks/EvalTask.js';

export interface EvalOptions {
  task: EvalTask;
  /** The task's settings (`task.settings(args)`), checked at the command line. */
  settings: unknown;
  evalDir: string;
  /** RUNS: every checkpoint of every run (or, with `base`, the runs' base models). */
  modelsDir?: string;
  /** Only these runs under RUNS: folder names or `*`/`?` patterns (each must match a run folder). */
  runs?: string[];
  /** One folder instead of RUNS (and an adapter to apply to it). */
  model?: string;
  adapter?: string;
  /** Evaluate base models: the runs' base models, or `model` itself. */
  base?: boolean;
  device?: string;
  dtype?: ModelDtype;
  /** Initial rows per forward pass (backed off on out-of-memory). */
  batchSize?: number;
  dateString?: string;
  /** What the run says, given (or overridden) on the command line: recall's dataset, N and mode; KL's base model. */
  data?: string;
  facts?: number;
  mode?: TrainingMode;
  baseModel?: string;
  /** Replace results that were evaluated another way (instead of refusing them). */
  recompute?: boolean;
  log: (message: string) => void;
}

export interface EvalSummary {
  evaluated: string[];
  skipped: string[];
  /** One line per failure, starting with the path concerned. */
  failures: string[];
}

interface Target extends ResultTarget {
  /** The folder evaluated (a checkpoint, a model folder). */
  dir: string;
  config?: RunConfig;
  configError?: string;
}

const label = (t: Target) => (t.baseModel ? `base_models/${t.run}` : `${t.run}/${t.checkpoint}`);

async function runConfigOf(run: RunFolder): Promise<{ config?: RunConfig; configError?: string }> {
  try {
    return { config: await readRunConfig(run.dir) };
  } catch (error) {
    return { configError: (error as Error).message };
  }
}

async function findTargets(o: EvalOptions, summary: EvalSummary): Promise<Target[]> {
  if (o.model !== undefined) {
    const { name, checkpoint, flat } = singleFolderTarget(o.model);
    const target: Target = {
      evalDir: o.evalDir,
      run: o.base ? basename(resolve(o.model)) : name,
      checkpoint,
      flat,
      baseModel: o.base,
      dir: o.model,
    };
    // A checkpoint of a run folder is the same subject however it is named: its run's configuration applies.
    if (!flat && !o.base && existsSync(join(dirname(resolve(o.model)), RUN_CONFIG_FILE))) {
      Object.assign(target, await runConfigOf({ name, dir: dirname(resolve(o.model)), checkpoints: [] }));
    }
    return [target];
  }
  const targets: Target[] = [];
  const bases = new Map<string, Target>();
  for (const run of selectRuns(await listRuns(o.modelsDir!), o, summary)) {
    const { config, configError } = await runConfigOf(run);
    if (o.base) {
      if (!config) summary.failures.push(configError!);
      else if (!bases.has(config.model))
        bases.set(config.model, {
          evalDir: o.evalDir,
          run: config.model_label,
          checkpoint: checkpointName(0),
          baseModel: true,
          dir: config.model,
          config,
        });
      continue;
    }
    if (run.checkpoints.length === 0) {
      summary.failures.push(`${run.dir}: no checkpoint-<step> folders`);
      continue;
    }
    for (const checkpoint of run.checkpoints)
      targets.push({ evalDir: o.evalDir, run: run.name, checkpoint: checkpoint.name, dir: checkpoint.path, config, configError });
  }
  return o.base ? [...bases.values()] : targets;
}

/** The runs `--run` names (all of them without it); a name or pattern that matches no run folder is a failure. */
function selectRuns(runs: RunFolder[], o: EvalOptions, summary: EvalSummary): RunFolder[] {
  if (o.runs === undefined) return runs;
  const patterns = o.runs.map((name) => ({ name, pattern: globToRegExp(name) }));
  for (const { name } of patterns.filter(({ pattern }) => !runs.some((run) => pattern.test(run.name)))) {
    summary.failures.push(`${join(o.modelsDir!, name)}: no such run folder`);
  }
  return runs.filter((run) => patterns.some(({ pattern }) => pattern.test(run.name)));
}

/** The identity of what is evaluated: the folder's content (a LoRA adapter's with its base model's). */
export function subjectIdentity(resolved: ResolvedCheckpoint): SubjectDescription['identity'] {
  return resolved.adapter === undefined
    ? { model: modelIdentity(resolved.model) }
    : { model: modelIdentity(resolved.adapter), adapter_base: modelIdentity(resolved.model) };
}

function describeSubject(o: EvalOptions, target: Target, resolved: ResolvedCheckpoint): SubjectDescription {
  const config = target.config;
  return {
    label: target.dir,
    identity: subjectIdentity(resolved),
    adapter: resolved.adapter,
    dateString: o.dateString ?? config?.date_string ?? DEFAULT_DATE_STRING,
    run: {
      data: o.data ?? config?.data,
      facts: o.facts ?? config?.facts,
      mode: o.mode ?? config?.mode,
      baseModel: o.baseModel ?? (resolved.adapter !== undefined ? resolved.model : config?.model),
    },
    runProblem: target.configError,
  };
}

/** What a reused result must have been made with: the model, and the task's provenance for it. */
export async function expectedProvenance(task: EvalTask, state: unknown, subject: SubjectDescription): Promise<Provenance> {
  return { ...(await task.provenance(state, subject)), ...subject.identity };
}

/** Whether to evaluate: 'evaluate', 'skip' (done the same way), or the refusal naming the differences. */
export async function reuseDecision(
  task: EvalTask,
  target: ResultTarget,
  expected: Provenance,
  recompute: boolean,
  what: string,
): Promise<'evaluate' | 'skip' | { refusal: string }> {
  const recorded = await task.recorded(target);
  if (recorded === undefined) return 'evaluate';
  const differences = provenanceDifferences(recorded ?? undefined, expected);
  if (recorded !== null && differences.length === 0) return 'skip';
  if (recompute) return 'evaluate';
  const why =
    recorded === null
      ? 'it has no provenance record (written by an older itl)'
      : `it was evaluated another way: ${describeDifferences(differences)}`;
  return { refusal: `${what}: a ${task.name} result exists but ${why}; pass --recompute to replace it, or choose another --eval-dir` };
}

function lockPath(o: EvalOptions, target: Target): string {
  const key = target.baseModel ? `base_models/${target.run}` : `${target.run}/${target.checkpoint}`;
  return join(o.evalDir, '.locks', o.task.name, `${key.replaceAll('/', '__')}.lock`);
}

export async function runEvaluation(runtime: Runtime, o: EvalOptions): Promise<EvalSummary> {
  if ((o.model === undefined) === (o.modelsDir === undefined))
    throw new ItlError('ITL_USAGE', 'pass exactly one of --models-dir and --model');
  if (o.runs !== undefined && o.modelsDir === undefined) throw new ItlError('ITL_USAGE', '--run selects runs under --models-dir');
  if (o.adapter !== undefined && o.model === undefined)
    throw new ItlError('ITL_USAGE', '--adapter needs --model (the base model it applies to)');
  if (o.base && o.task.baseModels !== true)
    throw new ItlError('ITL_USAGE', `--base does not apply to ${o.task.name}: ${o.task.baseModels}`);
  await mkdir(join(o.evalDir, '.locks', o.task.name), { recursive: true }).catch((error: unknown) => {
    throw new ItlError('ITL_IO', `cannot write into the evaluation folder ${o.evalDir}: ${(error as Error).message}`, { cause: error });
  });
  const context: TaskContext = {
    runtime,
    evalDir: o.evalDir,
    batch: new BatchSize(o.batchSize ?? 32, o.log),
    loadOptions: { device: o.device ?? 'cpu', dtype: o.dtype ?? 'fp32' },
    log: o.log,
  };
  const state = await o.task.open(o.settings, context);
  const summary: EvalSummary = { evaluated: [], skipped: [], failures: [] };
  try {
    const deferred: Target[] = [];
    for (const target of await findTargets(o, summary)) {
      if ((await evaluateTarget(o, state, context, target, summary, 0)) === 'busy') deferred.push(target);
    }
    // Targets another process was evaluating: wait for it, then reuse its result (or evaluate, if it failed).
    for (const target of deferred) await evaluateTarget(o, state, context, target, summary, Number.POSITIVE_INFINITY);
  } finally {
    o.task.close(state);
  }
  return summary;
}

async function evaluateTarget(
  o: EvalOptions,
  state: unknown,
  context: TaskContext,
  target: Target,
  summary: EvalSummary,
  waitMs: number,
): Promise<'busy' | undefined> {
  const name = `${o.task.name} ${label(target)}`;
  let lock: FileLock | undefined;
  try {
    try {
      lock = await acquireLock(lockPath(o, target), { what: name, waitMs, log: o.log });
    } catch (error) {
      if (asItlError(error).code === 'ITL_LOCKED' && waitMs === 0) {
        o.log(`${name}: being evaluated by another process; checked again at the end`);
        return 'busy';
      }
      throw error;
    }
    const resolved = o.adapter !== undefined ? { model: o.model!, adapter: o.adapter } : await resolveCheckpoint(target.dir);
    const subject = describeSubject(o, target, resolved);
    const expected = await expectedProvenance(o.task, state, subject);
    const decision = await reuseDecision(o.task, target, expected, o.recompute ?? false, target.dir);
    if (decision === 'skip') {
      summary.skipped.push(label(target));
      o.log(`${name}: already evaluated, skipped`);
      return;
    }
    if (decision !== 'evaluate') throw new ItlError('ITL_CONFIG', decision.refusal);
    o.log(`${name}: evaluating ${target.dir}`);
    const started = performance.now();
    const model = await loadResolved(context.runtime, resolved, context.loadOptions);
    try {
      // The tokenizer beside the evaluated folder (checkpoints carry one), else the model folder's.
      const tokenizer = await loadTokenizer(tokenizerFolder(target.dir, resolved.model));
      const line = await o.task.evaluate(state, { ...subject, model, tokenizer }, target, expected);
      o.log(`${name}: ${line}`);
    } finally {
      model.dispose();
    }
    summary.evaluated.push(label(target));
    o.log(`${name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (thrown) {
    const error = asItlError(thrown);
    if (error.code === 'ITL_ABORTED') throw error; // stopped by the user: nothing more is evaluated
    summary.failures.push(`${target.dir}: ${error.message} [${error.code}]`);
    o.log(`${name}: FAILED: ${error.message} [${error.code}]`);
  } finally {
    lock?.release();
  }
}

function tokenizerFolder(dir: string, model: string): string {
  return existsSync(join(dir, 'tokenizer.json')) ? dir : model;
}
