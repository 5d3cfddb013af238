/**
 * `itl bench data`: build speed at the study's size (50,000 people, 200,000 rows, in this process)
 * and the peak memory of a 1,000,000-person build (4,000,000 rows) in a child process, which
 * reports its own peak RSS, so the figure is the build's alone.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { Benchmark } from '../bench/Benchmark.js';
import { ItlError } from '../errors.js';
import { buildFactsDataset } from './buildFactsDataset.js';
import { DEFAULT_MAX_SHARD_BYTES } from './datasetsLayout.js';
import { packageRoot, shippedAtomsDir, shippedTemplatesDir } from './shippedPaths.js';

const STUDY_PEOPLE = 50_000;
const LARGE_PEOPLE = 1_000_000;

export const dataBenchmark: Benchmark = {
  name: 'data',
  describe: `facts dataset build: rows/s for ${STUDY_PEOPLE * 4} rows, peak RSS of a ${LARGE_PEOPLE * 4}-row build`,
  async run(context) {
    const root = mkdtempSync(join(tmpdir(), 'itl-bench-data-'));
    try {
      context.log(`bench data: building ${STUDY_PEOPLE} people…`);
      const started = performance.now();
      const study = await buildFactsDataset({
        people: STUDY_PEOPLE,
        seed: 0,
        atomsDir: shippedAtomsDir,
        templatesDir: shippedTemplatesDir,
        outDir: join(root, 'study'),
        force: false,
        previewRows: 100,
        maxShardBytes: DEFAULT_MAX_SHARD_BYTES,
      });
      const seconds = (performance.now() - started) / 1000;
      rmSync(join(root, 'study'), { recursive: true, force: true });

      context.log(`bench data: building ${LARGE_PEOPLE} people in a child process…`);
      const large = await buildInChild(join(root, 'large'));
      return {
        data_rows_per_s: Number((study.rows / seconds).toFixed(1)),
        data_peak_rss_mb: large.peak_rss_mb,
        data: {
          study: { people: STUDY_PEOPLE, rows: study.rows, seconds: Number(seconds.toFixed(3)), shards: study.shards.length },
          large: {
            people: LARGE_PEOPLE,
            rows: large.manifest.rows,
            seconds: large.seconds,
            rows_per_s: large.rows_per_s,
            shards: large.manifest.shards.length,
          },
        },
      };
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
};

interface ChildReport {
  seconds: number;
  rows_per_s: number;
  peak_rss_mb: number;
  manifest: { rows: number; shards: unknown[] };
}

async function buildInChild(outDir: string): Promise<ChildReport> {
  const args = [join(packageRoot, 'bin', 'itl.js'), 'data', 'build', '--people', String(LARGE_PEOPLE), '--out', outDir, '--json'];
  try {
    const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 16 << 20 });
    return JSON.parse(stdout) as ChildReport;
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '')
      .trim()
      .split('\n')
      .slice(-5)
      .join('\n');
    throw new ItlError('ITL_INTERNAL', `the ${LARGE_PEOPLE}-person build failed: ${(error as Error).message}\n${stderr}`);
  }
}
