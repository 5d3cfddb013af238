/**
 * `itl demo --scale smoke`: every stage of the study on a few rows, through the real `itl`
 * commands (child processes), into the layout the README describes; a second run skips every
 * finished stage and leaves the results as they were. (Whether the demo's numbers show the study's
 * contrast is a property of the full scale, measured and reported in the README, not asserted
 * here: a smoke-scale model learns nothing in a few steps.)
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseResultsCsv } from '../../analyze/resultsCsv.js';
import { main } from '../../cli/main.js';
import { DEMO_PLANS, demoRun, runNameOf } from '../demoPlan.js';

async function run(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

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

describe('itl demo --scale smoke', () => {
  let scratch: string;
  let out: string;
  let first: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-demo-'));
    out = join(scratch, 'demo');
    first = await run(['demo', '--scale', 'smoke', '--out', out, '--json']);
  }, 600_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('runs every stage and prints where the report is', () => {
    expect(first.stderr).toContain('[7/7] analysis');
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout) as { report: string; resultsCsv: string; summary: { run: string }[] };
    expect(summary.report).toBe(join(out, 'results', 'report', 'index.html'));
    expect(existsSync(summary.report)).toBe(true);
    expect(summary.summary.map((r) => r.run).sort()).toEqual(DEMO_PLANS.smoke.runs.map((r) => runNameOf(demoRun(r))).sort());
  });

  test('writes the layout: base model, general questions, facts, runs, every evaluation, the results table', () => {
    for (const file of ['model/base/model.safetensors', 'model/base/tokenizer.json', 'general/heldout.json', 'general/kl_prompts.json',
      'data/facts.sqlite', 'results/results.csv']) {
      expect(existsSync(join(out, file))).toBe(true);
    }
    const runs = readdirSync(join(out, 'runs')).filter((name) => name.startsWith('sft_'));
    expect(runs.sort()).toEqual(DEMO_PLANS.smoke.runs.map((r) => runNameOf(demoRun(r))).sort());
    for (const name of runs) {
      for (const [metric, file] of [['recall', 'checkpoints_recall_results.json'], ['kl_tv', 'checkpoint_kl_eval_results.json'],
        ['general', 'checkpoint_general_results.json']]) {
        const results = JSON.parse(readFileSync(join(out, 'eval', metric!, name, file!), 'utf8')) as Record<string, unknown>;
        expect(Object.keys(results).length).toBe(DEMO_PLANS.smoke.checkpointsPerRun);
      }
    }
    expect(existsSync(join(out, 'eval', 'general', 'base_models', 'Demo', 'general_results.json'))).toBe(true);
    const rows = parseResultsCsv(readFileSync(join(out, 'results', 'results.csv'), 'utf8'), 'results.csv');
    // A random model answers nothing right: the base accuracy is 0 and relative values are undefined, not 0 or NaN.
    const base = rows.find((r) => r.run === 'Demo-weight_base');
    expect(base?.metrics.general_absolute).toBe(0);
    expect(base?.metrics.general_relative).toBeUndefined();
    const trained = rows.filter((r) => r.dataset_size !== '0');
    expect(trained.length).toBeGreaterThan(0);
    for (const row of trained) {
      expect(row.metrics.kl).toBeGreaterThan(0);
      expect(row.metrics.recall_test).toBeDefined();
      expect(row.metrics.general_absolute).toBeDefined();
    }
  });

  test('a second run skips every finished stage and rewrites nothing', async () => {
    const csv = join(out, 'results', 'results.csv');
    const before = statSync(csv).mtimeMs;
    const again = await run(['demo', '--scale', 'smoke', '--out', out]);
    expect(again.code).toBe(0);
    expect(again.stderr.match(/done before, skipped/g)?.length).toBe(7);
    expect(again.stderr).not.toContain('$ itl');
    expect(statSync(csv).mtimeMs).toBe(before);
  }, 120_000);

  test('with --hellaswag, a later run adds HellaSwag (base model and checkpoints) and redoes only evaluation and analysis', async () => {
    const recall = join(out, 'eval', 'recall', runNameOf(demoRun(DEMO_PLANS.smoke.runs[0]!)), 'checkpoints_recall_results.json');
    const recallBefore = readFileSync(recall, 'utf8');
    const hellaswag = join('..', 'shared', 'reference', 'hellaswag', 'hellaswag_val_sample1000.jsonl');
    const again = await run(['demo', '--scale', 'smoke', '--out', out, '--hellaswag', hellaswag, '--hellaswag-limit', '8']);
    expect(again.code).toBe(0);
    expect(again.stderr.match(/done before, skipped/g)?.length).toBe(5);
    expect(readFileSync(recall, 'utf8')).toBe(recallBefore);
    const rows = parseResultsCsv(readFileSync(join(out, 'results', 'results.csv'), 'utf8'), 'results.csv');
    expect(rows.find((r) => r.run === 'Demo-weight_base')?.metrics.hellaswag_relative).toBe(100);
    for (const row of rows.filter((r) => r.dataset_size !== '0')) expect(row.metrics.hellaswag_absolute).toBeDefined();
  }, 120_000);
});
