import type { Benchmark } from './Benchmark.js';

export const matmulBenchmark: Benchmark = {
  name: 'matmul',
  describe: '1024×1024 fp32 matmul through libtorch on the CPU: the peak every utilisation figure divides by',
  async run(context) {
    const peak = await context.matmulPeak();
    return {
      matmul_gflops: peak.gflops,
      matmul: { size: peak.size, iterations: peak.iterations, seconds: peak.seconds, device: peak.device, dtype: peak.dtype },
    };
  },
};
