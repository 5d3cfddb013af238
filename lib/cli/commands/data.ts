import { dirname, resolve } from 'node:path';

import { buildFactsDataset } from '../../data/buildFactsDataset.js';
import { openFactsDataset } from '../../data/openFactsDataset.js';
import { shippedAtomsDir, shippedTemplatesDir } from '../../data/shippedPaths.js';
import { ItlError } from '../../errors.js';
import { checkOutputFolder } from '../../util/outputFolder.js';
import { defineCommand } from '../command.js';

export const dataCommand = defineCommand({
  command: 'data <action> [dir]',
  describe:
    'facts dataset: `data build` writes people as dialogues (datasets on-disk layout), preview, SQLite tool and manifest; `data show DIR` prints rows',
  builder: (y) =>
    y
      .positional('action', { choices: ['build', 'show'] as const, demandOption: true, describe: 'build a dataset, or show rows of one' })
      .positional('dir', { type: 'string', describe: 'show: the output folder of a build' })
      .option('people', { type: 'number', describe: 'build: how many people (4 rows each)' })
      .option('seed', { type: 'number', default: 0, describe: 'build: seed of the shuffle and the attribute draws' })
      .option('atoms', { type: 'string', describe: 'build: folder of atom lists (default: the shipped ones)' })
      .option('templates', { type: 'string', describe: 'build: folder of Jinja templates (default: the shipped ones)' })
      .option('out', { type: 'string', describe: 'build: output folder (must not exist unless --force)' })
      .option('force', {
        type: 'boolean',
        default: false,
        describe: 'build: replace an earlier build in --out (only if every file in it is one its manifest lists)',
      })
      .option('preview-rows', { type: 'number', default: 100, describe: 'build: rows copied to preview.jsonl' })
      .option('max-shard-size', {
        type: 'string',
        default: '500MB',
        describe: 'build: largest Arrow shard, as datasets writes them (e.g. 500MB, 1GiB)',
      })
      .option('start', { type: 'number', default: 0, describe: 'show: first row' })
      .option('count', { type: 'number', default: 4, describe: 'show: number of rows' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' }),
  async run(args, context) {
    if (args.action === 'show') {
      if (!args.dir) throw new ItlError('ITL_USAGE', 'data show needs the folder of a build: itl data show DIR');
      const start = nonNegativeInteger(args.start, '--start');
      const count = nonNegativeInteger(args.count, '--count');
      const dataset = openFactsDataset(args.dir);
      try {
        const rows = dataset.rows(Math.min(start, dataset.numRows), Math.min(start + count, dataset.numRows));
        if (args.json) context.printJson({ num_rows: dataset.numRows, start, rows });
        else {
          context.print(`${dataset.numRows} rows`);
          rows.forEach((row, i) => {
            context.print(`${start + i}\t${JSON.stringify(row)}`);
          });
        }
      } finally {
        dataset.close();
      }
      return;
    }
    if (args.dir) throw new ItlError('ITL_USAGE', `data build writes to --out DIR, not to a positional folder ('${args.dir}')`);
    if (args.people === undefined) throw new ItlError('ITL_USAGE', 'data build needs --people N');
    if (!args.out) throw new ItlError('ITL_USAGE', 'data build needs --out DIR');
    const people = positiveInteger(args.people, '--people');
    const seed = nonNegativeInteger(args.seed, '--seed');
    if (seed > 0xffffffff) throw new ItlError('ITL_USAGE', `expected --seed in 0..4294967295 but received ${seed}`);
    // Before any work: the folder the output goes in exists or can be made, and takes a file.
    checkOutputFolder(dirname(resolve(args.out)), 'the folder of --out');
    const started = performance.now();
    const manifest = await buildFactsDataset({
      people,
      seed,
      atomsDir: resolve(args.atoms ?? shippedAtomsDir),
      templatesDir: resolve(args.templates ?? shippedTemplatesDir),
      outDir: args.out,
      force: args.force,
      previewRows: nonNegativeInteger(args['preview-rows'], '--preview-rows'),
      maxShardBytes: parseByteSize(args['max-shard-size']),
      onProgress: (done) => context.io.stderr(`data: ${done} of ${people} people\n`),
      log: (message) => context.io.stderr(`data: ${message}\n`),
    });
    const seconds = (performance.now() - started) / 1000;
    const stats = {
      out: resolve(args.out),
      seconds: round(seconds, 3),
      rows_per_s: round(manifest.rows / seconds, 1),
      // maxRSS is in kilobytes: the peak memory of this whole process, which the benchmark reports.
      peak_rss_mb: round(process.resourceUsage().maxRSS / 1024, 1),
    };
    if (args.json) {
      context.printJson({ ...stats, manifest });
      return;
    }
    context.print(
      `wrote ${manifest.people} people, ${manifest.rows} rows in ${manifest.shards.length} shard(s) to ${stats.out} ` +
        `in ${stats.seconds} s (${stats.rows_per_s} rows/s, peak RSS ${stats.peak_rss_mb} MB)`,
    );
    for (const [file, record] of Object.entries(manifest.files))
      context.print(`  ${file.padEnd(40)} ${String(record.bytes).padStart(12)}  ${record.sha256}`);
  },
});

function positiveInteger(value: number, flag: string): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new ItlError('ITL_USAGE', `expected a positive integer for ${flag} but received ${value}`);
  return value;
}

function nonNegativeInteger(value: number, flag: string): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new ItlError('ITL_USAGE', `expected a non-negative integer for ${flag} but received ${value}`);
  return value;
}

const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 };

/** datasets' convert_file_size_to_int for the units it knows ("500MB" is decimal, "1GiB" binary). */
export function parseByteSize(text: string): number {
  const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? UNITS[(match[2] || 'b').toLowerCase()] : undefined;
  if (!match || unit === undefined || Number(match[1]) <= 0) {
    throw new ItlError('ITL_USAGE', `expected --max-shard-size like 500MB or 1GiB but received '${text}'`);
  }
  return Number(match[1]) * unit;
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}
