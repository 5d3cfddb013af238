/**
 * `itl bench train`: training speed of the native trainer on bench-20m (fp32, CPU) with real facts
 * dialogues of varying length — in-weight `qa` rows tokenised by the SmolLM2 tokenizer, their ids
 * folded into bench-20m's 8,192-token vocabulary (the lengths and label masks are the real ones;
 * the ids' values do not change the work) — for full fine-tuning and LoRA (r 16). MFU (`*_mfu`) is
 * the model FLOPs of the field's definition (trainingFlops.ts: PaLM's 6 per weight and token plus
 * full attention; LoRA's frozen weights without their weight gradients) × tokens/s ÷ the matmul peak
 * of the same run; `*_matmul_utilization` divides the products the trainer actually executes
 * (the output layer at labelled positions only, causal attention) instead. A third run trains in
 * pure bf16 (weights, gradients and AdamW state, as the study did on GPUs); its MFU divides by the
 * bf16 matmul peak of the same run (on a CPU with bf16 dot products about twice fp32's).
 * Micro-batches are packed (no padding); a fourth run, `train_padded_*`, is full fine-tuning with
 * packing off (each micro-batch padded to its longest row), for the difference packing makes in the
 * same run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { BenchContext, Benchmark } from '../bench/Benchmark.js';
import { Model, type ModelConfig } from '../native/Model.js';
import { type TokenizedDataset, tokenizeDialogues } from '../tokenize/TokenizedDatasetCache.js';
import { loadBenchTokenizer } from '../tokenize/tokenizeBenchmark.js';
import { benchFactRows, benchTrainOptions, timeBenchTraining } from './benchRows.js';
import type { TrainOptions } from './trainOptions.js';
import { trainingFlops } from './trainingFlops.js';

export const PRESET = 'bench-20m';
const PEOPLE = 64; // 256 rows
export const BATCH = 16;
const LORA = { r: 16, alpha: 32 };

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** bench-20m in ROOT/model and the facts rows folded into its vocabulary (see the file header). */
export async function prepareTrainBench(
  context: BenchContext,
  root: string,
): Promise<{ modelDir: string; parameters: number; config: ModelConfig; rows: TokenizedDataset }> {
  const dialogues = (await benchFactRows(root, PEOPLE)).map((row) => row.qa);
  const { tokenizer } = await loadBenchTokenizer('train');
  const rows = await tokenizeDialogues(dialogues, tokenizer, 'weight');
  const modelDir = join(root, 'model');
  const model = await Model.init(context.runtime(), PRESET, 0, modelDir);
  const vocab = model.info.config.vocabSize;
  const parameters = model.info.parameterCount;
  const config = model.info.config;
  model.dispose();
  return {
    modelDir,
    parameters,
    config,
    rows: { ...rows, ids: rows.ids.map((id) => id % vocab), labels: rows.labels.map((id) => (id < 0 ? id : id % vocab)) },
  };
}

export const TRAIN_VARIANTS = ['full', 'lora', 'bf16', 'padded'] as const;

/** The options of one variant's run: only the variant's own difference from full fine-tuning, packed, in fp32. */
export function trainVariantOptions(variant: (typeof TRAIN_VARIANTS)[number], rows: number): TrainOptions {
  return benchTrainOptions(rows, BATCH, {
    loraR: variant === 'lora' ? LORA.r : 0,
    loraAlpha: LORA.alpha,
    precision: variant === 'bf16' ? 'bf16' : 'fp32',
    packing: variant === 'padded' ? 'off' : 'on',
  });
}

export const trainBenchmark: Benchmark = {
  name: 'train',
  describe:
    `${PRESET} (fp32, CPU), ${PEOPLE * 4} real in-weight facts dialogues, batch ${BATCH}: training tokens/s, MFU, padding fraction ` +
    `and peak RSS, full fine-tuning, LoRA r ${LORA.r}, full fine-tuning in pure bf16, and full fine-tuning padded (packing off)`,
  async run(context) {
    const peak = await context.matmulPeak();
    const bf16Peak = await context.matmulPeak('bf16');
    const root = mkdtempSync(join(tmpdir(), 'itl-bench-train-'));
    try {
      const { modelDir, parameters, config, rows: folded } = await prepareTrainBench(context, root);
      const flops = { trained: trainingFlops(config, folded, true), lora: trainingFlops(config, folded, false) };

      const figures: Record<string, unknown> = {};
      for (const variant of TRAIN_VARIANTS) {
        // The peak of the packed runs, before the padded one can raise it.
        if (variant === 'padded') figures.train_peak_rss_mb = round(process.resourceUsage().maxRSS / 1024, 1);
        context.log(`bench train: ${variant}, ${folded.count} rows, batch ${BATCH}`);
        const options = trainVariantOptions(variant, folded.count);
        const run = await timeBenchTraining(context.runtime(), modelDir, join(root, `run-${variant}`), folded, options);
        const tokensPerS = run.tokens / run.seconds;
        const prefix = { full: 'train', lora: 'train_lora', bf16: 'train_bf16', padded: 'train_padded' }[variant];
        figures[`${prefix}_tokens_per_s`] = round(tokensPerS, 1);
        const counted = variant === 'lora' ? flops.lora : flops.trained;
        // Against the peak of the precision the products run in: pure bf16's are bf16 matmuls.
        const gflops = variant === 'bf16' ? bf16Peak.gflops : peak.gflops;
        figures[`${prefix}_mfu`] = round((counted.modelPerToken * tokensPerS) / (gflops * 1e9), 4);
        figures[`${prefix}_matmul_utilization`] = round((counted.perToken * tokensPerS) / (gflops * 1e9), 4);
        figures[`${prefix}_padding_fraction`] = round(run.paddingFraction, 4);
      }
      figures.train = {
        preset: PRESET,
        parameters,
        rows: folded.count,
        batch: BATCH,
        lora: LORA,
        threads: context.runtime().threads,
        matmul_gflops: peak.gflops,
        matmul_gflops_bf16: bf16Peak.gflops,
        // Per token of these rows: MFU's model FLOPs (model_*), and the products executed (full, lora, and
        // the parts of full), beside 6 × parameters.
        flops_per_token: {
          six_times_parameters: 6 * parameters,
          model_full: Math.round(flops.trained.modelPerToken),
          model_lora: Math.round(flops.lora.modelPerToken),
          full: Math.round(flops.trained.perToken),
          lora: Math.round(flops.lora.perToken),
          projections: Math.round(flops.trained.projections / flops.trained.tokens),
          output_layer: Math.round(flops.trained.outputLayer / flops.trained.tokens),
          attention: Math.round(flops.trained.attention / flops.trained.tokens),
        },
      };
      return figures;
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
};
