/**
 * `itl demo --scale smoke --seeds 2`: every stage of the study on a few rows, through the real `itl`
 * commands (child processes), into the layout the README describes, once per fine-tuning seed from
 * one base model; results.csv averages the seeds (mean, standard error across them); a second run
 * skips every finished stage and leaves the results as they were; a folder holding another scale or
 * seed is refused; fewer seeds or another multiple-choice file redo only what depends on them.
 * (Whether the demo's numbers show the study's contrast is a property of the full scale, measured
 * and reported in the docs, not asserted here: a smoke-scale model learns nothing in a few steps.)
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { collectResults } from '../../analyze/collectResults.js';
import type { ResultRow } from '../../analyze/ResultRow.js';
import { parseResultsCsv } from '../../analyze/resultsCsv.js';
import { DEMO_PLANS, demoRun, runNameOf } from '../demoPlan.js';
import { runItl as run } from '../../cli/__tests__/runItl.js';

test('itl demo refuses an --out that is a file, before any work', async () => {
  const scratch = mkdtempSync(join(tmpdir(), 'itl-demo-bad-'));
  try {
    const file = join(scratch, 'not-a-folder');
    writeFileSync(file, 'x');
    const result = await run(['demo', '--scale', 'smoke', '--out', file]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`--out ${file} is a file, not a folder`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

describe('itl demo --scale smoke --seeds 2', () => {
  let scratch: string;
  let out: string;
  let first: Awaited<ReturnType<typeof run>>;
  const runNames = DEMO_PLANS.smoke.runs.map((r) => runNameOf(demoRun(r))).sort();
  const csvRows = () => parseResultsCsv(readFileSync(join(out, 'results', 'results.csv'), 'utf8'), 'results.csv');
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-demo-'));
    out = join(scratch, 'demo');
    first = await run(['demo', '--scale', 'smoke', '--seeds', '2', '--out', out, '--json']);
  }, 900_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('runs every stage, once per seed, and prints where the report is', () => {
    expect(first.stderr).toContain('[9/9] analysis over 2 seeds');
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout) as {
      report: string;
      resultsCsv: string;
      seeds: number[];
      summary: { run: string; seeds: number }[];
    };
    expect(summary.report).toBe(join(out, 'results', 'report', 'index.html'));
    expect(existsSync(summary.report)).toBe(true);
    expect(summary.seeds).toEqual([0, 1]);
    expect(summary.summary.map((r) => r.run).sort()).toEqual(runNames);
    expect(summary.summary.every((r) => r.seeds === 2)).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'demo_plan.json'), 'utf8'))).toMatchObject({
      scale: 'smoke',
      seed: 0,
      seeds: [0, 1],
      choices: 'generated',
    });
  });

  test("writes the layout: one base model, general questions and their multiple-choice file, facts, each seed's runs and evaluations", () => {
    for (const file of [
      'model/base/model.safetensors',
      'model/base/tokenizer.json',
      'general/heldout.json',
      'general/heldout_choices.jsonl',
      'general/kl_prompts.json',
      'data/facts.sqlite',
      'results/results.csv',
    ]) {
      expect(existsSync(join(out, file))).toBe(true);
    }
    expect(readdirSync(join(out, 'runs')).sort()).toEqual(['seed-0', 'seed-1']);
    const choices = readFileSync(join(out, 'general', 'heldout_choices.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(choices).toHaveLength(DEMO_PLANS.smoke.heldOut);
    for (const seed of ['seed-0', 'seed-1']) {
      const runs = readdirSync(join(out, 'runs', seed)).filter((name) => name.startsWith('sft_'));
      expect(runs.sort()).toEqual(runNames);
      const evalDir = join(out, 'eval', seed);
      for (const name of runs) {
        for (const [metric, file] of [
          ['recall', 'checkpoints_recall_results.json'],
          ['kl_tv', 'checkpoint_kl_eval_results.json'],
          ['general', 'checkpoint_general_results.json'],
        ]) {
          const results = JSON.parse(readFileSync(join(evalDir, metric!, name, file!), 'utf8')) as Record<string, unknown>;
          expect(Object.keys(results).length).toBe(DEMO_PLANS.smoke.checkpointsPerRun);
        }
        // General ability as HellaSwag is scored: lm-eval's results file per checkpoint, on every generated question.
        const checkpoints = readdirSync(join(evalDir, 'hellaswag', name));
        expect(checkpoints).toHaveLength(DEMO_PLANS.smoke.checkpointsPerRun);
        for (const checkpoint of checkpoints) {
          const [file] = readdirSync(join(evalDir, 'hellaswag', name, checkpoint));
          const results = JSON.parse(readFileSync(join(evalDir, 'hellaswag', name, checkpoint, file!), 'utf8'));
          expect(results.config).toMatchObject({ docs: DEMO_PLANS.smoke.heldOut });
          expect(results.results.hellaswag['acc,none']).toEqual(expect.any(Number));
        }
      }
      expect(existsSync(join(evalDir, 'general', 'base_models', 'Demo', 'general_results.json'))).toBe(true);
      expect(readdirSync(join(evalDir, 'hellaswag', 'base_models', 'Demo')).some((f) => f.startsWith('results_'))).toBe(true);
    }
    const rows = csvRows();
    // A random model answers nothing right by exact match: the base accuracy is 0 and relative values are undefined, not 0 or NaN.
    const base = rows.find((r) => r.run === 'Demo-weight_base');
    expect(base?.metrics.general_absolute).toBe(0);
    expect(base?.metrics.general_relative).toBeUndefined();
    // Multiple choice always has an answer: the base model's share correct is a number, and 100 % of itself.
    expect(base?.metrics.hellaswag_absolute).toEqual(expect.any(Number));
    expect(base?.metrics.hellaswag_relative).toBe(100);
    const trained = rows.filter((r) => r.dataset_size !== '0');
    expect(trained.length).toBeGreaterThan(0);
    for (const row of trained) {
      expect(row.metrics.kl).toBeGreaterThan(0);
      expect(row.metrics.recall_test).toBeDefined();
      expect(row.metrics.general_absolute).toBeDefined();
      expect(row.metrics.hellaswag_relative).toBeDefined();
    }
  });

  test("results.csv averages the two seeds: each metric's mean, and its standard error across them", async () => {
    const perSeed: ResultRow[][] = [];
    for (const seed of ['seed-0', 'seed-1']) perSeed.push((await collectResults({ evalDir: join(out, 'eval', seed) })).rows);
    const key = (r: ResultRow) => `${r.run}@${r.checkpoint_nbr}`;
    let compared = 0;
    for (const row of csvRows().filter((r) => r.dataset_size !== '0')) {
      const [a, b] = perSeed.map((rows) => rows.find((r) => key(r) === key(row))!);
      expect(row.metrics.seeds).toBe(2);
      for (const metric of ['kl', 'tv', 'hellaswag_absolute', 'hellaswag_relative', 'recall_train'] as const) {
        const [x, y] = [a!.metrics[metric]!, b!.metrics[metric]!];
        expect(row.metrics[metric]).toBeCloseTo((x + y) / 2, 12);
        // Two values: sample sd |x − y| / √2, stderr sd / √2.
        expect(row.metrics[`${metric}_stderr`]).toBeCloseTo(Math.abs(x - y) / 2, 12);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(0);
    // The seeds differ (they order the data differently): an average of two copies of one seed would pass the above.
    const kls = perSeed.map((rows) => rows.filter((r) => r.metrics.kl !== undefined && r.metrics.kl > 0).map((r) => r.metrics.kl));
    expect(kls[0]).not.toEqual(kls[1]);
  });

  test('a second run skips every finished stage and rewrites nothing', async () => {
    const csv = join(out, 'results', 'results.csv');
    const before = statSync(csv).mtimeMs;
    const again = await run(['demo', '--scale', 'smoke', '--seeds', '2', '--out', out]);
    expect(again.code).toBe(0);
    expect(again.stderr.match(/done before, skipped/g)?.length).toBe(9);
    expect(again.stderr).not.toContain('$ itl');
    expect(statSync(csv).mtimeMs).toBe(before);
  }, 120_000);

  test('another scale or seed on this folder is refused before any work, naming both', async () => {
    const plan = readFileSync(join(out, 'demo_plan.json'), 'utf8');
    for (const args of [
      ['--scale', 'full'],
      ['--scale', 'smoke', '--seed', '5'],
    ]) {
      const other = await run(['demo', ...args, '--out', out]);
      expect(other.code).not.toBe(0);
      expect(other.stderr).toContain(`${out} holds the demo --scale smoke --seed 0, not --scale ${args[1]} --seed ${args[3] ?? 0}`);
      expect(other.stderr).not.toContain('$ itl');
    }
    expect(readFileSync(join(out, 'demo_plan.json'), 'utf8')).toBe(plan);
  }, 120_000);

  test('fewer seeds redo only the analysis, over the seeds asked for', async () => {
    const again = await run(['demo', '--scale', 'smoke', '--seeds', '1', '--out', out]);
    expect(again.code).toBe(0);
    expect(again.stderr.match(/done before, skipped/g)?.length).toBe(6);
    expect(again.stderr).toContain('analysis over one seed: done before with other inputs, redone');
    const seed0 = (await collectResults({ evalDir: join(out, 'eval', 'seed-0') })).rows;
    for (const row of csvRows().filter((r) => r.dataset_size !== '0')) {
      const own = seed0.find((r) => r.run === row.run && r.checkpoint_nbr === row.checkpoint_nbr)!;
      expect(row.metrics.kl).toBe(own.metrics.kl);
      expect(row.metrics.seeds).toBeUndefined();
    }
  }, 120_000);

  test('with --hellaswag, a later run scores that file instead (base model and checkpoints), redoing only evaluation and analysis', async () => {
    const recall = join(out, 'eval', 'seed-0', 'recall', runNameOf(demoRun(DEMO_PLANS.smoke.runs[0]!)), 'checkpoints_recall_results.json');
    const recallBefore = readFileSync(recall, 'utf8');
    const hellaswag = join('..', 'shared', 'reference', 'hellaswag', 'hellaswag_val_sample1000.jsonl');
    const again = await run(['demo', '--scale', 'smoke', '--seeds', '2', '--out', out, '--hellaswag', hellaswag, '--hellaswag-limit', '8']);
    expect(again.code).toBe(0);
    expect(again.stderr.match(/done before, skipped/g)?.length).toBe(6);
    expect(readFileSync(recall, 'utf8')).toBe(recallBefore);
    const rows = csvRows();
    expect(rows.find((r) => r.run === 'Demo-weight_base')?.metrics.hellaswag_relative).toBe(100);
    for (const row of rows.filter((r) => r.dataset_size !== '0')) expect(row.metrics.hellaswag_absolute).toBeDefined();
    const folder = join(out, 'eval', 'seed-1', 'hellaswag', runNameOf(demoRun(DEMO_PLANS.smoke.runs[0]!)));
    for (const checkpoint of readdirSync(folder)) {
      const files = readdirSync(join(folder, checkpoint));
      expect(files).toHaveLength(1);
      expect(JSON.parse(readFileSync(join(folder, checkpoint, files[0]!), 'utf8')).config).toMatchObject({ docs: 8 });
    }
    expect(readFileSync(join(out, 'results', 'report', 'index.html'), 'utf8')).toContain('HellaSwag %');
  }, 300_000);
});
