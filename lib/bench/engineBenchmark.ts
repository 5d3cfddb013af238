import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Model, type ModelDtype } from '../native/Model.js';
import type { BenchContext, Benchmark, Figures } from './Benchmark.js';

const PRESET = 'bench-20m';
const FORWARD = { batch: 16, seqLen: 128, minSeconds: 3 };
const GENERATE = { batch: 32, promptLength: 16, newTokens: 64 };

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Random prompt ids from a fixed linear congruential sequence, so every run decodes the same work. */
function prompts(count: number, length: number, vocab: number): number[][] {
  let state = 12345;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) % vocab;
  return Array.from({ length: count }, () => Array.from({ length }, next));
}

/**
 * The engine benchmark in one compute dtype. fp32 figures keep their plain names; bf16 ones are
 * prefixed `bf16_` and add the bf16 matmul rate and how far bf16 logits land from fp32 ones on the
 * same weights (so a speed-up is only read together with what it costs in accuracy).
 */
function engineBenchmarkFor(dtype: ModelDtype): Benchmark {
  const key = (name: string) => (dtype === 'fp32' ? name : `${dtype}_${name}`);
  return {
    name: dtype === 'fp32' ? 'engine' : `engine-${dtype}`,
    describe:
      `${PRESET} (~20M parameters, ${dtype}, CPU): forward tokens/s (batch ${FORWARD.batch} × ${FORWARD.seqLen}) and its share of ` +
      `the fp32 matmul peak; greedy KV-cache generation tokens/s (batch ${GENERATE.batch}, ${GENERATE.newTokens} new tokens)` +
      (dtype === 'fp32' ? '' : `; the ${dtype} matmul rate; ${dtype} vs fp32 logits on the same weights`),
    async run(context) {
      const peak = await context.matmulPeak();
      const dir = mkdtempSync(join(tmpdir(), 'itl-bench-engine-'));
      try {
        const model = await Model.init(context.runtime(), PRESET, 0, dir, { dtype });
        try {
          context.log(`engine: ${dtype} forward ${FORWARD.batch}×${FORWARD.seqLen} for ${FORWARD.minSeconds} s`);
          const forward = await model.benchForward(FORWARD);
          context.log(`engine: ${dtype} generate batch ${GENERATE.batch}, ${GENERATE.newTokens} new tokens`);
          const batch = prompts(GENERATE.batch, GENERATE.promptLength, model.info.config.vocabSize);
          await model.generate(batch.slice(0, 2), { maxNewTokens: 4, eosIds: [] }); // warm-up
          const started = performance.now();
          const out = await model.generate(batch, { maxNewTokens: GENERATE.newTokens, eosIds: [], batchSize: GENERATE.batch });
          const seconds = (performance.now() - started) / 1000;
          const newTokens = out.reduce((n, row) => n + row.length, 0);
          const figures: Figures = {
            [key('forward_tokens_per_s')]: round(forward.tokensPerS, 1),
            [key('generate_tokens_per_s')]: round(newTokens / seconds, 1),
            [key('forward_flops_utilisation')]: round(forward.gflops / peak.gflops, 4),
          };
          if (dtype !== 'fp32') {
            const matmul = await context.matmulPeak(dtype);
            figures[key('matmul_gflops')] = round(matmul.gflops, 1);
            Object.assign(figures, await logitGap(context, dir, model, prompts(1, FORWARD.seqLen, model.info.config.vocabSize)[0], key));
          }
          figures[key('engine')] = {
            preset: PRESET,
            parameters: model.info.parameterCount,
            dtype: model.info.dtype,
            device: model.info.device,
            threads: context.runtime().threads,
            forward: {
              batch: FORWARD.batch,
              seq_len: FORWARD.seqLen,
              calls: forward.calls,
              seconds: round(forward.seconds, 3),
              gflops: round(forward.gflops, 2),
              flops_per_token: forward.flopsPerToken,
            },
            generate: { batch: GENERATE.batch, prompt_length: GENERATE.promptLength, new_tokens: newTokens, seconds: round(seconds, 3) },
            matmul_gflops: peak.gflops,
          };
          return figures;
        } finally {
          model.dispose();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** The same weights in fp32: the largest last-position logit difference and how many argmaxes agree. */
async function logitGap(context: BenchContext, dir: string, model: Model, ids: number[], key: (name: string) => string): Promise<Figures> {
  const reference = await Model.load(context.runtime(), dir, { dtype: 'fp32' });
  try {
    const [low, exact] = [await model.forward(ids), await reference.forward(ids)];
    let gap = 0;
    for (let i = 0; i < exact.lastLogits.length; i++) gap = Math.max(gap, Math.abs(low.lastLogits[i] - exact.lastLogits[i]));
    const agree = exact.top1.filter((id, i) => low.top1[i] === id).length;
    return { [key('max_logit_diff_vs_fp32')]: round(gap, 4), [key('top1_agreement_vs_fp32')]: round(agree / exact.top1.length, 4) };
  } finally {
    reference.dispose();
  }
}

export const engineBenchmark = engineBenchmarkFor('fp32');
export const engineBf16Benchmark = engineBenchmarkFor('bf16');
