/**
 * General ability on held-out questions with one right answer (the demo's stand-in for HellaSwag
 * at toy scale, lib/demo/generalTasks.ts): each question goes through the chat template with the
 * generation prompt, is answered greedily, and is correct when the answer equals the reference
 * exactly (surrounding whitespace aside). Accuracy overall and per task, with the recall files'
 * binomial stderr.
 */
import { readFile } from 'node:fs/promises';

import { ItlError } from '../errors.js';
import type { ChatTokenizer } from '../tokenize/ChatTokenizer.js';
import type { EvalModel } from './EvalModel.js';
import { type AnswerOptions, answer } from './recall.js';
import { binomialStderr } from './stats.js';

export interface GeneralQuestionRecord {
  task: string;
  question: string;
  answer: string;
}

export interface GeneralPrediction {
  task: string;
  question: string;
  completion: string;
  ground_truth: string;
  correct: boolean;
}

/** One checkpoint's (or base model's) entry of the general-ability results. */
export interface GeneralEntry {
  num_eval: number;
  accuracy: number;
  stderr: number;
  per_task: Record<string, { num_eval: number; accuracy: number }>;
  predictions: GeneralPrediction[];
}

/** Validates a parsed questions file: {"questions": [{task, question, answer}, …]} or a bare array. */
export function parseGeneralQuestions(document: unknown, source: string): GeneralQuestionRecord[] {
  const list = Array.isArray(document) ? document : (document as { questions?: unknown } | null)?.questions;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ItlError('ITL_DATA', `${source}: expected {"questions": [{"task", "question", "answer"}, …]} with at least one question`);
  }
  return list.map((q, i) => {
    const { task, question, answer: reference } = (q ?? {}) as Record<string, unknown>;
    if (typeof task !== 'string' || typeof question !== 'string' || question === '' || typeof reference !== 'string' || reference === '') {
      throw new ItlError(
        'ITL_DATA',
        `${source}: question ${i}: expected {"task": string, "question": non-empty string, "answer": non-empty string}`,
      );
    }
    return { task, question, answer: reference };
  });
}

/** Reads and validates a questions file. */
export async function readGeneralQuestions(path: string): Promise<GeneralQuestionRecord[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot read the questions ${path}: ${(error as Error).message}`, { cause: error });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ItlError('ITL_DATA', `${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseGeneralQuestions(document, path);
}

export async function evaluateGeneral(
  model: EvalModel,
  tokenizer: ChatTokenizer,
  questions: readonly GeneralQuestionRecord[],
  options: AnswerOptions,
): Promise<GeneralEntry> {
  const completions = await answer(
    model,
    tokenizer,
    questions.map((q) => [{ role: 'user', content: q.question }]),
    options,
    'general questions',
  );
  const predictions = questions.map(
    (q, i): GeneralPrediction => ({
      task: q.task,
      question: q.question,
      completion: completions[i]!,
      ground_truth: q.answer,
      correct: completions[i]!.trim() === q.answer.trim(),
    }),
  );
  const accuracy = (list: GeneralPrediction[]) => (list.length === 0 ? 0 : list.filter((p) => p.correct).length / list.length);
  const perTask: GeneralEntry['per_task'] = {};
  for (const task of new Set(questions.map((q) => q.task))) {
    const list = predictions.filter((p) => p.task === task);
    perTask[task] = { num_eval: list.length, accuracy: accuracy(list) };
  }
  const overall = accuracy(predictions);
  return {
    num_eval: predictions.length,
    accuracy: overall,
    stderr: binomialStderr(overall, predictions.length),
    per_task: perTask,
    predictions,
  };
}
