/**
 * One yargs command per file under lib/cli/commands. A command declares its options in `builder`
 * (validated there, once) and does its work in `run`, which returns the process exit code
 * (undefined means 0). Errors thrown from `run` are printed by main with their code.
 */
import type { Argv } from 'yargs';

import type { CliContext } from './context.js';

export interface Command<Args = Record<string, unknown>> {
  command: string | string[];
  describe: string;
  builder: (yargs: Argv) => Argv<Args>;
  // biome-ignore lint/suspicious/noConfusingVoidType: a command returns its exit status, or nothing for 0.
  run: (args: Args, context: CliContext) => Promise<number | void>;
}

/** Keeps each command file's argument type while letting main hold them in one list. */
export function defineCommand<Args>(command: Command<Args>): Command<Args> {
  return command;
}
