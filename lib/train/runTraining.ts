/**
 * The recipe behind `itl train`: resolve the run's configuration (run name, overrides, options),
 * prepare its folder, tokenise its rows, write run_config.json, create the native trainer and train
 * it from save point to save point — evaluating the in-memory model there with --eval, stopping
 * cleanly on SIGINT/SIGTERM — then report. Rank 0 of a data-parallel job alone prepares the folder
 * and reports. The command file (lib/cli/commands/train.ts) only declares the flags and calls this.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

import { asItlError, ItlError } from '../errors.js';
import type { EvalTask } from '../eval/tasks/EvalTask.js';
import { parseTaskList } from '../eval/tasks/registry.js';
import { Model, type ModelInspection } from '../native/Model.js';
import type { Runtime } from '../native/Runtime.js';
import { type NativeRunPlace, Trainer } from '../native/Trainer.js';
import type { ChatTokenizer } from '../tokenize/ChatTokenizer.js';
import { loadTokenizer } from '../tokenize/loadTokenizer.js';
import { readCacheEntry, type TokenizedDataset } from '../tokenize/TokenizedDatasetCache.js';
import { acquireLock, type FileLock } from '../util/fileLock.js';
import { dataIdentity, describeDifferences, modelIdentity, type Provenance, provenanceDifferences } from '../util/provenance.js';
import { checkOutputFolder } from '../util/outputFolder.js';
import { writeFileAtomic } from '../util/writeFileAtomic.js';
import { listCheckpoints, METRICS_FILE, removeOrphanedTemporaries, RUN_LOCK_FILE } from './runFolder.js';
import { type DistEnv, detectDistEnv } from './distEnv.js';
import { findModel } from './models.js';
import { RUN_CONFIG_FILE, type TrainRequest, resolveTrainConfig, runDir, runRecord } from './trainConfig.js';
import { loadTrainingRows, type TrainingRows } from './trainData.js';
import { TrainEvaluator } from './trainEvaluation.js';
import { nativeTrainOptions } from './trainOptions.js';
import { createTrainProgress } from './trainProgress.js';

/** Tokenizer files a checkpoint carries, so it is a complete model folder (generate, eval). */
const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
];

/** `itl train --eval …`: the in-training evaluation tasks, where their results go, and every task flag as parsed. */
export interface TrainingEvaluationRequest {
  eval?: string;
  evalDir?: string;
  evalBatchSize: number;
  /** The command line's flags: each task reads its own (lib/eval/tasks/). */
  flags: Record<string, unknown>;
}

export interface TrainingJob extends TrainRequest {
  /** Continue from the latest complete checkpoint of the run. */
  resume: boolean;
  /** Tokenised-dataset cache (default SAVE_DIR/.itl-cache/tokenized). */
  cacheDir?: string;
  evaluation: TrainingEvaluationRequest;
  /** Print a JSON summary at the end. */
  json: boolean;
}

/** What the recipe needs from its caller (the CLI's context). */
export interface TrainingHost {
  runtime(): Runtime;
  env: NodeJS.ProcessEnv;
  stderr(text: string): void;
  printJson(value: unknown): void;
}

/** Trains the run `job` describes to its end (or a stop request); returns the exit status. */
export async function runTraining(job: TrainingJob, host: TrainingHost): Promise<number> {
  // torchrun, srun or `itl launch` set the rank; rank 0 alone prepares the run folder and reports.
  const dist = detectDistEnv(host.env);
  const say = dist.rank === 0 ? (line: string) => host.stderr(line) : () => {};
  const config = resolveTrainConfig(job, (label) => findModel(label)!.hfId, say);
  const { options } = config;
  if (config.runName !== job.runName) say(`itl: the flags change the run: it is saved as ${config.runName}\n`);
  if (!existsSync(config.data)) {
    throw new ItlError('ITL_IO', `the data folder ${config.data} does not exist (make one with itl data build)`);
  }
  if (options.initAdapter && !existsSync(path.join(options.initAdapter, 'adapter_config.json'))) {
    throw new ItlError('ITL_IO', `--init-adapter ${options.initAdapter} has no adapter_config.json`);
  }
  const device = dist.worldSize > 1 && options.device === 'cuda' ? `cuda:${dist.localRank}` : options.device;
  const wanted = job.evaluation;
  const tasks = wanted.eval === undefined ? [] : parseTaskList(wanted.eval, '--eval');
  if (tasks.length > 0 && !wanted.evalDir) throw new ItlError('ITL_USAGE', '--eval needs --eval-dir (where the results go)');
  if (tasks.length > 0 && dist.worldSize > 1) {
    throw new ItlError('ITL_USAGE', "--eval runs in single-process training; evaluate a data-parallel run's checkpoints with itl eval");
  }
  // Before any work: checkpoints (and results) must be writable there.
  checkOutputFolder(config.saveDir, 'the --save-dir folder');
  if (tasks.length > 0) checkOutputFolder(wanted.evalDir!, 'the --eval-dir folder');
  // Every task's flags are checked before any work, as `itl eval` checks them.
  const taskSettings = new Map(tasks.map((task) => [task, task.settings(wanted.flags)]));
  const inspected = await Model.inspect(host.runtime(), config.model);
  const tokenizer = await loadTokenizer(inspected.folder);

  const dir = runDir(config);
  // One training process (job) per run: a second one fails at once, naming the first.
  const lock = dist.rank === 0 ? await lockRun(dir) : undefined;
  try {
    return await trainRun(job, host, { config, dist, say, device, tasks, taskSettings, inspected, tokenizer, dir });
  } finally {
    lock?.release();
  }
}

interface Prepared {
  config: ReturnType<typeof resolveTrainConfig>;
  dist: DistEnv;
  say: (line: string) => void;
  device: string;
  tasks: EvalTask[];
  taskSettings: Map<EvalTask, unknown>;
  inspected: ModelInspection;
  tokenizer: ChatTokenizer;
  dir: string;
}

async function trainRun(job: TrainingJob, host: TrainingHost, p: Prepared): Promise<number> {
  const { config, dist, say, device, tasks, taskSettings, inspected, tokenizer, dir } = p;
  const { run, options } = config;
  const wanted = job.evaluation;
  const provenance: Provenance = { model: modelIdentity(inspected.folder), data: dataIdentity(config.data) };
  const resumable = await prepareRunFolder(dir, job.resume, say, dist.rank === 0);
  const recorded = resumable.length > 0 ? recordedInputs(dir) : undefined;
  if (recorded) refuseOtherInputs(dir, recorded, provenance);
  const rows = await loadTrainingRows({
    data: config.data,
    facts: run.facts,
    evalRows: options.evalRows,
    mode: run.mode,
    tokenizer,
    dateString: options.dateString,
    cacheDir: job.cacheDir ?? path.join(config.saveDir, '.itl-cache', 'tokenized'),
  });
  if (recorded) await refuseOtherRows(dir, recorded, rows, say);
  if (rows.evalRows < options.evalRows) {
    say(`itl: only ${rows.evalRows} rows follow the training rows: the eval set has ${rows.evalRows}\n`);
  }
  options.evalRows = rows.evalRows;
  const record = runRecord(config, {
    modelFolder: inspected.folder,
    tokenized: { train: rows.train.path, eval: rows.eval.path },
    provenance,
  });
  const recordText = `${JSON.stringify(record, null, 2)}\n`;
  if (dist.rank === 0) await writeFileAtomic(path.join(dir, RUN_CONFIG_FILE), recordText);

  const place = (resumeFrom: string | null): NativeRunPlace => ({
    model: inspected.folder,
    device,
    runDir: dir,
    baseModel: path.resolve(inspected.folder),
    padId: tokenizer.special.pad,
    checkpointFiles: TOKENIZER_FILES.map((f) => path.join(inspected.folder, f)).filter((f) => existsSync(f)),
    runRecord: recordText,
    resumeFrom,
    ...nativeDist(dist),
  });
  const create = (resumeFrom: string | null) =>
    Trainer.create(host.runtime(), { ...place(resumeFrom), ...nativeTrainOptions(options) }, rows.train.dataset, rows.eval.dataset);
  const trainer = await resumeFromLatestIntact(resumable, create, say);
  const evaluator =
    tasks.length === 0
      ? undefined
      : new TrainEvaluator({
          tasks,
          settings: taskSettings,
          evalDir: wanted.evalDir!,
          runDir: dir,
          runName: config.runName,
          runtime: host.runtime(),
          tokenizer,
          dateString: options.dateString,
          run: { data: config.data, facts: run.facts, mode: run.mode, baseModel: inspected.folder },
          batchSize: wanted.evalBatchSize,
          log: (m) => say(`itl: ${m}\n`),
        });
  try {
    return await trainUntilDone(trainer, job.json && dist.rank === 0, host, dir, say, evaluator);
  } finally {
    evaluator?.close();
    trainer.dispose();
  }
}

/** The request's data-parallel fields: this process's place in the job. */
export function nativeDist(
  dist: DistEnv,
): Pick<NativeRunPlace, 'rank' | 'worldSize' | 'localRank' | 'localWorldSize' | 'masterAddr' | 'masterPort'> {
  return {
    rank: dist.rank,
    worldSize: dist.worldSize,
    localRank: dist.localRank,
    localWorldSize: dist.localWorldSize,
    masterAddr: dist.masterAddr,
    masterPort: dist.masterPort,
  };
}

/**
 * Creates the run folder (rank 0) and cleans what dead writers left; with --resume returns the run's
 * complete checkpoints, latest first (the ones a resume may start from), else none.
 */
async function prepareRunFolder(dir: string, resume: boolean, warn: (line: string) => void, writer: boolean): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  if (writer) removeOrphanedTemporaries(dir);
  const checkpoints = listCheckpoints(dir)
    .map((c) => c.path)
    .reverse();
  if (resume) {
    if (checkpoints.length > 0) return checkpoints;
    warn(`itl: ${dir} has no complete checkpoint: starting from the beginning\n`);
  } else if (checkpoints.length > 0) {
    throw new ItlError('ITL_USAGE', `${checkpoints[0]} exists: pass --resume to continue that run, or choose another --save-dir`);
  }
  if (writer) await rm(path.join(dir, METRICS_FILE), { force: true });
  return [];
}

/** The run's lock (RUN/.itl-train.lock): held while this process trains it. */
async function lockRun(dir: string): Promise<FileLock> {
  await mkdir(dir, { recursive: true });
  return acquireLock(path.join(dir, RUN_LOCK_FILE), { what: `the run ${dir}` });
}

/** What run_config.json says a run trained from: nothing recorded when it is missing or unreadable. */
interface RecordedInputs {
  provenance?: Provenance;
  tokenized?: { train?: string; eval?: string };
}

function recordedInputs(dir: string): RecordedInputs {
  try {
    return (JSON.parse(readFileSync(path.join(dir, RUN_CONFIG_FILE), 'utf8')) as RecordedInputs | null) ?? {};
  } catch {
    return {};
  }
}

/**
 * A resume continues the same run: the model it trains from and its data must be those run_config.json
 * records (by content), or the checkpoints would mix two runs under one name. A difference is refused,
 * naming it, and run_config.json is left as it is.
 */
function refuseOtherInputs(dir: string, recorded: RecordedInputs, now: Provenance): void {
  const differences = provenanceDifferences(recorded.provenance, now);
  if (differences.length > 0) {
    throw new ItlError(
      'ITL_CONFIG',
      `--resume continues ${dir}, which was trained on other inputs: ${describeDifferences(differences)}; ` +
        'pass the same --model and --data, or train a new run (another --save-dir)',
    );
  }
}

/**
 * A resume also trains on the rows the run started with. run_config.json records their tokenised
 * entries; another entry today (the tokenizer files, the chat template or itl's row format changed)
 * is compared with the recorded one by content: the same rows go on, other rows are refused, and an
 * entry that is gone from the cache can no longer be checked (said, and the run goes on).
 */
async function refuseOtherRows(dir: string, recorded: RecordedInputs, rows: TrainingRows, say: (line: string) => void): Promise<void> {
  for (const part of ['train', 'eval'] as const) {
    const before = recorded.tokenized?.[part];
    const now = rows[part];
    if (before === undefined || path.resolve(before) === path.resolve(now.path)) continue;
    let previous: TokenizedDataset;
    try {
      previous = await readCacheEntry(before);
    } catch {
      say(`itl: cannot check that the ${part} rows are those ${dir} started with (${before} is gone or damaged); going on\n`);
      continue;
    }
    if (!sameRows(previous, now.dataset)) {
      throw new ItlError(
        'ITL_CONFIG',
        `--resume continues ${dir}, whose ${part} rows were tokenised otherwise (${before}) than they are now (${now.path}): ` +
          'the tokenizer files, the chat template or itl changed since; train a new run (another --save-dir)',
      );
    }
  }
}

function sameRows(a: TokenizedDataset, b: TokenizedDataset): boolean {
  const equal = (x: Int32Array, y: Int32Array) => x.length === y.length && x.every((v, i) => v === y[i]);
  return equal(a.offsets, b.offsets) && equal(a.ids, b.ids) && equal(a.labels, b.labels);
}

/**
 * The trainer, resumed from the latest checkpoint that loads; a damaged one (a truncated optimizer or
 * weights file) is named and the previous complete checkpoint taken instead, with a warning. Without
 * checkpoints: a fresh trainer.
 */
async function resumeFromLatestIntact(
  checkpoints: string[],
  create: (resumeFrom: string | null) => Promise<Trainer>,
  warn: (line: string) => void,
): Promise<Trainer> {
  if (checkpoints.length === 0) return create(null);
  for (const [i, checkpoint] of checkpoints.entries()) {
    try {
      return await create(checkpoint);
    } catch (thrown) {
      const error = asItlError(thrown);
      const previous = checkpoints[i + 1];
      if (error.code !== 'ITL_CHECKPOINT_DAMAGED' && error.code !== 'ITL_IO') throw error;
      if (previous === undefined) throw error;
      warn(`itl: ${checkpoint} cannot be resumed (${error.message}); resuming from the previous complete checkpoint, ${previous}\n`);
    }
  }
  throw new ItlError('ITL_INTERNAL', 'unreachable: the loop returns or throws');
}

async function trainUntilDone(
  trainer: Trainer,
  json: boolean,
  host: TrainingHost,
  dir: string,
  say: (line: string) => void,
  evaluator?: TrainEvaluator,
): Promise<number> {
  const info = trainer.info();
  const { schedule } = info;
  const what = info.lora.r > 0 ? `LoRA r=${info.lora.r}` : 'full fine-tuning';
  say(
    `itl: ${what}, ${info.trainableParameters.toLocaleString('en-US')} trainable parameters, ` +
      `${schedule.trainRows} rows, ${schedule.totalSteps} steps (${schedule.updatesPerEpoch}/epoch, warm-up ${schedule.warmupSteps}), ` +
      `eval every ${schedule.evalSteps}, checkpoint every ${schedule.saveSteps}, ${info.precision} on ${info.device}` +
      (info.globalStep > 0 ? `, resuming at step ${info.globalStep}` : '') +
      '\n',
  );
  const progress = createTrainProgress({
    tty: Boolean(process.stderr.isTTY) && !host.env.CI && info.rank === 0,
    write: say,
    startStep: info.globalStep,
    totalSteps: schedule.totalSteps,
    loggingSteps: schedule.loggingSteps,
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
    progress.stop();
    say(`itl: ${signal}: finishing the current step and writing a checkpoint (send it again to exit at once)\n`);
    trainer.requestStop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const started = Date.now();
  let tokens = 0,
    padded = 0,
    lastLoss = NaN,
    losses = 0,
    steps = 0;
  let outcome;
  try {
    do {
      outcome = await trainer.run((event) => {
        progress.onEvent(event);
        if (event.kind === 'step') {
          tokens += event.record.tokens;
          padded += event.record.tokens / (1 - event.record.padding_fraction);
          lastLoss = event.record.loss;
          losses += event.record.loss;
          steps++;
        }
      });
      // Between runs the model is idle in memory: evaluate it there, at every save point.
      if (evaluator && !outcome.stopped) await evaluator.evaluate(trainer, outcome.globalStep, outcome.checkpoint);
    } while (!outcome.finished && !outcome.stopped);
  } finally {
    progress.stop();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  const seconds = (Date.now() - started) / 1000;
  if (outcome.stopped) {
    say(
      outcome.checkpoint
        ? `itl: stopped at step ${outcome.globalStep}; ${outcome.checkpoint} is complete; continue with --resume\n`
        : `itl: stopped at step ${outcome.globalStep}; no checkpoint was written (--save-checkpoints none): a rerun starts from the beginning\n`,
    );
  } else {
    const where = outcome.checkpoint ? `: ${outcome.checkpoint}` : ' (no checkpoint written: --save-checkpoints none)';
    say(`itl: done at step ${outcome.globalStep}${where}\n`);
  }
  if (json) {
    host.printJson({
      run_dir: path.resolve(dir),
      global_step: outcome.globalStep,
      finished: outcome.finished,
      stopped: outcome.stopped,
      train_loss: steps ? losses / steps : null,
      last_loss: Number.isNaN(lastLoss) ? null : lastLoss,
      train_runtime_s: seconds,
      train_tokens_per_s: tokens / seconds,
      padding_fraction: padded > 0 ? 1 - tokens / padded : 0,
      checkpoint: outcome.checkpoint,
    });
  }
  return 0;
}
