/**
 * The typed face of the addon that the rest of lib/ uses: one object per process, created at the
 * CLI edge with the thread policy applied. Stages receive it as an argument (no global state).
 */
import { type MatmulOptions, type MatmulResult, type NativeAddon, type ProgressCallback, type SystemInfo,
  type ThreadCounts, type ThreadPolicy, loadAddon, nativeCall } from './addon.js';

export class Runtime {
  readonly addonPath: string;
  readonly threads: ThreadCounts;
  private readonly addon: NativeAddon;

  private constructor(addonPath: string, addon: NativeAddon, threads: ThreadCounts) {
    this.addonPath = addonPath;
    this.addon = addon;
    this.threads = threads;
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
    return this.addon.systemInfo();
  }

  benchMatmul(options: MatmulOptions = {}, onProgress?: ProgressCallback): Promise<MatmulResult> {
    return nativeCall(this.addon.benchMatmul(options, onProgress));
  }
}
