/**
 * Ctrl-C during `itl eval`: the runtime's abort flag stops the native generation at its next step, the
 * command exits 130 with a message, and the result being computed is not written (what finished
 * before stays). A real SIGINT to a real process.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { main } from '../main.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const smollm = join(root, '..', 'shared', 'reference', 'models', 'HuggingFaceTB__SmolLM2-135M-Instruct');

describe('interrupting a native call', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-interrupt-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('SIGINT during itl eval stops between generation steps: exit 130, no half-written result', async () => {
    const model = join(scratch, 'model');
    const quiet = { stdout: () => {}, stderr: () => {} };
    expect(await main(['model', 'init', '--preset', 'tiny-smollm', '--out', model, '--seed', '1'], quiet)).toBe(0);
    for (const file of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
      copyFileSync(join(smollm, file), join(model, file));
    const questions = join(scratch, 'questions.json');
    writeFileSync(
      questions,
      JSON.stringify({
        questions: Array.from({ length: 64 }, (_, i) => ({ task: 'count', question: `Count to ${i}.`, answer: String(i) })),
      }),
    );
    const evalDir = join(scratch, 'eval');
    // Long answers one row at a time: minutes of work, so the signal lands inside the native generation.
    const child = spawn(
      process.execPath,
      [
        join(root, 'bin', 'itl.js'),
        '--torch-threads',
        '1',
        'eval',
        'general',
        '--model',
        model,
        '--eval-dir',
        evalDir,
        '--questions',
        questions,
        '--general-max-new-tokens',
        '4000',
        '--batch-size',
        '1',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    while (!stderr.includes('evaluating') && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 500));
    const sent = Date.now();
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(Date.now() - sent).toBeLessThan(20_000);
    expect(stderr).toContain('SIGINT: stopping at the next batch');
    expect(stderr).toMatch(/stopped by SIGINT.*\[ITL_ABORTED\]/);
    expect(existsSync(join(evalDir, 'general', 'model', 'checkpoint_general_results.json'))).toBe(false);
  }, 120_000);
});
