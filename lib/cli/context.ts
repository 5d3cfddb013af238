/**
 * What every command receives besides its parsed arguments: where to print, the environment, and
 * the native runtime, opened lazily (commands that need no native code never load libtorch).
 */
import { asItlError, ItlError } from '../errors.js';
import { Runtime } from '../native/Runtime.js';
import type { ThreadPolicy } from '../native/addon.js';

/** The exit status of a command stopped by a signal, as a shell reports it: 128 + the signal's number. */
export const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export class CliContext {
  readonly io: CliIo;
  readonly env: NodeJS.ProcessEnv;
  private runtimeInstance: Runtime | undefined;
  private threadPolicy: ThreadPolicy = {};

  constructor(io: CliIo, env: NodeJS.ProcessEnv) {
    this.io = io;
    this.env = env;
  }

  setThreadPolicy(policy: ThreadPolicy): void {
    this.threadPolicy = policy;
  }

  runtime(): Runtime {
    this.runtimeInstance ??= Runtime.open(this.threadPolicy, this.env);
    return this.runtimeInstance;
  }

  /**
   * Runs `work` so that SIGINT/SIGTERM stop it cleanly: the runtime's abort flag is raised, the native
   * call in progress stops at its next batch, and the command fails with ITL_ABORTED naming the signal
   * (main exits 130 or 143). What `work` wrote before is complete (every write is atomic); the result in
   * progress is not written. A second signal exits at once.
   */
  async interruptible<T>(work: () => Promise<T>): Promise<T> {
    let received: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (received) process.exit(SIGNAL_EXIT[signal as 'SIGINT' | 'SIGTERM'] ?? 1);
      received = signal;
      this.io.stderr(`itl: ${signal}: stopping at the next batch; nothing half-written is kept (send it again to exit at once)\n`);
      this.runtime().abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const result = await work();
      if (received)
        throw new ItlError('ITL_ABORTED', `stopped by ${received}`, { exitStatus: SIGNAL_EXIT[received as 'SIGINT' | 'SIGTERM'] });
      return result;
    } catch (error) {
      if (received && asItlError(error).code === 'ITL_ABORTED')
        throw new ItlError('ITL_ABORTED', `stopped by ${received}: what finished before is kept`, {
          exitStatus: SIGNAL_EXIT[received as 'SIGINT' | 'SIGTERM'],
        });
      throw error;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  /** Prints one JSON document on stdout. */
  printJson(value: unknown): void {
    this.io.stdout(`${JSON.stringify(value, null, 2)}\n`);
  }

  print(line = ''): void {
    this.io.stdout(`${line}\n`);
  }
}
