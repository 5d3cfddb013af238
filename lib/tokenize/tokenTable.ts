/**
 * Human-readable views of token ids for the inspection commands: one line per token, and the
 * labelled spans decoded back to text.
 */
import type { ChatTokenizer } from './ChatTokenizer.js';
import { IGNORE_INDEX } from './labelMask.js';

/** Lines "position  id  token  [label]"; masked positions show "·" (not learned) in the label column. */
export function tokenTable(tokenizer: ChatTokenizer, ids: ArrayLike<number>, labels?: ArrayLike<number>): string[] {
  const tokens = tokenizer.tokens(ids);
  const idWidth = Math.max(2, ...Array.from(ids, (id) => String(id).length));
  const posWidth = Math.max(3, String(ids.length).length);
  const header = `${'pos'.padStart(posWidth)}  ${'id'.padStart(idWidth)}  ${labels ? 'loss  ' : ''}token`;
  const lines = [header];
  for (let i = 0; i < ids.length; i++) {
    const mark = labels ? (labels[i] === IGNORE_INDEX ? '  ·   ' : ' LOSS ') : '';
    lines.push(`${String(i).padStart(posWidth)}  ${String(ids[i]).padStart(idWidth)}  ${mark}${JSON.stringify(tokens[i])}`);
  }
  return lines;
}

/** [start, end) runs of positions whose label is not IGNORE_INDEX. */
export function labelledSpans(labels: ArrayLike<number>): [number, number][] {
  const spans: [number, number][] = [];
  let start = -1;
  for (let i = 0; i <= labels.length; i++) {
    const on = i < labels.length && labels[i] !== IGNORE_INDEX;
    if (on && start < 0) start = i;
    if (!on && start >= 0) {
      spans.push([start, i]);
      start = -1;
    }
  }
  return spans;
}
