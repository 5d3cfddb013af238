import type { Benchmark } from '../../bench/Benchmark.js';
import { benchmarks } from '../../bench/benchmarks.js';
import { runBenchmarks } from '../../bench/runBenchmarks.js';
import { ItlError } from '../../errors.js';
import { defineCommand } from '../command.js';

export const benchCommand = defineCommand({
  command: 'bench [names..]',
  describe: `run benchmarks and print one report (figures: ${benchmarks.map((b) => b.name).join(', ')})`,
  builder: (y) =>
    y
      .positional('names', {
        type: 'string',
        array: true,
        describe: `benchmarks to run (default: all): ${benchmarks.map((b) => `${b.name} — ${b.describe}`).join('; ')}`,
      })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as one JSON object' }),
  async run(args, context) {
    const names = (args.names as string[] | undefined) ?? [];
    const selected: Benchmark[] =
      names.length === 0
        ? benchmarks
        : names.map((name) => {
            const found = benchmarks.find((b) => b.name === name);
            if (!found) {
              throw new ItlError('ITL_USAGE', `unknown benchmark '${name}': expected one of ${benchmarks.map((b) => b.name).join(', ')}`);
            }
            return found;
          });
    const figures = await runBenchmarks(
      selected,
      () => context.runtime(),
      (m) => context.io.stderr(`${m}\n`),
    );
    if (args.json) {
      context.printJson(figures);
    } else {
      for (const [key, value] of Object.entries(figures)) {
        context.print(`${key.padEnd(32)} ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
      }
    }
  },
});
