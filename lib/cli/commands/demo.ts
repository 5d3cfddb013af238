import { DEMO_PLANS } from '../../demo/demoPlan.js';
import { runDemo } from '../../demo/runDemo.js';
import { ItlError } from '../../errors.js';
import { defineCommand } from '../command.js';

export const demoCommand = defineCommand({
  command: 'demo',
  describe: 'the study at toy scale, end to end on this machine: its own byte-level BPE tokenizer and a ~0.9M-parameter model, pre-training on ' +
    'general dialogues, the facts dataset, in-weight runs at growing numbers of facts and an in-tool run, recall, KL/TV, general ability, ' +
    'the analysis and its HTML report (re-running skips finished stages)',
  builder: (y) =>
    y
      .option('out', { type: 'string', default: 'demo', describe: 'where everything goes (model/, general/, pretrain/, data/, runs/, eval/, results/)' })
      .option('scale', { choices: ['full', 'smoke'] as const, default: 'full' as const, describe: 'full: the README demo (minutes); smoke: every stage on a few rows (seconds, for tests)' })
      .option('hellaswag', { type: 'string', describe: 'also score HellaSwag (the validation jsonl or an on-disk dataset) on the base model and every checkpoint' })
      .option('hellaswag-limit', { type: 'number', describe: 'with --hellaswag: only the first N documents' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the model, the data and training' })
      .option('json', { type: 'boolean', default: false, describe: 'print the summary as one JSON object' })
      .strict(),
  async run(args, context) {
    if (!Number.isInteger(args.seed) || args.seed < 0) throw new ItlError('ITL_USAGE', `expected a non-negative integer for --seed but received ${args.seed}`);
    if (args['hellaswag-limit'] !== undefined && (!Number.isInteger(args['hellaswag-limit']) || args['hellaswag-limit'] < 1)) {
      throw new ItlError('ITL_USAGE', `expected a positive integer for --hellaswag-limit but received ${args['hellaswag-limit']}`);
    }
    const result = await runDemo({
      out: args.out, plan: DEMO_PLANS[args.scale], hellaswag: args.hellaswag, hellaswagLimit: args['hellaswag-limit'], seed: args.seed,
      runtime: () => context.runtime(), log: (line) => context.io.stderr(line + '\n'),
    });
    if (args.json) context.printJson(result);
    else context.print(`report → ${result.report}`);
  },
});
