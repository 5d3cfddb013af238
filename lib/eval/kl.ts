/**
 * KL and TV of a checkpoint (q) from its base model (p), as the study computes them (docs/design.md,
 * "KL and TV as the study computes them"): the base model answers ~120 general prompts greedily
 * through its chat template (≤ 400 new tokens, cached on disk per base model and prompt set); at
 * every position predicting a generated token both models see the same prefix, and the
 * divergence is taken over the whole vocabulary. kl_mean is the bregman estimator the study
 * reported (equal to the standard KL up to rounding). Unlike the study, each sequence is read with
 * its own attention mask: its forward ran left-padded batches without one, so pad tokens leaked
 * into the context.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';

import { packageRoot } from '../data/shippedPaths.js';
import { ItlError } from '../errors.js';
import type { Model } from '../native/Model.js';
import type { ChatTokenizer } from '../tokenize/ChatTokenizer.js';
import { writeFileAtomic } from '../util/writeFileAtomic.js';
import type { BatchSize } from './BatchSize.js';
import type { EvalModel } from './EvalModel.js';
import { mean, sampleStderr } from './stats.js';

export interface KlPrompt {
  category: string;
  prompt: string;
}

export const SHIPPED_KL_PROMPTS = join(packageRoot, 'lib', 'eval', 'kl_prompts.json');

export async function readKlPrompts(path = SHIPPED_KL_PROMPTS): Promise<KlPrompt[]> {
  let document: { prompts?: unknown };
  try {
    document = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot read the KL prompts ${path}: ${(error as Error).message}`);
  }
  const prompts = document.prompts;
  if (
    !Array.isArray(prompts) ||
    prompts.length === 0 ||
    !prompts.every((p) => typeof p?.prompt === 'string' && p.prompt !== '' && typeof p?.category === 'string')
  ) {
    throw new ItlError('ITL_DATA', `${path}: expected {"prompts": [{"category", "prompt"}, …]} with non-empty prompts`);
  }
  return prompts as KlPrompt[];
}

export interface BaseCompletion {
  category: string;
  prompt: string;
  /** The chat-templated prompt with the generation prompt. */
  prompt_ids: number[];
  /** The base model's greedy answer, its eos included when it stopped on one. */
  completion_ids: number[];
}

export interface BaseCompletionOptions {
  dateString: string;
  maxNewTokens?: number;
  batch: BatchSize;
  /** Folder of cached completions; none: always generate. */
  cacheDir?: string;
  onProgress?: (message: string) => void;
}

/**
 * What the cached completions depend on: the base model's files (config, and each weights file's
 * name, size and modification time: hashing gigabytes of weights per evaluation would cost more
 * than generating), the tokenizer, the prompts, the date, the token budget, dtype and device.
 */
async function completionKey(
  base: EvalModel,
  tokenizer: ChatTokenizer,
  prompts: KlPrompt[],
  options: BaseCompletionOptions,
): Promise<string> {
  const folder = resolve(base.info.folder);
  const weights: [string, number, number][] = [];
  for (const name of (await readdir(folder)).filter((n) => n.endsWith('.safetensors')).sort()) {
    const s = await stat(join(folder, name));
    weights.push([name, s.size, s.mtimeMs]);
  }
  return createHash('sha256')
    .update(
      JSON.stringify({
        folder,
        config: base.info.config,
        weights,
        tokenizer: tokenizer.filesHash,
        prompts,
        dateString: options.dateString,
        maxNewTokens: options.maxNewTokens ?? 400,
        dtype: base.info.dtype,
        device: base.info.device,
      }),
    )
    .digest('hex');
}

/** The base model's greedy answers to `prompts`, read from the cache when this exact work was done before. */
export async function baseCompletions(
  base: EvalModel,
  tokenizer: ChatTokenizer,
  prompts: KlPrompt[],
  options: BaseCompletionOptions,
): Promise<BaseCompletion[]> {
  const key = await completionKey(base, tokenizer, prompts, options);
  const cachePath = options.cacheDir && join(options.cacheDir, `${basename(resolve(base.info.folder))}-${key.slice(0, 16)}.json`);
  if (cachePath) {
    try {
      const cached = JSON.parse(await readFile(cachePath, 'utf8')) as { key?: string; completions?: BaseCompletion[] };
      if (cached.key === key && Array.isArray(cached.completions) && cached.completions.length === prompts.length) {
        options.onProgress?.(`kl: base completions from ${cachePath}`);
        return cached.completions;
      }
    } catch {
      // absent or unreadable: generate afresh and rewrite it
    }
  }
  const promptIds = prompts.map((p) =>
    Array.from(
      tokenizer.applyChatTemplate([{ role: 'user', content: p.prompt }], {
        addGenerationPrompt: true,
        dateString: options.dateString,
        tokenize: true,
      }),
    ),
  );
  const outputs = await options.batch.chunked(
    'kl base completions',
    promptIds,
    1024,
    (part, batchSize) =>
      base.generate(part, { maxNewTokens: options.maxNewTokens ?? 400, eosIds: tokenizer.special.generationEos, batchSize }),
    (done, total) => options.onProgress?.(`kl: base completions ${done}/${total}`),
  );
  const completions = prompts.map((p, i) => ({
    category: p.category,
    prompt: p.prompt,
    prompt_ids: promptIds[i]!,
    completion_ids: Array.from(outputs[i]!),
  }));
  if (cachePath) {
    await writeFileAtomic(
      cachePath,
      `${JSON.stringify({ key, model: base.info.folder, max_new_tokens: options.maxNewTokens ?? 400, completions })}\n`,
    );
  }
  return completions;
}

/** One checkpoint's entry of checkpoint_kl_eval_results.json. */
export interface KlEntry {
  kl_mean: number;
  kl_stderr: number | null;
  tv_mean: number;
  tv_stderr: number | null;
  num_eval_kl: number;
  /** The estimator behind kl_mean. */
  estimator: 'bregman';
  num_positions: number;
  kl_standard_mean: number;
  kl_log_square_mean: number;
}

export interface KlOptions {
  batch: BatchSize;
  /** Sequences per native call (the unit lost to an out-of-memory error); default 32. */
  chunkSequences?: number;
  onProgress?: (message: string) => void;
}

/** Divergence of `model` from `base` at every completion position, pooled over all prompts. */
export async function evaluateKl(
  model: EvalModel,
  base: Model,
  completions: readonly BaseCompletion[],
  options: KlOptions,
): Promise<KlEntry> {
  const standard: number[] = [],
    logSquare: number[] = [],
    bregman: number[] = [],
    tv: number[] = [];
  await options.batch.chunked(
    'kl',
    completions,
    options.chunkSequences ?? 32,
    async (part, batchRows) => {
      const sequences = part.map((c) => [...c.prompt_ids, ...c.completion_ids]);
      const masks = part.map((c) => [...c.prompt_ids.map(() => 0), ...c.completion_ids.map(() => 1)]);
      const d = await model.divergence(base, sequences, masks, { batchRows });
      standard.push(...d.standard);
      logSquare.push(...d.logSquare);
      bregman.push(...d.bregman);
      tv.push(...d.tv);
      return [];
    },
    (done, total) => options.onProgress?.(`kl ${done}/${total}`),
  );
  if (bregman.length === 0) throw new ItlError('ITL_DATA', 'the base completions hold no generated token to compare at');
  return {
    kl_mean: mean(bregman),
    kl_stderr: sampleStderr(bregman),
    tv_mean: mean(tv),
    tv_stderr: sampleStderr(tv),
    num_eval_kl: completions.length,
    estimator: 'bregman',
    num_positions: bregman.length,
    kl_standard_mean: mean(standard),
    kl_log_square_mean: mean(logSquare),
  };
}
