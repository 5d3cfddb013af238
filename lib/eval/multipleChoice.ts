/**
 * Multiple-choice tasks scored as lm-evaluation-harness 0.4.8 scores `output_type: multiple_choice`
 * zero-shot with a Hugging Face causal model (HellaSwag, ARC, …; docs/design.md, "HellaSwag as
 * lm-evaluation-harness 0.4.8 computes it"): one (query, " " + choice) log-likelihood request per
 * choice, encoded as its `_encode_pair` does, acc and acc_norm as its multiple-choice metrics,
 * stderr as its `mean_stderr`. A document's context is encoded once for all its choices: the
 * engine's `score` groups requests with the same context ids and copies that context's KV cache
 * to each continuation.
 */
import type { ChatTokenizer } from '../tokenize/ChatTokenizer.js';
import { ItlError } from '../errors.js';
import type { BatchSize } from './BatchSize.js';
import type { EvalModel } from './EvalModel.js';
import { mean, sampleStderr } from './stats.js';

/** One document as the task's `process_docs` / `doc_to_text` / `doc_to_choice` / `doc_to_target` make it. */
export interface MultipleChoiceDoc {
  /** The row's own index when it has one (HellaSwag's `ind`), else its position. */
  ind: number;
  query: string;
  choices: string[];
  gold: number;
}

export interface MultipleChoiceOptions {
  /**
   * lm-eval's `add_bos_token=True`: encode with the tokenizer's special tokens (its post-processor:
   * Llama 3 prepends BOS, SmolLM adds nothing). Off, as in lm-eval 0.4.8's default.
   */
  addBos?: boolean;
  /** Rows per forward pass, backed off on out-of-memory errors. */
  batch: BatchSize;
  /** Documents per native call (the unit lost to an out-of-memory error); default 256. */
  chunkDocs?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ScoreRequest {
  context: number[];
  continuation: number[];
}

export interface DocResult {
  ind: number;
  gold: number;
  /** Per choice: summed log-likelihood of its continuation ids, and whether each was the argmax. */
  logprobs: number[];
  isGreedy: boolean[];
  acc: number;
  accNorm: number;
}

export interface MultipleChoiceEvaluation {
  acc: number;
  accStderr: number | null;
  accNorm: number;
  accNormStderr: number | null;
  docs: DocResult[];
  /** Tokens a naive scorer would feed (context + continuation − 1, once per choice), and tokens fed here. */
  tokens: { naive: number; processed: number };
}

/**
 * lm-eval's `_encode_pair`: the context's trailing whitespace moves to the front of the
 * continuation; continuation ids = encode(context + continuation)[len(encode(context)):], so a
 * merge across the boundary is attributed to the continuation exactly as lm-eval does.
 */
export function encodePair(tokenizer: ChatTokenizer, context: string, continuation: string, addBos = false): ScoreRequest {
  const trailing = context.length - context.trimEnd().length;
  if (trailing > 0) {
    continuation = context.slice(context.length - trailing) + continuation;
    context = context.slice(0, context.length - trailing);
  }
  const encode = (text: string) => Array.from(tokenizer.encode(text, { addSpecialTokens: addBos }));
  const whole = encode(context + continuation);
  const ctx = encode(context);
  return { context: ctx, continuation: whole.slice(ctx.length) };
}

/**
 * What the model reads for one request, as lm-eval's `_loglikelihood_tokens` builds it:
 * (context + continuation)[-(maxLength + 1):][:-1], i.e. the context loses tokens on the left
 * when the pair is longer than the model's maximum length + 1.
 */
export function truncateToLength(request: ScoreRequest, maxLength: number): ScoreRequest {
  const excess = request.context.length + request.continuation.length - (maxLength + 1);
  if (excess <= 0) return request;
  if (excess >= request.context.length) {
    throw new ItlError(
      'ITL_DATA',
      `a continuation of ${request.continuation.length} tokens does not fit the model's maximum length ${maxLength}`,
    );
  }
  return { context: request.context.slice(excess), continuation: request.continuation };
}

/** The requests of a document, one per choice: (query, " " + choice) — lm-eval's default target delimiter. */
export function choiceRequests(tokenizer: ChatTokenizer, doc: MultipleChoiceDoc, maxLength: number, addBos = false): ScoreRequest[] {
  return doc.choices.map((choice) => truncateToLength(encodePair(tokenizer, doc.query, ` ${choice}`, addBos), maxLength));
}

/** Index of the largest value, the first on ties (numpy's argmax). */
function argmax(values: number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** lm-eval's multiple-choice metrics for one document; acc_norm divides by the choice's length in characters (code points). */
export function scoreDoc(doc: MultipleChoiceDoc, logprobs: number[], isGreedy: boolean[]): DocResult {
  const lengths = doc.choices.map((c) => [...c].length);
  return {
    ind: doc.ind,
    gold: doc.gold,
    logprobs,
    isGreedy,
    acc: argmax(logprobs) === doc.gold ? 1 : 0,
    accNorm: argmax(logprobs.map((l, i) => l / lengths[i]!)) === doc.gold ? 1 : 0,
  };
}

/** Scores documents through `model.score`, a chunk of documents per native call. */
export async function evaluateMultipleChoice(
  model: EvalModel,
  tokenizer: ChatTokenizer,
  docs: readonly MultipleChoiceDoc[],
  options: MultipleChoiceOptions & { task: string },
): Promise<MultipleChoiceEvaluation> {
  const maxLength = model.info.config.maxPositionEmbeddings;
  const tokens = { naive: 0, processed: 0 };
  const results = await options.batch.chunked(
    options.task,
    docs,
    options.chunkDocs ?? 256,
    async (part, batchRows) => {
      const perDoc = part.map((doc) => choiceRequests(tokenizer, doc, maxLength, options.addBos));
      const scores = await model.score(perDoc.flat(), { batchRows });
      let first = 0;
      return part.map((doc, d) => {
        const requests = perDoc[d]!;
        const contexts = new Map(requests.map((r) => [r.context.join(','), r.context.length]));
        for (const length of contexts.values()) tokens.processed += length;
        for (const r of requests) {
          tokens.naive += r.context.length + r.continuation.length - 1;
          tokens.processed += r.continuation.length - 1;
        }
        const own = scores.slice(first, first + requests.length);
        first += requests.length;
        return scoreDoc(
          doc,
          own.map((s) => s.logprob),
          own.map((s) => s.isGreedy),
        );
      });
    },
    options.onProgress,
  );
  const acc = results.map((r) => r.acc);
  const accNorm = results.map((r) => r.accNorm);
  return {
    acc: mean(acc),
    accStderr: sampleStderr(acc),
    accNorm: mean(accNorm),
    accNormStderr: sampleStderr(accNorm),
    docs: results,
    tokens,
  };
}

/** lm-eval's results document for one task, with our own metadata beside it. */
export function resultsDocument(
  task: string,
  evaluation: MultipleChoiceEvaluation,
  metadata: Record<string, unknown>,
): Record<string, unknown> {
  return {
    results: {
      [task]: {
        alias: task,
        'acc,none': evaluation.acc,
        'acc_stderr,none': evaluation.accStderr,
        'acc_norm,none': evaluation.accNorm,
        'acc_norm_stderr,none': evaluation.accNormStderr,
      },
    },
    'n-samples': { [task]: { original: evaluation.docs.length, effective: evaluation.docs.length } },
    versions: { [task]: 1.0 },
    'n-shot': { [task]: 0 },
    config: metadata,
  };
}
