/**
 * One vocabulary of `itl bench train-vocab` (lib/train/trainVocabBenchmark.ts), in a process of its
 * own so its peak RSS is this training's: `node dist/train/trainVocabWorker.js CONFIG_JSON`. Trains
 * the model folder one epoch on the rows the benchmark wrote and prints one JSON line.
 */
import { join } from 'node:path';

import { Runtime } from '../native/Runtime.js';
import { benchTrainOptions, readBenchRows, timeBenchTraining } from './benchRows.js';

interface WorkerConfig {
  root: string;
  modelDir: string;
  batch: number;
}

const config = JSON.parse(process.argv[2]!) as WorkerConfig;
const rows = readBenchRows(config.root);
const options = benchTrainOptions(rows.count, config.batch, { saveCheckpoints: 'none' });
const run = await timeBenchTraining(Runtime.open(), config.modelDir, join(config.modelDir, 'run'), rows, options);
const peakRssMb = process.resourceUsage().maxRSS / 1024;
process.stdout.write(
  `${JSON.stringify({ tokens: run.tokens, seconds: run.seconds, padding_fraction: run.paddingFraction, peak_rss_mb: peakRssMb })}\n`,
);
