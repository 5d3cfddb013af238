/**
 * ARC-Easy as lm-evaluation-harness 0.4.8's `arc_easy` task scores it: query "Question: <question>\nAnswer:",
 * choices " <text>" for each of the question's 3–5 answers, gold = the index of answerKey among the
 * labels; acc and acc_norm. Rows as Hugging Face's allenai/ai2_arc has them ({question, choices: {text,
 * label}, answerKey}; the test split of a DatasetDict folder) or as AI2's original jsonl ({question: {stem,
 * choices: [{text, label}]}, answerKey}). This file is the whole task: the registry lists it once.
 */
import { ItlError } from '../../errors.js';
import type { MultipleChoiceDoc } from '../multipleChoice.js';
import { readTaskDocs } from '../taskData.js';
import { multipleChoiceTask } from './multipleChoiceTask.js';
import { isObject } from './readResults.js';

/** The question text and its (text, label) choices, from either layout. */
function questionAndChoices(row: Record<string, unknown>, where: string): { question: string; texts: unknown; labels: unknown } {
  if (typeof row.question === 'string' && isObject(row.choices))
    return { question: row.question, texts: row.choices.text, labels: row.choices.label };
  if (isObject(row.question) && typeof row.question.stem === 'string' && Array.isArray(row.question.choices)) {
    const choices = row.question.choices.map((c) => (isObject(c) ? c : {}));
    return { question: row.question.stem, texts: choices.map((c) => c.text), labels: choices.map((c) => c.label) };
  }
  throw new ItlError(
    'ITL_DATA',
    `${where}: expected {question, choices: {text, label}, answerKey} (or AI2's {question: {stem, choices}, answerKey})`,
  );
}

export function arcDoc(row: unknown, position: number, where: string): MultipleChoiceDoc {
  if (!isObject(row)) throw new ItlError('ITL_DATA', `${where}: expected a JSON object`);
  const { question, texts, labels } = questionAndChoices(row, where);
  const strings = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');
  if (!strings(texts) || !strings(labels) || texts.length < 2 || texts.length !== labels.length) {
    throw new ItlError(
      'ITL_DATA',
      `${where}: the choices must be ≥ 2 texts with as many labels, found ${JSON.stringify({ texts, labels })}`,
    );
  }
  const gold = typeof row.answerKey === 'string' ? labels.indexOf(row.answerKey) : -1;
  if (gold < 0)
    throw new ItlError(
      'ITL_DATA',
      `${where}: answerKey ${JSON.stringify(row.answerKey)} is not one of the labels ${JSON.stringify(labels)}`,
    );
  return { ind: position, query: `Question: ${question}\nAnswer:`, choices: texts, gold };
}

export const arcEasyTask = multipleChoiceTask({
  name: 'arc_easy',
  describe: 'ARC-Easy as lm-evaluation-harness 0.4.8 scores it (acc, acc_norm; zero-shot log-likelihood of each answer)',
  dataFlag: 'arc-easy',
  dataDescribe: 'ARC-Easy rows: a jsonl file (Hugging Face or AI2 layout) or a Hugging Face on-disk dataset (its test split)',
  limitFlag: 'arc-easy-limit',
  readDocs: (path, limit) => readTaskDocs(path, { what: 'ARC-Easy', split: 'test', limit, toDoc: arcDoc }),
  columnPrefix: 'arc_easy',
  rules: 'lm-evaluation-harness 0.4.8 arc_easy (zero-shot, loglikelihood)',
});
