/**
 * One rank of `itl bench ddp` (lib/train/ddpBenchmark.ts), started pinned to one core:
 * `node dist/train/ddpBenchWorker.js CONFIG_JSON`. Trains bench-20m on the rows the benchmark wrote
 * and prints one JSON line: tokens (global, per step), step seconds and the all-reduce's share.
 */
import { join } from 'node:path';

import { Runtime } from '../native/Runtime.js';
import { Trainer } from '../native/Trainer.js';
import { benchTrainOptions, NO_EVAL_ROWS, readBenchRows } from './benchRows.js';
import { nativeTrainOptions } from './trainOptions.js';

interface WorkerConfig {
  root: string;
  modelDir: string;
  rank: number;
  worldSize: number;
  masterPort: number;
  batch: number;
}

const config = JSON.parse(process.argv[2]!) as WorkerConfig;
const rows = readBenchRows(config.root);
const runtime = Runtime.open({ torchThreads: 1, blasThreads: 1 });
const options = benchTrainOptions(rows.count, config.batch, { collectiveTimeout: 120 });
const trainer = await Trainer.create(
  runtime,
  {
    model: config.modelDir,
    device: 'cpu',
    runDir: join(config.root, `run-${config.worldSize}`),
    baseModel: config.modelDir,
    padId: 0,
    checkpointFiles: [],
    runRecord: '',
    resumeFrom: null,
    rank: config.rank,
    worldSize: config.worldSize,
    localRank: config.rank,
    localWorldSize: config.worldSize,
    masterAddr: '127.0.0.1',
    masterPort: config.masterPort,
    ...nativeTrainOptions(options),
  },
  rows,
  NO_EVAL_ROWS,
);
let tokens = 0,
  seconds = 0,
  steps = 0;
try {
  await trainer.run((event) => {
    // The first step pays for allocations: leave it out.
    if (event.kind !== 'step' || ++steps === 1) return;
    tokens += event.record.tokens;
    seconds += event.record.tokens / event.record.tokens_per_s;
  });
  process.stdout.write(
    `${JSON.stringify({ rank: config.rank, tokens, seconds, communication_seconds: trainer.info().communicationSeconds })}\n`,
  );
} finally {
  trainer.dispose();
}
