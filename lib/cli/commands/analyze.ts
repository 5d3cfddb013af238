import { analyze, type AnalyzeSource } from '../../analyze/analyze.js';
import { ItlError } from '../../errors.js';
import { checkOutputFolder } from '../../util/outputFolder.js';
import { defineCommand } from '../command.js';

export const analyzeCommand = defineCommand({
  command: 'analyze',
  describe: 'aggregate evaluation results into RESULTS/results.csv, plots (SVG, PNG) and RESULTS/report/index.html',
  builder: (y) =>
    y
      .option('eval-dir', { type: 'string', describe: 'evaluation output folder (recall/, hellaswag/, kl_tv/)' })
      .option('from-csv', { type: 'string', describe: 'render from an existing results table instead (the study\'s large_scale_results.csv format)' })
      .option('runs-dir', { type: 'string', describe: 'training output folder, for epochs and training loss (RUNS/<run>/checkpoint-<step>/trainer_state.json)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder RESULTS' })
      .option('threshold', {
        type: 'number',
        default: 1.0,
        describe: 'per run, keep checkpoints up to the first whose recall reaches threshold × 0.99',
      })
      .option('all-checkpoints', { type: 'boolean', default: false, describe: 'keep every checkpoint (no selection)' })
      .option('json', { type: 'boolean', default: false, describe: 'print a summary as one JSON object' })
      .strict(),
  async run(args, context) {
    const evalDir = args['eval-dir'] as string | undefined;
    const fromCsv = args['from-csv'] as string | undefined;
    if ((evalDir === undefined) === (fromCsv === undefined)) {
      throw new ItlError('ITL_USAGE', 'give exactly one of --eval-dir DIR or --from-csv FILE');
    }
    if (fromCsv !== undefined && args['runs-dir'] !== undefined) {
      throw new ItlError('ITL_USAGE', '--runs-dir goes with --eval-dir, not --from-csv (the table carries its own columns)');
    }
    const threshold = args.threshold as number;
    if (!Number.isFinite(threshold) || threshold <= 0 || threshold > 1) {
      throw new ItlError('ITL_USAGE', `--threshold expects a number in (0, 1] but received ${String(args.threshold)}`);
    }
    checkOutputFolder(args.out as string, 'the --out folder');
    const source: AnalyzeSource =
      evalDir !== undefined ? { kind: 'eval', evalDir, runsDir: args['runs-dir'] as string | undefined } : { kind: 'csv', file: fromCsv! };
    const result = await analyze({
      source,
      outDir: args.out as string,
      selection: { threshold, allCheckpoints: args['all-checkpoints'] as boolean },
      log: (m) => context.io.stderr(m + '\n'),
    });
    for (const problem of result.problems) context.io.stderr(`itl: skipped: ${problem}\n`);
    const { figureData: _figures, ...summary } = result;
    if (args.json) {
      context.printJson(summary);
    } else {
      context.print(`${result.rowsKept} of ${result.rowsRead} rows kept (${result.runs} runs) → ${result.resultsCsv}`);
      const drawn = result.figures.filter((f) => f.drawn).length;
      context.print(`${drawn} of ${result.figures.length} figures drawn → ${result.plotsDir}`);
      context.print(`report → ${result.reportHtml}`);
    }
    if (result.problems.length > 0) {
      context.io.stderr(`itl: ${result.problems.length} input(s) skipped; the outputs cover the rest\n`);
      return 1;
    }
  },
});
