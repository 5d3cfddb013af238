/**
 * For tests: an `itl` command line through the CLI's own yargs definitions (every command's builder,
 * strict parsing, the global options), without running it: the command it selects and its parsed
 * arguments, or the parser's error. `launch … -- <command>` parses the launched command too.
 */
import yargs, { type Argv } from 'yargs';

import type { Command } from '../../cli/command.js';
import { commands } from '../../cli/commands/index.js';

export interface ParsedItl {
  command: string;
  args: Record<string, unknown>;
  /** For `launch`: the command after `--`. */
  launched?: ParsedItl;
}

export async function parseItl(argv: readonly string[]): Promise<ParsedItl> {
  // The launched command is split off here rather than read from yargs' '--' array, which yargs
  // fills or not depending on parser state shared between instances.
  const separator = argv[0] === 'launch' ? argv.indexOf('--') : -1;
  const own = separator < 0 ? argv : argv.slice(0, separator);
  let parsed: ParsedItl | undefined;
  const parser = yargs([...own])
    .scriptName('itl')
    .option('torch-threads', { type: 'number', global: true })
    .option('blas-threads', { type: 'number', global: true })
    .strict()
    .demandCommand(1)
    .help()
    .version(false)
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new Error(message);
    });
  for (const command of commands as Command<unknown>[]) {
    const name = [command.command].flat()[0].split(' ')[0];
    parser.command({
      command: command.command,
      describe: command.describe,
      builder: (y: Argv) => command.builder(y) as Argv,
      handler: (args: Record<string, unknown>) => {
        parsed = { command: name, args };
      },
    });
  }
  await parser.parseAsync();
  if (!parsed) throw new Error(`no command in: itl ${argv.join(' ')}`);
  if (parsed.command === 'launch') {
    if (separator < 0) throw new Error(`itl launch without '-- <command>': itl ${argv.join(' ')}`);
    parsed.launched = await parseItl(argv.slice(separator + 1));
  }
  return parsed;
}
