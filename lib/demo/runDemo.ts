/**
 * `itl demo`: the study at toy scale, end to end, on this machine, with nothing downloaded.
 *
 *   1 model      the project's byte-level BPE tokenizer and a random ~0.9M-parameter LLaMA (lib/demo/demoModel.ts)
 *   2 general    general dialogues (lib/demo/generalTasks.ts): pre-training rows, held-out questions, KL prompts
 *   3 pretrain   `itl train` on the general dialogues: the base model, with a general ability to lose
 *   4 facts      `itl data build`: invented people, their facts, the tool database
 *   5 train      in-weight runs at growing numbers of facts and one in-tool run, from the base model
 *   6 evaluate   recall (through the tool for in-tool runs), KL/TV to the base model on general
 *                prompts, general ability on held-out questions (base model included), HellaSwag with --hellaswag
 *   7 analyze    `itl analyze`: results.csv, plots and the HTML report
 *
 * Every stage is an `itl` command run as a child process — the same commands a user or a batch job
 * runs, printed before they run — so the demo is also the pipeline's integration test. A stage
 * that finishes leaves a marker in OUT/.stages; re-running the demo skips finished stages, and an
 * interrupted training run continues from its last checkpoint (`--resume`).
 */
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseResultsCsv } from '../analyze/resultsCsv.js';
import { ItlError } from '../errors.js';
import { latestCheckpoint } from '../train/runFolder.js';
import { parseRunName } from '../train/runName.js';
import { forwardSignals, ItlChild } from '../util/itlChild.js';
import { writeFileAtomic } from '../util/writeFileAtomic.js';
import type { Runtime } from '../native/Runtime.js';
import { Model } from '../native/Model.js';
import { type DemoPlan, demoRun, pretrainRun, runNameOf } from './demoPlan.js';
import { writeDemoConfig } from './demoModel.js';
import { writeDemoTokenizer } from './demoTokenizer.js';
import { generalDialogue, generalQuestions } from './generalTasks.js';

const ITL_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'itl.js');

export interface DemoOptions {
  out: string;
  plan: DemoPlan;
  /** HellaSwag validation data (jsonl or on-disk dataset): also score it. */
  hellaswag?: string;
  hellaswagLimit?: number;
  seed: number;
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
  klPrompts: string;
  pretrainRuns: string;
  data: string;
  runs: string;
  eval: string;
  results: string;
  stages: string;
}

export function demoLayout(out: string): DemoLayout {
  const at = (...parts: string[]) => path.join(out, ...parts);
  return {
    initModel: at('model', 'init'),
    baseModel: at('model', 'base'),
    general: at('general'),
    pretrainRows: at('general', 'pretrain.jsonl'),
    heldOut: at('general', 'heldout.json'),
    klPrompts: at('general', 'kl_prompts.json'),
    pretrainRuns: at('pretrain'),
    data: at('data'),
    runs: at('runs'),
    eval: at('eval'),
    results: at('results'),
    stages: at('.stages'),
  };
}

/** Files a model folder needs besides its weights, copied from the pre-training checkpoint to the base model. */
const MODEL_FILES = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

class Stages {
  constructor(private readonly dir: string, private readonly log: (line: string) => void, private readonly total: number) {}
  private index = 0;

  /** Runs `work` unless its marker says it finished before; writes the marker after it. */
  async run(name: string, title: string, work: () => Promise<void>): Promise<void> {
    this.index++;
    const marker = path.join(this.dir, `${name}.done`);
    if (existsSync(marker)) {
      this.log(`[${this.index}/${this.total}] ${title}: done before, skipped`);
      return;
    }
    this.log(`[${this.index}/${this.total}] ${title}`);
    const started = performance.now();
    await work();
    const seconds = (performance.now() - started) / 1000;
    await writeFileAtomic(marker, JSON.stringify({ seconds, finished: new Date().toISOString() }) + '\n');
    this.log(`[${this.index}/${this.total}] ${title}: ${seconds.toFixed(1)} s`);
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
      throw new ItlError('ITL_ABORTED', `${interrupted}: ${command} stopped (${signal ?? `exit ${code}`}); finished stages are kept: re-run the demo to continue`);
    }
    if (code !== 0) throw new ItlError('ITL_STAGE', `${command} failed (${signal ?? `exit ${code}`}); fix the cause and re-run the demo: finished stages are kept`);
  } finally {
    stopForwarding();
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
  const heldOut = generalQuestions(plan.heldOut, o.seed + 2, new Set(pretrain.map((q) => q.question)));
  await mkdir(layout.general, { recursive: true });
  await writeFileAtomic(layout.pretrainRows, pretrain.map((q) => JSON.stringify({ messages: generalDialogue(q) })).join('\n') + '\n');
  await writeFileAtomic(layout.heldOut, JSON.stringify({ description: 'itl demo: held-out general questions (exact-match answers)', questions: heldOut }, null, 1) + '\n');
  const prompts = heldOut.slice(0, plan.klPrompts).map((q) => ({ category: q.task, prompt: q.question }));
  await writeFileAtomic(layout.klPrompts, JSON.stringify({ description: 'itl demo: KL/TV prompts (held-out general questions)', prompts }, null, 1) + '\n');
  o.log(`  ${pretrain.length} pre-training dialogues, ${heldOut.length} held-out questions, ${prompts.length} KL prompts → ${layout.general}`);
}

async function pretrain(o: DemoOptions, layout: DemoLayout): Promise<void> {
  const run = runNameOf(pretrainRun(o.plan));
  await itl(['train', '--run-name', run, '--model', layout.initModel, '--data', layout.pretrainRows, '--save-dir', layout.pretrainRuns,
    '--save-checkpoints', 'last', '--seed', String(o.seed), '--resume'], o);
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

async function trainRuns(o: DemoOptions, layout: DemoLayout): Promise<void> {
  for (const training of o.plan.runs) {
    const run = demoRun(training);
    const steps = Math.ceil(Math.ceil(training.facts / training.batch) / (training.gradAcc ?? 1)) * training.epochs;
    const saveSteps = Math.max(1, Math.ceil(steps / o.plan.checkpointsPerRun));
    await itl(['train', '--run-name', runNameOf(run), '--model', layout.baseModel, '--data', layout.data, '--save-dir', layout.runs,
      '--save-steps', String(saveSteps), '--seed', String(o.seed), '--resume'], o);
  }
}

async function evaluate(o: DemoOptions, layout: DemoLayout): Promise<void> {
  const common = ['--models-dir', layout.runs, '--eval-dir', layout.eval];
  await itl(['eval', 'general', '--base', ...common, '--questions', layout.heldOut, '--general-max-new-tokens', '48'], o);
  await itl(['eval', 'general', ...common, '--questions', layout.heldOut, '--general-max-new-tokens', '48'], o);
  await itl(['eval', 'recall', ...common, '--train-examples', String(o.plan.recallTrain), '--test-examples', String(o.plan.recallTest)], o);
  await itl(['eval', 'kl', ...common, '--kl-prompts', layout.klPrompts, '--kl-max-new-tokens', '48'], o);
  if (o.hellaswag !== undefined) {
    const limit = o.hellaswagLimit !== undefined ? ['--limit', String(o.hellaswagLimit)] : [];
    await itl(['eval', 'hellaswag', '--base', ...common, '--hellaswag', o.hellaswag, ...limit], o);
    await itl(['eval', 'hellaswag', ...common, '--hellaswag', o.hellaswag, ...limit], o);
  }
}

export interface DemoSummaryRow {
  run: string;
  mode: string;
  facts: number;
  checkpoint: number;
  recall_train?: number;
  recall_test?: number;
  general_relative?: number;
  kl?: number;
}

/** Each run's last checkpoint from results.csv (the selection `itl analyze` made). */
async function summaryRows(resultsCsv: string): Promise<DemoSummaryRow[]> {
  const rows = parseResultsCsv(await readFile(resultsCsv, 'utf8'), resultsCsv);
  const last = new Map<string, (typeof rows)[number]>();
  for (const row of rows) {
    if (row.dataset_size === '0') continue;
    const previous = last.get(row.run);
    if (!previous || row.checkpoint_nbr > previous.checkpoint_nbr) last.set(row.run, row);
  }
  return [...last.values()].map((row) => {
    const run = parseRunName(row.run);
    return { run: row.run, mode: run.mode, facts: run.facts, checkpoint: row.checkpoint_nbr, recall_train: row.metrics.recall_train,
      recall_test: row.metrics.recall_test, general_relative: row.metrics.general_relative, kl: row.metrics.kl };
  }).sort((a, b) => (a.mode === b.mode ? a.facts - b.facts : a.mode === 'weight' ? -1 : 1));
}

function formatSummary(rows: DemoSummaryRow[]): string[] {
  const pct = (v?: number) => (v === undefined ? '   —' : `${(100 * v).toFixed(0).padStart(3)} %`);
  const lines = ['  mode    facts  recall (trained)  recall (unseen)  general ability  KL to base'];
  for (const r of rows) {
    lines.push(`  ${r.mode.padEnd(6)} ${String(r.facts).padStart(6)}  ${pct(r.recall_train).padStart(16)}  ${pct(r.recall_test).padStart(15)}  ` +
      `${(r.general_relative === undefined ? '—' : `${r.general_relative.toFixed(0)} % of base`).padStart(15)}  ${r.kl === undefined ? '—' : r.kl.toFixed(3)}`);
  }
  return lines;
}

export interface DemoResult {
  report: string;
  resultsCsv: string;
  summary: DemoSummaryRow[];
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const layout = demoLayout(o.out);
  if (existsSync(o.out) && !statSync(o.out).isDirectory()) throw new ItlError('ITL_USAGE', `--out ${o.out} is a file, not a folder`);
  await mkdir(layout.stages, { recursive: true });
  await writeFileAtomic(path.join(o.out, 'demo_plan.json'), JSON.stringify({ seed: o.seed, hellaswag: o.hellaswag ?? null, ...o.plan }, null, 2) + '\n');
  const stages = new Stages(layout.stages, o.log, 7);
  await stages.run('model', 'tokenizer and random model', () => makeModel(o, layout));
  await stages.run('general', 'general dialogues', () => makeGeneral(o, layout));
  await stages.run('pretrain', 'pre-training on general dialogues (the base model)', () => pretrain(o, layout));
  await stages.run('facts', 'facts dataset', () => itl(['data', 'build', '--people', String(o.plan.people), '--seed', String(o.seed), '--out', layout.data], o));
  await stages.run('train', `fine-tuning: ${o.plan.runs.map((r) => `${r.mode} ${r.facts}`).join(', ')}`, () => trainRuns(o, layout));
  await stages.run(o.hellaswag === undefined ? 'evaluate' : 'evaluate-hellaswag', 'evaluation', () => evaluate(o, layout));
  await stages.run(o.hellaswag === undefined ? 'analyze' : 'analyze-hellaswag', 'analysis', () => itl(['analyze', '--eval-dir', layout.eval, '--runs-dir', layout.runs, '--out', layout.results], o));
  const resultsCsv = path.join(layout.results, 'results.csv');
  const summary = await summaryRows(resultsCsv);
  for (const line of formatSummary(summary)) o.log(line);
  return { report: path.join(layout.results, 'report', 'index.html'), resultsCsv, summary };
}
