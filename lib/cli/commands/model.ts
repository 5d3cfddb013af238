import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';

import { ItlError } from '../../errors.js';
import { Model, type ModelConfig } from '../../native/Model.js';
import { defineCommand } from '../command.js';

export const modelCommand = defineCommand({
  command: 'model <action> [dir]',
  describe:
    'models: `model init --preset NAME --out DIR` writes a random-initialised model in Hugging Face layout; ' +
    '`model info DIR` prints its parsed config and parameter count; `model presets` lists the presets',
  builder: (y) =>
    y
      .positional('action', { choices: ['init', 'info', 'presets'] as const, demandOption: true, describe: 'what to do' })
      .positional('dir', { type: 'string', describe: 'info: a model folder, ORG/NAME under $ITL_MODELS, or a Hugging Face cache entry' })
      .option('preset', {
        type: 'string',
        describe: 'init: tiny-smollm, tiny-llama32, tiny-llama31, bench-20m, or a shape preset (itl model presets)',
      })
      .option('out', { type: 'string', describe: 'init: output folder (must not hold a model unless --force)' })
      .option('seed', { type: 'number', default: 0, describe: 'init: seed of the weights' })
      .option('dtype', { choices: ['fp32', 'bf16'] as const, default: 'fp32' as const, describe: 'init: dtype of the saved weights' })
      .option('force', { type: 'boolean', default: false, describe: 'init: overwrite a model already in --out' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' }),
  async run(args, context) {
    const runtime = () => context.runtime();
    if (args.action === 'presets') {
      const presets = Model.presets(runtime());
      if (args.json) context.printJson(presets);
      else for (const p of presets) context.print(`${p.name.padEnd(14)} ${formatCount(p.parameterCount).padStart(7)}  ${p.describe}`);
      return;
    }
    if (args.action === 'info') {
      if (!args.dir) throw new ItlError('ITL_USAGE', 'model info needs a model folder: itl model info DIR');
      const info = await Model.inspect(runtime(), args.dir);
      if (args.json) {
        context.printJson({ folder: info.folder, parameter_count: info.parameterCount, config: info.config, checkpoint: info.checkpoint });
        return;
      }
      context.print(`${info.folder}`);
      context.print(`  parameters  ${info.parameterCount} (${formatCount(info.parameterCount)})`);
      context.print(
        `  checkpoint  ${info.checkpoint.tensors} tensors; ${Object.entries(info.checkpoint.dtypes)
          .map(([d, n]) => `${d} ${n}`)
          .join(', ')}`,
      );
      for (const [key, value] of Object.entries(info.config as ModelConfig)) context.print(`  ${key.padEnd(22)} ${JSON.stringify(value)}`);
      return;
    }
    if (args.dir) throw new ItlError('ITL_USAGE', `model init writes to --out DIR, not to a positional folder ('${args.dir}')`);
    if (!args.preset) throw new ItlError('ITL_USAGE', 'model init needs --preset NAME (itl model presets lists them)');
    if (!args.out) throw new ItlError('ITL_USAGE', 'model init needs --out DIR');
    if (!Number.isInteger(args.seed) || args.seed < 0)
      throw new ItlError('ITL_USAGE', `expected a non-negative integer for --seed but received ${args.seed}`);
    const known = Model.presets(runtime()).map((p) => p.name);
    if (!known.includes(args.preset))
      throw new ItlError('ITL_USAGE', `unknown preset '${args.preset}': expected one of ${known.join(', ')}`);
    const out = resolve(args.out);
    if (existsSync(out) && !args.force && readdirSync(out).length > 0) {
      throw new ItlError('ITL_USAGE', `${out} exists and is not empty: pass --force to overwrite the model in it`);
    }
    const model = await Model.init(runtime(), args.preset, args.seed, out, { dtype: args.dtype });
    try {
      if (args.json)
        context.printJson({
          folder: out,
          preset: args.preset,
          seed: args.seed,
          dtype: args.dtype,
          parameter_count: model.info.parameterCount,
        });
      else
        context.print(
          `wrote ${args.preset} (${formatCount(model.info.parameterCount)} parameters, ${args.dtype}, seed ${args.seed}) to ${out}`,
        );
    } finally {
      model.dispose();
    }
  },
});

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}
