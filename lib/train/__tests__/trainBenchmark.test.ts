/**
 * `itl bench train`'s four runs differ from full fine-tuning in one option each, and what reaches the
 * native trainer says so: the padded run really trains with packing off (it once stayed packed after
 * an options refactor, and the bench reported two packed runs as packed against padded).
 */
import { TRAIN_VARIANTS, trainVariantOptions } from '../trainBenchmark.js';
import { nativeTrainOptions } from '../trainOptions.js';

const native = (variant: (typeof TRAIN_VARIANTS)[number]) => nativeTrainOptions(trainVariantOptions(variant, 64));

test('each variant changes its own option and nothing else', () => {
  const full = native('full');
  expect(full).toMatchObject({ packing: 'on', precision: 'fp32', loraR: 0 });
  const differences = Object.fromEntries(
    TRAIN_VARIANTS.map((variant) => {
      const fields = native(variant) as unknown as Record<string, unknown>;
      const base = full as unknown as Record<string, unknown>;
      return [variant, Object.keys(fields).filter((key) => fields[key] !== base[key])];
    }),
  );
  expect(differences).toEqual({ full: [], lora: ['loraR'], bf16: ['precision'], padded: ['packing'] });
  expect(native('padded').packing).toBe('off');
  expect(native('bf16').precision).toBe('bf16');
  expect(native('lora').loraR).toBe(16);
});
