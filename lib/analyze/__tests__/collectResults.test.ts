import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { CliContext } from '../../cli/context.js';
import { analyzeCommand } from '../../cli/commands/analyze.js';
import { analyze } from '../analyze.js';
import { collectResults } from '../collectResults.js';
import { parseCsvTable } from '../csv.js';
import { selectCheckpoints } from '../selectCheckpoints.js';

const WEIGHT_RUN = 'sft_Smol135M_facts=500-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight';
const TOOL_RUN = 'sft_Smol135M_facts=1000-epochs=15-batch=64-gradAcc=2-LR=1e-4-loraR=0-loraA=0-tool';

function write(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
}

function recallEntry(train: number, test: number) {
  const se = (p: number, n: number) => Math.sqrt((p * (1 - p)) / n);
  return {
    num_eval_train: 300,
    accuracy_train: train,
    stderr_train: se(train, 300),
    num_eval_test: 100,
    accuracy_test: test,
    stderr_test: se(test, 100),
    predictions_train: [],
    predictions_test: [],
    general_capabilities: {},
  };
}

function lmEval(acc: number, stderr: number) {
  return {
    results: {
      hellaswag: {
        alias: 'hellaswag',
        'acc,none': acc,
        'acc_stderr,none': stderr,
        'acc_norm,none': acc + 0.05,
        'acc_norm_stderr,none': stderr,
      },
    },
  };
}

/** A small evaluation folder in the study's layout, with one malformed file and one stray folder. */
function makeEvalDir(root: string): { evalDir: string; runsDir: string } {
  const evalDir = join(root, 'eval');
  const runsDir = join(root, 'runs');
  write(join(evalDir, 'recall', WEIGHT_RUN, 'checkpoints_recall_results.json'), {
    'checkpoint-4': recallEntry(0.5, 0.01),
    'checkpoint-8': recallEntry(0.99, 0.02),
    'checkpoint-12': recallEntry(1.0, 0.02),
  });
  write(join(evalDir, 'recall', TOOL_RUN, 'checkpoints_recall_results.json'), {
    'checkpoint-2': recallEntry(0.9, 0.4),
    'checkpoint-4': recallEntry(0.95, 1.0),
  });
  write(join(evalDir, 'recall', 'my_experiment', 'checkpoints_recall_results.json'), {});
  // lm-eval nests results under a folder named after the model path; a re-run adds a later file.
  write(join(evalDir, 'hellaswag', WEIGHT_RUN, 'checkpoint-4', '__models__ck4', 'results_2025-05-01T10-00-00.json'), lmEval(0.2, 0.01));
  write(join(evalDir, 'hellaswag', WEIGHT_RUN, 'checkpoint-4', '__models__ck4', 'results_2025-05-02T10-00-00.json'), lmEval(0.33, 0.004));
  write(join(evalDir, 'hellaswag', WEIGHT_RUN, 'checkpoint-8', 'results_2025-05-02T11-00-00.json'), lmEval(0.32, 0.004));
  write(join(evalDir, 'hellaswag', TOOL_RUN, 'checkpoint-4', 'results_2025-05-02T12-00-00.json'), lmEval(0.345, 0.0047));
  write(join(evalDir, 'hellaswag', 'base_models', 'SmolLM-135M-Instruct', 'results_2025-05-01T09-00-00.json'), lmEval(0.347, 0.00475));
  write(join(evalDir, 'kl_tv', WEIGHT_RUN, 'checkpoint_kl_eval_results.json'), {
    'checkpoint-8': { kl_mean: 0.5, kl_stderr: 0.01, tv_mean: 0.2, tv_stderr: 0.002, num_eval_kl: 120 },
    'checkpoint-12': { kl_mean: 1.5, kl_stderr: 0.03, tv_mean: 0.3, tv_stderr: 0.003, num_eval_kl: 120 },
  });
  write(join(evalDir, 'kl_tv', TOOL_RUN, 'checkpoint_kl_eval_results.json'), '{"checkpoint-4": {"kl_mean": 0.01,');
  write(join(runsDir, WEIGHT_RUN, 'checkpoint-8', 'trainer_state.json'), {
    epoch: 2.0,
    global_step: 8,
    log_history: [
      { step: 4, epoch: 1.0, loss: 2.5, learning_rate: 1e-3, grad_norm: 3.0 },
      { step: 4, epoch: 1.0, eval_loss: 2.7 },
      { step: 8, epoch: 2.0, loss: 1.25, learning_rate: 1e-3, grad_norm: 2.0 },
    ],
  });
  return { evalDir, runsDir };
}

describe('collectResults', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'itl-collect-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('joins recall, HellaSwag, KL/TV and training state per (run, checkpoint), with base rows', async () => {
    const { evalDir, runsDir } = makeEvalDir(root);
    const { rows, problems } = await collectResults({ evalDir, runsDir });
    const key = (r: { run: string; checkpoint_nbr: number }) =>
      `${r.run === WEIGHT_RUN ? 'W' : r.run === TOOL_RUN ? 'T' : r.run}@${r.checkpoint_nbr}`;
    expect(rows.map(key)).toEqual(['T@2', 'T@4', 'W@4', 'W@8', 'W@12', 'Smol135M-tool_base@0', 'Smol135M-weight_base@0']);

    const w4 = rows.find((r) => key(r) === 'W@4')!;
    expect(w4.model).toBe('Smol135M-weight');
    expect(w4.dataset_size).toBe('500');
    // In-weight runs are selected on training-fact recall; the latest lm-eval file wins.
    expect(w4.metrics.recall).toBe(0.5);
    expect(w4.metrics.recall_test).toBe(0.01);
    expect(w4.metrics.hellaswag_absolute).toBe(0.33);
    expect(w4.metrics.hellaswag_relative).toBeCloseTo((100 * 0.33) / 0.347, 12);
    expect(w4.metrics.hellaswag_relative_stderr).toBeCloseTo(((100 * 0.33) / 0.347) * Math.hypot(0.004 / 0.33, 0.00475 / 0.347), 12);
    expect(w4.metrics.kl).toBeUndefined();

    const w8 = rows.find((r) => key(r) === 'W@8')!;
    expect(w8.metrics.kl).toBe(0.5);
    expect(w8.metrics.tv_stderr).toBe(0.002);
    expect(w8.metrics.epoch).toBe(2);
    expect(w8.metrics.train_loss).toBe(1.25);

    // In-tool runs are selected on unseen-people recall; their malformed KL file adds nothing.
    const t4 = rows.find((r) => key(r) === 'T@4')!;
    expect(t4.metrics.recall).toBe(1.0);
    expect(t4.dataset_size).toBe('1k');
    expect(t4.metrics.kl).toBeUndefined();

    const base = rows.find((r) => r.run === 'Smol135M-weight_base')!;
    expect(base).toMatchObject({ model: 'Smol135M-weight', dataset_size: '0', checkpoint_nbr: 0 });
    expect(base.metrics).toMatchObject({ hellaswag_absolute: 0.347, hellaswag_relative: 100, kl: 0, tv: 0 });
    expect(base.metrics.recall).toBeUndefined();

    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain(join(evalDir, 'recall', 'my_experiment'));
    expect(problems[0]).toContain('unknown run-name pattern');
    expect(problems[1]).toContain(join(evalDir, 'kl_tv', TOOL_RUN, 'checkpoint_kl_eval_results.json'));
    expect(problems[1]).toContain('not valid JSON');
  });

  it('reports a wrong field type by file, checkpoint and key', async () => {
    write(join(root, 'eval', 'kl_tv', WEIGHT_RUN, 'checkpoint_kl_eval_results.json'), {
      'checkpoint-4': { kl_mean: 'high', tv_mean: 0.1 },
    });
    write(join(root, 'eval', 'recall', WEIGHT_RUN, 'checkpoints_recall_results.json'), { step4: recallEntry(0.5, 0.1) });
    const { rows, problems } = await collectResults({ evalDir: join(root, 'eval') });
    expect(rows).toEqual([]);
    expect(problems).toEqual([
      `${join(root, 'eval', 'recall', WEIGHT_RUN, 'checkpoints_recall_results.json')}: key 'step4' is not 'checkpoint-<step>'`,
      `${join(root, 'eval', 'kl_tv', WEIGHT_RUN, 'checkpoint_kl_eval_results.json')}: checkpoint-4: 'kl_mean' is "high", expected a number`,
    ]);
  });

  it('selects checkpoints up to the first reaching threshold × 0.99, per run', async () => {
    const { evalDir } = makeEvalDir(root);
    const { rows } = await collectResults({ evalDir });
    const kept = (threshold: number, allCheckpoints = false) =>
      selectCheckpoints(rows, { threshold, allCheckpoints }).map((r) => `${r.run.slice(-6)}@${r.checkpoint_nbr}`);
    // Weight (training recall 0.5, 0.99, 1.0): 0.99 ≥ 1.0 × 0.99 at step 8.
    // Tool (unseen-people recall 0.4, 1.0; training recall 0.9, 0.95): selected on unseen people.
    expect(kept(1.0)).toEqual(['l_base@0', 't_base@0', '0-tool@2', '0-tool@4', 'weight@4', 'weight@8']);
    expect(kept(0.9)).toEqual(['l_base@0', 't_base@0', '0-tool@2', '0-tool@4', 'weight@4', 'weight@8']);
    expect(kept(0.4)).toEqual(['l_base@0', 't_base@0', '0-tool@2', 'weight@4']);
    expect(kept(1.0, true)).toHaveLength(7);
  });
});

describe('itl analyze --eval-dir', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'itl-analyze-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('writes the table, plots and report, reports skipped files and exits non-zero', async () => {
    const { evalDir, runsDir } = makeEvalDir(root);
    const out = join(root, 'results');
    let stdout = '';
    let stderr = '';
    const context = new CliContext({ stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, {});
    const code = await analyzeCommand.run(
      { 'eval-dir': evalDir, 'runs-dir': runsDir, out, threshold: 1.0, 'all-checkpoints': false, json: false } as never,
      context,
    );
    expect(code).toBe(1);
    expect(stderr).toContain(`itl: skipped: ${join(evalDir, 'recall', 'my_experiment')}`);
    expect(stdout).toContain('6 of 7 rows kept (2 runs)');

    const table = parseCsvTable(readFileSync(join(out, 'results.csv'), 'utf8'));
    expect(table.header.slice(0, 15)).toEqual(
      ',run,model,dataset_size,checkpoint_nbr,recall,recall_stderr,hellaswag_absolute,hellaswag_absolute_stderr,hellaswag_relative,hellaswag_relative_stderr,tv,tv_stderr,kl,kl_stderr'.split(
        ',',
      ),
    );
    const w4 = table.rows.find((r) => r.values.run === WEIGHT_RUN && r.values.checkpoint_nbr === '4')!;
    const w8 = table.rows.find((r) => r.values.run === WEIGHT_RUN && r.values.checkpoint_nbr === '8')!;
    // Not measured: empty, never 0.
    expect(w4.values.kl).toBe('');
    expect(w4.values.tv).toBe('');
    expect(w4.values.train_loss).toBe('');
    expect(w8.values.recall).toBe('0.99');
    expect(w8.values.kl).toBe('0.5');
    expect(w8.values.train_loss).toBe('1.25');

    const html = readFileSync(join(out, 'report', 'index.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain(WEIGHT_RUN);
    expect(
      readFileSync(join(out, 'plots', 'recall_vs_facts.png'))
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    expect(readFileSync(join(out, 'plots', 'loss_vs_kl.svg'), 'utf8')).toContain('<svg');
  });

  it('regenerates everything when more results arrive, leaving no staging folder behind', async () => {
    const evalDir = join(root, 'eval');
    const out = join(root, 'results');
    write(join(evalDir, 'recall', WEIGHT_RUN, 'checkpoints_recall_results.json'), { 'checkpoint-4': recallEntry(0.5, 0.0) });
    const selection = { threshold: 1, allCheckpoints: false };
    const first = await analyze({ source: { kind: 'eval', evalDir }, outDir: out, selection });
    expect(first.figures.find((f) => f.id === 'hellaswag_vs_facts')!.drawn).toBe(false);
    expect(readdirSync(join(out, 'plots')).sort()).not.toContain('hellaswag_vs_facts.svg');

    write(join(evalDir, 'hellaswag', WEIGHT_RUN, 'checkpoint-4', 'results_2025-05-02T10-00-00.json'), lmEval(0.33, 0.004));
    write(join(evalDir, 'hellaswag', 'base_models', 'Smol135M', 'results_2025-05-01T09-00-00.json'), lmEval(0.347, 0.00475));
    const second = await analyze({ source: { kind: 'eval', evalDir }, outDir: out, selection });
    expect(second.figures.find((f) => f.id === 'hellaswag_vs_facts')!.drawn).toBe(true);
    expect(readdirSync(join(out, 'plots'))).toContain('hellaswag_vs_facts.svg');
    expect(readFileSync(join(out, 'results.csv'), 'utf8')).toContain('Smol135M-weight_base');
    expect(readdirSync(out).sort()).toEqual(['plots', 'report', 'results.csv']);
  });

  it('leaves earlier outputs in place when a table cannot be read', async () => {
    const out = join(root, 'results');
    write(join(out, 'results.csv'), 'previous');
    write(join(root, 'bad.csv'), 'run,model\nx,y\n');
    await expect(
      analyze({ source: { kind: 'csv', file: join(root, 'bad.csv') }, outDir: out, selection: { threshold: 1, allCheckpoints: false } }),
    ).rejects.toMatchObject({
      code: 'ITL_DATA',
      message: expect.stringContaining(`${join(root, 'bad.csv')}: missing column(s) dataset_size, checkpoint_nbr`),
    });
    expect(readFileSync(join(out, 'results.csv'), 'utf8')).toBe('previous');
  });
});
