import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ItlError } from '../../errors.js';
import { familyGridScope, GRID_FAMILIES } from '../../grid/familyGrid.js';
import { parseGridFilter, STUDY_SCOPE, selectSteps } from '../../grid/gridFilter.js';
import { type GridOptions, gridSteps, stepArgv } from '../../grid/gridPlan.js';
import { stepDone } from '../../grid/gridState.js';
import { ItlSpawner, runGrid } from '../../grid/runGrid.js';
import { forwardSignals } from '../../util/itlChild.js';
import { shellCommandLine } from '../../util/shellQuote.js';
import { defineCommand } from '../command.js';

// bin/itl.js, from dist/cli/commands/ (compiled) or lib/cli/commands/ (tests): three levels up.
const ITL_ENTRY = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'itl.js');

function positiveInteger(value: number | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1)
    throw new ItlError('ITL_USAGE', `expected a positive integer for ${flag} but received ${value}`);
  return value;
}

export const gridCommand = defineCommand({
  command: 'grid',
  describe:
    "the study's grid: the facts dataset, its 36 training runs, their evaluations (recall, HellaSwag, KL/TV), the base models' HellaSwag " +
    'and the analysis, one itl command per step, run in order (finished steps skipped) or printed with --dry-run',
  builder: (y) =>
    y
      .option('family', {
        type: 'string',
        describe:
          `the study's grid on another model family (${Object.keys(GRID_FAMILIES).join(', ')}): each of its models takes the runs of the ` +
          "study model nearest in parameter count, settings unchanged (docs: the scaling rule); --index then counts that grid's runs",
      })
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: "print the selected steps' commands, one per line, without running them or looking at what is done",
      })
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'with --dry-run: one JSON array of {index, stage, model, mode, run, argv, command}',
      })
      .option('only', {
        type: 'string',
        array: true,
        describe:
          'select steps: TERM[,TERM…], repeatable; a term is stage=S, model=M, mode=weight|tool, run=NAME|PATTERN or just the value ' +
          '(stages: data, train, recall, hellaswag, base, kl, analyze, eval = recall+hellaswag+base+kl; models and runs take * and ? patterns). ' +
          'Terms on one key are alternatives, different keys must all hold; a model, mode or run filter keeps the steps serving a run it selects ' +
          "(data and analyze serve every run, a base model its model's runs)",
      })
      .option('stage', { type: 'string', array: true, describe: 'select stages (same as --only stage=S): S[,S…]' })
      .option('index', {
        type: 'number',
        describe:
          "the study's run I (0–35, the order of its results table), as a run filter: a SLURM array task id (--stage train --index I)",
      })
      .option('data', { type: 'string', default: 'data/facts', describe: 'the facts dataset folder (the data step writes it)' })
      .option('runs', { type: 'string', default: 'runs', describe: 'training output: RUNS/<run>/checkpoint-<step>/' })
      .option('eval-dir', { type: 'string', default: 'eval', describe: 'evaluation output (recall/, hellaswag/, kl_tv/)' })
      .option('results', { type: 'string', default: 'results', describe: 'analysis output (results.csv, plots, report/)' })
      .option('models-dir', {
        type: 'string',
        describe:
          'the model folders as ORG/NAME below it (e.g. DIR/meta-llama/Llama-3.2-1B-Instruct); default: train resolves the name under $ITL_MODELS or the Hugging Face cache',
      })
      .option('hellaswag', {
        type: 'string',
        describe: "HellaSwag's validation set (lm-eval's jsonl or a datasets on-disk folder); needed by the hellaswag and base steps",
      })
      .option('device', { type: 'string', default: 'cuda', describe: 'train and eval device: cuda, cuda:N or cpu' })
      .option('precision', {
        choices: ['fp32', 'bf16', 'bf16-mixed'] as const,
        default: 'bf16' as const,
        describe: 'train precision (the study: bf16)',
      })
      .option('dtype', { choices: ['fp32', 'bf16'] as const, default: 'bf16' as const, describe: 'eval compute dtype' })
      .option('eval-batch-size', { type: 'number', describe: "eval --batch-size: rows per forward pass at the start (eval's default: 32)" })
      .option('nproc-per-node', {
        type: 'number',
        describe: 'train through itl launch --nproc-per-node K (K GPUs of one node; global batch = batch × K × gradAcc)',
      })
      .option('master-port', { type: 'number', describe: "with --nproc-per-node: the rendezvous port (itl launch's default otherwise)" })
      .strict(),
  async run(args, context) {
    const options: GridOptions = {
      data: args.data,
      runs: args.runs,
      evalDir: args['eval-dir'],
      results: args.results,
      modelsDir: args['models-dir'],
      hellaswag: args.hellaswag,
      device: args.device,
      precision: args.precision,
      dtype: args.dtype,
      evalBatchSize: positiveInteger(args['eval-batch-size'], '--eval-batch-size'),
      nprocPerNode: positiveInteger(args['nproc-per-node'], '--nproc-per-node'),
      masterPort: positiveInteger(args['master-port'], '--master-port'),
    };
    if (options.masterPort !== undefined && options.nprocPerNode === undefined)
      throw new ItlError('ITL_USAGE', '--master-port goes with --nproc-per-node (itl launch)');
    if (args.json && !args['dry-run']) throw new ItlError('ITL_USAGE', '--json goes with --dry-run');
    const scope = args.family === undefined ? STUDY_SCOPE : familyGridScope(args.family);
    const filter = parseGridFilter({ only: args.only, stage: args.stage, index: args.index }, scope);
    const steps = selectSteps(gridSteps(scope.runs), filter);
    if (steps.length === 0)
      throw new ItlError(
        'ITL_USAGE',
        'the filters select no step (each holds alone, but not together: itl grid --dry-run lists the steps)',
      );
    // Built before anything runs, so a missing --hellaswag is reported before hours of training.
    const commands = steps.map((step) => stepArgv(step, options));
    const format = (argv: string[]) => shellCommandLine(['itl', ...argv]);
    if (args['dry-run']) {
      if (args.json) {
        context.printJson(
          steps.map((step, i) => ({
            index: step.run?.index ?? null,
            stage: step.stage,
            model: step.model ?? null,
            mode: step.mode ?? null,
            run: step.run?.name ?? null,
            argv: commands[i],
            command: format(commands[i]),
          })),
        );
      } else {
        for (const argv of commands) context.print(format(argv));
      }
      return 0;
    }
    let interrupted: NodeJS.Signals | undefined;
    const spawner = new ItlSpawner(ITL_ENTRY, context.env);
    // Each signal is passed on once to the running step (itl train then checkpoints and stops; a
    // second one ends it at once, as in a terminal); no further step starts.
    const stopForwarding = forwardSignals((signal) => {
      interrupted ??= signal;
      spawner.signal(signal);
    });
    const argvOf = new Map(steps.map((step, i) => [step, commands[i]]));
    let summary;
    try {
      summary = await runGrid(steps, {
        argv: (step) => argvOf.get(step)!,
        done: (step) => stepDone(step, options),
        execute: spawner.execute,
        format,
        log: (line) => context.io.stderr(`${line}\n`),
        interrupted: () => interrupted,
      });
    } finally {
      stopForwarding();
    }
    return summary.status;
  },
});
