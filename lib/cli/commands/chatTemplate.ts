import { ItlError } from '../../errors.js';
import { DEFAULT_DATE_STRING } from '../../tokenize/ChatTokenizer.js';
import { IGNORE_INDEX, type TrainingMode } from '../../tokenize/labelMask.js';
import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { readMessagesFile } from '../../tokenize/readMessagesFile.js';
import { labelledSpans, tokenTable } from '../../tokenize/tokenTable.js';
import { defineCommand } from '../command.js';

export const chatTemplateCommand = defineCommand({
  command: 'chat-template',
  describe: "render a dialogue with a model's chat template and show its token ids and label mask",
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model folder with tokenizer.json and tokenizer_config.json' })
      .option('messages', {
        type: 'string',
        demandOption: true,
        describe: 'JSON file: an array of {role, content}, {"messages": [...]}, or a dataset row with qa/qatool',
      })
      .option('line', { type: 'number', describe: 'read the dialogue from this line (1-based) of a JSON Lines file, e.g. preview.jsonl' })
      .option('generation-prompt', {
        type: 'boolean',
        default: false,
        describe: 'render an inference prompt ending with the assistant header (no end-of-text appended, no labels)',
      })
      .option('date-string', {
        type: 'string',
        default: DEFAULT_DATE_STRING,
        describe: "the template's date_string (Llama 3 system header)",
      })
      .option('mode', {
        choices: ['weight', 'tool'] as const,
        default: 'weight' as const,
        describe: 'label mask: weight = loss on the last assistant answer; tool = loss on every assistant turn',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print {"text", "ids", "labels", "tokens", "family", "tool_role", …}' }),
  async run(args, context) {
    const mode = args.mode as TrainingMode;
    if (args['date-string'].trim() === '') throw new ItlError('ITL_USAGE', 'expected a non-empty --date-string');
    const tokenizer = await loadTokenizer(args.model);
    const messages = await readMessagesFile(args.messages, mode, args.line);
    let text: string;
    let ids: Int32Array;
    let labels: Int32Array;
    if (args['generation-prompt']) {
      const options = { addGenerationPrompt: true, dateString: args['date-string'] };
      text = tokenizer.applyChatTemplate(messages, options);
      ids = tokenizer.applyChatTemplate(messages, { ...options, tokenize: true });
      // Nothing is learned from an inference prompt.
      labels = new Int32Array(ids.length).fill(IGNORE_INDEX);
    } else {
      // A training example: the whole dialogue, then the family's end-of-text token.
      text = tokenizer.trainingText(messages, { dateString: args['date-string'] });
      ({ ids, labels } = tokenizer.buildTrainingExample(messages, mode, { dateString: args['date-string'] }));
    }
    if (args.json) {
      context.printJson({
        text,
        ids: Array.from(ids),
        labels: Array.from(labels),
        tokens: tokenizer.tokens(ids),
        mode,
        date_string: args['date-string'],
        family: tokenizer.family.name,
        tool_role: tokenizer.family.toolRole,
      });
      return;
    }
    const spans = labelledSpans(labels);
    const learned = spans.reduce((sum, [start, end]) => sum + end - start, 0);
    context.print(
      `${tokenizer.family.name} chat template of ${args.model} (${args['generation-prompt'] ? 'inference prompt' : `training example, ${mode} mask`}):`,
    );
    context.print(text);
    context.print('');
    for (const line of tokenTable(tokenizer, ids, labels)) context.print(line);
    context.print('');
    context.print(`loss on ${learned} of ${ids.length} tokens (· = masked, label -100); labelled spans:`);
    for (const [start, end] of spans) {
      context.print(`  [${start}, ${end}) ${JSON.stringify(tokenizer.decode(ids.subarray(start, end)))}`);
    }
  },
});
