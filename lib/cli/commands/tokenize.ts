import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { tokenTable } from '../../tokenize/tokenTable.js';
import { defineCommand } from '../command.js';

export const tokenizeCommand = defineCommand({
  command: 'tokenize',
  describe: "encode text with a model's tokenizer and print the ids and tokens",
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model folder with tokenizer.json and tokenizer_config.json' })
      .option('text', { type: 'string', demandOption: true, describe: 'the text to encode' })
      .option('special-tokens', {
        type: 'boolean',
        default: true,
        describe:
          "add the tokenizer's special tokens as transformers does by default (Llama 3: BOS); --no-special-tokens to leave them out",
      })
      .option('json', { type: 'boolean', default: false, describe: 'print {"ids": [...], "tokens": [...]}' }),
  async run(args, context) {
    const tokenizer = await loadTokenizer(args.model);
    const ids = tokenizer.encode(args.text, { addSpecialTokens: args['special-tokens'] });
    if (args.json) {
      context.printJson({ ids: Array.from(ids), tokens: tokenizer.tokens(ids) });
      return;
    }
    context.print(`${tokenizer.family.name} tokenizer of ${args.model}: ${ids.length} tokens`);
    for (const line of tokenTable(tokenizer, ids)) context.print(line);
  },
});
