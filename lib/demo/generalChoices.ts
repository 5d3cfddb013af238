/**
 * The demo's held-out general questions as a multiple-choice task in HellaSwag's jsonl layout, so
 * that general ability is scored as the study scores HellaSwag (`itl eval hellaswag`: lm-eval
 * 0.4.8's acc and acc_norm over the log-likelihoods of four endings) rather than by exact match,
 * which collapses as soon as an answer's form drifts.
 *
 * A row is one question: the context is the chat prompt the model was trained on (the question
 * through the chat template, with the generation prompt) followed by the answer's stem ("Cor Wold
 * lives in"); the endings are the right one ("Madrid.") and three drawn like it (other cities,
 * numbers near the sum, other names), in a seeded random order. lm-eval reads a row as
 * preprocess(activity_label + ": " + ctx_a + " " + capitalize(ctx_b)) and scores " " + ending after
 * it; here ctx_b is empty (capitalize would lower-case the names in it) and every text is one that
 * preprocess leaves unchanged (no brackets, no double spaces, no surrounding whitespace), which
 * generalChoiceRows checks. The activity label, the task's name, is the one piece the model never
 * saw in training: "reading: " before the chat prompt, as HellaSwag puts "Pole vault: " before its.
 */
import { ItlError } from '../errors.js';
import { SeededRandom } from '../data/SeededRandom.js';
import { type HellaswagRow, preprocess } from '../eval/hellaswagData.js';
import type { DrawnQuestion } from './generalTasks.js';

/** A row of the official HellaSwag jsonl (the fields lib/eval/hellaswagData.ts reads, and the rest of the layout). */
export interface GeneralChoiceRow extends HellaswagRow {
  ind: number;
  ctx: string;
  endings: string[];
  label: number;
  source_id: string;
  split: 'val';
  split_type: 'indomain';
}

const CHOICES = 4;

/** Draws that may repeat the answer or each other before three distinct distractors are found. */
const MAX_DRAWS = 1000;

function unchangedByPreprocess(text: string, what: string): string {
  if (preprocess(text) !== text) {
    throw new ItlError('ITL_DATA', `${what} ${JSON.stringify(text)} would be changed by HellaSwag's preprocessing`);
  }
  return text;
}

/**
 * One row per question: `prompt(question)` is the chat prompt (the template with its generation
 * prompt); `seed` draws the distractors and where the right ending goes.
 */
export function generalChoiceRows(
  questions: readonly DrawnQuestion[],
  seed: number,
  prompt: (question: string) => string,
): GeneralChoiceRow[] {
  const random = new SeededRandom(seed);
  return questions.map((q, ind) => {
    const endings = [q.ending];
    for (let draws = 0; endings.length < CHOICES; draws++) {
      if (draws >= MAX_DRAWS) {
        throw new ItlError('ITL_DATA', `cannot draw ${CHOICES - 1} distinct distractors for ${JSON.stringify(q.question)}`);
      }
      const other = q.distractor(random);
      if (!endings.includes(other)) endings.push(other);
    }
    const label = random.below(CHOICES);
    [endings[0], endings[label]] = [endings[label]!, endings[0]!];
    const ctx = unchangedByPreprocess(prompt(q.question) + q.stem, 'the context');
    return {
      ind,
      activity_label: unchangedByPreprocess(q.task, 'the activity label'),
      ctx_a: ctx,
      ctx_b: '',
      ctx,
      endings: endings.map((e) => unchangedByPreprocess(e, 'the ending')),
      label,
      source_id: `itl-demo-general~${q.task}`,
      split: 'val',
      split_type: 'indomain',
    };
  });
}
