import { Model } from '../../native/Model.js';
import { defineCommand } from '../command.js';
import { parseIds } from './generate.js';

export const forwardCommand = defineCommand({
  command: 'forward',
  describe: "run a model on token ids: the argmax id at every position and the last position's logits",
  builder: (y) =>
    y
      .option('model', {
        type: 'string',
        demandOption: true,
        describe: 'a Hugging Face model folder, ORG/NAME under $ITL_MODELS, or a cached model',
      })
      .option('adapter', {
        type: 'string',
        describe: 'a PEFT LoRA adapter folder applied to the model (a LoRA checkpoint also works as --model alone)',
      })
      .option('ids', { type: 'string', demandOption: true, describe: 'comma-separated token ids, e.g. 1,2,3' })
      .option('dtype', { choices: ['fp32', 'bf16'] as const, default: 'fp32' as const, describe: 'compute dtype' })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu, cuda or cuda:N' })
      .option('json', { type: 'boolean', default: false, describe: 'print {"top1": [...], "last_logits": [...]}' }),
  async run(args, context) {
    const ids = parseIds(args.ids, '--ids');
    const model = await Model.load(context.runtime(), args.model, { dtype: args.dtype, device: args.device, adapter: args.adapter });
    try {
      const out = await model.forward(ids);
      if (args.json) {
        context.printJson({ top1: Array.from(out.top1), last_logits: Array.from(out.lastLogits) });
        return;
      }
      context.print(`top1 ${Array.from(out.top1).join(',')}`);
      const best = out.top1[out.top1.length - 1];
      context.print(`last position: ${out.lastLogits.length} logits, argmax ${best} (logit ${out.lastLogits[best]})`);
    } finally {
      model.dispose();
    }
  },
});
