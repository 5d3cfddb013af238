import { runTraining } from '../../train/runTraining.js';
import { withTrainOptionFlags } from '../../train/trainOptions.js';
import { defineCommand } from '../command.js';

export const trainCommand = defineCommand({
  command: 'train',
  describe: 'fine-tune a model on the facts dataset as the study did (in-weight or in-tool, full or LoRA), with checkpoints in the Trainer layout',
  builder: (y) =>
    // Every training option, with its default, comes from the option schema (lib/train/trainOptions.ts).
    withTrainOptionFlags(y
      .option('run-name', { type: 'string', demandOption: true, describe: 'sft_<Model>_facts=<N>-epochs=<E>-batch=<B>-gradAcc=<G>-LR=<lr>-loraR=<r>-loraA=<alpha>-<weight|tool>' })
      .option('data', { type: 'string', demandOption: true, describe: 'an `itl data build` output folder, or a JSON Lines file of dialogues (one {"messages": [...]} per line; rows split as facts rows)' })
      .option('save-dir', { type: 'string', demandOption: true, describe: 'runs go to SAVE_DIR/<run name>/checkpoint-<step>/' })
      .option('model', { type: 'string', describe: "a model folder to train (the run name's model is then a label); default: the run name's model under $ITL_MODELS or the Hugging Face cache" }))
      .option('resume', { type: 'boolean', default: false, describe: 'continue from the latest complete checkpoint of the run' })
      .option('cache-dir', { type: 'string', describe: 'tokenised-dataset cache (default SAVE_DIR/.itl-cache/tokenized)' })
      .option('eval', { type: 'string', describe: 'evaluate the in-memory model at every save point: a comma-separated list of recall, kl, hellaswag (results as itl eval writes them)' })
      .option('eval-dir', { type: 'string', describe: 'with --eval: where the results go (recall/, kl_tv/, hellaswag/)' })
      .option('hellaswag', { type: 'string', describe: 'with --eval hellaswag: the validation set (official jsonl or an on-disk dataset)' })
      .option('hellaswag-limit', { type: 'number', describe: 'with --eval hellaswag: only the first N documents' })
      .option('kl-prompts', { type: 'string', describe: 'with --eval kl: a prompts file (default: the ~120 shipped prompts)' })
      .option('kl-max-new-tokens', { type: 'number', default: 400, describe: 'with --eval kl: most tokens of each base-model answer' })
      .option('eval-batch-size', { type: 'number', default: 32, describe: 'with --eval: rows per forward pass at the start (halved on out-of-memory errors)' })
      .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary at the end' }),
  async run(args, context) {
    const evaluation = {
      eval: args.eval, evalDir: args['eval-dir'], hellaswag: args.hellaswag, hellaswagLimit: args['hellaswag-limit'],
      klPrompts: args['kl-prompts'], klMaxNewTokens: args['kl-max-new-tokens'], evalBatchSize: args['eval-batch-size'],
    };
    return runTraining({
      runName: args['run-name'], model: args.model, data: args.data, saveDir: args['save-dir'], flags: args, resume: args.resume,
      cacheDir: args['cache-dir'], json: args.json, evaluation,
    }, {
      runtime: () => context.runtime(), env: context.env, stderr: (text) => context.io.stderr(text),
      printJson: (value) => context.printJson(value),
    });
  },
});
