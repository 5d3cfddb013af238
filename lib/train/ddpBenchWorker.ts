/**
 * One rank of `itl bench ddp` (lib/train/ddpBenchmark.ts), started pinned to one core:
 * `node dist/train/ddpBenchWorker.js CONFIG_JSON`. Trains bench-20m on the rows the benchmark wrote
 * and prints one JSON line: tokens (global, per step), step seconds and the all-reduce's share.
 */
import { join } from 'node:path';

import { Runtime } from '../native/Runtime.js';
import { benchTrainOptions, readBenchRows, timeBenchTraining } from './benchRows.js';

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
const run = await timeBenchTraining(runtime, config.modelDir, join(config.root, `run-${config.worldSize}`), rows, options, {
  rank: config.rank,
  worldSize: config.worldSize,
  localRank: config.rank,
  localWorldSize: config.worldSize,
  masterAddr: '127.0.0.1',
  masterPort: config.masterPort,
});
process.stdout.write(
  `${JSON.stringify({ rank: config.rank, tokens: run.tokens, seconds: run.seconds, communication_seconds: run.communicationSeconds })}\n`,
);
