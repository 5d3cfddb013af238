/**
 * `itl bench train-vocab`: what the output layer costs in memory at real vocabularies. bench-20m's
 * shape (5 layers of 512, tied) with SmolLM's vocabulary (49,152) and Llama 3's (128,256), full
 * fine-tuning in fp32 on real facts dialogues (in-weight and in-tool rows, SmolLM2's token ids) at the
 * study's batch 64: each vocabulary trains in a fresh process (lib/train/trainVocabWorker.ts), whose
 * peak RSS is the figure — weights, gradients and AdamW state (fixed) plus the step's activations and
 * logits. Run it with ITL_ADDON naming another build to compare engines.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { Benchmark } from '../bench/Benchmark.js';
import { packageRoot } from '../data/shippedPaths.js';
import { Model } from '../native/Model.js';
import { tokenizeDialogues } from '../tokenize/TokenizedDatasetCache.js';
import { loadBenchTokenizer } from '../tokenize/tokenizeBenchmark.js';
import { benchFactRows, writeBenchRows } from './benchRows.js';

const run = promisify(execFile);

export const VOCABULARIES = [49152, 128256];
const PEOPLE = 32; // 128 rows of each mode: 4 steps of 64
const BATCH = 64;

export interface VocabWorkerResult {
  vocab: number;
  tokens: number;
  seconds: number;
  padding_fraction: number;
  peak_rss_mb: number;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export const trainVocabBenchmark: Benchmark = {
  name: 'train-vocab',
  describe:
    `bench-20m's shape with vocabularies ${VOCABULARIES.join(' and ')}, full fine-tuning (fp32, CPU) on ${PEOPLE * 8} real ` +
    `facts dialogues at batch ${BATCH}, each in a fresh process: peak RSS and training tokens/s`,
  async run(context) {
    const root = mkdtempSync(join(tmpdir(), 'itl-bench-train-vocab-'));
    try {
      const facts = await benchFactRows(root, PEOPLE);
      const { tokenizer } = await loadBenchTokenizer('train-vocab');
      const weight = await tokenizeDialogues(
        facts.map((row) => row.qa),
        tokenizer,
        'weight',
      );
      const tool = await tokenizeDialogues(
        facts.map((row) => row.qatool),
        tokenizer,
        'tool',
      );
      // In-weight rows then in-tool rows (the trainer shuffles them together).
      const offsets = Int32Array.from([...weight.offsets, ...tool.offsets.subarray(1).map((o) => o + weight.ids.length)]);
      writeBenchRows(root, {
        ids: Int32Array.from([...weight.ids, ...tool.ids]),
        labels: Int32Array.from([...weight.labels, ...tool.labels]),
        offsets,
        count: weight.count + tool.count,
      });
      const base = join(root, 'bench-20m');
      (await Model.init(context.runtime(), 'bench-20m', 0, base)).dispose();
      const worker = join(packageRoot, 'dist', 'train', 'trainVocabWorker.js');
      const figures: Record<string, unknown> = {};
      for (const vocab of VOCABULARIES) {
        const modelDir = join(root, `vocab-${vocab}`);
        const config = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8'));
        writeFileSync(join(root, 'config.json'), JSON.stringify({ ...config, vocab_size: vocab }));
        (await Model.initFromConfig(context.runtime(), root, 0, modelDir)).dispose();
        context.log(`bench train-vocab: vocabulary ${vocab}, ${weight.count + tool.count} rows, batch ${BATCH}`);
        const { stdout } = await run(process.execPath, [worker, JSON.stringify({ root, modelDir, batch: BATCH })], { maxBuffer: 1 << 20 });
        const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as VocabWorkerResult;
        figures[`train_vocab_${vocab}_peak_rss_mb`] = round(result.peak_rss_mb, 1);
        figures[`train_vocab_${vocab}_tokens_per_s`] = round(result.tokens / result.seconds, 1);
        figures[`train_vocab_${vocab}_padding_fraction`] = round(result.padding_fraction, 4);
      }
      figures.train_vocab = {
        shape: 'bench-20m',
        vocabularies: VOCABULARIES,
        rows: weight.count + tool.count,
        batch: BATCH,
        precision: 'fp32',
        threads: context.runtime().threads,
      };
      return figures;
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
};
