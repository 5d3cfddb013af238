import { Model } from '../../native/Model.js';
import { defineCommand } from '../command.js';
import { parseIds, withModelOptions } from '../modelInput.js';

export const forwardCommand = defineCommand({
  command: 'forward',
  describe: "run a model on token ids: the argmax id at every position and the last position's logits",
  builder: (y) =>
    withModelOptions(y)
      .option('ids', { type: 'string', demandOption: true, describe: 'comma-separated token ids, e.g. 1,2,3' })
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
