/**
 * What every command receives besides its parsed arguments: where to print, the environment, and
 * the native runtime, opened lazily (commands that need no native code never load libtorch).
 */
import { Runtime } from '../native/Runtime.js';
import type { ThreadPolicy } from '../native/addon.js';

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

  /** Prints one JSON document on stdout. */
  printJson(value: unknown): void {
    this.io.stdout(JSON.stringify(value, null, 2) + '\n');
  }

  print(line = ''): void {
    this.io.stdout(line + '\n');
  }
}
