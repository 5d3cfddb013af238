/**
 * Evaluation inside training (`itl train --eval recall,kl,… --eval-dir OUT`): at every save point the
 * trainer's in-memory model is evaluated by the same tasks `itl eval` runs (lib/eval/tasks/), so the
 * result files — provenance included — are the ones `itl eval` would write for that checkpoint, and
 * nothing is reloaded from disk. Each task is opened once per run.
 */
import { ItlError } from '../errors.js';
import { BatchSize } from '../eval/BatchSize.js';
import { resolveCheckpoint } from '../eval/evalSubjects.js';
import { expectedProvenance, subjectIdentity } from '../eval/runEvaluation.js';
import type { EvalTask, RunFacts, TaskContext } from '../eval/tasks/EvalTask.js';
import type { Runtime } from '../native/Runtime.js';
import type { Trainer } from '../native/Trainer.js';
import type { ChatTokenizer } from '../tokenize/ChatTokenizer.js';
import type { ModelIdentity } from '../util/provenance.js';
import { checkpointName } from './runFolder.js';

export interface TrainEvaluationOptions {
  tasks: EvalTask[];
  /** Each task's settings, from the command line (`task.settings(args)`). */
  settings: Map<EvalTask, unknown>;
  evalDir: string;
  /** The run folder; results are keyed by its name. */
  runDir: string;
  runName: string;
  runtime: Runtime;
  tokenizer: ChatTokenizer;
  dateString: string;
  /** What the run is: its dataset, N, mode, and the model it was trained from. */
  run: Required<RunFacts>;
  batchSize: number;
  log: (message: string) => void;
}

/** The identity of a model that exists only in memory (never equal to a folder's). */
function inMemory(what: string): ModelIdentity {
  const none = 'in memory, not saved';
  return { path: `${what} (${none})`, config_sha256: none, weights_header_sha256: none, weights_sample_sha256: none };
}

export class TrainEvaluator {
  private readonly states = new Map<EvalTask, unknown>();
  private readonly batch: BatchSize;

  constructor(private readonly options: TrainEvaluationOptions) {
    if (options.tasks.length === 0) throw new ItlError('ITL_USAGE', '--eval names no task');
    this.batch = new BatchSize(options.batchSize, options.log);
  }

  /**
   * Evaluates the trainer's model at `step` with every task, writing each task's result entry. The
   * results name the checkpoint written there (its content, as `itl eval` would), or — when the save
   * policy wrote none — the model in memory, which no later evaluation can mistake for a saved one.
   */
  async evaluate(trainer: Trainer, step: number, checkpoint: string | null): Promise<void> {
    const o = this.options;
    const target = { evalDir: o.evalDir, run: o.runName, checkpoint: checkpointName(step) };
    const model = trainer.model();
    const context: TaskContext = {
      runtime: o.runtime,
      evalDir: o.evalDir,
      batch: this.batch,
      log: o.log,
      loadOptions: { device: model.info.device, dtype: model.info.dtype as 'fp32' | 'bf16' },
    };
    const identity = checkpoint ? subjectIdentity(await resolveCheckpoint(checkpoint)) : { model: inMemory(`${o.runDir} at step ${step}`) };
    try {
      for (const task of o.tasks) {
        const started = performance.now();
        if (!this.states.has(task)) this.states.set(task, await task.open(o.settings.get(task), context));
        const state = this.states.get(task);
        const subject = { label: `${o.runDir} at step ${step}`, identity, dateString: o.dateString, run: o.run };
        const provenance = await expectedProvenance(task, state, subject);
        const line = await task.evaluate(state, { ...subject, model, tokenizer: o.tokenizer }, target, provenance);
        o.log(`step ${step} ${task.name}: ${line} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
      }
    } finally {
      model.dispose();
    }
  }

  close(): void {
    for (const [task, state] of this.states) task.close(state);
    this.states.clear();
  }
}
