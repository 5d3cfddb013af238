/**
 * Time for `itl analyze` to turn a study-sized table (36 runs × 16 checkpoints + base rows) into
 * results.csv, every figure (SVG + PNG) and the report. The table is synthetic (smooth learning
 * curves over the study's grid) so the benchmark needs no reference files; what is timed is the
 * work, which depends on the table's shape, not its values.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Benchmark } from '../bench/Benchmark.js';
import { MODELS } from '../train/models.js';
import { formatRunName } from '../train/runName.js';
import { analyze } from './analyze.js';
import { baseRunName, datasetSizeLabel, type ResultRow } from './ResultRow.js';
import { formatResultsCsv } from './resultsCsv.js';

const FACTS = [500, 1000, 5000, 10000, 50000];
const CHECKPOINTS = 16;

function syntheticRows(): ResultRow[] {
  const rows: ResultRow[] = [];
  for (const [m, model] of MODELS.entries()) {
    const runs = [...FACTS.map((facts) => ({ facts, mode: 'weight' as const })), { facts: 500, mode: 'tool' as const }];
    for (const { facts, mode } of runs) {
      const run = formatRunName({
        model: model.shortName,
        facts,
        epochs: 30,
        batch: 64,
        gradAcc: 2,
        lr: 1e-3,
        loraR: 0,
        loraAlpha: 0,
        mode,
      });
      const erosion = mode === 'tool' ? 0.002 : (Math.log10(facts) - 2) / (m + 2);
      for (let k = 1; k <= CHECKPOINTS; k++) {
        const recall = 1 / (1 + Math.exp(-(k - CHECKPOINTS / 2)));
        const se = Math.sqrt((recall * (1 - recall)) / 300);
        rows.push({
          run,
          model: `${model.shortName}-${mode}`,
          dataset_size: datasetSizeLabel(facts),
          checkpoint_nbr: k * Math.ceil(facts / 128),
          metrics: {
            recall,
            recall_stderr: se,
            hellaswag_absolute: 0.4 * (1 - (erosion * k) / 50),
            hellaswag_absolute_stderr: 0.005,
            hellaswag_relative: 100 * (1 - (erosion * k) / 50),
            hellaswag_relative_stderr: 1.5,
            kl: erosion * k * 0.2,
            kl_stderr: 0.01,
            tv: Math.min(1, erosion * k * 0.05),
            tv_stderr: 0.001,
          },
        });
      }
    }
    for (const mode of ['weight', 'tool']) {
      const column = `${model.shortName}-${mode}`;
      rows.push({
        run: baseRunName(column),
        model: column,
        dataset_size: '0',
        checkpoint_nbr: 0,
        metrics: { hellaswag_absolute: 0.4, hellaswag_relative: 100, kl: 0, tv: 0 },
      });
    }
  }
  return rows;
}

export const analyzeBenchmark: Benchmark = {
  name: 'analyze',
  describe: 'itl analyze --from-csv on a study-sized synthetic table: results.csv, 9 figures (SVG+PNG), report',
  async run(context) {
    const dir = await mkdtemp(join(tmpdir(), 'itl-analyze-bench-'));
    try {
      const rows = syntheticRows();
      const csv = join(dir, 'table.csv');
      await writeFile(csv, formatResultsCsv(rows));
      context.log(`analyze: ${rows.length} rows`);
      const start = process.hrtime.bigint();
      const result = await analyze({
        source: { kind: 'csv', file: csv },
        outDir: join(dir, 'out'),
        selection: { threshold: 1, allCheckpoints: true },
      });
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const drawn = result.figures.filter((f) => f.drawn).length;
      return {
        analyze_seconds: seconds,
        analyze: { rows: result.rowsKept, runs: result.runs, figures_drawn: drawn, seconds_per_figure: seconds / drawn },
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
