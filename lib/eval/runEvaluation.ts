/**
 * `itl eval <metric>`: finds what to evaluate (every checkpoint of every run under RUNS, the runs'
 * base models, or one folder), skips what already has a result, evaluates the rest one checkpoint
 * at a time, writing each result as soon as it is done, and reports every failure by path while
 * still evaluating everything else. The caller exits non-zero when `failures` is not empty.
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

import { type FactsDb, openFactsDatabase } from '../data/factsDatabase.js';
import { type FactsDataset, openFactsDataset } from '../data/openFactsDataset.js';
import { factsDatabasePath } from '../data/verifyDataFiles.js';
import { asItlError, ItlError } from '../errors.js';
import type { Model, ModelDtype } from '../native/Model.js';
import type { Runtime } from '../native/Runtime.js';
import { DEFAULT_DATE_STRING, type ChatTokenizer } from '../tokenize/ChatTokenizer.js';
import { loadTokenizer } from '../tokenize/loadTokenizer.js';
import { globToRegExp } from '../util/glob.js';
import { BatchSize } from './BatchSize.js';
import { generalCheckpoint, hellaswagCheckpoint, hellaswagFolder, klCheckpoint, recallCheckpoint, type ResultTarget } from './checkpointEvaluators.js';
import { type GeneralQuestionRecord, readGeneralQuestions } from './general.js';
import { listRuns, loadResolved, readRunConfig, resolveCheckpoint, type ResolvedCheckpoint, type RunConfig, type RunFolder, singleFolderTarget } from './checkpoints.js';
import { readHellaswag, type HellaswagDoc } from './hellaswagData.js';
import { baseCompletions, type BaseCompletion, type KlPrompt, readKlPrompts } from './kl.js';
import type { RecallSelection } from './recall.js';
import { baseGeneralFilePath, hasResultsFile, keyedFilePath, type Metric, readKeyedFile } from './resultFiles.js';

export interface EvalOptions {
  metric: Metric;
  evalDir: string;
  /** RUNS: every checkpoint of every run (or, with `base`, the runs' base models). */
  modelsDir?: string;
  /** Only these runs under RUNS: folder names or `*`/`?` patterns (each must match a run folder). */
  runs?: string[];
  /** One folder instead of RUNS (and an adapter to apply to it). */
  model?: string;
  adapter?: string;
  /** Evaluate base models (HellaSwag): the runs' base models, or `model` itself. */
  base?: boolean;
  device?: string;
  dtype?: ModelDtype;
  /** Initial rows per forward pass (backed off on out-of-memory). */
  batchSize?: number;
  dateString?: string;
  /** Recall without a run configuration (or overriding it). */
  data?: string;
  facts?: number;
  mode?: 'weight' | 'tool';
  selection?: RecallSelection;
  /** HellaSwag data: jsonl or a Hugging Face on-disk dataset. */
  hellaswag?: string;
  limit?: number;
  addBos?: boolean;
  logSamples?: boolean;
  /** KL: the base model, when no run configuration or adapter names it. */
  baseModel?: string;
  klPrompts?: string;
  klMaxNewTokens?: number;
  /** General ability: the held-out questions file, and the answer budget. */
  questions?: string;
  generalMaxNewTokens?: number;
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
  /** The run's configuration, when it has one (`run_config.json`). */
  config?: RunConfig;
  configError?: string;
}

const label = (t: Target) => (t.baseModel ? `base_models/${t.run}` : `${t.run}/${t.checkpoint}`);

async function findTargets(o: EvalOptions, summary: EvalSummary): Promise<Target[]> {
  if (o.model !== undefined) {
    const { name, checkpoint, flat } = singleFolderTarget(o.model);
    return [{ evalDir: o.evalDir, run: o.base ? basename(resolve(o.model)) : name, checkpoint, flat, baseModel: o.base, dir: o.model }];
  }
  const targets: Target[] = [];
  const bases = new Map<string, Target>();
  for (const run of selectRuns(await listRuns(o.modelsDir!), o, summary)) {
    let config: RunConfig | undefined;
    let configError: string | undefined;
    try {
      config = await readRunConfig(run.dir);
    } catch (error) {
      configError = (error as Error).message;
    }
    if (o.base) {
      if (!config) summary.failures.push(configError!);
      else if (!bases.has(config.model)) bases.set(config.model, { evalDir: o.evalDir, run: config.model_label, checkpoint: 'checkpoint-0', baseModel: true, dir: config.model, config });
      continue;
    }
    if (run.checkpoints.length === 0) {
      summary.failures.push(`${run.dir}: no checkpoint-<step> folders`);
      continue;
    }
    for (const checkpoint of run.checkpoints) {
      targets.push({ evalDir: o.evalDir, run: run.name, checkpoint, dir: join(run.dir, checkpoint), config, configError });
    }
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

async function alreadyDone(metric: Metric, target: Target): Promise<boolean> {
  if (metric === 'hellaswag') return hasResultsFile(hellaswagFolder(target));
  if (metric === 'general' && target.baseModel) return existsSync(baseGeneralFilePath(target.evalDir, target.run));
  return Object.hasOwn(await readKeyedFile(keyedFilePath(target.evalDir, metric, target.run)), target.checkpoint);
}

/** The tokenizer beside the evaluated folder (checkpoints carry one), else the model folder's. */
async function tokenizerFor(target: Target, resolved: ResolvedCheckpoint): Promise<ChatTokenizer> {
  return loadTokenizer(existsSync(join(target.dir, 'tokenizer.json')) ? target.dir : resolved.model);
}

/** Keeps one model (a base model, a dataset…) open while consecutive targets share it. */
class Held<T> {
  private key: string | undefined;
  private value: T | undefined;
  constructor(private readonly close: (value: T) => void) {}
  async get(key: string, open: () => Promise<T>): Promise<T> {
    if (this.key !== key || this.value === undefined) {
      this.release();
      this.value = await open();
      this.key = key;
    }
    return this.value;
  }
  release(): void {
    if (this.value !== undefined) this.close(this.value);
    this.value = undefined;
    this.key = undefined;
  }
}

interface Shared {
  o: EvalOptions;
  runtime: Runtime;
  batch: BatchSize;
  loadOptions: { device: string; dtype: ModelDtype };
  docs?: HellaswagDoc[];
  prompts?: KlPrompt[];
  questions?: GeneralQuestionRecord[];
  datasets: Held<{ dataset: FactsDataset; db: FactsDb | undefined }>;
  bases: Held<{ model: Model; completions: Map<string, BaseCompletion[]> }>;
}

async function evaluateRecallTarget(s: Shared, target: Target, model: Model, tokenizer: ChatTokenizer, dateString: string): Promise<void> {
  const { o } = s;
  const data = o.data ?? target.config?.data;
  const facts = o.facts ?? target.config?.facts;
  const mode = o.mode ?? target.config?.mode;
  if (data === undefined || facts === undefined || mode === undefined) {
    throw new ItlError('ITL_CONFIG', target.configError ?? `${target.dir}: recall needs the dataset, the number of facts and the mode (--data, --facts, --mode)`);
  }
  const { dataset, db } = await s.datasets.get(`${resolve(data)}\0${mode}`, async () => {
    const dataset = openFactsDataset(data);
    try {
      return { dataset, db: mode === 'tool' ? openFactsDatabase(factsDatabasePath(data)) : undefined };
    } catch (error) {
      dataset.close();
      throw error;
    }
  });
  const entry = await recallCheckpoint({ model, tokenizer, dataset, db, facts, mode, dateString, selection: o.selection, batch: s.batch, log: o.log }, target);
  o.log(`recall ${label(target)}: train ${entry.accuracy_train.toFixed(4)} (${entry.num_eval_train}), test ${entry.accuracy_test.toFixed(4)} (${entry.num_eval_test})`);
}

async function evaluateKlTarget(s: Shared, target: Target, model: Model, resolved: ResolvedCheckpoint, dateString: string): Promise<void> {
  const { o } = s;
  const baseDir = o.baseModel ?? (resolved.adapter !== undefined ? resolved.model : target.config?.model);
  if (baseDir === undefined) {
    throw new ItlError('ITL_CONFIG', target.configError ?? `${target.dir}: KL needs the base model (--base-model DIR, or the run's run_config.json)`);
  }
  const base = await s.bases.get(resolve(baseDir), async () => ({
    model: await loadResolved(s.runtime, { model: baseDir }, s.loadOptions),
    completions: new Map<string, BaseCompletion[]>(),
  }));
  // The base model answers with its own tokenizer and template; the checkpoint reads the same ids.
  let completions = base.completions.get(dateString);
  if (!completions) {
    completions = await baseCompletions(base.model, await loadTokenizer(base.model.info.folder), s.prompts!, {
      dateString, maxNewTokens: o.klMaxNewTokens, batch: s.batch, cacheDir: join(o.evalDir, 'cache', 'kl_base_completions'), onProgress: o.log,
    });
    base.completions.set(dateString, completions);
  }
  const entry = await klCheckpoint({ model, base: base.model, completions, batch: s.batch, log: o.log }, target);
  o.log(`kl ${label(target)}: kl ${entry.kl_mean.toExponential(4)}, tv ${entry.tv_mean.toExponential(4)} (${entry.num_positions} positions)`);
}

async function evaluateTarget(s: Shared, target: Target): Promise<void> {
  const { o } = s;
  const resolved = o.adapter !== undefined ? { model: o.model!, adapter: o.adapter } : await resolveCheckpoint(target.dir);
  const dateString = o.dateString ?? target.config?.date_string ?? DEFAULT_DATE_STRING;
  const model = await loadResolved(s.runtime, resolved, s.loadOptions);
  try {
    const tokenizer = await tokenizerFor(target, resolved);
    if (o.metric === 'recall') return await evaluateRecallTarget(s, target, model, tokenizer, dateString);
    if (o.metric === 'kl') return await evaluateKlTarget(s, target, model, resolved, dateString);
    if (o.metric === 'general') {
      const entry = await generalCheckpoint({ model, tokenizer, questions: s.questions!, dateString, maxNewTokens: o.generalMaxNewTokens, batch: s.batch, log: o.log }, target);
      o.log(`general ${label(target)}: accuracy ${entry.accuracy.toFixed(4)} (${entry.num_eval} questions)`);
      return;
    }
    const r = await hellaswagCheckpoint({
      model, tokenizer, docs: s.docs!, addBos: o.addBos, logSamples: o.logSamples, batch: s.batch, log: o.log,
      metadata: { adapter: resolved.adapter ?? null, hellaswag_data: resolve(o.hellaswag!), limit: o.limit ?? null },
    }, target);
    o.log(`hellaswag ${label(target)}: acc ${r.acc.toFixed(4)}, acc_norm ${r.accNorm.toFixed(4)} (${r.docs.length} docs) → ${r.path}`);
  } finally {
    model.dispose();
  }
}

export async function runEvaluation(runtime: Runtime, o: EvalOptions): Promise<EvalSummary> {
  if ((o.model === undefined) === (o.modelsDir === undefined)) throw new ItlError('ITL_USAGE', 'pass exactly one of --models-dir and --model');
  if (o.runs !== undefined && o.modelsDir === undefined) throw new ItlError('ITL_USAGE', '--run selects runs under --models-dir');
  if (o.adapter !== undefined && o.model === undefined) throw new ItlError('ITL_USAGE', '--adapter needs --model (the base model it applies to)');
  if (o.base && o.metric !== 'hellaswag' && o.metric !== 'general') {
    throw new ItlError('ITL_USAGE', o.metric === 'kl'
      ? 'a base model\'s divergence from itself is 0 by definition: --base applies to hellaswag'
      : '--base applies to hellaswag and general; evaluate a base model\'s recall with --model DIR --data DIR --facts N --mode weight|tool');
  }
  if (o.metric === 'general' && o.questions === undefined) throw new ItlError('ITL_USAGE', 'general needs --questions FILE (held-out questions: {"questions": [{"task", "question", "answer"}]})');
  if (o.metric === 'hellaswag' && o.hellaswag === undefined) throw new ItlError('ITL_USAGE', 'hellaswag needs --hellaswag FILE|DIR (the validation jsonl or a Hugging Face on-disk dataset)');
  const s: Shared = {
    o,
    runtime,
    batch: new BatchSize(o.batchSize ?? 32, o.log),
    loadOptions: { device: o.device ?? 'cpu', dtype: o.dtype ?? 'fp32' },
    docs: o.metric === 'hellaswag' ? readHellaswag(o.hellaswag!, { limit: o.limit }) : undefined,
    prompts: o.metric === 'kl' ? await readKlPrompts(o.klPrompts) : undefined,
    questions: o.metric === 'general' ? await readGeneralQuestions(o.questions!) : undefined,
    datasets: new Held((d) => {
      d.dataset.close();
      d.db?.close();
    }),
    bases: new Held((b) => b.model.dispose()),
  };
  const summary: EvalSummary = { evaluated: [], skipped: [], failures: [] };
  try {
    for (const target of await findTargets(o, summary)) {
      if (await alreadyDone(o.metric, target).catch(() => false)) {
        summary.skipped.push(label(target));
        o.log(`${o.metric} ${label(target)}: already evaluated, skipped`);
        continue;
      }
      const started = performance.now();
      try {
        await evaluateTarget(s, target);
        summary.evaluated.push(label(target));
        o.log(`${o.metric} ${label(target)}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      } catch (thrown) {
        const error = asItlError(thrown);
        summary.failures.push(`${target.dir}: ${error.message} [${error.code}]`);
        o.log(`${o.metric} ${label(target)}: FAILED: ${error.message} [${error.code}]`);
      }
    }
  } finally {
    s.datasets.release();
    s.bases.release();
  }
  return summary;
}
