/**
 * Runs the selected steps of the grid in order, each as its own `itl` process (so a step's native
 * memory is freed before the next, and each is exactly the command --dry-run prints), skipping the
 * steps already done and stopping at the first failure with its exit status.
 *
 * Signals: a child runs in its own process group, and SIGINT/SIGTERM reaching the grid are passed
 * to it once per signal received, as `itl launch` does: Ctrl-C or SLURM's warning signal then gives
 * `itl train` exactly one signal (it checkpoints and exits 0), and no further step starts. The grid
 * then exits 128 + the signal's number, so an `afterok` dependency does not fire on a cut-off run.
 */
import { constants as osConstants } from 'node:os';

import { ItlChild } from '../util/itlChild.js';
import type { GridStep } from './gridPlan.js';

export interface StepOutcome {
  /** The exit status a shell would report (128 + signal number for a signalled process). */
  status: number;
}

export interface GridExecution {
  /** The `itl` arguments of a step. */
  argv: (step: GridStep) => string[];
  /** Why a step is already done, or undefined. */
  done: (step: GridStep) => Promise<string | undefined>;
  /** Runs one `itl` command to completion. */
  execute: (argv: string[]) => Promise<StepOutcome>;
  /** How a command is printed (the entry and quoted arguments). */
  format: (argv: string[]) => string;
  log: (line: string) => void;
  /** The signal that interrupted the grid, if one did (checked before each step). */
  interrupted?: () => NodeJS.Signals | undefined;
}

export interface GridSummary {
  status: number;
  ran: number;
  skipped: number;
  /** Steps not started because of a failure or an interruption. */
  notRun: number;
}

export async function runGrid(steps: readonly GridStep[], x: GridExecution): Promise<GridSummary> {
  const summary: GridSummary = { status: 0, ran: 0, skipped: 0, notRun: 0 };
  const width = String(steps.length).length;
  for (const [i, step] of steps.entries()) {
    const position = `[${String(i + 1).padStart(width)}/${steps.length}]`;
    const argv = x.argv(step);
    const reason = await x.done(step);
    // From here to the start of the step nothing awaits, so a signal is either seen here or reaches
    // the step (signal handlers run from the event loop).
    const signal = x.interrupted?.();
    if (signal) {
      summary.status = signalStatus(signal);
      summary.notRun = steps.length - i;
      x.log(`itl grid: ${signal}: stopped; ${summary.notRun} step(s) not run`);
      return summary;
    }
    if (reason !== undefined) {
      summary.skipped++;
      x.log(`itl grid: ${position} done (${reason}), skipped: ${x.format(argv)}`);
      continue;
    }
    x.log(`itl grid: ${position} ${x.format(argv)}`);
    const { status } = await x.execute(argv);
    summary.ran++;
    if (status !== 0) {
      summary.status = status;
      summary.notRun = steps.length - i - 1;
      const during = x.interrupted?.();
      x.log(
        during
          ? `itl grid: ${position} ${during}: the step ended with exit status ${status}; ${summary.notRun} step(s) not run: ${x.format(argv)}`
          : `itl grid: ${position} failed with exit status ${status}; ${summary.notRun} step(s) not run: ${x.format(argv)}`,
      );
      return summary;
    }
  }
  const interrupted = x.interrupted?.();
  if (interrupted) summary.status = signalStatus(interrupted);
  x.log(`itl grid: ${summary.ran} step(s) run, ${summary.skipped} already done${interrupted ? ` (${interrupted} received)` : ''}`);
  return summary;
}

export function signalStatus(signal: NodeJS.Signals): number {
  return 128 + ((osConstants.signals as Record<string, number>)[signal] ?? 0);
}

/**
 * Runs `node ENTRY ARGV…` with the terminal (or job log) as its output, through the shared child
 * helper (its own process group, and it dies with the grid: lib/util/itlChild.ts); `signal` passes a
 * signal to the step running at the time, if any. The caller listens for the signals for the whole
 * grid (between steps too), so none is missed while a step starts.
 */
export class ItlSpawner {
  private running: ItlChild | undefined;

  constructor(
    private readonly entry: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  execute = async (argv: string[]): Promise<StepOutcome> => {
    const child = new ItlChild({ args: argv, entry: this.entry, env: this.env, stdio: 'inherit' });
    this.running = child;
    try {
      return { status: (await child.exited).status };
    } finally {
      this.running = undefined;
    }
  };

  signal(signal: NodeJS.Signals): void {
    this.running?.signal(signal); // the step's whole group: itl launch's workers too
  }
}
