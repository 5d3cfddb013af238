/**
 * A language model held by the native engine: an opaque handle whose heavy calls (forward,
 * generate, score, divergence, save) are Promises running off the event loop. Token ids go in as
 * plain arrays or Int32Arrays and come back as Int32Arrays; the weights never cross. Call
 * `dispose()` when done: the weights are freed once running calls finish, not by the garbage collector.
 */
import { ItlError } from '../errors.js';
import type { Runtime } from './Runtime.js';
import { type AbortFlag, type ProgressCallback, nativeCall } from './addon.js';

export type ModelDtype = 'fp32' | 'bf16';

export interface ModelConfig {
  /** config.json's model_type: 'llama', 'qwen2', 'qwen3', 'smollm3' or 'mistral'. */
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: {
    ropeType: string;
    factor: number;
    lowFreqFactor: number;
    highFreqFactor: number;
    originalMaxPositionEmbeddings: number;
  } | null;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  torchDtype: string;
  /** The window of the layers with sliding-window attention (sequences longer than it are refused), or null. */
  slidingWindow: number | null;
}

export interface ModelHandleInfo {
  /** The base model's folder. */
  folder: string;
  /** The PEFT adapter folder applied on top, or null. */
  adapter: string | null;
  device: string;
  dtype: string;
  parameterCount: number;
  config: ModelConfig;
}

export interface ModelInspection {
  folder: string;
  config: ModelConfig;
  /** The config.json text as read. */
  configJson: string;
  parameterCount: number;
  /** Tensors in the checkpoint and how many parameters are stored in each safetensors dtype. */
  checkpoint: { tensors: number; dtypes: Record<string, number> };
}

export interface ModelPresetInfo {
  name: string;
  describe: string;
  tiny: boolean;
  parameterCount: number;
}

export interface LoadModelOptions {
  /** "cpu" (default), "cuda" or "cuda:N". */
  device?: string;
  /** Parameters and activations; default fp32. */
  dtype?: ModelDtype;
  /** A PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) applied to the model. */
  adapter?: string;
  /**
   * bf16 on the CPU: multiply by oneDNN-packed copies of the weights in inference (faster, the same
   * numbers; costs the weights' size in memory again). Default true; fp32 and GPUs never pack.
   */
  prepack?: boolean;
}

export interface GenerateOptions {
  /** Per row, including a final eos (default 64). */
  maxNewTokens?: number;
  /** A row stops after emitting any of these; default: the config's eos ids. Pass [] to never stop early. */
  eosIds?: number[];
  /** Rows decoded together (default 32); prompts are grouped by length first. */
  batchSize?: number;
  /** Seeded temperature / top-p sampling instead of greedy decoding. */
  sample?: boolean;
  temperature?: number;
  topP?: number;
  seed?: number;
}

export interface ScoreRequest {
  context: ArrayLike<number>;
  continuation: ArrayLike<number>;
}
export interface ScoreResult {
  /** Sum of log p(continuation token | all before), natural log, fp32 log-softmax. */
  logprob: number;
  /** Every continuation token is the argmax at its position. */
  isGreedy: boolean;
}
export interface BatchOptions {
  /** Rows per forward pass. */
  batchRows?: number;
  /** Positions whose full-vocabulary distributions exist at once. */
  chunkPositions?: number;
}

/**
 * Per selected token (sequences in order, tokens in order): see native/core/eval/divergence.h.
 * The first four are expectations over the whole vocabulary at that position (the study's
 * estimators); the `observed…` ones are the single-sample estimators at the observed token.
 */
export interface DivergenceResult {
  /** Σ p (log p − log q): KL(p‖q). */
  standard: Float32Array;
  /** ½ Σ p (log p − log q)². */
  logSquare: Float32Array;
  /** Σ p (eᵈ − 1 − d), d = log q − log p: the study's reported estimator, = KL up to rounding. */
  bregman: Float32Array;
  /** ½ Σ |p − q|. */
  tv: Float32Array;
  observedStandard: Float32Array;
  observedLogSquare: Float32Array;
  observedBregman: Float32Array;
}

/** A native call given this flag stops at its next check once the flag is raised (rejecting with ITL_ABORTED). */
interface Abortable {
  abort?: AbortFlag;
}

/** The raw handle exactly as native/addon/addon_model.cpp exports it. */
export interface NativeModelHandle {
  info(): ModelHandleInfo;
  forward(ids: Int32Array): Promise<{ top1: Int32Array; lastLogits: Float32Array }>;
  generate(
    ids: Int32Array,
    lengths: Int32Array,
    options: GenerateOptions & Abortable,
    onProgress?: ProgressCallback,
  ): Promise<{ ids: Int32Array; lengths: Int32Array }>;
  score(
    contextIds: Int32Array,
    contextLengths: Int32Array,
    continuationIds: Int32Array,
    continuationLengths: Int32Array,
    options: BatchOptions & Abortable,
    onProgress?: ProgressCallback,
  ): Promise<{ logprobs: Float64Array; isGreedy: Uint8Array }>;
  divergence(
    reference: NativeModelHandle,
    ids: Int32Array,
    lengths: Int32Array,
    tokenMask: Uint8Array,
    options: BatchOptions & Abortable,
    onProgress?: ProgressCallback,
  ): Promise<DivergenceResult>;
  save(dir: string): Promise<string>;
  benchForward(options: ForwardBenchmarkOptions, onProgress?: ProgressCallback): Promise<ForwardBenchmarkResult>;
  dispose(): void;
}

export interface ForwardBenchmarkOptions {
  batch?: number;
  seqLen?: number;
  minSeconds?: number;
  seed?: number;
}
export interface ForwardBenchmarkResult {
  calls: number;
  tokens: number;
  seconds: number;
  tokensPerS: number;
  /** Matmul FLOPs per token of the forward pass (projections, lm_head, attention). */
  flopsPerToken: number;
  gflops: number;
}

/** The model functions of the raw addon (merged into NativeAddon in addon.ts). */
export interface NativeModelApi {
  loadModel(path: string, options: LoadModelOptions): Promise<NativeModelHandle>;
  initModel(preset: string, seed: number, dir: string, options: LoadModelOptions): Promise<NativeModelHandle>;
  initModelFromConfig(configFolder: string, seed: number, dir: string, options: LoadModelOptions): Promise<NativeModelHandle>;
  inspectModel(path: string): Promise<ModelInspection>;
  modelPresets(): ModelPresetInfo[];
}

function requireInteger(value: number, name: string, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new ItlError('ITL_INVALID_ARGUMENT', `expected an integer ≥ ${min} for ${name} but received ${value}`);
  }
  return value;
}

/** Rows of token ids as one flat Int32Array plus their lengths, checking every id is an int32 ≥ 0. */
export function packRows(rows: readonly ArrayLike<number>[], what: string): { ids: Int32Array; lengths: Int32Array } {
  const lengths = Int32Array.from(rows, (r) => r.length);
  const ids = new Int32Array(lengths.reduce((a, b) => a + b, 0));
  let offset = 0;
  rows.forEach((row, r) => {
    for (let i = 0; i < row.length; i++) {
      const id = row[i];
      if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
        throw new ItlError('ITL_INVALID_ARGUMENT', `${what} ${r}: token ${i} is ${id}, not a token id`);
      }
      ids[offset++] = id;
    }
  });
  return { ids, lengths };
}

function unpackRows(ids: Int32Array, lengths: Int32Array): Int32Array[] {
  const rows: Int32Array[] = [];
  let offset = 0;
  for (const n of lengths) {
    rows.push(ids.subarray(offset, offset + n));
    offset += n;
  }
  return rows;
}

function checkLoadOptions(options: LoadModelOptions): LoadModelOptions {
  if (options.dtype !== undefined && options.dtype !== 'fp32' && options.dtype !== 'bf16') {
    throw new ItlError('ITL_INVALID_ARGUMENT', `expected fp32 or bf16 for dtype but received ${String(options.dtype)}`);
  }
  return options;
}

export class Model {
  private handle: NativeModelHandle | undefined;
  /** Folder, device, dtype, parameter count and parsed config, fixed at load time. */
  readonly info: ModelHandleInfo;

  /** The runtime's abort flag: `runtime.abort()` stops this model's generation, scoring and divergence between batches. */
  private readonly abort: AbortFlag | undefined;

  private constructor(handle: NativeModelHandle, abort: AbortFlag | undefined) {
    this.handle = handle;
    this.abort = abort;
    this.info = handle.info();
  }

  /**
   * Loads a Hugging Face model folder, an ORG/NAME under $ITL_MODELS, or one in the Hugging Face cache;
   * with `adapter`, a PEFT LoRA adapter on top. A LoRA checkpoint folder (adapter_config.json and no
   * config.json) loads as the base model it names plus that adapter.
   */
  static async load(runtime: Runtime, path: string, options: LoadModelOptions = {}): Promise<Model> {
    return new Model(await nativeCall(runtime.native.loadModel(path, checkLoadOptions(options))), runtime.abortFlag);
  }

  /** Writes a random-initialised preset model to `dir` (HF layout) and returns it loaded. */
  static async init(runtime: Runtime, preset: string, seed: number, dir: string, options: LoadModelOptions = {}): Promise<Model> {
    requireInteger(seed, 'seed', 0);
    return new Model(await nativeCall(runtime.native.initModel(preset, seed, dir, checkLoadOptions(options))), runtime.abortFlag);
  }

  /**
   * Writes a random-initialised model of the shape in `configFolder`/config.json to `dir` (HF
   * layout; `dir` may be `configFolder`) and returns it loaded.
   */
  static async initFromConfig(
    runtime: Runtime,
    configFolder: string,
    seed: number,
    dir: string,
    options: LoadModelOptions = {},
  ): Promise<Model> {
    requireInteger(seed, 'seed', 0);
    return new Model(
      await nativeCall(runtime.native.initModelFromConfig(configFolder, seed, dir, checkLoadOptions(options))),
      runtime.abortFlag,
    );
  }

  /** Parses a model folder's config and checkpoint header without loading weights. */
  static inspect(runtime: Runtime, path: string): Promise<ModelInspection> {
    return nativeCall(runtime.native.inspectModel(path));
  }

  static presets(runtime: Runtime): ModelPresetInfo[] {
    return runtime.native.modelPresets();
  }

  private live(): NativeModelHandle {
    if (!this.handle) throw new ItlError('ITL_INVALID_ARGUMENT', 'this model was disposed');
    return this.handle;
  }

  /** Argmax id per position and the last position's logits for one sequence. */
  forward(ids: ArrayLike<number>): Promise<{ top1: Int32Array; lastLogits: Float32Array }> {
    return nativeCall(this.live().forward(packRows([ids], 'sequence').ids));
  }

  /** New token ids per prompt (eos included when a row stops on one, as Hugging Face generate does). */
  async generate(
    prompts: readonly ArrayLike<number>[],
    options: GenerateOptions = {},
    onProgress?: ProgressCallback,
  ): Promise<Int32Array[]> {
    const { ids, lengths } = packRows(prompts, 'prompt');
    const native = { ...options, eosIds: options.eosIds ?? this.info.config.eosTokenIds, abort: this.abort };
    const out = await nativeCall(this.live().generate(ids, lengths, native, onProgress));
    return unpackRows(out.ids, out.lengths);
  }

  /** log p(continuation | context) and the greedy flag per request (lm-evaluation-harness's loglikelihood). */
  async score(requests: readonly ScoreRequest[], options: BatchOptions = {}, onProgress?: ProgressCallback): Promise<ScoreResult[]> {
    const ctx = packRows(
      requests.map((r) => r.context),
      'context',
    );
    const cont = packRows(
      requests.map((r) => r.continuation),
      'continuation',
    );
    const out = await nativeCall(
      this.live().score(ctx.ids, ctx.lengths, cont.ids, cont.lengths, { ...options, abort: this.abort }, onProgress),
    );
    return Array.from(out.logprobs, (logprob, i) => ({ logprob, isGreedy: out.isGreedy[i] === 1 }));
  }

  /**
   * Per-token divergence of this model (q) from `reference` (p) on `sequences`; `tokenMasks[i][t]`
   * truthy selects token t ≥ 1 of sequence i.
   */
  divergence(
    reference: Model,
    sequences: readonly ArrayLike<number>[],
    tokenMasks: readonly ArrayLike<number | boolean>[],
    options: BatchOptions = {},
    onProgress?: ProgressCallback,
  ): Promise<DivergenceResult> {
    const { ids, lengths } = packRows(sequences, 'sequence');
    if (tokenMasks.length !== sequences.length) {
      throw new ItlError(
        'ITL_INVALID_ARGUMENT',
        `expected one token mask per sequence: ${sequences.length} sequences, ${tokenMasks.length} masks`,
      );
    }
    const mask = new Uint8Array(ids.length);
    let offset = 0;
    tokenMasks.forEach((m, r) => {
      if (m.length !== sequences[r].length) {
        throw new ItlError('ITL_INVALID_ARGUMENT', `sequence ${r} has ${sequences[r].length} tokens but its mask has ${m.length}`);
      }
      for (let t = 0; t < m.length; t++) mask[offset++] = m[t] ? 1 : 0;
    });
    return nativeCall(this.live().divergence(reference.live(), ids, lengths, mask, { ...options, abort: this.abort }, onProgress));
  }

  /** @internal Wraps a handle the addon made elsewhere (the trainer's model); `abort` as the runtime's. */
  static fromHandle(handle: NativeModelHandle, abort?: AbortFlag): Model {
    return new Model(handle, abort);
  }

  /** Writes config.json, generation_config.json and the safetensors weights (model dtype) to `dir`. */
  async save(dir: string): Promise<void> {
    await nativeCall(this.live().save(dir));
  }

  /** Times full forward passes (all logits, no grad) on random ids. */
  benchForward(options: ForwardBenchmarkOptions = {}, onProgress?: ProgressCallback): Promise<ForwardBenchmarkResult> {
    return nativeCall(this.live().benchForward(options, onProgress));
  }

  dispose(): void {
    this.handle?.dispose();
    this.handle = undefined;
  }
}
