/**
 * The training options are declared once (lib/train/trainOptions.ts): a default run parsed through
 * `itl train`'s own flags gives every option its schema default, in the resolved options, in
 * run_config.json and in the native request; the addon requires every field of that request (naming a
 * missing or unknown one) and the values reach the C++ trainer (its checkpoint records them and the
 * scheduler shapes the learning rate). Also: the flags' checks and the deprecated --eval-batch.
 * Needs the built addon (`npm run build`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import yargs from 'yargs';

import { trainCommand } from '../../cli/commands/train.js';
import { Model } from '../../native/Model.js';
import { Runtime } from '../../native/Runtime.js';
import { type NativeTrainerOptions, Trainer } from '../../native/Trainer.js';
import { detectDistEnv } from '../distEnv.js';
import { nativeDist } from '../runTraining.js';
import { parseRunName } from '../runName.js';
import { resolveTrainConfig, runRecord } from '../trainConfig.js';
import { TRAIN_OPTIONS, nativeTrainOptions, recordedTrainOptions, trainOptionsWith } from '../trainOptions.js';
import { runItl as itl } from '../../cli/__tests__/runItl.js';

/** What the tests read of an entry. */
interface Spec {
  flag: string;
  default?: unknown;
  runName?: true;
  record?: string;
  native?: string;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const RUN = 'sft_Smol135M_facts=8-epochs=3-batch=4-gradAcc=2-LR=3e-3-loraR=0-loraA=0-weight';

/** `itl train ARGS` parsed by the command's own yargs builder, as main parses it (strict). */
function parseTrainFlags(args: string[]): Record<string, unknown> {
  const argv = ['--run-name', RUN, '--data', 'data', '--save-dir', 'runs', ...args];
  const parser = trainCommand.builder(
    yargs(argv)
      .strict()
      .exitProcess(false)
      .fail((message, error) => {
        throw error ?? new Error(message);
      }),
  );
  return parser.parseSync() as Record<string, unknown>;
}

function configOf(args: string[], warn?: (line: string) => void) {
  return resolveTrainConfig({ runName: RUN, data: 'data', saveDir: 'runs', flags: parseTrainFlags(args) }, () => 'model', warn);
}

describe('training options', () => {
  const entries = Object.entries(TRAIN_OPTIONS) as [keyof typeof TRAIN_OPTIONS, Spec][];
  let scratch: string;
  let model: string;
  const runtime = Runtime.open({ torchThreads: 1 });
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-train-options-'));
    model = join(scratch, 'tiny');
    (await Model.init(runtime, 'tiny-smollm', 3, model)).dispose();
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** A complete native request for the tiny model: a default run's options on rows whose ids are in its vocabulary. */
  function defaultRequest(runDir: string): NativeTrainerOptions {
    const config = configOf([]);
    return {
      model,
      device: 'cpu',
      runDir,
      baseModel: model,
      padId: 0,
      checkpointFiles: [],
      runRecord: '',
      resumeFrom: null,
      ...nativeDist(detectDistEnv({})),
      ...nativeTrainOptions(config.options),
    };
  }
  // 8 rows of 5 tokens, the last 3 of each labelled.
  const id = (i: number) => 5 + ((i * 7) % 50);
  const rows = {
    ids: Int32Array.from({ length: 40 }, (_, i) => id(i)),
    labels: Int32Array.from({ length: 40 }, (_, i) => (i % 5 < 2 ? -100 : id(i))),
    offsets: Int32Array.of(0, 5, 10, 15, 20, 25, 30, 35, 40),
  };
  const noRows = { ids: new Int32Array(0), labels: new Int32Array(0), offsets: Int32Array.of(0) };

  test('every option has exactly one default: a default run gets it in its options, run_config.json and the native request', () => {
    const config = configOf([]);
    const run = parseRunName(RUN) as unknown as Record<string, unknown>;
    const record = runRecord(config, { modelFolder: 'model', tokenized: { train: 't', eval: 'e' }, provenance: {} });
    const request = nativeTrainOptions(config.options) as Record<string, unknown>;
    for (const [name, spec] of entries) {
      // The run name's fields have no default: the run name gives them.
      const expected = spec.runName ? run[name] : spec.default;
      expect([name, config.options[name]]).toEqual([name, expected]);
      if (spec.record) expect([spec.record, record[spec.record]]).toEqual([spec.record, expected ?? null]);
      if (spec.native) expect([spec.native, request[spec.native]]).toEqual([spec.native, expected ?? null]);
    }
    // Nothing reaches the record or the request but through the schema.
    const recorded = entries.flatMap(([, spec]) => (spec.record ? [spec.record] : []));
    expect(Object.keys(recordedTrainOptions(config.options)).sort()).toEqual([...recorded].sort());
    expect(
      Object.keys(record)
        .filter((key) => !recorded.includes(key))
        .sort(),
    ).toEqual(['data', 'format_version', 'model', 'model_label', 'provenance', 'run_name', 'tokenized']);
    const sent = entries.flatMap(([, spec]) => (spec.native ? [spec.native] : []));
    expect(Object.keys(request).sort()).toEqual([...sent].sort());
    // The study's settings (docs/design.md, "Training schedule") are the defaults.
    expect(config.options).toMatchObject({
      seed: 42,
      warmupRatio: 0.05,
      lrScheduler: 'constant_with_warmup',
      weightDecay: 0,
      adamBeta1: 0.9,
      adamBeta2: 0.999,
      adamEpsilon: 1e-8,
      maxGradNorm: 1,
      loggingSteps: 5,
      evalSteps: 0,
      saveSteps: 0,
      loraDropout: 0.05,
      precision: 'fp32',
    });
  });

  test('the help shows each flag with the schema default and hides the deprecated --eval-batch', () => {
    // yargs prints help on the console: read it from the built command in a child process.
    const printed = spawnSync(process.execPath, [join(root, 'bin', 'itl.js'), 'train', '--help'], { encoding: 'utf8', cwd: root });
    expect(printed.status).toBe(0);
    const help = printed.stdout.replace(/\s+/g, ' ');
    // Each flag's entry: from "--flag" to the next flag.
    const shown = new Map(help.split(/ (?=--[a-z])/).map((part) => [part.split(' ')[0]!.slice(2), part]));
    for (const [, spec] of entries) {
      expect(shown.has(spec.flag)).toBe(true);
      const text = typeof spec.default === 'string' ? `"${spec.default}"` : String(spec.default);
      if (spec.default === undefined) expect(shown.get(spec.flag)).not.toContain('[default:');
      else expect([spec.flag, shown.get(spec.flag)]).toEqual([spec.flag, expect.stringContaining(`[default: ${text}]`)]);
    }
    expect(shown.has('eval-batch')).toBe(false);
    expect(shown.has('eval-batch-size')).toBe(true);
  });

  test('flags override the defaults; --eval-batch still works, with a warning, and not beside --eval-loss-batch', () => {
    const config = configOf([
      '--weight-decay',
      '0.01',
      '--adam-beta1',
      '0.8',
      '--adam-beta2',
      '0.95',
      '--adam-epsilon',
      '1e-6',
      '--lr-scheduler',
      'cosine',
      '--eval-loss-batch',
      '3',
      '--lr',
      '1e-4',
    ]);
    expect(config.options).toMatchObject({
      weightDecay: 0.01,
      adamBeta1: 0.8,
      adamBeta2: 0.95,
      adamEpsilon: 1e-6,
      lrScheduler: 'cosine',
      evalLossBatch: 3,
      lr: 1e-4,
    });
    expect(config.runName).toBe(RUN.replace('LR=3e-3', 'LR=1e-4'));
    expect(nativeTrainOptions(config.options)).toMatchObject({
      weightDecay: 0.01,
      adamBeta1: 0.8,
      lrScheduler: 'cosine',
      evalLossBatch: 3,
      learningRate: 1e-4,
    });
    const warnings: string[] = [];
    expect(configOf(['--eval-batch', '4'], (line) => warnings.push(line)).options.evalLossBatch).toBe(4);
    expect(warnings).toEqual(['itl: --eval-batch is deprecated: use --eval-loss-batch\n']);
    expect(() => configOf(['--eval-batch', '4', '--eval-loss-batch', '4'])).toThrow(
      'give --eval-loss-batch alone (--eval-batch is its former name)',
    );
  });

  test("the docs' options table is the one the schema generates (scripts/train-options-table.mjs)", () => {
    const script = join(root, 'scripts', 'train-options-table.mjs');
    const result = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8', cwd: root });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    // Wherever the docs keep it (docs/training.md).
    const docs = (readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' }) as string[])
      .filter((f) => f.endsWith('.md'))
      .map((f) => readFileSync(join(root, 'docs', f), 'utf8'))
      .filter((text) => text.includes('<!-- train-options:start -->'));
    expect(docs.length).toBeGreaterThan(0);
    for (const text of docs) for (const [, spec] of entries) expect(text).toContain(`| \`--${spec.flag}\` |`);
  });

  test.each([
    [['--adam-beta1', '1'], 'expected --adam-beta1 in [0, 1) but received 1'],
    [['--adam-beta2', '-0.5'], 'expected --adam-beta2 in [0, 1) but received -0.5'],
    [['--adam-epsilon', '0'], 'expected --adam-epsilon > 0 but received 0'],
    [['--weight-decay', '-1'], 'expected --weight-decay ≥ 0 but received -1'],
    [['--eval-loss-batch', '0'], 'expected an integer ≥ 1 for --eval-loss-batch but received 0'],
    [['--collective-timeout', '0'], 'expected --collective-timeout > 0 but received 0'],
    [['--lr-scheduler', 'cosine_with_restarts'], 'Invalid values'],
    [['--lora-r', '-1'], 'expected an integer ≥ 0 for --lora-r but received -1'],
  ])('itl train %j is a usage error naming the flag, before any work', async (flags, message) => {
    const saveDir = join(scratch, 'bad');
    const out = await itl([
      'train',
      '--run-name',
      RUN,
      '--data',
      join(scratch, 'nodata'),
      '--save-dir',
      saveDir,
      '--model',
      model,
      ...flags,
    ]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(message);
  });

  test('the addon requires every field of the request, naming a missing or unknown one', async () => {
    const complete = defaultRequest(join(scratch, 'unused')) as unknown as Record<string, unknown>;
    expect(Object.keys(complete).length).toBeGreaterThan(30);
    for (const key of Object.keys(complete)) {
      const { [key]: _, ...partial } = complete;
      await expect(Trainer.create(runtime, partial as unknown as NativeTrainerOptions, rows, noRows)).rejects.toMatchObject({
        code: 'ITL_INVALID_ARGUMENT',
        message: `options.${key} is required`,
      });
    }
    await expect(
      Trainer.create(runtime, { ...complete, weightDecayy: 0.1 } as unknown as NativeTrainerOptions, rows, noRows),
    ).rejects.toThrow('unknown field(s) options.weightDecayy: this addon does not read them');
    await expect(Trainer.create(runtime, { ...complete, seed: null } as unknown as NativeTrainerOptions, rows, noRows)).rejects.toThrow(
      'expected an integer for options.seed but received null',
    );
    await expect(
      Trainer.create(runtime, { ...complete, lrScheduler: 'step' } as unknown as NativeTrainerOptions, rows, noRows),
    ).rejects.toThrow("unknown learning-rate scheduler 'step'");
    await expect(Trainer.create(runtime, { ...complete, adamBeta2: 1 } as unknown as NativeTrainerOptions, rows, noRows)).rejects.toThrow(
      'TrainerOptions.adam_beta2 must be in [0, 1), got 1',
    );
  });

  test("the values reach the trainer: its checkpoint records them and the cosine schedule sets each step's rate", async () => {
    const runDir = join(scratch, 'cosine');
    // 8 rows, batch 2, 2 epochs: 8 steps; no warm-up, so step s (0-based) has lr · ½(1 + cos(π s / 8)).
    const options = trainOptionsWith({
      ...configOf([]).options,
      epochs: 2,
      batch: 2,
      gradAcc: 1,
      lr: 1e-3,
      lrScheduler: 'cosine',
      warmupRatio: 0,
      weightDecay: 0.01,
      adamBeta1: 0.8,
      adamBeta2: 0.99,
      adamEpsilon: 1e-6,
      maxGradNorm: 0.5,
      seed: 5,
    });
    const trainer = await Trainer.create(runtime, { ...defaultRequest(runDir), ...nativeTrainOptions(options) }, rows, noRows);
    try {
      let outcome;
      do outcome = await trainer.run();
      while (!outcome.finished);
      expect(outcome.globalStep).toBe(8);
    } finally {
      trainer.dispose();
    }
    const state = JSON.parse(readFileSync(join(runDir, 'checkpoint-8', 'itl_trainer_state.json'), 'utf8'));
    expect(state.options).toEqual({
      learning_rate: 1e-3,
      weight_decay: 0.01,
      adam_beta1: 0.8,
      adam_beta2: 0.99,
      adam_epsilon: 1e-6,
      max_grad_norm: 0.5,
      seed: 5,
    });
    expect(state.schedule).toMatchObject({ lr_scheduler: 'cosine', total_steps: 8, warmup_steps: 0, batch: 2 });
    const rates = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((m) => m.learning_rate !== undefined)
      .map((m) => m.learning_rate);
    const expected = Array.from({ length: 8 }, (_, s) => 1e-3 * 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * (s / 8))));
    expect(rates).toHaveLength(8);
    for (const [s, rate] of rates.entries()) expect(rate).toBeCloseTo(expected[s]!, 15);
  });
});
