import { ItlError } from '../../errors.js';
import { runEvaluation } from '../../eval/runEvaluation.js';
import { EVAL_TASKS, findTask, TASK_NAMES, withTaskFlags } from '../../eval/tasks/registry.js';
import { DEFAULT_DATE_STRING } from '../../tokenize/ChatTokenizer.js';
import { checkOutputFolder } from '../../util/outputFolder.js';
import { defineCommand } from '../command.js';

function positiveInteger(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < 1)
    throw new ItlError('ITL_USAGE', `expected a positive integer for ${flag} but received ${String(value)}`);
  return value as number;
}

export const evalCommand = defineCommand({
  command: 'eval <task>',
  describe: `evaluate checkpoints with one task: ${EVAL_TASKS.map((t) => t.name).join(', ')} (recall through the tool protocol, multiple-choice tasks as lm-evaluation-harness 0.4.8 scores them, KL/TV to the base model, general ability on held-out questions)`,
  builder: (y) =>
    withTaskFlags(y)
      .positional('task', { choices: TASK_NAMES, demandOption: true, describe: 'what to evaluate' })
      .option('models-dir', {
        type: 'string',
        describe: 'RUNS: every RUNS/<run>/checkpoint-<step>/ (each run configured by RUNS/<run>/run_config.json)',
      })
      .option('run', {
        type: 'string',
        array: true,
        describe: 'with --models-dir: only these runs (names or * ? patterns over the run folders; repeatable)',
      })
      .option('model', { type: 'string', describe: 'evaluate this one model folder instead (results under EVAL/<task>/<folder name>/)' })
      .option('adapter', { type: 'string', describe: 'a LoRA (PEFT) adapter folder to apply to --model' })
      .option('base', {
        type: 'boolean',
        default: false,
        describe:
          'evaluate the base models of the runs (or --model as a base model) into <task>/base_models/<model>/ (tasks that score base models: hellaswag, general, arc_easy)',
      })
      .option('eval-dir', {
        type: 'string',
        demandOption: true,
        describe: 'EVAL: where results go (one folder per task); what is there already and was evaluated the same way is skipped',
      })
      .option('recompute', {
        type: 'boolean',
        default: false,
        describe: 'replace results that were evaluated another way (other data, limits, seeds, model) instead of refusing them',
      })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu, cuda or cuda:N' })
      .option('dtype', { choices: ['fp32', 'bf16'] as const, default: 'fp32' as const, describe: 'compute dtype' })
      .option('batch-size', {
        type: 'number',
        default: 32,
        describe: 'rows per forward pass at the start (halved on out-of-memory errors)',
      })
      .option('date-string', {
        type: 'string',
        describe: `the date Llama 3 templates print (default: the run's, else ${DEFAULT_DATE_STRING})`,
      })
      .option('data', { type: 'string', describe: "recall: the facts dataset (a data build folder), overriding the run's" })
      .option('facts', { type: 'number', describe: "recall: N, the number of training facts, overriding the run's" })
      .option('mode', { choices: ['weight', 'tool'] as const, describe: "recall: in-weight or in-tool protocol, overriding the run's" })
      .option('base-model', { type: 'string', describe: 'kl: the base model, when no run configuration or adapter names it' })
      // Earlier names, kept for scripts: --seed (recall's draw) and --limit (HellaSwag's first N documents).
      .option('seed', { type: 'number', hidden: true, describe: 'recall: old name of --recall-seed' })
      .option('limit', { type: 'number', hidden: true, describe: 'hellaswag: old name of --hellaswag-limit' })
      .option('json', { type: 'boolean', default: false, describe: 'print the summary (evaluated, skipped, failures) as one JSON object' })
      .strict(),
  async run(args, context) {
    const task = findTask(args.task);
    const flags: Record<string, unknown> = { ...args };
    if (args.seed !== undefined) flags['recall-seed'] = args.seed;
    if (args.limit !== undefined) flags['hellaswag-limit'] = args.limit;
    const settings = task.settings(flags);
    // Before any work: results must be writable there (a read-only or full disk shows now, not after hours).
    checkOutputFolder(args['eval-dir'], 'the --eval-dir folder');
    const summary = await context.interruptible(() =>
      runEvaluation(context.runtime(), {
        task,
        settings,
        evalDir: args['eval-dir'],
        modelsDir: args['models-dir'],
        runs: args.run,
        model: args.model,
        adapter: args.adapter,
        base: args.base,
        device: args.device,
        dtype: args.dtype,
        batchSize: positiveInteger(args['batch-size'], '--batch-size'),
        dateString: args['date-string'],
        data: args.data,
        facts: positiveInteger(args.facts, '--facts'),
        mode: args.mode,
        baseModel: args['base-model'],
        recompute: args.recompute,
        log: (m) => context.io.stderr(`${m}\n`),
      }),
    );
    if (args.json) context.printJson(summary);
    else context.print(`${summary.evaluated.length} evaluated, ${summary.skipped.length} skipped, ${summary.failures.length} failed`);
    for (const failure of summary.failures) context.io.stderr(`itl: failed: ${failure}\n`);
    return summary.failures.length > 0 ? 1 : 0;
  },
});
