/**
 * The `itl` command line: yargs root, global options, error reporting and exit codes.
 * Exit codes: 0 success, 1 a failure of the work, 2 a usage error, 130/143 stopped by SIGINT/SIGTERM.
 */
import yargs, { type Argv } from 'yargs';

import { ItlError, asItlError } from '../errors.js';
import { loadAddon } from '../native/addon.js';
import { followParent } from '../util/itlChild.js';
import type { Command } from './command.js';
import { commands } from './commands/index.js';
import { CliContext, type CliIo } from './context.js';

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

function envInteger(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new ItlError('ITL_USAGE', `expected a non-negative integer for ${name} but received '${raw}'`);
  }
  return value;
}

function buildParser(argv: string[], context: CliContext, exit: { code: number }): Argv {
  const parser = yargs(argv)
    .scriptName('itl')
    .usage('$0 <command> [options]\n\nIn-tool vs in-weight learning of facts by language models.')
    .option('torch-threads', {
      type: 'number',
      describe: 'libtorch intra-op threads (env ITL_TORCH_THREADS; default 1 beside OpenBLAS, which runs its own, else all)',
      global: true,
    })
    .option('blas-threads', {
      type: 'number',
      describe:
        'BLAS threads per matmul, for a BLAS with its own pool (OpenBLAS); MKL runs on the libtorch threads (env ITL_BLAS_THREADS; default: one per hardware thread)',
      global: true,
    })
    .middleware((args) => {
      const torchThreads = (args.torchThreads as number | undefined) ?? envInteger(context.env, 'ITL_TORCH_THREADS');
      const blasThreads = (args.blasThreads as number | undefined) ?? envInteger(context.env, 'ITL_BLAS_THREADS');
      for (const [name, value] of [
        ['--torch-threads', torchThreads],
        ['--blas-threads', blasThreads],
      ] as const) {
        if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
          throw new ItlError('ITL_USAGE', `expected a non-negative integer for ${name} but received ${value}`);
        }
      }
      context.setThreadPolicy({ torchThreads, blasThreads });
    })
    .strict()
    .demandCommand(1, 'name a command (itl --help lists them)')
    .recommendCommands()
    .showHelpOnFail(false)
    .help()
    .alias('help', 'h')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .exitProcess(false)
    .fail((message, error) => {
      if (error) throw error;
      throw new ItlError('ITL_USAGE', message);
    });
  for (const command of commands as Command<unknown>[]) {
    parser.command({
      command: command.command,
      describe: command.describe,
      builder: (y: Argv) => command.builder(y) as Argv,
      handler: async (args: unknown) => {
        exit.code = (await command.run(args, context)) ?? 0;
      },
    });
  }
  return parser;
}

/** Runs the CLI on `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: CliIo = processIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const context = new CliContext(io, env);
  const exit = { code: 0 };
  try {
    // Started by itl demo, grid or launch: do not outlive that parent (lib/util/itlChild.ts).
    followParent(env, () => {
      const { addon } = loadAddon(env);
      return (signal, parent) => addon.watchParent(signal, parent);
    });
    await buildParser(argv, context, exit).parseAsync();
    return exit.code;
  } catch (thrown) {
    const error = asItlError(thrown);
    io.stderr(`itl: ${error.message} [${error.code}]\n`);
    if (error.code === 'ITL_USAGE') io.stderr('Run with --help for usage.\n');
    if (env.ITL_DEBUG && thrown instanceof Error && thrown.stack) io.stderr(`${thrown.stack}\n`);
    return error.exitStatus ?? (error.code === 'ITL_USAGE' ? 2 : 1);
  }
}
