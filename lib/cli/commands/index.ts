/** Every registered command. Register a command only once it works. */
import type { Command } from '../command.js';
import { analyzeCommand } from './analyze.js';
import { benchCommand } from './bench.js';
import { chatTemplateCommand } from './chatTemplate.js';
import { dataCommand } from './data.js';
import { demoCommand } from './demo.js';
import { doctorCommand } from './doctor.js';
import { evalCommand } from './eval.js';
import { forwardCommand } from './forward.js';
import { generateCommand } from './generate.js';
import { gridCommand } from './grid.js';
import { launchCommand } from './launch.js';
import { modelCommand } from './model.js';
import { tokenizeCommand } from './tokenize.js';
import { trainCommand } from './train.js';

// biome-ignore lint/suspicious/noExplicitAny: each command has its own argument type; main only hands yargs' result back to it.
export const commands: Command<any>[] = [
  doctorCommand,
  benchCommand,
  analyzeCommand,
  dataCommand,
  tokenizeCommand,
  chatTemplateCommand,
  modelCommand,
  forwardCommand,
  generateCommand,
  trainCommand,
  launchCommand,
  evalCommand,
  gridCommand,
  demoCommand,
];
