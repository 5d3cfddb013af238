/**
 * The FLOPs of a training run, from the model's shape and the rows' real lengths, counted two ways:
 * - `model`: the model FLOPs of MFU as the field defines it (PaLM, Chowdhery et al. 2022, appendix B;
 *   torchtitan, nanoGPT): 6 per matmul weight and token — the layers' projections and the output
 *   layer, the embedding being a lookup — plus 12 · layers · heads · head_dim · T per token for
 *   attention, T the token's own row length (full, not causal). It credits a token with the same work
 *   whatever an implementation skips, so MFU compares tools: it is throughput in FLOP units.
 * - `projections + outputLayer + attention = total`: the matrix products itl's trainer actually
 *   executes — the output layer only at labelled positions (the chunked loss) and causal attention.
 *   Divided by the peak, this is how busy the products keep the machine.
 */
import type { ModelConfig } from '../native/Model.js';
import type { TokenizedDataset } from '../tokenize/TokenizedDatasetCache.js';

export interface TrainingFlops {
  /** The decoder layers' projections: q, k, v, o, gate, up, down. */
  projections: number;
  /** The output layer, at labelled positions only. */
  outputLayer: number;
  /** Scores and weighted values, causal (each query against the keys up to itself). */
  attention: number;
  total: number;
  tokens: number;
  /** total ÷ tokens. */
  perToken: number;
  /** MFU's model FLOPs (the file header). */
  model: number;
  /** model ÷ tokens. */
  modelPerToken: number;
}

type Shape = Pick<
  ModelConfig,
  'vocabSize' | 'hiddenSize' | 'intermediateSize' | 'numHiddenLayers' | 'numAttentionHeads' | 'numKeyValueHeads' | 'headDim'
>;

/**
 * One epoch over `rows`. A product of m × k by k × n is 2mkn FLOPs forward; training adds the input
 * gradient and, for a trained weight, the weight gradient: 3× (6 per weight and token) when the base
 * weights train, 2× (4) when they are frozen (LoRA, whose own small products are left out).
 * Attention's two products take no weights: always 3×.
 */
export function trainingFlops(shape: Shape, rows: TokenizedDataset, baseWeightsTrain: boolean): TrainingFlops {
  const { hiddenSize: h, intermediateSize: m, numHiddenLayers: layers, headDim: d } = shape;
  const q = shape.numAttentionHeads * d,
    kv = shape.numKeyValueHeads * d;
  const perTokenWeights = layers * (h * q + 2 * h * kv + q * h + 3 * h * m);
  const weightFactor = baseWeightsTrain ? 6 : 4;
  let tokens = 0,
    labelled = 0,
    causalPairs = 0,
    squares = 0;
  for (let r = 0; r < rows.count; ++r) {
    const start = rows.offsets[r]!,
      end = rows.offsets[r + 1]!,
      n = end - start;
    tokens += n;
    causalPairs += (n * (n + 1)) / 2;
    squares += n * n;
    // The label at t is predicted from position t − 1: a row's first label has no position.
    for (let t = start + 1; t < end; ++t) if (rows.labels[t]! >= 0) ++labelled;
  }
  const projections = weightFactor * perTokenWeights * tokens;
  const outputLayer = weightFactor * shape.vocabSize * h * labelled;
  // QKᵀ and P·V: 2 FLOPs × head_dim per (query, key) pair and head, each; forward + 2 backward products.
  const attention = 3 * 2 * 2 * shape.numAttentionHeads * d * layers * causalPairs;
  const total = projections + outputLayer + attention;
  const model = weightFactor * (perTokenWeights + shape.vocabSize * h) * tokens + 12 * layers * shape.numAttentionHeads * d * squares;
  const perToken = tokens > 0 ? total / tokens : 0;
  return { projections, outputLayer, attention, total, tokens, perToken, model, modelPerToken: tokens > 0 ? model / tokens : 0 };
}
