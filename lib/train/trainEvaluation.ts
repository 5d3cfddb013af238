/**
 * Evaluation inside training (`itl train --eval recall,kl[,hellaswag] --eval-dir OUT`): at every save
 * point the trainer's in-memory model is evaluated by the same functions `itl eval` runs per
 * checkpoint (lib/eval/checkpointEvaluators.ts), so the result files are identical and nothing is
 * reloaded from disk. The base model (KL) and its greedy answers are prepared once per run.
 */
import { join } from 'node:path';

import { DATABASE_FILE } from '../data/outputLayout.js';
import { type FactsDb, openFactsDatabase } from '../data/factsDatabase.js';
import { type FactsDataset, openFactsDataset } from '../data/openFactsDataset.js';
import { ItlError } from '../errors.js';
import { BatchSize } from '../eval/BatchSize.js';
import { hellaswagCheckpoint, klCheckpoint, recallCheckpoint } from '../eval/checkpointEvaluators.js';
import { readHellaswag, type HellaswagDoc } from '../eval/hellaswagData.js';
import { type BaseCompletion, baseCompletions, readKlPrompts } from '../eval/kl.js';
import { Model } from '../native/Model.js';
import type { Runtime } from '../native/Runtime.js';
import type { Trainer } from '../native/Trainer.js';
import type { ChatTokenizer } from '../tokenize/ChatTokenizer.js';
import type { TrainingMode } from './runName.js';

export const TRAIN_EVALUATIONS = ['recall', 'kl', 'hellaswag'] as const;
export type TrainEvaluation = (typeof TRAIN_EVALUATIONS)[number];

/** "recall,kl" -> ['recall', 'kl']; ITL_USAGE naming an unknown one. */
export function parseTrainEvaluations(text: string): TrainEvaluation[] {
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const name of names) {
    if (!(TRAIN_EVALUATIONS as readonly string[]).includes(name)) {
      throw new ItlError('ITL_USAGE', `unknown evaluation '${name}' in --eval: expected a comma-separated list of ${TRAIN_EVALUATIONS.join(', ')}`);
    }
  }
  return [...new Set(names)] as TrainEvaluation[];
}

export interface TrainEvaluationOptions {
  evaluations: TrainEvaluation[];
  evalDir: string;
  runName: string;
  runtime: Runtime;
  tokenizer: ChatTokenizer;
  baseModel: string;
  data: string;
  facts: number;
  mode: TrainingMode;
  dateString: string;
  hellaswag?: string;
  hellaswagLimit?: number;
  /** KL prompts file (default: the shipped ~120) and the base answers' length (default 400). */
  klPrompts?: string;
  klMaxNewTokens?: number;
  batchSize: number;
  log: (message: string) => void;
}

export class TrainEvaluator {
  private readonly options: TrainEvaluationOptions;
  private readonly batch: BatchSize;
  private dataset?: FactsDataset;
  private db?: FactsDb;
  private docs?: HellaswagDoc[];
  private base?: Model;
  private completions?: BaseCompletion[];

  constructor(options: TrainEvaluationOptions) {
    if (options.evaluations.includes('hellaswag') && !options.hellaswag) {
      throw new ItlError('ITL_USAGE', '--eval hellaswag needs --hellaswag FILE (the validation set)');
    }
    this.options = options;
    this.batch = new BatchSize(options.batchSize, options.log);
  }

  /** Evaluates the trainer's model at `step`, writing each evaluation's result entry. */
  async evaluate(trainer: Trainer, step: number): Promise<void> {
    const o = this.options;
    const target = { evalDir: o.evalDir, run: o.runName, checkpoint: `checkpoint-${step}` };
    const model = trainer.model();
    try {
      for (const evaluation of o.evaluations) {
        const started = performance.now();
        if (evaluation === 'recall') {
          this.dataset ??= openFactsDataset(o.data);
          if (o.mode === 'tool') this.db ??= openFactsDatabase(join(o.data, DATABASE_FILE));
          const entry = await recallCheckpoint({ model, tokenizer: o.tokenizer, dataset: this.dataset, db: this.db, facts: o.facts,
            mode: o.mode, dateString: o.dateString, batch: this.batch }, target);
          o.log(`step ${step} recall: train ${entry.accuracy_train.toFixed(3)}, unseen ${entry.accuracy_test.toFixed(3)}`);
        } else if (evaluation === 'kl') {
          this.base ??= await Model.load(o.runtime, o.baseModel, { dtype: model.info.dtype as 'fp32' | 'bf16', device: model.info.device });
          this.completions ??= await baseCompletions(this.base, o.tokenizer, await readKlPrompts(o.klPrompts), {
            dateString: o.dateString, maxNewTokens: o.klMaxNewTokens, batch: this.batch, cacheDir: join(o.evalDir, 'cache', 'kl_base_completions'),
          });
          const entry = await klCheckpoint({ model, base: this.base, completions: this.completions, batch: this.batch }, target);
          o.log(`step ${step} kl ${entry.kl_mean.toExponential(3)}, tv ${entry.tv_mean.toExponential(3)}`);
        } else {
          this.docs ??= readHellaswag(o.hellaswag!, { limit: o.hellaswagLimit });
          const result = await hellaswagCheckpoint({ model, tokenizer: o.tokenizer, docs: this.docs, batch: this.batch }, target);
          o.log(`step ${step} hellaswag acc ${result.acc.toFixed(4)}`);
        }
        o.log(`step ${step} ${evaluation}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
      }
    } finally {
      model.dispose();
    }
  }

  close(): void {
    this.dataset?.close();
    this.db?.close();
    this.base?.dispose();
  }
}
