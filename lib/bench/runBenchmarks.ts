import type { MatmulResult } from '../native/addon.js';
import type { Runtime } from '../native/Runtime.js';
import type { BenchContext, Benchmark, Figures, MatmulDtype } from './Benchmark.js';

export interface BenchReport {
  figures: Figures;
  benchmarks: string[];
}

/** Runs the named benchmarks in order and merges their figures into one object. */
export async function runBenchmarks(selected: Benchmark[], openRuntime: () => Runtime, log: (message: string) => void): Promise<Figures> {
  const peaks = new Map<MatmulDtype, Promise<MatmulResult>>();
  const context: BenchContext = {
    runtime: openRuntime,
    matmulPeak: (dtype = 'fp32') => {
      if (!peaks.has(dtype)) peaks.set(dtype, openRuntime().benchMatmul({ size: 1024, minSeconds: 2, device: 'cpu', dtype }));
      return peaks.get(dtype)!;
    },
    log,
  };
  const runtime = openRuntime();
  const info = runtime.systemInfo();
  const figures: Figures = {
    system: {
      torch_version: info.torchVersion,
      blas: info.blas.name,
      threads: {
        torch_intra_op: runtime.threads.torchIntraOp,
        blas: runtime.threads.blas,
        blas_own_threads: runtime.threads.blasOwnThreads,
        hardware: runtime.threads.hardware,
        itl_kernels: runtime.threads.itlKernels,
      },
      node_version: process.version,
    },
  };
  for (const benchmark of selected) {
    log(`bench: ${benchmark.name}…`);
    Object.assign(figures, await benchmark.run(context));
  }
  return figures;
}
