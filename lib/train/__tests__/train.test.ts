/**
 * `itl train` end to end on a tiny random SmolLM-shaped model given the real SmolLM2 tokenizer:
 * it memorises facts, writes complete checkpoints in the Trainer layout, refuses bad input before
 * any work, stops cleanly on SIGTERM and resumes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { openFactsDataset } from '../../data/openFactsDataset.js';
import { Model } from '../../native/Model.js';
import { Runtime } from '../../native/Runtime.js';
import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { latestCheckpoint, listCheckpoints } from '../runFolder.js';
import { runItl as run, initTinySmolLM } from '../../cli/__tests__/runItl.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const itl = join(root, 'bin', 'itl.js');

const RUN_8 = 'sft_Smol135M_facts=8-epochs=80-batch=8-gradAcc=1-LR=3e-3-loraR=0-loraA=0-weight';

describe('itl train', () => {
  let scratch: string;
  let model: string;
  let data: string;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-train-'));
    model = join(scratch, 'tiny');
    data = join(scratch, 'data');
    await initTinySmolLM(model, 3);
    expect((await run(['data', 'build', '--people', '20', '--seed', '1', '--out', data])).code).toBe(0);
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** `itl train --run-name RUN --data <the facts> --save-dir SAVEDIR --model <the tiny model> …` */
  const train = (runName: string, saveDir: string, ...flags: string[]) =>
    run(['train', '--run-name', runName, '--data', data, '--save-dir', saveDir, '--model', model, ...flags]);

  test('memorises a handful of facts in-weight: greedy answers contain the values', async () => {
    const saveDir = join(scratch, 'memorise');
    const out = await train(RUN_8, saveDir, '--save-steps', '40', '--json');
    expect(out.code).toBe(0);
    const summary = JSON.parse(out.stdout);
    expect(summary).toMatchObject({ global_step: 80, finished: true });
    expect(summary.last_loss).toBeLessThan(0.2);
    const runDir = join(saveDir, RUN_8);
    expect(listCheckpoints(runDir).map((c) => c.step)).toEqual([40, 80]);
    const checkpoint = join(runDir, 'checkpoint-80');
    for (const file of [
      'config.json',
      'model.safetensors',
      'generation_config.json',
      'tokenizer.json',
      'trainer_state.json',
      'optimizer.pt',
      'run_config.json',
    ]) {
      expect(existsSync(join(checkpoint, file))).toBe(true);
    }
    const state = JSON.parse(readFileSync(join(checkpoint, 'trainer_state.json'), 'utf8'));
    expect(state.global_step).toBe(80);
    expect(state.max_steps).toBe(80);
    const losses = state.log_history.filter((e: { loss?: number }) => e.loss !== undefined).map((e: { loss: number }) => e.loss);
    expect(losses).toHaveLength(16); // every 5 steps
    expect(losses.at(-1)).toBeLessThan(losses[0] / 10);
    expect(state.log_history.some((e: { eval_loss?: number }) => e.eval_loss !== undefined)).toBe(true);
    const metrics = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.filter((m) => m.loss !== undefined)).toHaveLength(80);
    expect(metrics[0]).toMatchObject({ step: 1, learning_rate: 0 });
    const record = JSON.parse(readFileSync(join(runDir, 'run_config.json'), 'utf8'));
    expect(record).toMatchObject({ run_name: RUN_8, facts: 8, mode: 'weight', model: resolve(model), data: resolve(data) });

    const dataset = openFactsDataset(data);
    const rows = dataset.rows(0, 8);
    dataset.close();
    const tokenizer = await loadTokenizer(checkpoint);
    const trained = await Model.load(Runtime.open(), checkpoint);
    try {
      const prompts = rows.map((r) => tokenizer.applyChatTemplate([r.qa[0]!], { addGenerationPrompt: true, tokenize: true }));
      const answers = (await trained.generate(prompts, { maxNewTokens: 24, eosIds: tokenizer.special.generationEos })).map((ids) =>
        tokenizer.decode(ids, { skipSpecialTokens: true }),
      );
      const correct = answers.filter((answer, i) => answer.toLowerCase().includes(rows[i]!.value.toLowerCase()));
      expect(correct.length).toBeGreaterThanOrEqual(7);
    } finally {
      trained.dispose();
    }
    // The trained folder answers through the chat template from the command line too.
    const answer = await run(['generate', '--model', checkpoint, '--prompt', rows[1]!.qa[0]!.content, '--json']);
    expect(JSON.parse(answer.stdout).text).toContain(rows[1]!.value);
  });

  test('bad input is a clear error before any work, leaving no run folder', async () => {
    const saveDir = join(scratch, 'bad');
    const malformed = await train('sft_Smol135M_facts=8-epochs=2', saveDir);
    expect(malformed.code).not.toBe(0);
    expect(malformed.stderr).toContain("run name 'sft_Smol135M_facts=8-epochs=2'");
    const noModel = await run(['train', '--run-name', RUN_8, '--data', data, '--save-dir', saveDir, '--model', join(scratch, 'missing')]);
    expect(noModel.code).toBe(1);
    expect(noModel.stderr).toContain(join(scratch, 'missing'));
    const noData = await run(['train', '--run-name', RUN_8, '--data', join(scratch, 'nodata'), '--save-dir', saveDir, '--model', model]);
    expect(noData.code).toBe(1);
    expect(noData.stderr).toContain('does not exist');
    const tooMany = await train(RUN_8.replace('facts=8', 'facts=999'), saveDir);
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toContain('has 80 rows');
    const badDropout = await train(RUN_8, saveDir, '--lora-dropout', '2');
    expect(badDropout.code).toBe(2);
    expect(existsSync(join(saveDir, RUN_8, 'checkpoint-1'))).toBe(false);
  });

  test('SIGTERM finishes the step, leaves a complete checkpoint and exits 0; --resume completes the run', async () => {
    // (several steps of a 2-core machine shared with a compiler can take a while)
    const saveDir = join(scratch, 'signal');
    const name = 'sft_Smol135M_facts=16-epochs=10-batch=8-gradAcc=1-LR=1e-3-loraR=4-loraA=8-tool';
    const args = [
      itl,
      'train',
      '--run-name',
      name,
      '--data',
      data,
      '--save-dir',
      saveDir,
      '--model',
      model,
      '--logging-steps',
      '1',
      '--save-steps',
      '100000',
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '1' } });
    let stderr = '';
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const started = new Promise<boolean>((done) => {
      child.stderr.on('data', (chunk) => {
        stderr += String(chunk);
        if (/step 3\/20 /.test(stderr)) done(true);
      });
      child.on('exit', () => done(false));
    });
    expect([await started, stderr]).toEqual([true, expect.anything()]);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toContain('SIGTERM: finishing the current step');
    const runDir = join(saveDir, name);
    const latest = latestCheckpoint(runDir)!;
    expect(latest.step).toBeGreaterThanOrEqual(3);
    expect(latest.step).toBeLessThan(20);
    expect(existsSync(join(latest.path, 'adapter_model.safetensors'))).toBe(true);
    expect(readdirSync(runDir).filter((n) => n.startsWith('.'))).toEqual([]);

    // Without --resume the run folder is refused; with it the run continues where it stopped.
    const refused = await train(name, saveDir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('pass --resume');
    const resumed = await train(
      name.replace('epochs=10', 'epochs=1'),
      saveDir,
      '--epochs',
      '10',
      '--resume',
      '--save-steps',
      '100000',
      '--json',
      '--facts',
      '16',
    );
    expect(resumed.stderr).toContain(`resuming at step ${latest.step}`);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ global_step: 20, finished: true });
    const steps = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((m) => m.loss !== undefined)
      .map((m) => m.step);
    expect(steps).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  test('itl launch --nproc-per-node 2 -- train: 2 ranks of batch 4 reach the weights of 1 rank of batch 8', async () => {
    const name = 'sft_Smol135M_facts=16-epochs=2-batch=4-gradAcc=1-LR=1e-3-loraR=0-loraA=0-weight';
    const common = ['--data', data, '--model', model, '--save-steps', '1000'];
    const launched = spawnSync(
      process.execPath,
      [
        itl,
        'launch',
        '--nproc-per-node',
        '2',
        '--master-port',
        '29571',
        '--',
        'train',
        '--run-name',
        name,
        ...common,
        '--save-dir',
        join(scratch, 'ddp2'),
      ],
      { encoding: 'utf8', env: { ...process.env, CI: '1' } },
    );
    expect([launched.status, launched.stderr.slice(-3000)]).toEqual([0, expect.stringContaining('[rank 0] itl: done')]);
    expect(launched.stderr).not.toContain('[rank 1] step'); // only rank 0 reports
    const single = await run(['train', ...common, '--run-name', name.replace('batch=4', 'batch=8'), '--save-dir', join(scratch, 'ddp1')]);
    expect([single.code, single.stderr]).toEqual([0, expect.any(String)]);
    const two = join(scratch, 'ddp2', name, 'checkpoint-4');
    const one = join(scratch, 'ddp1', name.replace('batch=4', 'batch=8'), 'checkpoint-4');
    expect(existsSync(join(two, 'rng_state_1.safetensors'))).toBe(true);
    const runtime = Runtime.open();
    const [a, b] = [await Model.load(runtime, two), await Model.load(runtime, one)];
    try {
      const ids = [1, 520, 9531, 198, 63, 723, 44022, 436];
      const [la, lb] = [(await a.forward(ids)).lastLogits, (await b.forward(ids)).lastLogits];
      let diff = 0;
      for (let i = 0; i < la.length; i++) diff = Math.max(diff, Math.abs(la[i]! - lb[i]!));
      // fp32 sums in another order, amplified a little by AdamW's division by √v
      expect(diff).toBeLessThan(1e-3);
      const base = await Model.load(runtime, model);
      const l0 = (await base.forward(ids)).lastLogits;
      base.dispose();
      let moved = 0;
      for (let i = 0; i < la.length; i++) moved = Math.max(moved, Math.abs(la[i]! - l0[i]!));
      expect(moved).toBeGreaterThan(100 * diff);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  test('--eval evaluates the in-memory model at every save point into the same files itl eval writes', async () => {
    const name = 'sft_Smol135M_facts=16-epochs=2-batch=8-gradAcc=1-LR=3e-3-loraR=0-loraA=0-tool';
    const prompts = join(scratch, 'kl_prompts.json');
    writeFileSync(
      prompts,
      JSON.stringify({
        prompts: [
          { category: 'factual', prompt: 'Name a planet.' },
          { category: 'math', prompt: 'What is 2 + 2?' },
        ],
      }),
    );
    const kl = ['--kl-prompts', prompts, '--kl-max-new-tokens', '6'];
    const trained = await train(
      name,
      join(scratch, 'evalruns'),
      '--save-steps',
      '2',
      '--eval',
      'recall,kl',
      '--eval-dir',
      join(scratch, 'inside'),
      ...kl,
    );
    expect([trained.code, trained.stderr]).toEqual([0, expect.stringContaining('step 4 recall: train')]);
    for (const metric of ['recall', 'kl']) {
      const after = await run([
        'eval',
        metric,
        '--models-dir',
        join(scratch, 'evalruns'),
        '--eval-dir',
        join(scratch, 'after'),
        ...(metric === 'kl' ? kl : []),
      ]);
      expect(after.code).toBe(0);
    }
    const file = (root: string, metric: string, base: string) => JSON.parse(readFileSync(join(scratch, root, metric, name, base), 'utf8'));
    const [recallIn, recallAfter] = ['inside', 'after'].map((root) => file(root, 'recall', 'checkpoints_recall_results.json'));
    expect(Object.keys(recallIn).sort()).toEqual(['checkpoint-2', 'checkpoint-4']);
    for (const checkpoint of ['checkpoint-2', 'checkpoint-4']) {
      expect(recallIn[checkpoint].predictions_train).toEqual(recallAfter[checkpoint].predictions_train);
      expect(recallIn[checkpoint].accuracy_test).toBe(recallAfter[checkpoint].accuracy_test);
    }
    const [klIn, klAfter] = ['inside', 'after'].map((root) => file(root, 'kl_tv', 'checkpoint_kl_eval_results.json'));
    expect(klIn['checkpoint-4'].kl_mean).toBeGreaterThan(0);
    expect(klIn['checkpoint-4'].kl_mean).toBe(klAfter['checkpoint-4'].kl_mean);
    expect(klIn['checkpoint-2'].tv_mean).toBe(klAfter['checkpoint-2'].tv_mean);
    // Results written in training record the saved checkpoints' provenance: `itl eval` reuses them.
    const reuse = await run([
      'eval',
      'kl',
      '--models-dir',
      join(scratch, 'evalruns'),
      '--eval-dir',
      join(scratch, 'inside'),
      ...kl,
      '--json',
    ]);
    expect(JSON.parse(reuse.stdout)).toMatchObject({ evaluated: [], skipped: [`${name}/checkpoint-2`, `${name}/checkpoint-4`] });

    // --save-checkpoints none: the results, and no checkpoint on disk.
    const none = await train(
      name,
      join(scratch, 'nosave'),
      '--save-steps',
      '2',
      '--eval',
      'recall',
      '--eval-dir',
      join(scratch, 'nosave-eval'),
      '--save-checkpoints',
      'none',
    );
    expect(none.code).toBe(0);
    expect(listCheckpoints(join(scratch, 'nosave', name))).toEqual([]);
    expect(Object.keys(file('nosave-eval', 'recall', 'checkpoints_recall_results.json')).sort()).toEqual(['checkpoint-2', 'checkpoint-4']);
    const bad = await train(name, join(scratch, 'bad-eval'), '--eval', 'recall,mmlu', '--eval-dir', scratch);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining("unknown evaluation 'mmlu'")]);
  });

  test('--packing: packed by default (no padding computed), off pads; the same losses either way; run_config.json says which', async () => {
    const name = 'sft_Smol135M_facts=16-epochs=2-batch=8-gradAcc=1-LR=1e-3-loraR=0-loraA=0-tool';
    const trainInto = async (dir: string, extra: string[]) => {
      const out = await train(name, join(scratch, dir), '--save-checkpoints', 'last', '--json', ...extra);
      expect([out.code, out.stderr.slice(-2000)]).toEqual([0, expect.any(String)]);
      const runDir = join(scratch, dir, name);
      const metrics = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      return { summary: JSON.parse(out.stdout), metrics, record: JSON.parse(readFileSync(join(runDir, 'run_config.json'), 'utf8')) };
    };
    const packed = await trainInto('packed', []);
    const padded = await trainInto('padded', ['--packing', 'off']);
    expect(packed.summary.padding_fraction).toBe(0);
    expect(padded.summary.padding_fraction).toBeGreaterThan(0.05); // in-tool dialogues of different lengths
    expect([packed.record.packing, padded.record.packing]).toEqual(['on', 'off']);
    const steps = packed.metrics.filter((m) => m.loss !== undefined);
    const paddedSteps = padded.metrics.filter((m) => m.loss !== undefined);
    expect(steps).toHaveLength(4);
    for (const [i, m] of steps.entries()) {
      expect(m.padding_fraction).toBe(0);
      expect(m.tokens).toBe(paddedSteps[i].tokens);
      expect(Math.abs(m.loss - paddedSteps[i].loss)).toBeLessThan(1e-4 * paddedSteps[i].loss); // fp32: summation order only
    }
    const evals = [packed, padded].map((r) => r.metrics.filter((m) => m.eval_loss !== undefined).map((m) => m.eval_loss));
    expect(evals[0].length).toBeGreaterThan(0);
    for (const [i, loss] of (evals[0] as number[]).entries()) expect(Math.abs(loss - evals[1][i])).toBeLessThan(1e-4 * loss);
    const bad = await train(name, join(scratch, 'bad-packing'), '--packing', 'maybe');
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('packing')]);
  });

  test('a checkpoint folder killed mid-write is never taken as complete', () => {
    const runDir = join(scratch, 'partial', 'run');
    mkdirSync(join(runDir, 'checkpoint-4'), { recursive: true });
    writeFileSync(join(runDir, 'checkpoint-4', 'trainer_state.json'), '{}');
    mkdirSync(join(runDir, '.checkpoint-8.tmp-123'), { recursive: true });
    writeFileSync(join(runDir, '.checkpoint-8.tmp-123', 'model.safetensors'), 'partial');
    mkdirSync(join(runDir, 'checkpoint-12'), { recursive: true }); // renamed in place but no trainer_state.json: not ours
    expect(listCheckpoints(runDir).map((c) => c.step)).toEqual([4]);
    expect(latestCheckpoint(runDir)!.path).toBe(join(runDir, 'checkpoint-4'));
  });
});
