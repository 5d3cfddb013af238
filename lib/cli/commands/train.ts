import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

import { ItlError } from '../../errors.js';
import { Model } from '../../native/Model.js';
import { Trainer } from '../../native/Trainer.js';
import { DEFAULT_DATE_STRING } from '../../tokenize/ChatTokenizer.js';
import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { latestCheckpoint, staleCheckpointFolders } from '../../train/checkpoints.js';
import { type DistEnv, detectDistEnv } from '../../train/distEnv.js';
import { findModel } from '../../train/models.js';
import { formatRunName } from '../../train/runName.js';
import { DEFAULT_EVAL_ROWS, RUN_CONFIG_FILE, type TrainConfig, effectiveRun, runDir, runRecord, validateTrainConfig } from '../../train/trainConfig.js';
import { loadTrainingRows } from '../../train/trainData.js';
import { TrainEvaluator, parseTrainEvaluations } from '../../train/trainEvaluation.js';
import { createTrainProgress } from '../../train/trainProgress.js';
import { checkOutputFolder } from '../../util/outputFolder.js';
import { writeFileAtomic } from '../../util/writeFileAtomic.js';
import { defineCommand } from '../command.js';
import type { CliContext } from '../context.js';

/** Tokenizer files a checkpoint carries, so it is a complete model folder (generate, eval). */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja',
  'tokenizer.model', 'vocab.json', 'merges.txt', 'added_tokens.json'];

export const trainCommand = defineCommand({
  command: 'train',
  describe: 'fine-tune a model on the facts dataset as the study did (in-weight or in-tool, full or LoRA), with checkpoints in the Trainer layout',
  builder: (y) =>
    y
      .option('run-name', { type: 'string', demandOption: true, describe: 'sft_<Model>_facts=<N>-epochs=<E>-batch=<B>-gradAcc=<G>-LR=<lr>-loraR=<r>-loraA=<alpha>-<weight|tool>' })
      .option('data', { type: 'string', demandOption: true, describe: 'an `itl data build` output folder, or a JSON Lines file of dialogues (one {"messages": [...]} per line; rows split as facts rows)' })
      .option('save-dir', { type: 'string', demandOption: true, describe: 'runs go to SAVE_DIR/<run name>/checkpoint-<step>/' })
      .option('model', { type: 'string', describe: "a model folder to train (the run name's model is then a label); default: the run name's model under $ITL_MODELS or the Hugging Face cache" })
      .option('facts', { type: 'number', describe: 'override the run name: training rows N' })
      .option('epochs', { type: 'number', describe: 'override the run name: epochs' })
      .option('batch', { type: 'number', describe: 'override the run name: rows per micro-batch on one device' })
      .option('grad-acc', { type: 'number', describe: 'override the run name: micro-batches per optimiser step' })
      .option('lr', { type: 'number', describe: 'override the run name: peak learning rate' })
      .option('lora-r', { type: 'number', describe: 'override the run name: LoRA rank (0 = full fine-tuning)' })
      .option('lora-alpha', { type: 'number', describe: 'override the run name: LoRA alpha' })
      .option('mode', { choices: ['weight', 'tool'] as const, describe: 'override the run name: in-weight (qa) or in-tool (qatool) dialogues' })
      .option('lora-dropout', { type: 'number', default: 0.05, describe: 'dropout on the LoRA input (training only)' })
      .option('init-adapter', { type: 'string', describe: 'start from this PEFT adapter folder (LoRA runs)' })
      .option('merge', { type: 'boolean', default: false, describe: 'LoRA: also write merged full weights to checkpoint-<step>/merged' })
      .option('seed', { type: 'number', default: 42, describe: 'epoch shuffles, LoRA initialisation and dropout' })
      .option('precision', { choices: ['fp32', 'bf16', 'bf16-mixed'] as const, default: 'fp32' as const, describe: 'fp32; bf16 = pure bf16 weights and optimiser state (the study); bf16-mixed = fp32 master weights' })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu, cuda or cuda:N' })
      .option('eval-rows', { type: 'number', default: DEFAULT_EVAL_ROWS, describe: 'rows after the training rows that give the eval loss' })
      .option('eval-batch', { type: 'number', default: 8, describe: 'rows per evaluation forward' })
      .option('eval-steps', { type: 'number', default: 0, describe: 'evaluate every N optimiser steps (0: every half epoch, as the study)' })
      .option('save-steps', { type: 'number', default: 0, describe: 'checkpoint every N steps (0: every 2 epochs, as the study); always at the last step' })
      .option('logging-steps', { type: 'number', default: 5, describe: 'log (trainer_state.json, plain progress lines) every N steps' })
      .option('warmup-ratio', { type: 'number', default: 0.05, describe: 'linear warm-up over ceil(ratio × total steps)' })
      .option('max-grad-norm', { type: 'number', default: 1, describe: 'clip the global gradient norm (0: no clipping)' })
      .option('date-string', { type: 'string', default: DEFAULT_DATE_STRING, describe: 'the date Llama 3 chat templates print' })
      .option('save-checkpoints', { choices: ['all', 'last', 'none'] as const, default: 'all' as const, describe: 'which save points reach the disk (last: only the final one, and one on a stop)' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue from the latest complete checkpoint of the run' })
      .option('cache-dir', { type: 'string', describe: 'tokenised-dataset cache (default SAVE_DIR/.itl-cache/tokenized)' })
      .option('eval', { type: 'string', describe: 'evaluate the in-memory model at every save point: a comma-separated list of recall, kl, hellaswag (results as itl eval writes them)' })
      .option('eval-dir', { type: 'string', describe: 'with --eval: where the results go (recall/, kl_tv/, hellaswag/)' })
      .option('hellaswag', { type: 'string', describe: 'with --eval hellaswag: the validation set (official jsonl or an on-disk dataset)' })
      .option('hellaswag-limit', { type: 'number', describe: 'with --eval hellaswag: only the first N documents' })
      .option('kl-prompts', { type: 'string', describe: 'with --eval kl: a prompts file (default: the ~120 shipped prompts)' })
      .option('kl-max-new-tokens', { type: 'number', default: 400, describe: 'with --eval kl: most tokens of each base-model answer' })
      .option('eval-batch-size', { type: 'number', default: 32, describe: 'with --eval: rows per forward pass at the start (halved on out-of-memory errors)' })
      .option('collective-timeout', { type: 'number', default: 600, describe: 'data-parallel: seconds after which a rank that died or hangs ends the others' })
      .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary at the end' }),
  async run(args, context) {
    const run = effectiveRun(args['run-name'], {
      facts: args.facts, epochs: args.epochs, batch: args.batch, gradAcc: args['grad-acc'], lr: args.lr,
      loraR: args['lora-r'], loraAlpha: args['lora-alpha'], mode: args.mode,
    });
    const config: TrainConfig = validateTrainConfig({
      run, runName: '', model: args.model ?? findModel(run.model)!.hfId, data: args.data, saveDir: args['save-dir'],
      loraDropout: args['lora-dropout'], seed: args.seed, precision: args.precision, device: args.device, evalRows: args['eval-rows'],
      evalBatch: args['eval-batch'], evalSteps: args['eval-steps'], saveSteps: args['save-steps'], loggingSteps: args['logging-steps'],
      warmupRatio: args['warmup-ratio'], maxGradNorm: args['max-grad-norm'], dateString: args['date-string'],
      initAdapter: args['init-adapter'], merge: args.merge,
    });
    config.runName = formatRunName(run);
    // torchrun, srun or `itl launch` set the rank; rank 0 alone prepares the run folder and reports.
    const dist = detectDistEnv(context.env);
    if (config.runName !== args['run-name'] && dist.rank === 0) context.io.stderr(`itl: the flags change the run: it is saved as ${config.runName}\n`);
    if (!existsSync(config.data)) throw new ItlError('ITL_IO', `the data folder ${config.data} does not exist (make one with itl data build)`);
    if (config.initAdapter && !existsSync(path.join(config.initAdapter, 'adapter_config.json'))) {
      throw new ItlError('ITL_IO', `--init-adapter ${config.initAdapter} has no adapter_config.json`);
    }
    if (!(args['collective-timeout'] > 0)) throw new ItlError('ITL_USAGE', `expected a positive --collective-timeout but received ${args['collective-timeout']}`);
    const device = dist.worldSize > 1 && config.device === 'cuda' ? `cuda:${dist.localRank}` : config.device;
    const say = dist.rank === 0 ? (line: string) => context.io.stderr(line) : () => {};
    const evaluations = args.eval === undefined ? [] : parseTrainEvaluations(args.eval);
    if (evaluations.length > 0 && !args['eval-dir']) throw new ItlError('ITL_USAGE', '--eval needs --eval-dir (where the results go)');
    // Before any work: checkpoints (and results) must be writable there.
    checkOutputFolder(config.saveDir, 'the --save-dir folder');
    if (evaluations.length > 0) checkOutputFolder(args['eval-dir']!, 'the --eval-dir folder');
    if (evaluations.length > 0 && dist.worldSize > 1) {
      throw new ItlError('ITL_USAGE', '--eval runs in single-process training; evaluate a data-parallel run\'s checkpoints with itl eval');
    }
    const inspected = await Model.inspect(context.runtime(), config.model);
    const tokenizer = await loadTokenizer(inspected.folder);

    const dir = runDir(config);
    const resumeFrom = await prepareRunFolder(dir, args.resume, say, dist.rank === 0);
    const rows = await loadTrainingRows({
      data: config.data, facts: run.facts, evalRows: config.evalRows, mode: run.mode, tokenizer, dateString: config.dateString,
      cacheDir: args['cache-dir'] ?? path.join(config.saveDir, '.itl-cache', 'tokenized'),
    });
    if (rows.evalRows < config.evalRows) say(`itl: only ${rows.evalRows} rows follow the training rows: the eval set has ${rows.evalRows}\n`);
    config.evalRows = rows.evalRows;
    const record = runRecord(config, { modelFolder: inspected.folder, tokenized: { train: rows.train.path, eval: rows.eval.path } });
    const recordText = JSON.stringify(record, null, 2) + '\n';
    if (dist.rank === 0) await writeFileAtomic(path.join(dir, RUN_CONFIG_FILE), recordText);

    const trainer = await Trainer.create(context.runtime(), {
      model: inspected.folder, device, precision: config.precision, runDir: dir, baseModel: path.resolve(inspected.folder),
      epochs: run.epochs, batch: run.batch, gradAccumulation: run.gradAcc, learningRate: run.lr, warmupRatio: config.warmupRatio,
      maxGradNorm: config.maxGradNorm, seed: config.seed, evalBatch: config.evalBatch, evalSteps: config.evalSteps,
      saveSteps: config.saveSteps, loggingSteps: config.loggingSteps, loraR: run.loraR, loraAlpha: run.loraAlpha,
      loraDropout: config.loraDropout, initAdapter: config.initAdapter, saveMerged: config.merge, saveCheckpoints: args['save-checkpoints'], padId: tokenizer.special.pad,
      checkpointFiles: TOKENIZER_FILES.map((f) => path.join(inspected.folder, f)).filter((f) => existsSync(f)),
      runRecord: recordText, resumeFrom: resumeFrom ?? undefined, ...nativeDist(dist), collectiveTimeoutMs: args['collective-timeout'] * 1000,
    }, rows.train.dataset, rows.eval.dataset);
    const evaluator = evaluations.length === 0 ? undefined : new TrainEvaluator({
      evaluations, evalDir: args['eval-dir']!, runName: config.runName, runtime: context.runtime(), tokenizer, baseModel: inspected.folder,
      data: config.data, facts: run.facts, mode: run.mode, dateString: config.dateString, hellaswag: args.hellaswag,
      hellaswagLimit: args['hellaswag-limit'], klPrompts: args['kl-prompts'], klMaxNewTokens: args['kl-max-new-tokens'], batchSize: args['eval-batch-size'], log: (m) => say(`itl: ${m}\n`),
    });
    try {
      return await trainUntilDone(trainer, args.json && dist.rank === 0, context, dir, say, evaluator);
    } finally {
      evaluator?.close();
      trainer.dispose();
    }
  },
});

function nativeDist(dist: DistEnv) {
  return { rank: dist.rank, worldSize: dist.worldSize, localRank: dist.localRank, localWorldSize: dist.localWorldSize,
    masterAddr: dist.masterAddr, masterPort: dist.masterPort };
}

/** Creates the run folder (rank 0); with --resume returns the checkpoint to continue from. */
async function prepareRunFolder(dir: string, resume: boolean, warn: (line: string) => void, writer: boolean): Promise<string | null> {
  await mkdir(dir, { recursive: true });
  if (writer) for (const stale of staleCheckpointFolders(dir)) await rm(stale, { recursive: true, force: true });
  const latest = latestCheckpoint(dir);
  if (resume) {
    if (latest) return latest.path;
    warn(`itl: ${dir} has no complete checkpoint: starting from the beginning\n`);
  } else if (latest) {
    throw new ItlError('ITL_USAGE', `${latest.path} exists: pass --resume to continue that run, or choose another --save-dir`);
  }
  if (writer) await rm(path.join(dir, 'metrics.jsonl'), { force: true });
  return null;
}

async function trainUntilDone(trainer: Trainer, json: boolean, context: CliContext, dir: string, say: (line: string) => void,
  evaluator?: TrainEvaluator): Promise<number> {
  const info = trainer.info();
  const { schedule } = info;
  say(`itl: ${info.lora.r > 0 ? `LoRA r=${info.lora.r}` : 'full fine-tuning'}, ${info.trainableParameters.toLocaleString('en-US')} trainable parameters, ` +
    `${schedule.trainRows} rows, ${schedule.totalSteps} steps (${schedule.updatesPerEpoch}/epoch, warm-up ${schedule.warmupSteps}), ` +
    `eval every ${schedule.evalSteps}, checkpoint every ${schedule.saveSteps}, ${info.precision} on ${info.device}` +
    (info.globalStep > 0 ? `, resuming at step ${info.globalStep}` : '') + '\n');
  const progress = createTrainProgress({ tty: Boolean(process.stderr.isTTY) && !context.env.CI && info.rank === 0, write: say,
    startStep: info.globalStep, totalSteps: schedule.totalSteps, loggingSteps: schedule.loggingSteps });
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
  let tokens = 0, padded = 0, lastLoss = NaN, losses = 0, steps = 0;
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
      if (evaluator && !outcome.stopped) await evaluator.evaluate(trainer, outcome.globalStep);
    } while (!outcome.finished && !outcome.stopped);
  } finally {
    progress.stop();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  const seconds = (Date.now() - started) / 1000;
  if (outcome.stopped) say(`itl: stopped at step ${outcome.globalStep}; ${outcome.checkpoint} is complete; continue with --resume\n`);
  else say(`itl: done at step ${outcome.globalStep}${outcome.checkpoint ? `: ${outcome.checkpoint}` : ' (no checkpoint written: --save-checkpoints none)'}\n`);
  if (json) {
    context.printJson({
      run_dir: path.resolve(dir), global_step: outcome.globalStep, finished: outcome.finished, stopped: outcome.stopped,
      train_loss: steps ? losses / steps : null, last_loss: Number.isNaN(lastLoss) ? null : lastLoss, train_runtime_s: seconds,
      train_tokens_per_s: tokens / seconds, padding_fraction: padded > 0 ? 1 - tokens / padded : 0, checkpoint: outcome.checkpoint,
    });
  }
  return 0;
}
