/** Every registered command. Register a command only once it works. */
import type { Command } from '../command.js';
import { analyzeCommand } from './analyze.js';
import { benchCommand } from './bench.js';
import { dataCommand } from './data.js';
import { doctorCommand } from './doctor.js';

export const commands: Command<any>[] = [doctorCommand, benchCommand, analyzeCommand, dataCommand];
