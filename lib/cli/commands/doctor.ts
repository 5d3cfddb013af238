import type { ThreadCounts } from '../../native/addon.js';
import { defineCommand } from '../command.js';

/** The thread policy in force, in words: which pool a matmul runs on and how many threads each has. */
export function threadPolicy(blasName: string, threads: ThreadCounts): string {
  if (threads.blasOwnThreads) {
    return `${blasName} runs ${threads.blas} thread(s) of its own per matmul, beside ${threads.torchIntraOp} libtorch intra-op thread(s)`;
  }
  const blas = threads.blas > 0 ? `${blasName} (${threads.blas} thread(s))` : blasName;
  return `${blas} runs on libtorch's ${threads.torchIntraOp} intra-op thread(s); no BLAS pool of its own`;
}

export const doctorCommand = defineCommand({
  command: 'doctor',
  describe: 'report libtorch, CUDA, the BLAS in use, thread counts and the measured matmul GFLOP/s',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' })
      .option('seconds', { type: 'number', default: 1, describe: 'how long to time the matmul' }),
  async run(args, context) {
    if (!(args.seconds > 0 && args.seconds <= 600)) {
      throw new Error(`expected --seconds in (0, 600] but received ${args.seconds}`);
    }
    const runtime = context.runtime();
    const info = runtime.systemInfo();
    const matmul = await runtime.benchMatmul({ size: 1024, minSeconds: args.seconds, device: 'cpu', dtype: 'fp32' });
    const report = {
      node_version: process.version,
      addon_path: runtime.addonPath,
      torch_version: info.torchVersion,
      torch_version_major: info.torchVersionMajor,
      cuda_available: info.cudaAvailable,
      cuda_device_count: info.cudaDeviceCount,
      mkl_available: info.mklAvailable,
      openmp_available: info.openmpAvailable,
      blas: info.blas,
      threads: {
        torch_intra_op: info.threads.torchIntraOp,
        torch_inter_op: info.threads.torchInterOp,
        blas: info.threads.blas,
        blas_own_threads: info.threads.blasOwnThreads,
        hardware: info.threads.hardware,
        itl_kernels: info.threads.itlKernels,
        policy: threadPolicy(info.blas.name, info.threads),
      },
      matmul_gflops: matmul.gflops,
      matmul: { size: matmul.size, iterations: matmul.iterations, seconds: matmul.seconds, device: matmul.device, dtype: matmul.dtype },
    };
    if (args.json) {
      context.printJson(report);
      return;
    }
    const row = (label: string, value: string) => context.print(`  ${label.padEnd(10)} ${value}`);
    context.print('itl doctor');
    row('node', report.node_version);
    row('addon', report.addon_path);
    row('libtorch', `${report.torch_version}${report.mkl_available ? ' (MKL)' : ''}${report.openmp_available ? ' (OpenMP)' : ''}`);
    row('CUDA', report.cuda_available ? `available, ${report.cuda_device_count} device(s)` : 'not available');
    row('BLAS', `${info.blas.name}${info.blas.threading ? ` (${info.blas.threading})` : ''} ${info.blas.path}`);
    if (info.blas.config) row('', info.blas.config);
    row(
      'threads',
      `libtorch intra-op ${report.threads.torch_intra_op}, inter-op ${report.threads.torch_inter_op}; ` +
        `BLAS ${report.threads.blas < 0 ? 'unknown' : report.threads.blas}; itl's own kernels ${report.threads.itl_kernels}; ` +
        `hardware ${report.threads.hardware}`,
    );
    row('policy', report.threads.policy);
    row(
      'matmul',
      `${matmul.gflops.toFixed(1)} GFLOP/s (${matmul.dtype} ${matmul.size}×${matmul.size} on ${matmul.device}, ` +
        `${matmul.iterations} calls in ${matmul.seconds.toFixed(2)} s)`,
    );
    if (info.blas.name === 'reference BLAS') {
      context.print('  warning: the reference BLAS is ~30× slower than OpenBLAS here; run scripts/setup.sh (libopenblas0-pthread)');
    }
  },
});
