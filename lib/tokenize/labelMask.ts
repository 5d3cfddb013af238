/**
 * Label masks of training dialogues, computed on token ids with the template's own markers.
 *
 * - weight: loss only on the (last) assistant answer: every token after its assistant header
 *   through the end of the sequence (its end-of-turn token, the template's trailing separator
 *   and the appended end-of-text).
 * - tool: loss on every assistant turn (the tool request and the final answer), each from after
 *   its header through its end-of-turn token; the last turn also keeps what follows it (the
 *   appended end-of-text). User, system and tool (`ipython`) turns are masked.
 */
import { ItlError } from '../errors.js';

/** In-weight (question/answer dialogues) or in-tool (dialogues that query the facts database): declared once, here. */
export type TrainingMode = 'weight' | 'tool';

export const IGNORE_INDEX = -100;

export interface MaskMarkers {
  /** Token ids of the assistant header, e.g. `<|im_start|>assistant`. */
  assistantHeader: ArrayLike<number>;
  /** The id that opens every turn header. */
  turnStart: number;
  endOfTurn: number;
}

/** Start positions of every occurrence of `pattern` in `ids`. */
function occurrences(ids: ArrayLike<number>, pattern: ArrayLike<number>): number[] {
  const found: number[] = [];
  const last = ids.length - pattern.length;
  outer: for (let i = 0; i <= last; i++) {
    for (let j = 0; j < pattern.length; j++) {
      if (ids[i + j] !== pattern[j]) continue outer;
    }
    found.push(i);
  }
  return found;
}

function indexOf(ids: ArrayLike<number>, id: number, from: number): number {
  for (let i = from; i < ids.length; i++) if (ids[i] === id) return i;
  return -1;
}

/** [start, end) of the labelled span of the assistant turn whose header starts at `header`. */
function turnSpan(ids: ArrayLike<number>, header: number, markers: MaskMarkers): [number, number] {
  const start = header + markers.assistantHeader.length;
  const endOfTurn = indexOf(ids, markers.endOfTurn, start);
  // A truncated turn (no end-of-turn) is labelled to the end of what is there.
  if (endOfTurn < 0) return [start, ids.length];
  // After the last turn come only the template's trailing separator and the appended end-of-text.
  if (indexOf(ids, markers.turnStart, endOfTurn + 1) < 0) return [start, ids.length];
  return [start, endOfTurn + 1];
}

/** Labels for `ids`: the id where the loss applies, IGNORE_INDEX (-100) elsewhere. */
export function labelMask(ids: ArrayLike<number>, markers: MaskMarkers, mode: TrainingMode): Int32Array {
  const headers = occurrences(ids, markers.assistantHeader);
  if (headers.length === 0) {
    throw new ItlError('ITL_DATA', 'the dialogue has no assistant turn: nothing to learn from (no assistant header in its token ids)');
  }
  const labels = new Int32Array(ids.length).fill(IGNORE_INDEX);
  const labelled = mode === 'weight' ? headers.slice(-1) : headers;
  for (const header of labelled) {
    const [start, end] = turnSpan(ids, header, markers);
    for (let i = start; i < end; i++) labels[i] = ids[i]!;
  }
  return labels;
}
