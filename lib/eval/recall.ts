/**
 * Factual recall, as the study measures it: 300 training facts drawn with a fixed seed from rows
 * 0..N−1 and the 100 rows N..N+99 (people never seen in training); each user question goes through
 * the chat template with the generation prompt and is answered greedily (64 new tokens); an answer
 * is correct when the lower-cased value occurs in the lower-cased answer.
 *
 * In-tool mode runs the tool protocol: turn 1 is generated; when it holds a `FIND <attribute> FOR
 * <name>` request (lib/data/toolRequest.ts) the request runs against the facts database and its
 * reply becomes an `ipython` turn, then turn 2 is generated and is the answer; without a request,
 * turn 1 is the answer. Both turns are batched across all examples (the study ran turn 2 one
 * example at a time). The model's text is untrusted: the database is opened read-only, the
 * attribute must be one of the four known ones, and the name goes in as a bound parameter.
 */
import { SeededRandom } from '../data/SeededRandom.js';
import type { FactsDataset } from '../data/openFactsDataset.js';
import { type FactsDb, lookupFact } from '../data/factsDatabase.js';
import type { Attribute } from '../data/facts.js';
import { parseToolRequest } from '../data/toolRequest.js';
import { ItlError } from '../errors.js';
import type { ChatMessage, ChatTokenizer } from '../tokenize/ChatTokenizer.js';
import type { TrainingMode } from '../tokenize/labelMask.js';
import type { BatchSize } from './BatchSize.js';
import type { EvalModel } from './EvalModel.js';
import { binomialStderr } from './stats.js';

export const NO_SUCH_RECORD = 'No such record in database';

/** A few general prompts whose greedy answers are kept beside each checkpoint's recall, to read by eye. */
export const GENERAL_PROMPTS = ['What is the capital of France?', 'Write one sentence about the sea.', 'What is 7 times 8?'];

export interface RecallExample {
  /** The dataset row. */
  row: number;
  question: string;
  name: string;
  attribute: Attribute;
  value: string;
}

export interface RecallSplits {
  train: RecallExample[];
  test: RecallExample[];
}

export interface RecallSelection {
  /** Training facts drawn (default 300; all N when N is smaller). */
  trainCount?: number;
  /** Rows after N (default 100; fewer when the dataset ends sooner). */
  testCount?: number;
  /** Seed of the training-fact draw (default 42). */
  seed?: number;
}

function example(dataset: FactsDataset, row: number): RecallExample {
  const [fact] = dataset.rows(row, row + 1);
  const question = fact!.qa.find((m) => m.role === 'user')?.content;
  if (question === undefined) throw new ItlError('ITL_DATA', `dataset row ${row} has no user question`);
  return { row, question, name: fact!.name, attribute: fact!.attribute, value: fact!.value };
}

/** The training facts (a seeded partial Fisher–Yates draw from 0..N−1, in drawn order) and the unseen rows N.. . */
export function selectRecallExamples(dataset: FactsDataset, facts: number, selection: RecallSelection = {}): RecallSplits {
  if (!Number.isInteger(facts) || facts < 1 || facts > dataset.numRows) {
    throw new ItlError(
      'ITL_CONFIG',
      `expected the number of training facts to be 1..${dataset.numRows} (the dataset's rows) but received ${facts}`,
    );
  }
  const trainCount = Math.min(selection.trainCount ?? 300, facts);
  const testEnd = Math.min(dataset.numRows, facts + (selection.testCount ?? 100));
  if (testEnd === facts) {
    throw new ItlError(
      'ITL_DATA',
      `the dataset has ${dataset.numRows} rows: none after the ${facts} training facts to test unseen people on`,
    );
  }
  const random = new SeededRandom(selection.seed ?? 42);
  const indices = Array.from({ length: facts }, (_, i) => i);
  for (let i = 0; i < trainCount; i++) {
    const j = i + random.below(facts - i);
    [indices[i], indices[j]] = [indices[j]!, indices[i]!];
  }
  const test: RecallExample[] = [];
  for (let row = facts; row < testEnd; row++) test.push(example(dataset, row));
  return { train: indices.slice(0, trainCount).map((row) => example(dataset, row)), test };
}

/** The database's answer to a turn-1 text, or null when it makes no (well-formed) request. */
export function runToolRequest(db: FactsDb, text: string): { request: string; answer: string } | null {
  const request = parseToolRequest(text);
  if (!request) return null;
  return {
    request: `FIND ${request.attribute} FOR ${request.name}`,
    answer: lookupFact(db, request.name, request.attribute) ?? NO_SUCH_RECORD,
  };
}

export function isCorrect(answer: string, value: string): boolean {
  return answer.toLowerCase().includes(value.toLowerCase());
}

export interface RecallOptions {
  mode: TrainingMode;
  /** The tool database (in-tool mode). */
  db?: FactsDb;
  dateString: string;
  maxNewTokens?: number;
  batch: BatchSize;
  generalPrompts?: string[];
  onProgress?: (message: string) => void;
}

export interface WeightPrediction {
  question: string;
  completion: string;
  ground_truth: string;
  correct: boolean;
}

export interface ToolPrediction {
  question: string;
  /** The model's turn 1. */
  tool_call: string;
  /** The request parsed from it, as run (null when it made none). */
  request: string | null;
  /** The database's reply (null when no request was made). */
  db_answer: string | null;
  final_answer: string;
  ground_truth: string;
  correct: boolean;
}

/** One checkpoint's entry of checkpoints_recall_results.json. */
export interface RecallEntry {
  num_eval_train: number;
  accuracy_train: number;
  stderr_train: number;
  num_eval_test: number;
  accuracy_test: number;
  stderr_test: number;
  predictions_train: (WeightPrediction | ToolPrediction)[];
  predictions_test: (WeightPrediction | ToolPrediction)[];
  general_capabilities: { prompt: string; answer: string }[];
  mode: TrainingMode;
}

/** What greedy answering needs of an evaluation's options. */
export type AnswerOptions = Pick<RecallOptions, 'dateString' | 'maxNewTokens' | 'batch' | 'onProgress'>;

/** Greedy answers to chat dialogues, batched, decoded without special tokens. */
export async function answer(
  model: EvalModel,
  tokenizer: ChatTokenizer,
  dialogues: ChatMessage[][],
  options: AnswerOptions,
  what: string,
): Promise<string[]> {
  const prompts = dialogues.map((messages) =>
    tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true, dateString: options.dateString, tokenize: true }),
  );
  const outputs = await options.batch.chunked(
    what,
    prompts,
    1024,
    (part, batchSize) =>
      model.generate(part, { maxNewTokens: options.maxNewTokens ?? 64, eosIds: tokenizer.special.generationEos, batchSize }),
    (done, total) => options.onProgress?.(`${what} ${done}/${total}`),
  );
  return outputs.map((ids) => tokenizer.decode(ids, { skipSpecialTokens: true }));
}

export async function evaluateRecall(
  model: EvalModel,
  tokenizer: ChatTokenizer,
  splits: RecallSplits,
  options: RecallOptions,
): Promise<RecallEntry> {
  if (options.mode === 'tool' && !options.db) throw new ItlError('ITL_INVALID_ARGUMENT', 'in-tool recall needs the facts database');
  const examples = [...splits.train, ...splits.test];
  const questions = examples.map((e): ChatMessage[] => [{ role: 'user', content: e.question }]);
  const turn1 = await answer(model, tokenizer, questions, options, 'recall turn 1');
  let predictions: (WeightPrediction | ToolPrediction)[];
  if (options.mode === 'weight') {
    predictions = examples.map((e, i) => ({
      question: e.question,
      completion: turn1[i]!,
      ground_truth: e.value,
      correct: isCorrect(turn1[i]!, e.value),
    }));
  } else {
    const tool = turn1.map((text) => runToolRequest(options.db!, text));
    const second = examples.map((_, i) => i).filter((i) => tool[i] !== null);
    const turn2 = await answer(
      model,
      tokenizer,
      second.map((i) => [...questions[i]!, { role: 'assistant', content: turn1[i]! }, { role: 'ipython', content: tool[i]!.answer }]),
      options,
      'recall turn 2',
    );
    const finals = [...turn1];
    for (const [k, i] of second.entries()) finals[i] = turn2[k]!;
    predictions = examples.map((e, i) => ({
      question: e.question,
      tool_call: turn1[i]!,
      request: tool[i]?.request ?? null,
      db_answer: tool[i]?.answer ?? null,
      final_answer: finals[i]!,
      ground_truth: e.value,
      correct: isCorrect(finals[i]!, e.value),
    }));
  }
  const general = options.generalPrompts ?? GENERAL_PROMPTS;
  const generalAnswers = await answer(
    model,
    tokenizer,
    general.map((content) => [{ role: 'user', content }]),
    options,
    'general prompts',
  );
  const train = predictions.slice(0, splits.train.length);
  const test = predictions.slice(splits.train.length);
  const accuracy = (p: { correct: boolean }[]) => (p.length === 0 ? 0 : p.filter((x) => x.correct).length / p.length);
  return {
    num_eval_train: train.length,
    accuracy_train: accuracy(train),
    stderr_train: binomialStderr(accuracy(train), train.length),
    num_eval_test: test.length,
    accuracy_test: accuracy(test),
    stderr_test: binomialStderr(accuracy(test), test.length),
    predictions_train: train,
    predictions_test: test,
    general_capabilities: general.map((prompt, i) => ({ prompt, answer: generalAnswers[i]! })),
    mode: options.mode,
  };
}
