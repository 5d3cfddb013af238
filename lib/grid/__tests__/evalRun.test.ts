/**
 * `itl eval --run NAME|PATTERN` (what the grid's per-run evaluation steps use): only the named runs
 * under --models-dir are evaluated, for the base models too; a name that matches no run folder is
 * a failure naming the path.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { runItl as itl } from '../../cli/__tests__/runItl.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const VAL = join(root, '..', 'shared', 'reference', 'hellaswag', 'hellaswag_val_sample1000.jsonl');
const A = 'sft_Smol135M_facts=500-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight';
const B = 'sft_Lam1B_facts=500-epochs=30-batch=8-gradAcc=16-LR=5e-5-loraR=0-loraA=0-weight';

describe('itl eval --run', () => {
  let dir: string;
  let runs: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'itl-eval-run-'));
    runs = join(dir, 'runs');
    // Two runs without checkpoints, each configured with a base model folder that does not exist:
    // whatever is attempted shows up as a failure naming its path, and nothing is loaded.
    for (const [name, label] of [
      [A, 'Smol135M'],
      [B, 'Lam1B'],
    ]) {
      mkdirSync(join(runs, name), { recursive: true });
      writeFileSync(
        join(runs, name, 'run_config.json'),
        JSON.stringify({
          format_version: 1,
          run_name: name,
          model_label: label,
          model: join(dir, `missing-${label}`),
          data: join(dir, 'data'),
          facts: 500,
          mode: 'weight',
          date_string: '26 Jul 2024',
        }),
      );
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const evaluate = async (...args: string[]) => {
    const result = await itl(['eval', ...args, '--models-dir', runs, '--eval-dir', join(dir, 'eval'), '--json']);
    return { code: result.code, summary: JSON.parse(result.stdout) as { evaluated: string[]; skipped: string[]; failures: string[] } };
  };

  it('evaluates only the named run', async () => {
    const all = await evaluate('recall');
    expect(all.code).toBe(1);
    expect(all.summary.failures.sort()).toEqual(
      [`${join(runs, B)}: no checkpoint-<step> folders`, `${join(runs, A)}: no checkpoint-<step> folders`].sort(),
    );
    const one = await evaluate('recall', '--run', A);
    expect(one.summary.failures).toEqual([`${join(runs, A)}: no checkpoint-<step> folders`]);
  });

  it('takes patterns and several names, and reports one that matches no run folder', async () => {
    expect((await evaluate('kl', '--run', 'sft_Lam*')).summary.failures).toEqual([`${join(runs, B)}: no checkpoint-<step> folders`]);
    const both = await evaluate('kl', '--run', A, '--run', B, '--run', 'sft_Lam8B_*');
    expect(both.code).toBe(1);
    expect(both.summary.failures.sort()).toEqual(
      [
        `${join(runs, 'sft_Lam8B_*')}: no such run folder`,
        `${join(runs, B)}: no checkpoint-<step> folders`,
        `${join(runs, A)}: no checkpoint-<step> folders`,
      ].sort(),
    );
  });

  it('--base evaluates the base models of the named runs only', async () => {
    const base = await evaluate('hellaswag', '--base', '--run', 'sft_Smol135M_*', '--hellaswag', VAL, '--limit', '1');
    expect(base.code).toBe(1);
    expect(base.summary.failures).toHaveLength(1);
    expect(base.summary.failures[0]).toContain(join(dir, 'missing-Smol135M'));
  });

  it('needs --models-dir', async () => {
    const result = await itl(['eval', 'recall', '--model', join(dir, 'm'), '--run', A, '--eval-dir', join(dir, 'eval')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--run selects runs under --models-dir [ITL_USAGE]');
  });
});
