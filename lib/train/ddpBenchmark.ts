/**
 * `itl bench ddp`: what data-parallel communication costs on this machine. The same bench-20m
 * training (real facts dialogues, per-device batch 16, fp32) runs as 1 process pinned to core 0 and
 * as 2 processes pinned to cores 0 and 1, each with one libtorch and one BLAS thread, talking over
 * Gloo on 127.0.0.1. ddp_scaling_2proc = 2-process global tokens/s ÷ 1-process tokens/s (2 is
 * perfect); ddp_allreduce_share = the seconds the gradient all-reduce added ÷ the step seconds.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { Benchmark } from '../bench/Benchmark.js';
import { packageRoot } from '../data/shippedPaths.js';
import { ItlError } from '../errors.js';
import { writeBenchRows } from './benchRows.js';
import { BATCH, PRESET, prepareTrainBench } from './trainBenchmark.js';

const run = promisify(execFile);

interface WorkerResult {
  rank: number;
  tokens: number;
  seconds: number;
  communication_seconds: number;
}

async function runRanks(root: string, modelDir: string, worldSize: number, port: number): Promise<WorkerResult[]> {
  const worker = join(packageRoot, 'dist', 'train', 'ddpBenchWorker.js');
  const ranks = Array.from({ length: worldSize }, (_, rank) => {
    const config = JSON.stringify({ root, modelDir, rank, worldSize, masterPort: port, batch: BATCH });
    return run('taskset', ['-c', String(rank), process.execPath, worker, config], { maxBuffer: 1 << 20 });
  });
  return (await Promise.all(ranks)).map((r) => JSON.parse(r.stdout.trim().split('\n').at(-1)!) as WorkerResult);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export const ddpBenchmark: Benchmark = {
  name: 'ddp',
  describe:
    `data-parallel scaling on CPU: ${PRESET} training as 1 and as 2 processes (one core and one BLAS thread each, Gloo): ` +
    'ddp_scaling_2proc and the all-reduce share of step time',
  async run(context) {
    if (cpus().length < 2) throw new ItlError('ITL_CONFIG', 'ddp bench: needs 2 cores');
    const root = mkdtempSync(join(tmpdir(), 'itl-bench-ddp-'));
    try {
      const { modelDir, rows } = await prepareTrainBench(context, root);
      writeBenchRows(root, rows);
      const port = 29000 + Math.floor(Math.random() * 2000);
      context.log('bench ddp: 1 process');
      const [single] = await runRanks(root, modelDir, 1, port);
      context.log('bench ddp: 2 processes');
      const pair = await runRanks(root, modelDir, 2, port + 1);
      const singleRate = single!.tokens / single!.seconds;
      // Every rank reports the global tokens of each step; the job's time is its slowest rank's.
      const pairSeconds = Math.max(...pair.map((r) => r.seconds));
      const pairRate = pair[0]!.tokens / pairSeconds;
      return {
        ddp_scaling_2proc: round(pairRate / singleRate, 3),
        ddp_allreduce_share: round(Math.max(...pair.map((r) => r.communication_seconds / r.seconds)), 4),
        ddp: {
          preset: PRESET,
          per_device_batch: BATCH,
          rows: rows.count,
          backend: 'gloo',
          one_process_tokens_per_s: round(singleRate, 1),
          two_process_tokens_per_s: round(pairRate, 1),
          threads_per_process: { torch: 1, blas: 1 },
        },
      };
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
};
