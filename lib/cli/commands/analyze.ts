import { analyze, type AnalyzeSource } from '../../analyze/analyze.js';
import { ItlError } from '../../errors.js';
import { checkOutputFolder } from '../../util/outputFolder.js';
import { defineCommand } from '../command.js';

/** A repeatable option's values (yargs gives an array; a caller may pass one string). */
function listOf(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : [value]).map(String);
}

export const analyzeCommand = defineCommand({
  command: 'analyze',
  describe: 'aggregate evaluation results into RESULTS/results.csv, plots (SVG, PNG) and RESULTS/report/index.html',
  builder: (y) =>
    y
      .option('eval-dir', {
        type: 'string',
        array: true,
        describe:
          'evaluation output folder (recall/, hellaswag/, kl_tv/); repeated, one folder per seed of the same runs: ' +
          'rows are averaged, stderr columns hold the standard error across seeds and a seeds column the count',
      })
      .option('from-csv', {
        type: 'string',
        describe: "render from an existing results table instead (the study's large_scale_results.csv format)",
      })
      .option('runs-dir', {
        type: 'string',
        array: true,
        describe:
          'training output folder, for epochs and training loss (RUNS/<run>/checkpoint-<step>/trainer_state.json); ' +
          'one per --eval-dir, in order',
      })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder RESULTS' })
      .option('threshold', {
        type: 'number',
        default: 1.0,
        describe: 'per run, keep checkpoints up to the first whose recall reaches threshold × 0.99',
      })
      .option('hellaswag-label', {
        type: 'string',
        default: 'HellaSwag',
        describe:
          'what the hellaswag columns hold, in figure titles and the report ' + '(the demo scores a generated multiple-choice task there)',
      })
      .option('all-checkpoints', { type: 'boolean', default: false, describe: 'keep every checkpoint (no selection)' })
      .option('json', { type: 'boolean', default: false, describe: 'print a summary as one JSON object' })
      .strict(),
  async run(args, context) {
    const evalDirs = listOf(args['eval-dir']);
    const runsDirs = listOf(args['runs-dir']);
    const fromCsv = args['from-csv'] as string | undefined;
    if ((evalDirs === undefined) === (fromCsv === undefined)) {
      throw new ItlError('ITL_USAGE', 'give exactly one of --eval-dir DIR or --from-csv FILE');
    }
    if (evalDirs !== undefined && runsDirs !== undefined && runsDirs.length !== evalDirs.length) {
      throw new ItlError(
        'ITL_USAGE',
        `${evalDirs.length} --eval-dir but ${runsDirs.length} --runs-dir: give one --runs-dir per --eval-dir, in the same order`,
      );
    }
    const label = (args['hellaswag-label'] as string | undefined) ?? 'HellaSwag';
    if (label.trim() === '') throw new ItlError('ITL_USAGE', '--hellaswag-label must not be empty');
    if (fromCsv !== undefined && args['runs-dir'] !== undefined) {
      throw new ItlError('ITL_USAGE', '--runs-dir goes with --eval-dir, not --from-csv (the table carries its own columns)');
    }
    const threshold = args.threshold as number;
    if (!Number.isFinite(threshold) || threshold <= 0 || threshold > 1) {
      throw new ItlError('ITL_USAGE', `--threshold expects a number in (0, 1] but received ${String(args.threshold)}`);
    }
    checkOutputFolder(args.out as string, 'the --out folder');
    const source: AnalyzeSource =
      evalDirs === undefined
        ? { kind: 'csv', file: fromCsv! }
        : evalDirs.length === 1
          ? { kind: 'eval', evalDir: evalDirs[0]!, runsDir: runsDirs?.[0] }
          : { kind: 'seeds', folders: evalDirs.map((evalDir, i) => ({ evalDir, runsDir: runsDirs?.[i] })) };
    const result = await analyze({
      source,
      outDir: args.out as string,
      selection: { threshold, allCheckpoints: args['all-checkpoints'] as boolean },
      hellaswagLabel: label,
      log: (m) => context.io.stderr(`${m}\n`),
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
