/**
 * What the training benchmarks share (`itl bench train`, `train-vocab`, `ddp` and their worker
 * processes): the facts rows they train on, the rows' hand-over to a worker as raw int32 files, the
 * run options of a benchmark run (one epoch, full fine-tuning, no evaluation or checkpoint on the way)
 * and the timed run itself.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { buildFactsDataset } from '../data/buildFactsDataset.js';
import { DEFAULT_MAX_SHARD_BYTES } from '../data/datasetsLayout.js';
import type { FactRow } from '../data/facts.js';
import { openFactsDataset } from '../data/openFactsDataset.js';
import { shippedAtomsDir, shippedTemplatesDir } from '../data/shippedPaths.js';
import type { Runtime } from '../native/Runtime.js';
import { type NativeRunPlace, Trainer } from '../native/Trainer.js';
import type { TokenizedDataset } from '../tokenize/TokenizedDatasetCache.js';
import { detectDistEnv } from './distEnv.js';
import { nativeDist } from './runTraining.js';
import { nativeTrainOptions, type TrainOptions, trainOptionsWith } from './trainOptions.js';

/** No eval rows: benchmark runs never evaluate. */
export const NO_EVAL_ROWS: TokenizedDataset = { ids: new Int32Array(0), labels: new Int32Array(0), offsets: Int32Array.of(0), count: 0 };

/** A facts dataset of `people` (seed 0, the shipped atoms and templates) built in ROOT/data; its rows. */
export async function benchFactRows(root: string, people: number): Promise<FactRow[]> {
  await buildFactsDataset({
    people,
    seed: 0,
    atomsDir: shippedAtomsDir,
    templatesDir: shippedTemplatesDir,
    outDir: join(root, 'data'),
    force: false,
    previewRows: 0,
    maxShardBytes: DEFAULT_MAX_SHARD_BYTES,
  });
  const dataset = openFactsDataset(join(root, 'data'));
  try {
    return dataset.rows(0, dataset.numRows);
  } finally {
    dataset.close();
  }
}

const ROW_FILES = ['ids', 'labels', 'offsets'] as const;

/** Writes rows as ROOT/ids.i32, labels.i32 and offsets.i32 (native-endian int32) for a worker process. */
export function writeBenchRows(root: string, rows: TokenizedDataset): void {
  for (const name of ROW_FILES) {
    const array = rows[name];
    writeFileSync(join(root, `${name}.i32`), Buffer.from(array.buffer, array.byteOffset, array.byteLength));
  }
}

/** The rows `writeBenchRows` wrote in ROOT. */
export function readBenchRows(root: string): TokenizedDataset {
  const read = (name: string) => {
    const bytes = readFileSync(join(root, `${name}.i32`));
    return new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  };
  const offsets = read('offsets');
  return { ids: read('ids'), labels: read('labels'), offsets, count: offsets.length - 1 };
}

/** A benchmark run's options: `rows` in-weight rows, one epoch at batch `batch`, full fine-tuning, nothing saved or evaluated on the way; `extra` on top. */
export function benchTrainOptions(rows: number, batch: number, extra: Partial<TrainOptions> = {}): TrainOptions {
  return trainOptionsWith({
    facts: rows,
    epochs: 1,
    batch,
    gradAcc: 1,
    lr: 1e-4,
    loraR: 0,
    loraAlpha: 0,
    mode: 'weight',
    saveSteps: 1_000_000,
    evalSteps: 1_000_000,
    ...extra,
  });
}

/** The data-parallel fields of a benchmark run: this process alone unless a rank is named. */
export type BenchRank = Pick<NativeRunPlace, 'rank' | 'worldSize' | 'localRank' | 'localWorldSize' | 'masterAddr' | 'masterPort'>;

export interface BenchTraining {
  /** Training tokens of the timed steps, and their seconds: every step but the first. */
  tokens: number;
  seconds: number;
  /** Padding over every step's computed tokens (0 when packed). */
  paddingFraction: number;
  /** The data-parallel all-reduce's seconds (0 alone). */
  communicationSeconds: number;
}

/**
 * Trains the model folder on `rows` with `options` in `runDir`, nothing evaluated, and times it. The
 * first step pays for allocations and page faults: its time is left out (its memory and padding are not).
 */
export async function timeBenchTraining(
  runtime: Runtime,
  modelDir: string,
  runDir: string,
  rows: TokenizedDataset,
  options: TrainOptions,
  rank: BenchRank = nativeDist(detectDistEnv({})),
): Promise<BenchTraining> {
  const place = {
    model: modelDir,
    device: 'cpu',
    runDir,
    baseModel: modelDir,
    padId: 0,
    checkpointFiles: [],
    runRecord: '',
    resumeFrom: null,
  };
  const trainer = await Trainer.create(runtime, { ...place, ...rank, ...nativeTrainOptions(options) }, rows, NO_EVAL_ROWS);
  let tokens = 0,
    seconds = 0,
    real = 0,
    computed = 0,
    steps = 0;
  try {
    await trainer.run((event) => {
      if (event.kind !== 'step') return;
      real += event.record.tokens;
      computed += event.record.tokens / (1 - event.record.padding_fraction);
      if (++steps === 1) return;
      tokens += event.record.tokens;
      seconds += event.record.tokens / event.record.tokens_per_s;
    });
    return { tokens, seconds, paddingFraction: 1 - real / computed, communicationSeconds: trainer.info().communicationSeconds };
  } finally {
    trainer.dispose();
  }
}
