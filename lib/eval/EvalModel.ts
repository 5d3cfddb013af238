/**
 * What an evaluator needs of a model: the engine's batched primitives (generate, score,
 * divergence) and its info. `Model` is one; the trainer passes its in-memory model, and tests
 * wrap a real model to inject failures (out of memory) or count calls.
 */
import type { Model } from '../native/Model.js';

export type EvalModel = Pick<Model, 'info' | 'generate' | 'score' | 'divergence'>;
