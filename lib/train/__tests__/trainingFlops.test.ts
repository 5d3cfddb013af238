import { describe, expect, it } from '@jest/globals';

import type { TokenizedDataset } from '../../tokenize/TokenizedDatasetCache.js';
import { trainingFlops } from '../trainingFlops.js';

// Two layers of hidden 4, MLP 6, 2 query heads and 1 kv head of 2 dims, vocabulary 10.
const shape = {
  vocabSize: 10,
  hiddenSize: 4,
  intermediateSize: 6,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  numKeyValueHeads: 1,
  headDim: 2,
};

// Rows of 3 and 1 tokens; the first labels its last two tokens, the second its only one (which has
// no position before it to be predicted from).
const rows: TokenizedDataset = {
  ids: Int32Array.of(5, 6, 7, 8),
  labels: Int32Array.of(-100, 6, 7, 8),
  offsets: Int32Array.of(0, 3, 4),
  count: 2,
};

describe('trainingFlops', () => {
  it('counts projections per token, the output layer at labelled positions and causal attention per row', () => {
    const f = trainingFlops(shape, rows, true);
    // Per layer and token: q 4×4, k and v 4×2 each, o 4×4, gate/up/down 4×6 each = 120 weights; 2 layers.
    expect(f.projections).toBe(6 * 240 * 4);
    // Labels at t = 1, 2 of the first row; the second row's only label has no position.
    expect(f.outputLayer).toBe(6 * 10 * 4 * 2);
    // Causal pairs: 3·4/2 = 6 and 1; two products of 2 FLOPs × head_dim, 2 heads, 2 layers, ×3.
    expect(f.attention).toBe(3 * 2 * 2 * 2 * 2 * 2 * 7);
    expect(f.total).toBe(f.projections + f.outputLayer + f.attention);
    expect(f.tokens).toBe(4);
    expect(f.perToken).toBe(f.total / 4);
  });

  it("counts MFU's model FLOPs as PaLM does: every weight at every token, full attention over each row", () => {
    const f = trainingFlops(shape, rows, true);
    // 6 × (240 projection weights + the 10 × 4 output layer) per token; 12 · 2 layers · 2 heads · 2 dims · T
    // per token, T its row's length: 3 tokens × 3 and 1 × 1.
    expect(f.model).toBe(6 * (240 + 40) * 4 + 12 * 2 * 2 * 2 * (3 * 3 + 1 * 1));
    expect(f.modelPerToken).toBe(f.model / 4);
    expect(f.model).toBeGreaterThan(f.total);
    expect(trainingFlops(shape, rows, false).model).toBe(4 * (240 + 40) * 4 + 12 * 2 * 2 * 2 * 10);
  });

  it('leaves out the weight gradients of frozen base weights (LoRA), not attention', () => {
    const trained = trainingFlops(shape, rows, true),
      frozen = trainingFlops(shape, rows, false);
    expect(frozen.projections).toBe((trained.projections * 4) / 6);
    expect(frozen.outputLayer).toBe((trained.outputLayer * 4) / 6);
    expect(frozen.attention).toBe(trained.attention);
  });
});
