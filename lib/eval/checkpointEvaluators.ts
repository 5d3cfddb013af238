/**
 * One checkpoint's evaluation, from an already loaded model to its result file: what `itl eval`
 * runs for each checkpoint it finds, and what the trainer calls on its in-memory model
 * (`itl train --eval …`). Each writes exactly the study's result file entry, atomically.
 */
import { join } from 'node:path';

import type { FactsDb } from '../data/factsDatabase.js';
import type { FactsDataset } from '../data/openFactsDataset.js';
import type { Model } from '../native/Model.js';
import type { ChatTokenizer } from '../tokenize/ChatTokenizer.js';
import { writeFileAtomic } from '../util/writeFileAtomic.js';
import type { BatchSize } from './BatchSize.js';
import type { EvalModel } from './EvalModel.js';
import { evaluateHellaswag, hellaswagResultsDocument, type HellaswagEvaluation } from './hellaswag.js';
import type { HellaswagDoc } from './hellaswagData.js';
import { evaluateGeneral, type GeneralEntry, type GeneralQuestionRecord } from './general.js';
import { type BaseCompletion, evaluateKl, type KlEntry } from './kl.js';
import { evaluateRecall, type RecallEntry, type RecallSelection, selectRecallExamples } from './recall.js';
import { baseGeneralFilePath, keyedFilePath, metricFolder, resultsTimestamp, writeKeyedEntry } from './resultFiles.js';

/** Where a checkpoint's result goes: EVAL/<metric>/<run>/… keyed (or foldered) by `checkpoint`. */
export interface ResultTarget {
  evalDir: string;
  /** The run folder's name (or, for base models, `base_models/<model>` for HellaSwag). */
  run: string;
  /** `checkpoint-<step>`; ignored for base models. */
  checkpoint: string;
  /** HellaSwag of a base model: EVAL/hellaswag/base_models/<run>/. */
  baseModel?: boolean;
  /** HellaSwag of a folder that is not a checkpoint (`--model DIR`): EVAL/hellaswag/<run>/. */
  flat?: boolean;
}

export interface CommonOptions {
  batch: BatchSize;
  log?: (message: string) => void;
}

export interface RecallCheckpointInput extends CommonOptions {
  model: EvalModel;
  tokenizer: ChatTokenizer;
  dataset: FactsDataset;
  /** The tool database, opened read-only (openFactsDatabase); needed in tool mode. */
  db?: FactsDb;
  facts: number;
  mode: 'weight' | 'tool';
  dateString: string;
  selection?: RecallSelection;
}

export async function recallCheckpoint(input: RecallCheckpointInput, target: ResultTarget): Promise<RecallEntry> {
  const splits = selectRecallExamples(input.dataset, input.facts, input.selection);
  const entry = await evaluateRecall(input.model, input.tokenizer, splits, {
    mode: input.mode, db: input.db, dateString: input.dateString, batch: input.batch, onProgress: input.log,
  });
  await writeKeyedEntry(keyedFilePath(target.evalDir, 'recall', target.run), target.checkpoint, entry);
  return entry;
}

export interface HellaswagCheckpointInput extends CommonOptions {
  model: EvalModel;
  tokenizer: ChatTokenizer;
  docs: readonly HellaswagDoc[];
  addBos?: boolean;
  /** Also write lm-eval-style per-document samples (samples_hellaswag_<timestamp>.jsonl). */
  logSamples?: boolean;
  /** Extra fields for the results file's `config` (data path, adapter, …). */
  metadata?: Record<string, unknown>;
}

export function hellaswagFolder(target: ResultTarget): string {
  const root = metricFolder(target.evalDir, 'hellaswag');
  if (target.baseModel) return join(root, 'base_models', target.run);
  return target.flat ? join(root, target.run) : join(root, target.run, target.checkpoint);
}

export async function hellaswagCheckpoint(input: HellaswagCheckpointInput, target: ResultTarget): Promise<HellaswagEvaluation & { path: string }> {
  const started = performance.now();
  const evaluation = await evaluateHellaswag(input.model, input.tokenizer, input.docs, {
    addBos: input.addBos, batch: input.batch, onProgress: (done, total) => input.log?.(`hellaswag ${done}/${total}`),
  });
  const timestamp = resultsTimestamp();
  const folder = hellaswagFolder(target);
  if (input.logSamples) {
    const lines = evaluation.docs.map((d, i) => JSON.stringify({
      doc_id: i, ind: d.ind, target: d.gold, resps: d.logprobs.map((l, k) => [l, d.isGreedy[k]]), acc: d.acc, acc_norm: d.accNorm,
    }));
    await writeFileAtomic(join(folder, `samples_hellaswag_${timestamp}.jsonl`), lines.join('\n') + '\n');
  }
  const path = join(folder, `results_${timestamp}.json`);
  await writeFileAtomic(path, JSON.stringify(hellaswagResultsDocument(evaluation, {
    model: input.model.info.folder,
    dtype: input.model.info.dtype,
    device: input.model.info.device,
    batch_size: input.batch.current,
    add_bos_token: input.addBos ?? false,
    tokenizer_files_sha256: input.tokenizer.filesHash,
    rules: 'lm-evaluation-harness 0.4.8 hellaswag (zero-shot, loglikelihood)',
    docs: input.docs.length,
    context_reuse: evaluation.tokens.naive / evaluation.tokens.processed,
    seconds: (performance.now() - started) / 1000,
    ...input.metadata,
  }), null, 2) + '\n');
  return { ...evaluation, path };
}

export interface KlCheckpointInput extends CommonOptions {
  model: EvalModel;
  base: Model;
  /** The base model's answers (kl.ts baseCompletions). */
  completions: readonly BaseCompletion[];
}

export async function klCheckpoint(input: KlCheckpointInput, target: ResultTarget): Promise<KlEntry> {
  const entry = await evaluateKl(input.model, input.base, input.completions, { batch: input.batch, onProgress: input.log });
  await writeKeyedEntry(keyedFilePath(target.evalDir, 'kl', target.run), target.checkpoint, entry);
  return entry;
}

export interface GeneralCheckpointInput extends CommonOptions {
  model: EvalModel;
  tokenizer: ChatTokenizer;
  questions: readonly GeneralQuestionRecord[];
  dateString: string;
  maxNewTokens?: number;
}

/** General ability: keyed by checkpoint in the run's file, or a base model's own file. */
export async function generalCheckpoint(input: GeneralCheckpointInput, target: ResultTarget): Promise<GeneralEntry> {
  const entry = await evaluateGeneral(input.model, input.tokenizer, input.questions, {
    dateString: input.dateString, maxNewTokens: input.maxNewTokens ?? 64, batch: input.batch, onProgress: input.log,
  });
  if (target.baseModel) await writeFileAtomic(baseGeneralFilePath(target.evalDir, target.run), JSON.stringify(entry, null, 2) + '\n');
  else await writeKeyedEntry(keyedFilePath(target.evalDir, 'general', target.run), target.checkpoint, entry);
  return entry;
}
