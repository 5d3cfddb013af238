/**
 * A padded batch of training examples, as flat row-major (batch × length) arrays ready to cross
 * to the native trainer. Which positions are padding comes from each example's length, never
 * from comparing ids with the pad id: SmolLM's pad token is its end-of-turn token <|im_end|>
 * (id 2), which is also a real label. Padding is on the right, as the study's trainer did.
 */
import { ItlError } from '../errors.js';
import { IGNORE_INDEX } from './labelMask.js';

export interface TrainingBatch {
  /** Examples in the batch. */
  size: number;
  /** Padded length of every row. */
  length: number;
  /** (size × length) token ids; padded positions hold the pad id. */
  ids: Int32Array;
  /** (size × length) labels; padded positions hold -100. */
  labels: Int32Array;
  /** (size × length) 1 for real tokens, 0 for padding. */
  attentionMask: Int32Array;
  /** Each example's real length. */
  lengths: Int32Array;
}

export function collateBatch(examples: { ids: Int32Array; labels: Int32Array }[], padId: number, padToMultipleOf = 1): TrainingBatch {
  if (examples.length === 0) throw new ItlError('ITL_INVALID_ARGUMENT', 'cannot collate an empty batch');
  if (!Number.isInteger(padToMultipleOf) || padToMultipleOf < 1) {
    throw new ItlError('ITL_INVALID_ARGUMENT', `expected a positive integer padToMultipleOf but received ${padToMultipleOf}`);
  }
  examples.forEach((example, i) => {
    if (example.ids.length !== example.labels.length) {
      throw new ItlError('ITL_INVALID_ARGUMENT', `example ${i}: ${example.ids.length} ids but ${example.labels.length} labels`);
    }
  });
  const longest = Math.max(...examples.map((e) => e.ids.length));
  const length = Math.ceil(longest / padToMultipleOf) * padToMultipleOf;
  const size = examples.length;
  const ids = new Int32Array(size * length).fill(padId);
  const labels = new Int32Array(size * length).fill(IGNORE_INDEX);
  const attentionMask = new Int32Array(size * length);
  const lengths = new Int32Array(size);
  examples.forEach((example, row) => {
    const n = example.ids.length;
    ids.set(example.ids, row * length);
    labels.set(example.labels, row * length);
    attentionMask.fill(1, row * length, row * length + n);
    lengths[row] = n;
  });
  return { size, length, ids, labels, attentionMask, lengths };
}
