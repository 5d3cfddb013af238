/**
 * The typed face of the addon that the rest of lib/ uses: one object per command, created at the CLI
 * edge with the thread policy applied. Stages receive it as an argument, and Model and Trainer reach
 * the addon only through it (no module-level state). Its abort flag is handed to every model it
 * loads: `abort()` (a command's Ctrl-C) stops their generation, scoring and divergence between batches.
 */
import {
  type AbortFlag,
  type MatmulOptions,
  type MatmulResult,
  type NativeAddon,
  type ProgressCallback,
  type SystemInfo,
  type ThreadCounts,
  type ThreadPolicy,
  loadAddon,
  nativeCall,
} from './addon.js';

export class Runtime {
  readonly addonPath: string;
  readonly threads: ThreadCounts;
  /** @internal The raw addon, for lib/native's wrappers (Model, Trainer). */
  readonly native: NativeAddon;
  /** @internal Given to every model loaded through this runtime. */
  readonly abortFlag: AbortFlag;

  private constructor(addonPath: string, addon: NativeAddon, threads: ThreadCounts) {
    this.addonPath = addonPath;
    this.native = addon;
    this.threads = threads;
    this.abortFlag = addon.createAbortFlag();
  }

  /** Makes the native calls of this runtime's models stop at their next check (they reject with ITL_ABORTED). */
  abort(): void {
    this.abortFlag.abort();
  }

  get aborted(): boolean {
    return this.abortFlag.aborted;
  }

  /**
   * Loads the addon and applies the thread policy. Default: BLAS on every core, and one libtorch
   * thread when the BLAS runs threads of its own (OpenBLAS), else libtorch on every core (MKL).
   */
  static open(policy: ThreadPolicy = {}, env: NodeJS.ProcessEnv = process.env): Runtime {
    const { path, addon } = loadAddon(env);
    const threads = addon.configureThreads({ torchThreads: policy.torchThreads ?? 0, blasThreads: policy.blasThreads ?? 0 });
    return new Runtime(path, addon, threads);
  }

  systemInfo(): SystemInfo {
    return this.native.systemInfo();
  }

  benchMatmul(options: MatmulOptions = {}, onProgress?: ProgressCallback): Promise<MatmulResult> {
    return nativeCall(this.native.benchMatmul(options, onProgress));
  }
}
