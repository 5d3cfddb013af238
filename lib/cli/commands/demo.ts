import { DEMO_PLANS } from '../../demo/demoPlan.js';
import { runDemo } from '../../demo/runDemo.js';
import { ItlError } from '../../errors.js';
import { defineCommand } from '../command.js';

export const demoCommand = defineCommand({
  command: 'demo',
  describe:
    'the study at toy scale, end to end on this machine: its own byte-level BPE tokenizer and a ~0.9M-parameter model, ' +
    'pre-training on general dialogues, the facts dataset, in-weight runs at growing numbers of facts and an in-tool run over ' +
    'several fine-tuning seeds, recall, KL/TV, general ability scored as HellaSwag is (a generated multiple-choice task), the ' +
    'analysis (mean ± standard error across seeds) and its HTML report (re-running skips finished stages)',
  builder: (y) =>
    y
      .option('out', {
        type: 'string',
        default: 'demo',
        describe: 'where everything goes (model/, general/, pretrain/, data/, runs/, eval/, results/)',
      })
      .option('scale', {
        choices: ['full', 'smoke'] as const,
        default: 'full' as const,
        describe: 'full: the README demo (minutes); smoke: every stage on a few rows (seconds, for tests)',
      })
      .option('hellaswag', {
        type: 'string',
        describe:
          "score general ability on this multiple-choice file in HellaSwag's layout (e.g. HellaSwag's validation jsonl, " +
          'or an on-disk dataset) instead of the generated one',
      })
      .option('hellaswag-limit', { type: 'number', describe: 'only the first N rows of the multiple-choice file' })
      .option('seed', {
        type: 'number',
        default: 0,
        describe: 'seed of the model, the general dialogues, pre-training and the facts; fine-tuning seed k is seed + k',
      })
      .option('seeds', {
        type: 'number',
        default: 3,
        describe: 'fine-tuning seeds: each trains and evaluates every run from the one base model (runs/seed-S, eval/seed-S)',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print the summary as one JSON object' })
      .strict(),
  async run(args, context) {
    if (!Number.isInteger(args.seed) || args.seed < 0)
      throw new ItlError('ITL_USAGE', `expected a non-negative integer for --seed but received ${args.seed}`);
    if (!Number.isInteger(args.seeds) || args.seeds < 1) {
      throw new ItlError('ITL_USAGE', `expected a positive integer for --seeds but received ${args.seeds}`);
    }
    if (args['hellaswag-limit'] !== undefined && (!Number.isInteger(args['hellaswag-limit']) || args['hellaswag-limit'] < 1)) {
      throw new ItlError('ITL_USAGE', `expected a positive integer for --hellaswag-limit but received ${args['hellaswag-limit']}`);
    }
    const result = await runDemo({
      out: args.out,
      scale: args.scale,
      plan: DEMO_PLANS[args.scale],
      hellaswag: args.hellaswag,
      hellaswagLimit: args['hellaswag-limit'],
      seed: args.seed,
      seeds: args.seeds,
      runtime: () => context.runtime(),
      log: (line) => context.io.stderr(`${line}\n`),
    });
    if (args.json) context.printJson(result);
    else context.print(`report → ${result.report}`);
  },
});
