import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Model } from '../native/Model.js';
import type { Benchmark } from './Benchmark.js';

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

export const engineBenchmark: Benchmark = {
  name: 'engine',
  describe: `${PRESET} (~20M parameters, fp32, CPU): forward tokens/s (batch ${FORWARD.batch} × ${FORWARD.seqLen}) and its share of the ` +
    `matmul peak; greedy KV-cache generation tokens/s (batch ${GENERATE.batch}, ${GENERATE.newTokens} new tokens)`,
  async run(context) {
    const peak = await context.matmulPeak();
    const dir = mkdtempSync(join(tmpdir(), 'itl-bench-engine-'));
    try {
      const model = await Model.init(context.runtime(), PRESET, 0, dir);
      try {
        context.log(`engine: forward ${FORWARD.batch}×${FORWARD.seqLen} for ${FORWARD.minSeconds} s`);
        const forward = await model.benchForward(FORWARD);
        context.log(`engine: generate batch ${GENERATE.batch}, ${GENERATE.newTokens} new tokens`);
        const batch = prompts(GENERATE.batch, GENERATE.promptLength, model.info.config.vocabSize);
        await model.generate(batch.slice(0, 2), { maxNewTokens: 4, eosIds: [] });  // warm-up
        const started = performance.now();
        const out = await model.generate(batch, { maxNewTokens: GENERATE.newTokens, eosIds: [], batchSize: GENERATE.batch });
        const seconds = (performance.now() - started) / 1000;
        const newTokens = out.reduce((n, row) => n + row.length, 0);
        return {
          forward_tokens_per_s: round(forward.tokensPerS, 1),
          generate_tokens_per_s: round(newTokens / seconds, 1),
          forward_flops_utilisation: round(forward.gflops / peak.gflops, 4),
          engine: {
            preset: PRESET,
            parameters: model.info.parameterCount,
            dtype: model.info.dtype,
            device: model.info.device,
            threads: context.runtime().threads,
            forward: { batch: FORWARD.batch, seq_len: FORWARD.seqLen, calls: forward.calls, seconds: round(forward.seconds, 3),
              gflops: round(forward.gflops, 2), flops_per_token: forward.flopsPerToken },
            generate: { batch: GENERATE.batch, prompt_length: GENERATE.promptLength, new_tokens: newTokens, seconds: round(seconds, 3) },
            matmul_gflops: peak.gflops,
          },
        };
      } finally {
        model.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
