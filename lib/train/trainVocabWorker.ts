/**
 * One vocabulary of `itl bench train-vocab` (lib/train/trainVocabBenchmark.ts), in a process of its
 * own so its peak RSS is this training's: `node dist/train/trainVocabWorker.js CONFIG_JSON`. Trains
 * the model folder one epoch on the rows the benchmark wrote and prints one JSON line.
 */
import { join } from 'node:path';

import { Runtime } from '../native/Runtime.js';
import { Trainer } from '../native/Trainer.js';
import { benchTrainOptions, NO_EVAL_ROWS, readBenchRows } from './benchRows.js';
import { detectDistEnv } from './distEnv.js';
import { nativeDist } from './runTraining.js';
import { nativeTrainOptions } from './trainOptions.js';

interface WorkerConfig {
  root: string;
  modelDir: string;
  batch: number;
}

const config = JSON.parse(process.argv[2]!) as WorkerConfig;
const rows = readBenchRows(config.root);
const options = benchTrainOptions(rows.count, config.batch, { saveCheckpoints: 'none' });
const trainer = await Trainer.create(
  Runtime.open(),
  {
    model: config.modelDir,
    device: 'cpu',
    runDir: join(config.modelDir, 'run'),
    baseModel: config.modelDir,
    padId: 0,
    checkpointFiles: [],
    runRecord: '',
    resumeFrom: null,
    ...nativeDist(detectDistEnv({})),
    ...nativeTrainOptions(options),
  },
  rows,
  NO_EVAL_ROWS,
);
let tokens = 0,
  padded = 0,
  seconds = 0,
  steps = 0;
try {
  await trainer.run((event) => {
    if (event.kind !== 'step') return;
    padded += event.record.tokens / (1 - event.record.padding_fraction);
    // The first step pays for allocations and page faults: its time is left out, its memory is not.
    if (++steps === 1) return;
    tokens += event.record.tokens;
    seconds += event.record.tokens / event.record.tokens_per_s;
  });
} finally {
  trainer.dispose();
}
const real = rows.ids.length;
const peakRssMb = process.resourceUsage().maxRSS / 1024;
process.stdout.write(`${JSON.stringify({ tokens, seconds, padding_fraction: 1 - real / padded, peak_rss_mb: peakRssMb })}\n`);
