/**
 * `itl eval recall|hellaswag|kl` end to end on tiny random models given the real SmolLM tokenizer,
 * laid out as training runs: result files in the study's layout, read back by `itl analyze`'s own
 * reader; finished checkpoints skipped; broken runs reported with their path and a non-zero exit
 * while the others are still evaluated; a killed evaluation resumes without redoing finished work.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { collectResults } from '../../analyze/collectResults.js';
import { runItl as itl } from '../../cli/__tests__/runItl.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SMOLLM = join(root, '..', 'shared', 'reference', 'models', 'HuggingFaceTB__SmolLM2-135M-Instruct');
const VAL = join(root, '..', 'shared', 'reference', 'hellaswag', 'hellaswag_val_sample1000.jsonl');
const run = (mode: string, facts = 100) => `sft_Smol135M_facts=${facts}-epochs=1-batch=4-gradAcc=1-LR=1e-3-loraR=0-loraA=0-${mode}`;
const WEIGHT = run('weight');
const TOOL = run('tool');
const EMPTY = run('weight', 50);
const BROKEN = run('tool', 50);

/**
 * A PEFT LoRA adapter on q_proj of every layer, written by hand (adapter_config.json +
 * adapter_model.safetensors in PEFT's key layout): lora_A random, lora_B `bScale` × random.
 */
function writeAdapter(dir: string, baseDir: string, bScale: number): void {
  const config = JSON.parse(readFileSync(join(baseDir, 'config.json'), 'utf8'));
  const r = 4;
  const hidden = config.hidden_size as number;
  const out = (config.num_attention_heads as number) * ((config.head_dim as number | undefined) ?? hidden / config.num_attention_heads);
  let state = 7;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.5;
  const tensors: [string, number[], Float32Array][] = [];
  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    const prefix = `base_model.model.model.layers.${layer}.self_attn.q_proj`;
    tensors.push([`${prefix}.lora_A.weight`, [r, hidden], Float32Array.from({ length: r * hidden }, random)]);
    tensors.push([`${prefix}.lora_B.weight`, [out, r], Float32Array.from({ length: out * r }, () => bScale * random())]);
  }
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape, data] of tensors) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let headerText = JSON.stringify(header);
  headerText += ' '.repeat((8 - (headerText.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerText.length));
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'adapter_model.safetensors'),
    Buffer.concat([length, Buffer.from(headerText), ...tensors.map(([, , d]) => Buffer.from(d.buffer))]),
  );
  writeFileSync(
    join(dir, 'adapter_config.json'),
    JSON.stringify({
      base_model_name_or_path: baseDir,
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r,
      lora_alpha: 8,
      lora_dropout: 0.05,
      target_modules: ['q_proj'],
      bias: 'none',
      fan_in_fan_out: false,
      use_rslora: false,
      use_dora: false,
    }),
  );
  for (const file of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
    copyFileSync(join(SMOLLM, file), join(dir, file));
}

function resultsFiles(folder: string): string[] {
  return existsSync(folder) ? readdirSync(folder).filter((f) => /^results_.*\.json$/.test(f)) : [];
}

describe('itl eval', () => {
  let scratch: string;
  let runs: string;
  let base: string;
  let data: string;
  let prompts: string;

  async function makeModel(dir: string, seed: number): Promise<void> {
    expect((await itl(['model', 'init', '--preset', 'tiny-smollm', '--out', dir, '--seed', String(seed)])).code).toBe(0);
    for (const file of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
      copyFileSync(join(SMOLLM, file), join(dir, file));
    // A checkpoint is complete once the trainer wrote its state (last): these stand for trained ones.
    if (/checkpoint-\d+$/.test(dir))
      writeFileSync(
        join(dir, 'trainer_state.json'),
        JSON.stringify({ global_step: Number(dir.split('-').at(-1)), max_steps: 6, log_history: [] }),
      );
  }

  function writeRunConfig(name: string, mode: string, facts: number): void {
    mkdirSync(join(runs, name), { recursive: true });
    writeFileSync(
      join(runs, name, 'run_config.json'),
      JSON.stringify({
        format_version: 1,
        run_name: name,
        model_label: 'Smol135M',
        model: base,
        data,
        facts,
        mode,
        date_string: '26 Jul 2024',
        lora_r: 0,
      }),
    );
  }

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-eval-'));
    runs = join(scratch, 'runs');
    base = join(scratch, 'SmolLM-135M-Instruct');
    data = join(scratch, 'facts');
    expect((await itl(['data', 'build', '--people', '40', '--seed', '2', '--out', data])).code).toBe(0);
    await makeModel(base, 3);
    writeRunConfig(WEIGHT, 'weight', 100);
    await makeModel(join(runs, WEIGHT, 'checkpoint-2'), 3); // the base model's own weights: divergence 0
    await makeModel(join(runs, WEIGHT, 'checkpoint-4'), 4);
    await makeModel(join(runs, WEIGHT, 'checkpoint-6.tmp-123'), 5); // still being written: not a checkpoint
    writeRunConfig(TOOL, 'tool', 100);
    await makeModel(join(runs, TOOL, 'checkpoint-3'), 6);
    writeRunConfig(EMPTY, 'weight', 50); // a run without checkpoints
    writeRunConfig(BROKEN, 'tool', 50);
    mkdirSync(join(runs, BROKEN, 'checkpoint-1'));
    writeFileSync(join(runs, BROKEN, 'checkpoint-1', 'config.json'), '{ not json');
    writeFileSync(join(runs, BROKEN, 'checkpoint-1', 'trainer_state.json'), '{}');
    prompts = join(scratch, 'prompts.json');
    writeFileSync(
      prompts,
      JSON.stringify({
        prompts: [
          { category: 'factual', prompt: 'What is the capital of Italy?' },
          { category: 'creative', prompt: 'Write a line about rain.' },
          { category: 'math_logic', prompt: 'What is 3 plus 4?' },
        ],
      }),
    );
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('recall: every checkpoint of every run, the broken ones reported, then skipped on a second pass', async () => {
    const evalDir = join(scratch, 'eval-recall');
    const args = [
      'eval',
      'recall',
      '--models-dir',
      runs,
      '--eval-dir',
      evalDir,
      '--train-examples',
      '5',
      '--test-examples',
      '3',
      '--batch-size',
      '4',
      '--json',
    ];
    const first = await itl(args);
    expect(first.code).toBe(1);
    const summary = JSON.parse(first.stdout);
    expect(summary.evaluated).toEqual([`${TOOL}/checkpoint-3`, `${WEIGHT}/checkpoint-2`, `${WEIGHT}/checkpoint-4`]);
    expect(summary.failures).toHaveLength(2);
    expect(summary.failures[0]).toContain(`${join(runs, EMPTY)}: no checkpoint-<step> folders`);
    expect(summary.failures[1]).toContain(join(runs, BROKEN, 'checkpoint-1'));
    expect(first.stderr).toContain(`itl: failed: ${join(runs, EMPTY)}`);

    const file = JSON.parse(readFileSync(join(evalDir, 'recall', WEIGHT, 'checkpoints_recall_results.json'), 'utf8'));
    expect(Object.keys(file)).toEqual(['checkpoint-2', 'checkpoint-4']);
    expect(file['checkpoint-4']).toMatchObject({ num_eval_train: 5, num_eval_test: 3, mode: 'weight' });
    for (const key of ['accuracy_train', 'stderr_train', 'accuracy_test', 'stderr_test'])
      expect(typeof file['checkpoint-4'][key]).toBe('number');
    expect(file['checkpoint-4'].predictions_train[0]).toEqual(
      expect.objectContaining({ question: expect.any(String), completion: expect.any(String) }),
    );
    const tool = JSON.parse(readFileSync(join(evalDir, 'recall', TOOL, 'checkpoints_recall_results.json'), 'utf8'));
    expect(tool['checkpoint-3'].predictions_test[0]).toEqual(
      expect.objectContaining({ tool_call: expect.any(String), final_answer: expect.any(String) }),
    );

    const collected = await collectResults({ evalDir });
    expect(collected.problems).toEqual([]);
    expect(collected.rows.map((r) => [r.run, r.checkpoint_nbr])).toEqual([
      [TOOL, 3],
      [WEIGHT, 2],
      [WEIGHT, 4],
    ]);
    expect(collected.rows[2]!.metrics.recall_train).toBe(file['checkpoint-4'].accuracy_train);
    expect(collected.rows[0]!.metrics.recall).toBe(tool['checkpoint-3'].accuracy_test); // in-tool runs select on unseen people

    const second = await itl(args);
    expect(second.code).toBe(1);
    expect(JSON.parse(second.stdout)).toMatchObject({
      evaluated: [],
      skipped: [`${TOOL}/checkpoint-3`, `${WEIGHT}/checkpoint-2`, `${WEIGHT}/checkpoint-4`],
    });
  });

  test("kl: zero for the base model's own weights, positive otherwise; base completions cached on disk", async () => {
    const evalDir = join(scratch, 'eval-kl');
    const args = [
      'eval',
      'kl',
      '--models-dir',
      runs,
      '--eval-dir',
      evalDir,
      '--kl-prompts',
      prompts,
      '--kl-max-new-tokens',
      '12',
      '--json',
    ];
    const first = await itl(args);
    expect(first.code).toBe(1); // the two broken runs
    expect(JSON.parse(first.stdout).evaluated).toHaveLength(3);
    const file = JSON.parse(readFileSync(join(evalDir, 'kl_tv', WEIGHT, 'checkpoint_kl_eval_results.json'), 'utf8'));
    expect(file['checkpoint-2']).toMatchObject({ num_eval_kl: 3, estimator: 'bregman' });
    expect(file['checkpoint-2'].kl_mean).toBeCloseTo(0, 6);
    expect(file['checkpoint-2'].tv_mean).toBeCloseTo(0, 6);
    expect(file['checkpoint-4'].kl_mean).toBeGreaterThan(1e-4);
    expect(file['checkpoint-4'].tv_mean).toBeGreaterThan(1e-4);
    expect(file['checkpoint-4'].kl_standard_mean).toBeCloseTo(file['checkpoint-4'].kl_mean, 4);
    expect(file['checkpoint-4'].num_positions).toBeGreaterThanOrEqual(3);
    expect(file['checkpoint-4'].num_positions).toBeLessThanOrEqual(36);
    const cache = join(evalDir, 'cache', 'kl_base_completions');
    const cached = readdirSync(cache);
    expect(cached).toHaveLength(1);
    const completions = JSON.parse(readFileSync(join(cache, cached[0]!), 'utf8')).completions;
    expect(completions.map((c: { prompt: string }) => c.prompt)).toEqual([
      'What is the capital of Italy?',
      'Write a line about rain.',
      'What is 3 plus 4?',
    ]);

    const collected = await collectResults({ evalDir });
    expect(collected.problems).toEqual([]);
    expect(collected.rows.find((r) => r.run === WEIGHT && r.checkpoint_nbr === 4)!.metrics).toMatchObject({
      kl: file['checkpoint-4'].kl_mean,
      tv: file['checkpoint-4'].tv_mean,
      kl_stderr: file['checkpoint-4'].kl_stderr,
    });
    // --model on one checkpoint folder writes under its run, keyed by the checkpoint, reusing the cached completions.
    rmSync(join(evalDir, 'kl_tv', TOOL), { recursive: true });
    const one = await itl([
      'eval',
      'kl',
      '--model',
      join(runs, TOOL, 'checkpoint-3'),
      '--base-model',
      base,
      '--eval-dir',
      evalDir,
      '--kl-prompts',
      prompts,
      '--kl-max-new-tokens',
      '12',
    ]);
    expect(one.code).toBe(0);
    expect(one.stderr).toContain('base completions from');
    expect(Object.keys(JSON.parse(readFileSync(join(evalDir, 'kl_tv', TOOL, 'checkpoint_kl_eval_results.json'), 'utf8')))).toEqual([
      'checkpoint-3',
    ]);
  });

  test("hellaswag: lm-eval's results files per checkpoint and for the base model, read by analyze", async () => {
    const evalDir = join(scratch, 'eval-hellaswag');
    const common = ['--eval-dir', evalDir, '--hellaswag', VAL, '--limit', '6'];
    const first = await itl(['eval', 'hellaswag', '--models-dir', runs, ...common, '--log-samples']);
    expect(first.code).toBe(1);
    const folder = join(evalDir, 'hellaswag', WEIGHT, 'checkpoint-4');
    const [name] = resultsFiles(folder);
    const document = JSON.parse(readFileSync(join(folder, name!), 'utf8'));
    const task = document.results.hellaswag;
    for (const key of ['acc,none', 'acc_stderr,none', 'acc_norm,none', 'acc_norm_stderr,none']) expect(typeof task[key]).toBe('number');
    expect(document.config).toMatchObject({ docs: 6, add_bos_token: false, adapter: null });
    const samples = readFileSync(join(folder, name!.replace('results_', 'samples_hellaswag_').replace('.json', '.jsonl')), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(samples).toHaveLength(6);
    expect(samples.reduce((n: number, s: { acc: number }) => n + s.acc, 0) / 6).toBeCloseTo(task['acc,none'], 12);
    expect(samples[0].resps).toHaveLength(4);

    const baseRun = await itl(['eval', 'hellaswag', '--models-dir', runs, '--base', ...common]);
    expect(baseRun.code).toBe(0); // every run shares one base model, evaluated once
    expect(baseRun.stdout).toContain('1 evaluated');
    expect(resultsFiles(join(evalDir, 'hellaswag', 'base_models', 'Smol135M'))).toHaveLength(1);
    const collected = await collectResults({ evalDir });
    expect(collected.problems).toEqual([]);
    const row = collected.rows.find((r) => r.run === WEIGHT && r.checkpoint_nbr === 4)!;
    expect(row.metrics.hellaswag_absolute).toBe(task['acc,none']);
    expect(row.metrics.hellaswag_relative).toBeDefined();
    expect(collected.rows.some((r) => r.dataset_size === '0')).toBe(true); // the base-model row

    // --model on a folder that is not a checkpoint: EVAL/hellaswag/<folder name>/results_….json
    const single = await itl([
      'eval',
      'hellaswag',
      '--model',
      base,
      '--eval-dir',
      join(scratch, 'eval-single'),
      '--hellaswag',
      VAL,
      '--limit',
      '2',
    ]);
    expect(single.code).toBe(0);
    expect(resultsFiles(join(scratch, 'eval-single', 'hellaswag', 'SmolLM-135M-Instruct'))).toHaveLength(1);
  });

  test('a killed evaluation resumes without redoing finished checkpoints', async () => {
    const evalDir = join(scratch, 'eval-killed');
    const args = ['eval', 'hellaswag', '--models-dir', runs, '--eval-dir', evalDir, '--hellaswag', VAL, '--limit', '60'];
    const firstFolder = join(evalDir, 'hellaswag', TOOL, 'checkpoint-3');
    const child = spawn(process.execPath, [join(root, 'bin', 'itl.js'), ...args], { stdio: 'ignore' });
    const exited = new Promise((done) => child.on('exit', done));
    while (resultsFiles(firstFolder).length === 0 && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await exited;
    const [kept] = resultsFiles(firstFolder);
    expect(kept).toBeDefined();
    const keptText = readFileSync(join(firstFolder, kept!), 'utf8');
    const later = [join(evalDir, 'hellaswag', WEIGHT, 'checkpoint-2'), join(evalDir, 'hellaswag', WEIGHT, 'checkpoint-4')];
    expect(later.filter((f) => resultsFiles(f).length > 0).length).toBeLessThan(2); // killed part-way

    const resumed = await itl([...args, '--json']);
    const summary = JSON.parse(resumed.stdout);
    expect(summary.skipped).toContain(`${TOOL}/checkpoint-3`);
    expect(summary.evaluated).not.toContain(`${TOOL}/checkpoint-3`);
    expect(resultsFiles(firstFolder)).toEqual([kept]);
    expect(readFileSync(join(firstFolder, kept!), 'utf8')).toBe(keptText);
    for (const f of later) expect(resultsFiles(f)).toHaveLength(1);
  });

  test('LoRA checkpoints are evaluated as base model + adapter', async () => {
    const loraRuns = join(scratch, 'lora-runs');
    const name = 'sft_Smol135M_facts=100-epochs=1-batch=4-gradAcc=1-LR=1e-3-loraR=4-loraA=8-weight';
    mkdirSync(join(loraRuns, name), { recursive: true });
    writeFileSync(
      join(loraRuns, name, 'run_config.json'),
      JSON.stringify({
        format_version: 1,
        run_name: name,
        model_label: 'Smol135M',
        model: base,
        data,
        facts: 100,
        mode: 'weight',
        date_string: '26 Jul 2024',
        lora_r: 4,
      }),
    );
    writeAdapter(join(loraRuns, name, 'checkpoint-1'), base, 0); // lora_B = 0: the adapted model is the base model
    writeAdapter(join(loraRuns, name, 'checkpoint-2'), base, 1);
    for (const step of [1, 2]) writeFileSync(join(loraRuns, name, `checkpoint-${step}`, 'trainer_state.json'), '{}');
    const evalDir = join(scratch, 'eval-lora');
    const result = await itl([
      'eval',
      'kl',
      '--models-dir',
      loraRuns,
      '--eval-dir',
      evalDir,
      '--kl-prompts',
      prompts,
      '--kl-max-new-tokens',
      '8',
    ]);
    expect(result.stderr).not.toContain('FAILED');
    expect(result.code).toBe(0);
    const file = JSON.parse(readFileSync(join(evalDir, 'kl_tv', name, 'checkpoint_kl_eval_results.json'), 'utf8'));
    expect(file['checkpoint-1'].kl_mean).toBeCloseTo(0, 6);
    expect(file['checkpoint-2'].kl_mean).toBeGreaterThan(1e-5);
    // --model BASE --adapter DIR is the same evaluation as the checkpoint folder alone.
    const single = await itl([
      'eval',
      'kl',
      '--model',
      base,
      '--adapter',
      join(loraRuns, name, 'checkpoint-2'),
      '--eval-dir',
      join(scratch, 'eval-lora-single'),
      '--base-model',
      base,
      '--kl-prompts',
      prompts,
      '--kl-max-new-tokens',
      '8',
    ]);
    expect(single.code).toBe(0);
    const again = JSON.parse(
      readFileSync(join(scratch, 'eval-lora-single', 'kl_tv', 'SmolLM-135M-Instruct', 'checkpoint_kl_eval_results.json'), 'utf8'),
    );
    expect(again['checkpoint-0'].kl_mean).toBeCloseTo(file['checkpoint-2'].kl_mean, 6);
  });

  test('usage errors name the flag', async () => {
    const noData = await itl(['eval', 'hellaswag', '--models-dir', runs, '--eval-dir', join(scratch, 'x')]);
    expect(noData.code).toBe(2);
    expect(noData.stderr).toContain('--hellaswag');
    const both = await itl(['eval', 'recall', '--models-dir', runs, '--model', base, '--eval-dir', join(scratch, 'x')]);
    expect(both.code).toBe(2);
    expect((await itl(['eval', 'kl', '--models-dir', runs, '--base', '--eval-dir', join(scratch, 'x')])).stderr).toContain(
      '0 by definition',
    );
    expect((await itl(['eval', 'nonsense', '--eval-dir', 'x'])).code).toBe(2);
  });
});
