import { TASK_NAMES, withTaskFlags } from '../../eval/tasks/registry.js';
import { runTraining } from '../../train/runTraining.js';
import { withTrainOptionFlags } from '../../train/trainOptions.js';
import { defineCommand } from '../command.js';

export const trainCommand = defineCommand({
  command: 'train',
  describe:
    'fine-tune a model on the facts dataset as the study did (in-weight or in-tool, full or LoRA), with checkpoints in the Trainer layout',
  builder: (y) =>
    // Every training option, with its default, comes from the option schema (lib/train/trainOptions.ts).
    withTrainOptionFlags(
      withTaskFlags(y)
        .option('run-name', {
          type: 'string',
          demandOption: true,
          describe: 'sft_<Model>_facts=<N>-epochs=<E>-batch=<B>-gradAcc=<G>-LR=<lr>-loraR=<r>-loraA=<alpha>-<weight|tool>',
        })
        .option('data', {
          type: 'string',
          demandOption: true,
          describe:
            'an `itl data build` output folder, or a JSON Lines file of dialogues (one {"messages": [...]} per line; rows split as facts rows)',
        })
        .option('save-dir', { type: 'string', demandOption: true, describe: 'runs go to SAVE_DIR/<run name>/checkpoint-<step>/' })
        .option('model', {
          type: 'string',
          describe:
            "a model folder to train (the run name's model is then a label); default: the run name's model under $ITL_MODELS or the Hugging Face cache",
        }),
    )
      .option('resume', { type: 'boolean', default: false, describe: 'continue from the latest complete checkpoint of the run' })
      .option('cache-dir', { type: 'string', describe: 'tokenised-dataset cache (default SAVE_DIR/.itl-cache/tokenized)' })
      .option('eval', {
        type: 'string',
        describe: `evaluate the in-memory model at every save point: a comma-separated list of ${TASK_NAMES.join(', ')} (results as itl eval writes them)`,
      })
      .option('eval-dir', { type: 'string', describe: 'with --eval: where the results go (one folder per task)' })
      .option('eval-batch-size', {
        type: 'number',
        default: 32,
        describe: 'with --eval: rows per forward pass at the start (halved on out-of-memory errors)',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary at the end' }),
  async run(args, context) {
    // The evaluation tasks' flags reach each task's own `settings` (lib/eval/tasks/registry.ts).
    const evaluation = {
      eval: args.eval,
      evalDir: args['eval-dir'],
      evalBatchSize: args['eval-batch-size'],
      flags: args as Record<string, unknown>,
    };
    return runTraining(
      {
        runName: args['run-name'],
        model: args.model,
        data: args.data,
        saveDir: args['save-dir'],
        flags: args,
        resume: args.resume,
        cacheDir: args['cache-dir'],
        json: args.json,
        evaluation,
      },
      {
        runtime: () => context.runtime(),
        env: context.env,
        stderr: (text) => context.io.stderr(text),
        printJson: (value) => context.printJson(value),
      },
    );
  },
});
