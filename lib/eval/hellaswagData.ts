/**
 * HellaSwag validation rows, from the official jsonl layout (rowanz/hellaswag: ind, activity_label,
 * ctx_a, ctx_b, ctx, split, split_type, label, endings, source_id) or a Hugging Face on-disk
 * dataset (`save_to_disk`: state.json + Arrow shards, or a DatasetDict folder whose `validation`
 * split is read), turned into lm-evaluation-harness 0.4.8's documents (lm_eval/tasks/hellaswag/utils.py).
 */
import { ItlError } from '../errors.js';
import type { MultipleChoiceDoc } from './multipleChoice.js';
import { readTaskDocs } from './taskData.js';

export interface HellaswagRow {
  ind?: number;
  activity_label: string;
  ctx_a: string;
  ctx_b: string;
  endings: string[];
  label: number | string;
  source_id?: string;
}

/** lm-eval's processed document: the query, the four choices and the gold index. */
export type HellaswagDoc = MultipleChoiceDoc;

// Python's str.strip() whitespace (str.isspace), which differs from JavaScript's trim() on
// \x1c-\x1f and \x85 (Python strips them) and \ufeff (JavaScript does).
const PYTHON_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PYTHON_STRIP = new RegExp(`^[${PYTHON_SPACE}]+|[${PYTHON_SPACE}]+$`, 'g');

/**
 * lm-eval's `preprocess`: strip, " [title]" → ". ", drop every `[...]` (non-greedy; Python's `.`
 * stops only at \n, JavaScript's also at \r and \u2028/9, hence [^\n]), then "  " → " " once,
 * left to right, as str.replace does (three spaces become two).
 */
export function preprocess(text: string): string {
  return text
    .replace(PYTHON_STRIP, '')
    .replaceAll(' [title]', '. ')
    .replace(/\[[^\n]*?\]/g, '')
    .replaceAll('  ', ' ');
}

/**
 * Python's str.capitalize: the first character upper-cased, every other one lower-cased, by code
 * point. (Python title-cases the first character; that differs from upper case only for a few
 * digraph letters such as ǆ, which JavaScript cannot title-case.)
 */
export function pythonCapitalize(text: string): string {
  const [first, ...rest] = [...text];
  return first === undefined ? '' : first.toUpperCase() + rest.join('').toLowerCase();
}

/** lm-eval's `_process_doc`. `where` names the row in errors. */
export function hellaswagDoc(row: unknown, position: number, where: string): HellaswagDoc {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new ItlError('ITL_DATA', `${where}: expected a JSON object`);
  const r = row as Record<string, unknown>;
  for (const key of ['activity_label', 'ctx_a', 'ctx_b'] as const) {
    if (typeof r[key] !== 'string') throw new ItlError('ITL_DATA', `${where}: '${key}' must be a string, found ${JSON.stringify(r[key])}`);
  }
  const endings = r.endings;
  if (!Array.isArray(endings) || endings.length !== 4 || !endings.every((e) => typeof e === 'string')) {
    throw new ItlError('ITL_DATA', `${where}: 'endings' must be 4 strings, found ${JSON.stringify(endings)}`);
  }
  const label = typeof r.label === 'string' && /^\d+$/.test(r.label) ? Number(r.label) : r.label;
  if (!Number.isInteger(label) || (label as number) < 0 || (label as number) > 3) {
    throw new ItlError('ITL_DATA', `${where}: 'label' must be 0..3 (a number or a numeric string), found ${JSON.stringify(r.label)}`);
  }
  const ctx = `${r.ctx_a as string} ${pythonCapitalize(r.ctx_b as string)}`;
  return {
    ind: Number.isInteger(r.ind) ? (r.ind as number) : position,
    query: preprocess(`${r.activity_label as string}: ${ctx}`),
    choices: (endings as string[]).map(preprocess),
    gold: label as number,
  };
}

/** The first `limit` documents (all without it) of a jsonl file or a Hugging Face on-disk dataset folder (its validation split). */
export function readHellaswag(path: string, options: { limit?: number } = {}): HellaswagDoc[] {
  return readTaskDocs(path, { what: 'HellaSwag', split: 'validation', limit: options.limit, toDoc: hellaswagDoc });
}
