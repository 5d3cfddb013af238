import { ItlError } from '../../errors.js';
import { Model } from '../../native/Model.js';
import { DEFAULT_DATE_STRING } from '../../tokenize/ChatTokenizer.js';
import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { defineCommand } from '../command.js';
import { parseIds, withModelOptions } from '../modelInput.js';

export const generateCommand = defineCommand({
  command: 'generate',
  describe: 'continue token ids, or answer a chat prompt, with a model (greedy with a KV cache, or seeded sampling)',
  builder: (y) =>
    withModelOptions(y)
      .option('ids', { type: 'string', describe: 'comma-separated prompt token ids, e.g. 1,2,3' })
      .option('prompt', {
        type: 'string',
        describe: "a user message, rendered with the model's chat template and generation prompt and tokenised with its tokenizer",
      })
      .option('date-string', { type: 'string', default: DEFAULT_DATE_STRING, describe: 'the date Llama 3 templates print (with --prompt)' })
      .conflicts('ids', 'prompt')
      .check((a) => {
        if (a.ids === undefined && a.prompt === undefined) throw new ItlError('ITL_USAGE', 'pass --ids or --prompt');
        return true;
      })
      .option('max-new-tokens', { type: 'number', default: 64, describe: 'most tokens to add' })
      .option('eos', { type: 'string', describe: 'comma-separated ids that stop generation (default: the config\'s eos ids; "" for none)' })
      .option('sample', { type: 'boolean', default: false, describe: 'sample instead of greedy decoding' })
      .option('temperature', { type: 'number', default: 1, describe: 'sampling temperature' })
      .option('top-p', { type: 'number', default: 1, describe: 'nucleus sampling threshold' })
      .option('seed', { type: 'number', default: 0, describe: 'sampling seed' })
      .option('json', { type: 'boolean', default: false, describe: 'print {"new_ids": [...]} (and "text" with --prompt)' }),
  async run(args, context) {
    const maxNewTokens = args['max-new-tokens'];
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
      throw new ItlError('ITL_USAGE', `expected a positive integer for --max-new-tokens but received ${maxNewTokens}`);
    }
    const eosIds = args.eos === undefined ? undefined : args.eos.trim() === '' ? [] : parseIds(args.eos, '--eos');
    if (args.sample && !(args.temperature > 0))
      throw new ItlError('ITL_USAGE', `expected a positive --temperature but received ${args.temperature}`);
    if (args.sample && !(args['top-p'] > 0 && args['top-p'] <= 1))
      throw new ItlError('ITL_USAGE', `expected --top-p in (0, 1] but received ${args['top-p']}`);
    if (!Number.isInteger(args.seed) || args.seed < 0)
      throw new ItlError('ITL_USAGE', `expected a non-negative integer for --seed but received ${args.seed}`);
    const model = await Model.load(context.runtime(), args.model, { dtype: args.dtype, device: args.device, adapter: args.adapter });
    try {
      // The tokenizer lives beside the weights, in the folder the native side resolved.
      const tokenizer = args.prompt === undefined ? undefined : await loadTokenizer(model.info.folder);
      const ids = tokenizer
        ? Array.from(
            tokenizer.applyChatTemplate([{ role: 'user', content: args.prompt! }], {
              addGenerationPrompt: true,
              dateString: args['date-string'],
              tokenize: true,
            }),
          )
        : parseIds(args.ids!, '--ids');
      const [newIds] = await context.interruptible(() =>
        model.generate([ids], {
          maxNewTokens,
          eosIds: eosIds ?? tokenizer?.special.generationEos,
          sample: args.sample,
          temperature: args.temperature,
          topP: args['top-p'],
          seed: args.seed,
        }),
      );
      const text = tokenizer?.decode(newIds, { skipSpecialTokens: true });
      if (args.json) context.printJson(text === undefined ? { new_ids: Array.from(newIds) } : { new_ids: Array.from(newIds), text });
      else context.print(text ?? Array.from(newIds).join(','));
    } finally {
      model.dispose();
    }
  },
});
