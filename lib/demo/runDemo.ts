/**
 * `itl demo`: the study at toy scale, end to end, on this machine, with nothing downloaded.
 *
 *   1 model      the project's byte-level BPE tokenizer and a random ~0.9M-parameter LLaMA (lib/demo/demoModel.ts)
 *   2 general    general dialogues (lib/demo/generalTasks.ts): pre-training rows, held-out questions (exact-match
 *                and as a multiple-choice file in HellaSwag's layout, lib/demo/generalChoices.ts), KL prompts
 *   3 pretrain   `itl train` on the general dialogues: the base model, with a general ability to lose
 *   4 facts      `itl data build`: invented people, their facts, the tool database
 *   then, for each fine-tuning seed S (the base model is pre-trained once):
 *   5 train      in-weight runs at growing numbers of facts and one in-tool run, from the base model (runs/seed-S)
 *   6 evaluate   recall (through the tool for in-tool runs), general ability as the study scores HellaSwag
 *                (`itl eval hellaswag` on the multiple-choice file) and by exact match, KL/TV to the base model
 *                on general prompts — base model included (eval/seed-S)
 *   7 analyze    `itl analyze` over every seed: results.csv (mean and standard error across seeds), plots, report
 *
 * Every stage is an `itl` command run as a child process — the same commands a user or a batch job
 * runs, printed before they run — so the demo is also the pipeline's integration test. A stage
 * that finishes leaves a marker in OUT/.stages recording what it was run with; re-running the demo
 * skips finished stages whose inputs are unchanged, redoes those whose inputs changed (another
 * multiple-choice file, more seeds), and an interrupted training run continues from its last
 * checkpoint (`--resume`). A folder holding a demo of another scale, seed or plan is refused, never
 * mixed with the new one.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseResultsCsv } from '../analyze/resultsCsv.js';
import { ItlError } from '../errors.js';
import { loadTokenizer } from '../tokenize/loadTokenizer.js';
import { latestCheckpoint } from '../train/runFolder.js';
import { parseRunName } from '../train/runName.js';
import { forwardSignals, ItlChild } from '../util/itlChild.js';
import { writeFileAtomic } from '../util/writeFileAtomic.js';
import type { Runtime } from '../native/Runtime.js';
import { Model } from '../native/Model.js';
import { type DemoPlan, demoRun, pretrainRun, runNameOf } from './demoPlan.js';
import { writeDemoConfig } from './demoModel.js';
import { writeDemoTokenizer } from './demoTokenizer.js';
import { generalChoiceRows } from './generalChoices.js';
import { drawGeneralQuestions, generalDialogue, generalQuestions, plainQuestion } from './generalTasks.js';
import { type StudyRow, studyRows } from './studyComparison.js';

const ITL_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'itl.js');

/** What the generated multiple-choice task is called in the report's titles and tables (it is not HellaSwag). */
export const GENERAL_CHOICE_LABEL = 'general ability (generated multiple choice)';

export interface DemoOptions {
  out: string;
  /** The plan's name (full, smoke), recorded with the demo so another scale is never mixed into its folder. */
  scale: string;
  plan: DemoPlan;
  /** A multiple-choice file in HellaSwag's layout (e.g. HellaSwag's validation jsonl) scored instead of the generated one. */
  hellaswag?: string;
  hellaswagLimit?: number;
  /** Seeds the model, the general dialogues, pre-training and the facts; fine-tuning seed k is seed + k. */
  seed: number;
  /** Fine-tuning seeds (runs/seed-S for S = seed … seed + seeds − 1). */
  seeds: number;
  runtime: () => Runtime;
  log: (line: string) => void;
  /** Extra environment for the child commands (tests pin threads). */
  env?: NodeJS.ProcessEnv;
}

export interface DemoLayout {
  initModel: string;
  baseModel: string;
  general: string;
  pretrainRows: string;
  heldOut: string;
  heldOutChoices: string;
  klPrompts: string;
  pretrainRuns: string;
  data: string;
  runs: string;
  eval: string;
  results: string;
  stages: string;
  plan: string;
}

export function demoLayout(out: string): DemoLayout {
  const at = (...parts: string[]) => path.join(out, ...parts);
  return {
    initModel: at('model', 'init'),
    baseModel: at('model', 'base'),
    general: at('general'),
    pretrainRows: at('general', 'pretrain.jsonl'),
    heldOut: at('general', 'heldout.json'),
    heldOutChoices: at('general', 'heldout_choices.jsonl'),
    klPrompts: at('general', 'kl_prompts.json'),
    pretrainRuns: at('pretrain'),
    data: at('data'),
    runs: at('runs'),
    eval: at('eval'),
    results: at('results'),
    stages: at('.stages'),
    plan: at('demo_plan.json'),
  };
}

/** One fine-tuning seed's folders: its runs and its evaluations. */
export function seedFolders(layout: DemoLayout, seed: number): { runs: string; eval: string } {
  return { runs: path.join(layout.runs, `seed-${seed}`), eval: path.join(layout.eval, `seed-${seed}`) };
}

export function fineTuningSeeds(o: Pick<DemoOptions, 'seed' | 'seeds'>): number[] {
  return Array.from({ length: o.seeds }, (_, k) => o.seed + k);
}

/** Files a model folder needs besides its weights, copied from the pre-training checkpoint to the base model. */
const MODEL_FILES = [
  'config.json',
  'generation_config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
];

class Stages {
  constructor(
    private readonly dir: string,
    private readonly log: (line: string) => void,
    private readonly total: number,
  ) {}
  private index = 0;

  /**
   * Runs `work` unless its marker says it finished before with the same `inputs`; writes the marker
   * (with the inputs) after it. A marker with other inputs is removed before the work starts.
   */
  async run(name: string, title: string, inputs: unknown, work: () => Promise<void>): Promise<void> {
    this.index++;
    const marker = path.join(this.dir, `${name}.done`);
    const key = JSON.stringify(inputs);
    if (existsSync(marker)) {
      if (JSON.stringify(readMarker(marker).inputs) === key) {
        this.log(`[${this.index}/${this.total}] ${title}: done before, skipped`);
        return;
      }
      await rm(marker, { force: true });
      this.log(`[${this.index}/${this.total}] ${title}: done before with other inputs, redone`);
    } else {
      this.log(`[${this.index}/${this.total}] ${title}`);
    }
    const started = performance.now();
    await work();
    const seconds = (performance.now() - started) / 1000;
    await writeFileAtomic(marker, `${JSON.stringify({ seconds, finished: new Date().toISOString(), inputs })}\n`);
    this.log(`[${this.index}/${this.total}] ${title}: ${seconds.toFixed(1)} s`);
  }
}

/** When a stage's marker says it finished (undefined when it has not): later stages' inputs name it, so they follow a redo. */
function finishedAt(dir: string, name: string): string | undefined {
  const marker = path.join(dir, `${name}.done`);
  return existsSync(marker) ? (readMarker(marker) as { finished?: string }).finished : undefined;
}

function readMarker(file: string): { inputs?: unknown } {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { inputs?: unknown };
  } catch {
    // A marker that cannot be read says nothing finished: the stage is redone.
    return {};
  }
}

/**
 * Runs `itl ARGS…` as a child process with the terminal's streams (lib/util/itlChild.ts: it dies with
 * the demo, even a SIGKILLed one); SIGINT/SIGTERM reaching the demo are passed to it, and the demo
 * waits for it to stop (`itl train` checkpoints first). A failure or a signal stops the demo.
 */
async function itl(args: string[], options: DemoOptions): Promise<void> {
  options.log(`  $ itl ${args.map((a) => (/[\s'"]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  const child = new ItlChild({ args, env: { ...process.env, ...options.env }, stdio: 'inherit', entry: ITL_ENTRY });
  let interrupted: NodeJS.Signals | undefined;
  const stopForwarding = forwardSignals((signal) => {
    interrupted ??= signal;
    child.signal(signal);
  });
  const command = `itl ${args[0]}${args[1] && !args[1].startsWith('-') ? ` ${args[1]}` : ''}`;
  try {
    const { code, signal } = await child.exited;
    if (interrupted) {
      throw new ItlError(
        'ITL_ABORTED',
        `${interrupted}: ${command} stopped (${signal ?? `exit ${code}`}); finished stages are kept: re-run the demo to continue`,
      );
    }
    if (code !== 0)
      throw new ItlError(
        'ITL_STAGE',
        `${command} failed (${signal ?? `exit ${code}`}); fix the cause and re-run the demo: finished stages are kept`,
      );
  } finally {
    stopForwarding();
  }
}

/** What a demo folder is a demo of: a folder holding another is refused, never mixed. */
interface DemoIdentity {
  scale: string;
  seed: number;
  plan: DemoPlan;
}

interface RecordedPlan extends DemoIdentity {
  seeds: number[];
  choices: string;
  hellaswagLimit: number | null;
}

function describeIdentity(d: Partial<DemoIdentity>): string {
  return `--scale ${d.scale ?? '?'} --seed ${d.seed ?? '?'}`;
}

/** Refuses a folder whose recorded demo is of another scale, seed or plan (or was made before these were recorded). */
function checkFolder(o: DemoOptions, layout: DemoLayout): void {
  if (!existsSync(layout.plan)) return;
  let recorded: Partial<RecordedPlan>;
  try {
    recorded = JSON.parse(readFileSync(layout.plan, 'utf8')) as Partial<RecordedPlan>;
  } catch (error) {
    throw new ItlError('ITL_USAGE', `${layout.plan} cannot be read (${(error as Error).message}): choose another --out or remove ${o.out}`);
  }
  const asked: DemoIdentity = { scale: o.scale, seed: o.seed, plan: o.plan };
  if (recorded.scale === undefined || recorded.plan === undefined) {
    throw new ItlError(
      'ITL_USAGE',
      `${o.out} holds a demo made by an earlier version of itl (${layout.plan} records no scale): choose another --out or remove it`,
    );
  }
  if (recorded.scale !== asked.scale || recorded.seed !== asked.seed) {
    throw new ItlError(
      'ITL_USAGE',
      `${o.out} holds the demo ${describeIdentity(recorded)}, not ${describeIdentity(asked)}: choose another --out or remove it`,
    );
  }
  if (JSON.stringify(recorded.plan) !== JSON.stringify(asked.plan)) {
    throw new ItlError(
      'ITL_USAGE',
      `${o.out} holds a --scale ${o.scale} demo of another plan (sizes, epochs or rates differ from this ` +
        "version's): choose another --out or remove it",
    );
  }
}

async function makeModel(o: DemoOptions, layout: DemoLayout): Promise<void> {
  await rm(layout.initModel, { recursive: true, force: true });
  await writeDemoTokenizer(layout.initModel);
  await writeDemoConfig(layout.initModel);
  const model = await Model.initFromConfig(o.runtime(), layout.initModel, o.seed, layout.initModel);
  o.log(`  ${model.info.parameterCount.toLocaleString('en-US')} parameters, byte-level tokenizer → ${layout.initModel}`);
  model.dispose();
}

async function makeGeneral(o: DemoOptions, layout: DemoLayout): Promise<void> {
  const { plan } = o;
  const pretrain = generalQuestions(plan.pretrainRows + 30, o.seed + 1);
  const drawn = drawGeneralQuestions(plan.heldOut, o.seed + 2, new Set(pretrain.map((q) => q.question)));
  const heldOut = drawn.map(plainQuestion);
  const tokenizer = await loadTokenizer(layout.initModel);
  const prompt = (question: string) => tokenizer.applyChatTemplate([{ role: 'user', content: question }], { addGenerationPrompt: true });
  const choices = generalChoiceRows(drawn, o.seed + 3, prompt);
  await mkdir(layout.general, { recursive: true });
  await writeFileAtomic(layout.pretrainRows, `${pretrain.map((q) => JSON.stringify({ messages: generalDialogue(q) })).join('\n')}\n`);
  const heldOutFile = { description: 'itl demo: held-out general questions (exact-match answers)', questions: heldOut };
  await writeFileAtomic(layout.heldOut, `${JSON.stringify(heldOutFile, null, 1)}\n`);
  await writeFileAtomic(layout.heldOutChoices, `${choices.map((row) => JSON.stringify(row)).join('\n')}\n`);
  const prompts = heldOut.slice(0, plan.klPrompts).map((q) => ({ category: q.task, prompt: q.question }));
  await writeFileAtomic(
    layout.klPrompts,
    `${JSON.stringify({ description: 'itl demo: KL/TV prompts (held-out general questions)', prompts }, null, 1)}\n`,
  );
  o.log(
    `  ${pretrain.length} pre-training dialogues, ${heldOut.length} held-out questions (also as multiple choice), ` +
      `${prompts.length} KL prompts → ${layout.general}`,
  );
}

async function pretrain(o: DemoOptions, layout: DemoLayout): Promise<void> {
  const run = runNameOf(pretrainRun(o.plan));
  await itl(
    [
      'train',
      '--run-name',
      run,
      '--model',
      layout.initModel,
      '--data',
      layout.pretrainRows,
      '--save-dir',
      layout.pretrainRuns,
      '--save-checkpoints',
      'last',
      '--seed',
      String(o.seed),
      '--resume',
    ],
    o,
  );
  const checkpoint = latestCheckpoint(path.join(layout.pretrainRuns, run));
  if (!checkpoint) throw new ItlError('ITL_STAGE', `pre-training left no checkpoint in ${path.join(layout.pretrainRuns, run)}`);
  const staging = `${layout.baseModel}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  for (const file of MODEL_FILES) await copyFile(path.join(checkpoint.path, file), path.join(staging, file));
  await rm(layout.baseModel, { recursive: true, force: true });
  await rename(staging, layout.baseModel);
  o.log(`  base model (pre-trained) → ${layout.baseModel}`);
}

async function trainRuns(o: DemoOptions, layout: DemoLayout, seed: number): Promise<void> {
  const { runs } = seedFolders(layout, seed);
  for (const training of o.plan.runs) {
    const run = demoRun(training);
    const steps = Math.ceil(Math.ceil(training.facts / training.batch) / (training.gradAcc ?? 1)) * training.epochs;
    const saveSteps = Math.max(1, Math.ceil(steps / o.plan.checkpointsPerRun));
    await itl(
      [
        'train',
        '--run-name',
        runNameOf(run),
        '--model',
        layout.baseModel,
        '--data',
        layout.data,
        '--save-dir',
        runs,
        '--save-steps',
        String(saveSteps),
        '--seed',
        String(seed),
        '--resume',
      ],
      o,
    );
  }
}

/** The multiple-choice file general ability is scored on: the generated one, or the user's. */
const choicesFile = (o: DemoOptions, layout: DemoLayout) => o.hellaswag ?? layout.heldOutChoices;

async function evaluate(o: DemoOptions, layout: DemoLayout, seed: number): Promise<void> {
  const folders = seedFolders(layout, seed);
  const common = ['--models-dir', folders.runs, '--eval-dir', folders.eval];
  // The stage is redone when the multiple-choice file changed (or was interrupted): `itl eval` skips
  // checkpoints that have a result, whichever file it came from, so the old results go first.
  await rm(path.join(folders.eval, 'hellaswag'), { recursive: true, force: true });
  const choices = ['--hellaswag', choicesFile(o, layout), ...(o.hellaswagLimit !== undefined ? ['--limit', String(o.hellaswagLimit)] : [])];
  await itl(['eval', 'hellaswag', '--base', ...common, ...choices], o);
  await itl(['eval', 'hellaswag', ...common, ...choices], o);
  await itl(['eval', 'general', '--base', ...common, '--questions', layout.heldOut, '--general-max-new-tokens', '48'], o);
  await itl(['eval', 'general', ...common, '--questions', layout.heldOut, '--general-max-new-tokens', '48'], o);
  await itl(['eval', 'recall', ...common, '--train-examples', String(o.plan.recallTrain), '--test-examples', String(o.plan.recallTest)], o);
  await itl(['eval', 'kl', ...common, '--kl-prompts', layout.klPrompts, '--kl-max-new-tokens', '48'], o);
}

async function analyzeSeeds(o: DemoOptions, layout: DemoLayout, seeds: number[]): Promise<void> {
  const folders = seeds.map((s) => seedFolders(layout, s));
  await itl(
    [
      'analyze',
      ...folders.flatMap((f) => ['--eval-dir', f.eval]),
      ...folders.flatMap((f) => ['--runs-dir', f.runs]),
      '--out',
      layout.results,
      '--hellaswag-label',
      o.hellaswag === undefined ? GENERAL_CHOICE_LABEL : 'HellaSwag',
    ],
    o,
  );
}

/** A value and its spread across seeds (sd = stderr · √seeds); sd is absent with one seed. */
export interface SeedValue {
  mean: number;
  sd?: number;
}

export interface DemoSummaryRow {
  run: string;
  mode: string;
  facts: number;
  checkpoint: number;
  seeds: number;
  recall_train?: SeedValue;
  recall_test?: SeedValue;
  /** General ability as the study scores HellaSwag (acc), % of the base model's. */
  choice_relative?: SeedValue;
  /** Exact-match general ability, % of the base model's. */
  general_relative?: SeedValue;
  kl?: SeedValue;
}

/** Each run's last checkpoint from results.csv (the selection `itl analyze` made), with the spread across seeds. */
async function summaryRows(resultsCsv: string): Promise<DemoSummaryRow[]> {
  const rows = parseResultsCsv(await readFile(resultsCsv, 'utf8'), resultsCsv);
  const last = new Map<string, (typeof rows)[number]>();
  for (const row of rows) {
    if (row.dataset_size === '0') continue;
    const previous = last.get(row.run);
    if (!previous || row.checkpoint_nbr > previous.checkpoint_nbr) last.set(row.run, row);
  }
  return [...last.values()]
    .map((row) => {
      const run = parseRunName(row.run);
      const seeds = row.metrics.seeds ?? 1;
      const value = (mean: number | undefined, stderr: number | undefined): SeedValue | undefined =>
        mean === undefined ? undefined : { mean, ...(seeds > 1 && stderr !== undefined ? { sd: stderr * Math.sqrt(seeds) } : {}) };
      const m = row.metrics;
      return {
        run: row.run,
        mode: run.mode,
        facts: run.facts,
        checkpoint: row.checkpoint_nbr,
        seeds,
        recall_train: value(m.recall_train, m.recall_train_stderr),
        recall_test: value(m.recall_test, m.recall_test_stderr),
        choice_relative: value(m.hellaswag_relative, m.hellaswag_relative_stderr),
        general_relative: value(m.general_relative, m.general_relative_stderr),
        kl: value(m.kl, m.kl_stderr),
      };
    })
    .sort((a, b) => (a.mode === b.mode ? a.facts - b.facts : a.mode === 'weight' ? -1 : 1));
}

function formatSummary(rows: DemoSummaryRow[]): string[] {
  const withSd = (v: SeedValue | undefined, scale: number, digits: number) =>
    v === undefined ? '—' : `${(scale * v.mean).toFixed(digits)}${v.sd === undefined ? '' : ` ± ${(scale * v.sd).toFixed(digits)}`}`;
  const seeds = rows[0]?.seeds ?? 1;
  const lines = [
    `  ${seeds > 1 ? `mean ± sd over ${seeds} fine-tuning seeds; ` : ''}recall in %, general ability in % of the base model`,
    '  mode    facts  recall (trained)  recall (unseen)  general (choice)  general (exact)  KL to base',
  ];
  for (const r of rows) {
    const recall = `${withSd(r.recall_train, 100, 0).padStart(16)}  ${withSd(r.recall_test, 100, 0).padStart(15)}`;
    const general = `${withSd(r.choice_relative, 1, 0).padStart(16)}  ${withSd(r.general_relative, 1, 0).padStart(15)}`;
    lines.push(`  ${r.mode.padEnd(6)} ${String(r.facts).padStart(6)}  ${recall}  ${general}  ${withSd(r.kl, 1, 3)}`);
  }
  return lines;
}

/** The study's Smol135M runs in the summary's columns (its general ability is HellaSwag, its recall one split per mode). */
function formatStudy(rows: StudyRow[]): string[] {
  const lines = [
    '  the study, Smol135M (its published table, last checkpoints; general ability = HellaSwag):',
    '  mode    facts  recall (trained)  recall (unseen)  general (choice)  general (exact)  KL to base',
  ];
  for (const r of rows) {
    const recall = r.recall === undefined ? '—' : `${(100 * r.recall).toFixed(0)}`;
    const hellaswag = r.hellaswagRelative === undefined ? '—' : r.hellaswagRelative.toFixed(0);
    lines.push(
      `  ${r.mode.padEnd(6)} ${String(r.facts).padStart(6)}  ${(r.mode === 'weight' ? recall : '—').padStart(16)}  ` +
        `${(r.mode === 'tool' ? recall : '—').padStart(15)}  ${hellaswag.padStart(16)}  ${'—'.padStart(15)}  ` +
        `${r.kl === undefined ? '—' : r.kl.toFixed(3)}`,
    );
  }
  return lines;
}

export interface DemoResult {
  report: string;
  resultsCsv: string;
  seeds: number[];
  summary: DemoSummaryRow[];
  /** The study's Smol135M runs, for comparison (lib/demo/study). */
  study: StudyRow[];
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const layout = demoLayout(o.out);
  if (existsSync(o.out) && !statSync(o.out).isDirectory()) throw new ItlError('ITL_USAGE', `--out ${o.out} is a file, not a folder`);
  checkFolder(o, layout);
  const seeds = fineTuningSeeds(o);
  await mkdir(layout.stages, { recursive: true });
  const recorded: RecordedPlan = {
    scale: o.scale,
    seed: o.seed,
    seeds,
    choices: o.hellaswag ?? 'generated',
    hellaswagLimit: o.hellaswagLimit ?? null,
    plan: o.plan,
  };
  await writeFileAtomic(layout.plan, `${JSON.stringify(recorded, null, 2)}\n`);
  const stages = new Stages(layout.stages, o.log, 5 + 2 * seeds.length);
  const base = { seed: o.seed };
  const choices = { choices: recorded.choices, limit: recorded.hellaswagLimit };
  await stages.run('model', 'tokenizer and random model', base, () => makeModel(o, layout));
  await stages.run('general', 'general dialogues and questions', base, () => makeGeneral(o, layout));
  await stages.run('pretrain', 'pre-training on general dialogues (the base model)', base, () => pretrain(o, layout));
  await stages.run('facts', 'facts dataset', base, () =>
    itl(['data', 'build', '--people', String(o.plan.people), '--seed', String(o.seed), '--out', layout.data], o),
  );
  for (const seed of seeds) {
    const runs = o.plan.runs.map((r) => `${r.mode} ${r.facts}`).join(', ');
    await stages.run(`train-seed-${seed}`, `seed ${seed}: fine-tuning ${runs}`, { seed }, () => trainRuns(o, layout, seed));
    const trained = finishedAt(layout.stages, `train-seed-${seed}`);
    await stages.run(`evaluate-seed-${seed}`, `seed ${seed}: evaluation`, { ...choices, trained }, () => evaluate(o, layout, seed));
  }
  const evaluated = seeds.map((seed) => finishedAt(layout.stages, `evaluate-seed-${seed}`));
  await stages.run('analyze', `analysis over ${seeds.length === 1 ? 'one seed' : `${seeds.length} seeds`}`, { seeds, evaluated }, () =>
    analyzeSeeds(o, layout, seeds),
  );
  const resultsCsv = path.join(layout.results, 'results.csv');
  const summary = await summaryRows(resultsCsv);
  const study = studyRows();
  for (const line of [...formatSummary(summary), ...formatStudy(study)]) o.log(line);
  return { report: path.join(layout.results, 'report', 'index.html'), resultsCsv, seeds, summary, study };
}
