import { ItlError } from '../../errors.js';
import type { Metric } from '../../eval/resultFiles.js';
import { runEvaluation } from '../../eval/runEvaluation.js';
import { DEFAULT_DATE_STRING } from '../../tokenize/ChatTokenizer.js';
import { checkOutputFolder } from '../../util/outputFolder.js';
import { defineCommand } from '../command.js';

function positiveInteger(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < 1) throw new ItlError('ITL_USAGE', `expected a positive integer for ${flag} but received ${String(value)}`);
  return value as number;
}

export const evalCommand = defineCommand({
  command: 'eval <metric>',
  describe: 'evaluate checkpoints: factual recall through the tool protocol, HellaSwag as lm-evaluation-harness 0.4.8 scores it, KL/TV to the base model, or general ability on held-out questions',
  builder: (y) =>
    y
      .positional('metric', { choices: ['recall', 'hellaswag', 'kl', 'general'] as const, demandOption: true, describe: 'what to evaluate' })
      .option('models-dir', { type: 'string', describe: 'RUNS: every RUNS/<run>/checkpoint-<step>/ (each run configured by RUNS/<run>/run_config.json)' })
      .option('run', { type: 'string', array: true, describe: 'with --models-dir: only these runs (names or * ? patterns over the run folders; repeatable)' })
      .option('model', { type: 'string', describe: 'evaluate this one model folder instead (results under EVAL/<metric>/<folder name>/)' })
      .option('adapter', { type: 'string', describe: 'a LoRA (PEFT) adapter folder to apply to --model' })
      .option('base', { type: 'boolean', default: false, describe: 'hellaswag, general: evaluate the base models of the runs (or --model as a base model) into <metric>/base_models/<model>/' })
      .option('eval-dir', { type: 'string', demandOption: true, describe: 'EVAL: where results go (recall/, hellaswag/, kl_tv/), and what is already there is skipped' })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu, cuda or cuda:N' })
      .option('dtype', { choices: ['fp32', 'bf16'] as const, default: 'fp32' as const, describe: 'compute dtype' })
      .option('batch-size', { type: 'number', default: 32, describe: 'rows per forward pass at the start (halved on out-of-memory errors)' })
      .option('date-string', { type: 'string', describe: `the date Llama 3 templates print (default: the run's, else ${DEFAULT_DATE_STRING})` })
      .option('data', { type: 'string', describe: 'recall: the facts dataset (a data build folder), overriding the run\'s' })
      .option('facts', { type: 'number', describe: 'recall: N, the number of training facts, overriding the run\'s' })
      .option('mode', { choices: ['weight', 'tool'] as const, describe: 'recall: in-weight or in-tool protocol, overriding the run\'s' })
      .option('train-examples', { type: 'number', default: 300, describe: 'recall: training facts drawn (seeded) from rows 0..N-1' })
      .option('test-examples', { type: 'number', default: 100, describe: 'recall: unseen rows N.. evaluated' })
      .option('seed', { type: 'number', default: 42, describe: 'recall: seed of the training-fact draw' })
      .option('hellaswag', { type: 'string', describe: 'hellaswag: the validation set, as the official jsonl or a Hugging Face on-disk dataset folder' })
      .option('limit', { type: 'number', describe: 'hellaswag: only the first N documents' })
      .option('add-bos', { type: 'boolean', default: false, describe: 'hellaswag: encode with the tokenizer\'s special tokens (lm-eval add_bos_token=True; off in 0.4.8)' })
      .option('log-samples', { type: 'boolean', default: false, describe: 'hellaswag: also write per-document log-likelihoods (samples_hellaswag_<timestamp>.jsonl)' })
      .option('base-model', { type: 'string', describe: 'kl: the base model, when no run configuration or adapter names it' })
      .option('kl-prompts', { type: 'string', describe: 'kl: a prompts file ({"prompts": [{"category", "prompt"}]}; default: the ~120 shipped prompts)' })
      .option('kl-max-new-tokens', { type: 'number', default: 400, describe: 'kl: most tokens of each base-model answer' })
      .option('questions', { type: 'string', describe: 'general: held-out questions with one right answer ({"questions": [{"task", "question", "answer"}]}; `itl demo` writes one)' })
      .option('general-max-new-tokens', { type: 'number', default: 64, describe: 'general: most tokens of each answer' })
      .option('json', { type: 'boolean', default: false, describe: 'print the summary (evaluated, skipped, failures) as one JSON object' })
      .strict(),
  async run(args, context) {
    // Before any work: results must be writable there (a read-only or full disk shows now, not after hours).
    checkOutputFolder(args['eval-dir'], 'the --eval-dir folder');
    const summary = await runEvaluation(context.runtime(), {
      metric: args.metric as Metric,
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
      selection: {
        trainCount: positiveInteger(args['train-examples'], '--train-examples'),
        testCount: positiveInteger(args['test-examples'], '--test-examples'),
        seed: Number.isInteger(args.seed) && args.seed >= 0 ? args.seed : (() => {
          throw new ItlError('ITL_USAGE', `expected a non-negative integer for --seed but received ${args.seed}`);
        })(),
      },
      hellaswag: args.hellaswag,
      limit: positiveInteger(args.limit, '--limit'),
      addBos: args['add-bos'],
      logSamples: args['log-samples'],
      baseModel: args['base-model'],
      klPrompts: args['kl-prompts'],
      klMaxNewTokens: positiveInteger(args['kl-max-new-tokens'], '--kl-max-new-tokens'),
      questions: args.questions,
      generalMaxNewTokens: positiveInteger(args['general-max-new-tokens'], '--general-max-new-tokens'),
      log: (m) => context.io.stderr(m + '\n'),
    });
    if (args.json) context.printJson(summary);
    else context.print(`${summary.evaluated.length} evaluated, ${summary.skipped.length} skipped, ${summary.failures.length} failed`);
    for (const failure of summary.failures) context.io.stderr(`itl: failed: ${failure}\n`);
    return summary.failures.length > 0 ? 1 : 0;
  },
});
