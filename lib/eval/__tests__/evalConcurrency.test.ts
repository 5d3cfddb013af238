/**
 * Concurrent `itl eval` processes over one runs folder and one EVAL folder divide the work: each
 * checkpoint is evaluated once (one results file), the other process waits for it and reuses the
 * result, and both succeed. Real processes, started together.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { main } from '../../cli/main.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SMOLLM = join(root, '..', 'shared', 'reference', 'models', 'HuggingFaceTB__SmolLM2-135M-Instruct');
const VAL = join(root, '..', 'shared', 'reference', 'hellaswag', 'hellaswag_val_sample1000.jsonl');
const RUN = 'sft_Smol135M_facts=100-epochs=1-batch=4-gradAcc=1-LR=1e-3-loraR=0-loraA=0-weight';

function evaluate(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'itl.js'), '--torch-threads', '1', ...args], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('exit', (code) => done({ code, stdout }));
  });
}

describe('concurrent evaluations', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-eval-concurrent-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('two processes over the same runs evaluate each checkpoint once', async () => {
    const runs = join(scratch, 'runs');
    const quiet = { stdout: () => {}, stderr: () => {} };
    const steps = [1, 2, 3, 4];
    for (const step of steps) {
      const dir = join(runs, RUN, `checkpoint-${step}`);
      expect(await main(['model', 'init', '--preset', 'tiny-smollm', '--out', dir, '--seed', String(step)], quiet)).toBe(0);
      for (const file of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
        copyFileSync(join(SMOLLM, file), join(dir, file));
      writeFileSync(join(dir, 'trainer_state.json'), JSON.stringify({ global_step: step, max_steps: 4, log_history: [] }));
    }
    writeFileSync(
      join(runs, RUN, 'run_config.json'),
      JSON.stringify({
        format_version: 1,
        run_name: RUN,
        model_label: 'Smol135M',
        model: join(runs, RUN, 'checkpoint-1'),
        data: scratch,
        facts: 100,
        mode: 'weight',
        date_string: '26 Jul 2024',
      }),
    );
    const evalDir = join(scratch, 'eval');
    const args = [
      'eval',
      'hellaswag',
      '--models-dir',
      runs,
      '--eval-dir',
      evalDir,
      '--hellaswag',
      VAL,
      '--hellaswag-limit',
      '40',
      '--json',
    ];
    const [a, b] = await Promise.all([evaluate(args), evaluate(args)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const [sa, sb] = [JSON.parse(a.stdout), JSON.parse(b.stdout)];
    const labels = steps.map((s) => `${RUN}/checkpoint-${s}`);
    expect([...sa.evaluated, ...sb.evaluated].sort()).toEqual(labels);
    expect([...sa.evaluated, ...sa.skipped].sort()).toEqual(labels);
    expect([...sb.evaluated, ...sb.skipped].sort()).toEqual(labels);
    for (const step of steps) {
      const folder = join(evalDir, 'hellaswag', RUN, `checkpoint-${step}`);
      expect(readdirSync(folder).filter((f) => f.startsWith('results_'))).toHaveLength(1);
    }
  }, 180_000);
});
