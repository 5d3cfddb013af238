/** Padding comes from lengths: SmolLM's pad id (2) is also its end-of-turn id, a real label. */
import { collateBatch } from '../collateBatch.js';
import { loadTokenizer } from '../loadTokenizer.js';

const SMOL2 = '../shared/reference/models/HuggingFaceTB__SmolLM2-135M-Instruct';

test('a padded SmolLM batch keeps every real <|im_end|> label and masks only the padding', async () => {
  const smol = await loadTokenizer(SMOL2);
  const short = smol.buildTrainingExample(
    [
      { role: 'user', content: 'Hi?' },
      { role: 'assistant', content: 'Yes.' },
    ],
    'weight',
  );
  const long = smol.buildTrainingExample(
    [
      { role: 'user', content: 'Where does Ana live?' },
      { role: 'assistant', content: 'Ana lives in Porto, Portugal.' },
    ],
    'weight',
  );
  const batch = collateBatch([short, long], smol.special.pad, 8);
  expect(batch.length % 8).toBe(0);
  expect(batch.length).toBeGreaterThanOrEqual(long.ids.length);
  expect(Array.from(batch.lengths)).toEqual([short.ids.length, long.ids.length]);
  const row = (array: Int32Array, r: number) => Array.from(array.subarray(r * batch.length, (r + 1) * batch.length));
  const padding = batch.length - short.ids.length;
  expect(row(batch.ids, 0)).toEqual([...short.ids, ...Array(padding).fill(2)]);
  expect(row(batch.labels, 0)).toEqual([...short.labels, ...Array(padding).fill(-100)]);
  expect(row(batch.attentionMask, 0)).toEqual([...Array(short.ids.length).fill(1), ...Array(padding).fill(0)]);
  // The answer's <|im_end|> (id 2 = pad id) is still learned.
  const endOfTurnLabels = row(batch.labels, 0)
    .slice(0, short.ids.length)
    .filter((l) => l === 2);
  expect(endOfTurnLabels).toHaveLength(1);
});

test('bad batches are refused', () => {
  expect(() => collateBatch([], 0)).toThrow(expect.objectContaining({ code: 'ITL_INVALID_ARGUMENT' }));
  expect(() => collateBatch([{ ids: Int32Array.of(1, 2), labels: Int32Array.of(1) }], 0)).toThrow(/example 0: 2 ids but 1 labels/);
});
