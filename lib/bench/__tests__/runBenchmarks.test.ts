/**
 * One report, one matmul peak per dtype: benchmarks that divide by the same peak share a single
 * measurement of it, and a bf16 figure is never divided by the fp32 rate.
 */
import type { MatmulOptions, MatmulResult } from '../../native/addon.js';
import type { Runtime } from '../../native/Runtime.js';
import type { Benchmark } from '../Benchmark.js';
import { runBenchmarks } from '../runBenchmarks.js';

function fakeRuntime(calls: MatmulOptions[]): Runtime {
  const rates = { fp32: 200, bf16: 420, fp16: 100 };
  return {
    threads: { torchIntraOp: 2, torchInterOp: 2, blas: 2, blasOwnThreads: false, hardware: 2, itlKernels: 2 },
    systemInfo: () => ({ torchVersion: 'test', blas: { name: 'none' } }),
    benchMatmul: async (options: MatmulOptions): Promise<MatmulResult> => {
      calls.push(options);
      const dtype = options.dtype ?? 'fp32';
      return { gflops: rates[dtype], size: options.size ?? 0, iterations: 1, seconds: 1, device: 'cpu', dtype };
    },
  } as unknown as Runtime;
}

test('each dtype peak is measured once and shared by every benchmark of the report', async () => {
  const calls: MatmulOptions[] = [];
  const runtime = fakeRuntime(calls);
  const divides = (name: string): Benchmark => ({
    name,
    describe: name,
    run: async (context) => ({
      [`${name}_fp32`]: (await context.matmulPeak()).gflops,
      [`${name}_bf16`]: (await context.matmulPeak('bf16')).gflops,
    }),
  });
  const figures = await runBenchmarks(
    [divides('a'), divides('b')],
    () => runtime,
    () => {},
  );
  expect(figures).toMatchObject({ a_fp32: 200, a_bf16: 420, b_fp32: 200, b_bf16: 420 });
  expect(calls).toEqual([
    { size: 1024, minSeconds: 2, device: 'cpu', dtype: 'fp32' },
    { size: 1024, minSeconds: 2, device: 'cpu', dtype: 'bf16' },
  ]);
});
