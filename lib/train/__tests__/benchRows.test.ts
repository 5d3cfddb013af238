/**
 * The timed run the training benchmarks share (`timeBenchTraining`): which steps are timed, and the
 * padding it reports, packed and padded, on a tiny model.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Model } from '../../native/Model.js';
import { Runtime } from '../../native/Runtime.js';
import { benchTrainOptions, readBenchRows, timeBenchTraining, writeBenchRows } from '../benchRows.js';

const runtime = Runtime.open({ torchThreads: 1 });
let scratch: string;
let model: string;
beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'itl-bench-rows-'));
  model = join(scratch, 'tiny');
  (await Model.init(runtime, 'tiny-smollm', 3, model)).dispose();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Six rows of 3 to 12 tokens (40 in all), every token after the first labelled.
const LENGTHS = [3, 9, 4, 12, 5, 7];
const offsets = Int32Array.from([0, ...LENGTHS.map((_, i) => LENGTHS.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
const ids = Int32Array.from({ length: 40 }, (_, i) => 5 + ((i * 11) % 60));
const labels = ids.map((id, i) => (offsets.includes(i) ? -100 : id));
const rows = { ids, labels, offsets, count: LENGTHS.length };

test('the rows written for a worker process read back as they were', () => {
  const dir = mkdtempSync(join(scratch, 'rows-'));
  writeBenchRows(dir, rows);
  expect(readBenchRows(dir)).toEqual(rows);
});

// One batch of all six rows, two epochs: two steps of 40 tokens; the second alone is timed.
test.each([
  ['on', 0],
  ['off', 1 - 40 / (6 * 12)],
])('packing %s: the first step is left out of the time, and the padding is of every step', async (packing, padding) => {
  const options = benchTrainOptions(rows.count, rows.count, { epochs: 2, packing: packing as 'on' | 'off', saveCheckpoints: 'none' });
  const run = await timeBenchTraining(runtime, model, join(scratch, `run-${packing}`), rows, options);
  expect(run.tokens).toBe(40);
  expect(run.seconds).toBeGreaterThan(0);
  expect(run.paddingFraction).toBeCloseTo(padding, 12);
  expect(run.communicationSeconds).toBe(0);
});
