/**
 * Seeds of the same runs as one table: each metric's mean, and in its stderr column the standard
 * error across seeds (sample sd ÷ √n), the `seeds` count; through `itl analyze` with one --eval-dir
 * per seed, results.csv, the figures' error bars and the report carry them, and the hellaswag
 * columns are named by --hellaswag-label.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { main } from '../../cli/main.js';
import { formatRunName, type RunName } from '../../train/runName.js';
import { aggregateSeeds, meanAndStderr } from '../aggregateSeeds.js';
import type { ResultRow } from '../ResultRow.js';
import { parseResultsCsv } from '../resultsCsv.js';

const RUN: RunName = { model: 'Demo', facts: 64, epochs: 10, batch: 16, gradAcc: 1, lr: 1e-3, loraR: 0, loraAlpha: 0, mode: 'weight' };
const NAME = formatRunName(RUN);

function row(step: number, metrics: ResultRow['metrics']): ResultRow {
  return { run: NAME, model: 'Demo-weight', dataset_size: '64', checkpoint_nbr: step, metrics };
}

const base = (metrics: ResultRow['metrics']): ResultRow => ({
  run: 'Demo-weight_base',
  model: 'Demo-weight',
  dataset_size: '0',
  checkpoint_nbr: 0,
  metrics,
});

describe('meanAndStderr', () => {
  test('the mean, and the sample standard deviation over √n', () => {
    // values 1, 2, 6: mean 3, sample variance ((−2)² + (−1)² + 3²) / 2 = 7, stderr √(7/3)
    const { mean, stderr } = meanAndStderr([1, 2, 6]);
    expect(mean).toBe(3);
    expect(stderr).toBeCloseTo(Math.sqrt(7 / 3), 14);
    expect(meanAndStderr([4])).toEqual({ mean: 4 });
  });
});

describe('aggregateSeeds', () => {
  test('per run and checkpoint: mean of each metric, standard error across seeds, the seed count', () => {
    const seeds = [
      [row(4, { recall: 0.5, recall_stderr: 0.01, kl: 1, kl_stderr: 0.1, hellaswag_relative: 90, epoch: 2 })],
      [row(4, { recall: 0.7, recall_stderr: 0.02, kl: 2, kl_stderr: 0.1, hellaswag_relative: 80, epoch: 2 })],
      [row(4, { recall: 0.9, recall_stderr: 0.03, kl: 6, kl_stderr: 0.1, hellaswag_relative: 70, epoch: 2 })],
    ];
    const [aggregated] = aggregateSeeds(seeds);
    const m = aggregated!.metrics;
    expect(m.recall).toBeCloseTo(0.7, 14);
    expect(m.recall_stderr).toBeCloseTo(Math.sqrt(0.04 / 3), 14);
    expect(m.kl).toBe(3);
    expect(m.kl_stderr).toBeCloseTo(Math.sqrt(7 / 3), 14);
    expect(m.hellaswag_relative).toBeCloseTo(80, 12);
    expect(m.hellaswag_relative_stderr).toBeCloseTo(Math.sqrt(100 / 3), 12);
    expect(m.epoch).toBe(2);
    expect(m.seeds).toBe(3);
    // No stderr column is invented for a metric that has none (epoch), and none for metrics absent everywhere.
    expect(Object.keys(m).sort()).toEqual([
      'epoch',
      'hellaswag_relative',
      'hellaswag_relative_stderr',
      'kl',
      'kl_stderr',
      'recall',
      'recall_stderr',
      'seeds',
    ]);
  });

  test("a checkpoint only one seed has reached keeps that evaluation's own stderr and says it averages one seed", () => {
    const rows = aggregateSeeds([[row(4, { kl: 1 }), row(8, { kl: 2, kl_stderr: 0.25 })], [row(4, { kl: 3 })]]);
    expect(rows.map((r) => [r.checkpoint_nbr, r.metrics.kl, r.metrics.seeds])).toEqual([
      [4, 2, 2],
      [8, 2, 1],
    ]);
    expect(rows[1]!.metrics.kl_stderr).toBe(0.25);
  });

  test('a base model evaluated the same in every seed folder keeps its row and its own standard errors', () => {
    const b = base({ hellaswag_absolute: 0.8, hellaswag_absolute_stderr: 0.02, kl: 0 });
    const [kept] = aggregateSeeds([[b], [structuredClone(b)], [structuredClone(b)]]);
    expect(kept!.metrics).toEqual({ ...b.metrics, seeds: 3 });
    const [differs] = aggregateSeeds([[b], [base({ hellaswag_absolute: 0.6, hellaswag_absolute_stderr: 0.02, kl: 0 })]]);
    expect(differs!.metrics.hellaswag_absolute).toBeCloseTo(0.7, 14);
    expect(differs!.metrics.hellaswag_absolute_stderr).toBeCloseTo(0.1, 14);
  });
});

describe('itl analyze over seeds', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-analyze-seeds-'));
    // Two seeds' evaluation folders: recall and KL/TV of one run at one checkpoint, and HellaSwag of it and of its base model.
    for (const [seed, recall, kl, acc] of [
      [0, 0.6, 0.5, 0.4],
      [1, 0.8, 1.5, 0.6],
    ] as const) {
      const dir = join(scratch, `eval-${seed}`);
      mkdirSync(join(dir, 'recall', NAME), { recursive: true });
      writeFileSync(
        join(dir, 'recall', NAME, 'checkpoints_recall_results.json'),
        JSON.stringify({ 'checkpoint-4': { accuracy_train: recall, stderr_train: 0.05, accuracy_test: 0, stderr_test: 0 } }),
      );
      mkdirSync(join(dir, 'kl_tv', NAME), { recursive: true });
      writeFileSync(
        join(dir, 'kl_tv', NAME, 'checkpoint_kl_eval_results.json'),
        JSON.stringify({ 'checkpoint-4': { kl_mean: kl, kl_stderr: 0.01, tv_mean: 0.1, tv_stderr: 0.01, num_eval_kl: 4 } }),
      );
      for (const [folder, value] of [
        [join('base_models', 'Demo'), 0.8],
        [join(NAME, 'checkpoint-4'), acc],
      ] as const) {
        mkdirSync(join(dir, 'hellaswag', folder), { recursive: true });
        writeFileSync(
          join(dir, 'hellaswag', folder, 'results_2026-01-01T00-00-00.json'),
          JSON.stringify({ results: { hellaswag: { 'acc,none': value, 'acc_stderr,none': 0.02 } } }),
        );
      }
    }
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('results.csv, the figures and the report carry mean ± stderr across seeds under the given label', async () => {
    const out = join(scratch, 'results');
    let stdout = '';
    const code = await main(
      [
        'analyze',
        '--eval-dir',
        join(scratch, 'eval-0'),
        '--eval-dir',
        join(scratch, 'eval-1'),
        '--out',
        out,
        '--hellaswag-label',
        'general ability (generated multiple choice)',
        '--json',
      ],
      { stdout: (t) => void (stdout += t), stderr: () => {} },
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout).rowsKept).toBe(2);
    const rows = parseResultsCsv(readFileSync(join(out, 'results.csv'), 'utf8'), 'results.csv');
    const trained = rows.find((r) => r.run === NAME)!;
    expect(trained.metrics.recall).toBeCloseTo(0.7, 14);
    expect(trained.metrics.recall_stderr).toBeCloseTo(0.1, 14);
    expect(trained.metrics.kl).toBe(1);
    expect(trained.metrics.kl_stderr).toBeCloseTo(0.5, 14);
    expect(trained.metrics.hellaswag_relative).toBeCloseTo(62.5, 12);
    expect(trained.metrics.hellaswag_relative_stderr).toBeCloseTo(12.5, 12);
    expect(trained.metrics.seeds).toBe(2);
    expect(rows.find((r) => r.run === 'Demo-weight_base')!.metrics).toMatchObject({
      hellaswag_absolute: 0.8,
      hellaswag_absolute_stderr: 0.02,
      seeds: 2,
    });

    const spec = JSON.parse(readFileSync(join(out, 'plots', 'hellaswag_vs_facts.vl.json'), 'utf8'));
    expect(spec.title).toBe('general ability (generated multiple choice) (relative) vs number of facts');
    expect(spec.data.values).toEqual([expect.objectContaining({ x: 64, stderr: expect.closeTo(12.5, 12) })]);
    const report = readFileSync(join(out, 'report', 'index.html'), 'utf8');
    expect(report).toContain('general ability (generated multiple choice) %');
    expect(report).not.toContain('HellaSwag %');
    expect(report).toContain('mean and standard error across 2 seeds');
  });

  test('a --runs-dir count that does not match the --eval-dir count is a usage error', async () => {
    let stderr = '';
    const code = await main(
      [
        'analyze',
        '--eval-dir',
        join(scratch, 'eval-0'),
        '--eval-dir',
        join(scratch, 'eval-1'),
        '--runs-dir',
        scratch,
        '--out',
        join(scratch, 'never'),
      ],
      { stdout: () => {}, stderr: (t) => void (stderr += t) },
    );
    expect(code).not.toBe(0);
    expect(stderr).toContain('2 --eval-dir but 1 --runs-dir');
  });
});
