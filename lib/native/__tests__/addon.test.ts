/**
 * The addon boundary pattern, exercised on its one real operation (the matmul benchmark): work off
 * the event loop, progress through a thread-safe function, C++ errors as rejected Promises.
 * Needs the built addon (`npm run build:native`).
 */
import { ItlError } from '../../errors.js';
import { Runtime } from '../Runtime.js';
import { addonCandidates, loadAddon } from '../addon.js';

describe('native addon', () => {
  const runtime = Runtime.open({ torchThreads: 1, blasThreads: 0 });

  test('reports the libtorch it was built against and the BLAS it runs on', () => {
    const info = runtime.systemInfo();
    expect(info.torchVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.torchVersion.startsWith(`${info.torchVersionMajor}.`)).toBe(true);
    expect(info.cudaDeviceCount).toBeGreaterThanOrEqual(0);
    expect(['OpenBLAS', 'reference BLAS', 'MKL', 'unknown']).toContain(info.blas.name);
    expect(runtime.threads.torchIntraOp).toBe(1);
    expect(info.threads.hardware).toBeGreaterThan(0);
  });

  test('a matmul benchmark resolves with a rate consistent with its own counts', async () => {
    const result = await runtime.benchMatmul({ size: 256, minSeconds: 0.2 });
    expect(result.size).toBe(256);
    expect(result.dtype).toBe('fp32');
    expect(result.seconds).toBeGreaterThanOrEqual(0.2);
    expect(result.gflops).toBeCloseTo((2 * 256 ** 3 * result.iterations) / result.seconds / 1e9, 6);
  });

  test('the event loop keeps running while native work runs', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    await runtime.benchMatmul({ size: 512, minSeconds: 0.5 });
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(10);
  });

  test('progress reaches the callback, every event before the Promise settles', async () => {
    const events: number[] = [];
    const result = await runtime.benchMatmul({ size: 128, minSeconds: 0.2 }, (p) => {
      expect(p.phase).toBe('matmul');
      events.push(p.done);
    });
    expect(events.length).toBe(result.iterations);
    expect(events).toEqual(Array.from({ length: result.iterations }, (_, i) => i + 1));
  });

  test('a C++ exception becomes a rejected Promise carrying the C++ message and code', async () => {
    const failing = runtime.benchMatmul({ size: -3 });
    await expect(failing).rejects.toBeInstanceOf(ItlError);
    await expect(failing).rejects.toMatchObject({
      code: 'ITL_INVALID_ARGUMENT',
      message: 'matmul size must be in 1..65536, got -3',
    });
    await expect(runtime.benchMatmul({ size: 8, device: 'tpu' })).rejects.toMatchObject({
      message: "unknown device 'tpu': expected cpu, cuda or cuda:N",
    });
  });

  test('a failure with a progress callback attached still rejects', async () => {
    const seen: number[] = [];
    await expect(runtime.benchMatmul({ size: 8, dtype: 'int8' as 'fp32' }, (p) => seen.push(p.done))).rejects.toMatchObject({
      code: 'ITL_INVALID_ARGUMENT',
      message: "unknown dtype 'int8': expected fp32, bf16 or fp16",
    });
    expect(seen).toEqual([]);
  });

  test('wrong argument types are a TypeError naming the field, thrown before any work', () => {
    const { addon } = loadAddon();
    expect(() => addon.benchMatmul({ size: '12' as unknown as number })).toThrow(
      'expected an integer for options.size but received string',
    );
    expect(() => addon.benchMatmul({}, 42 as unknown as () => void)).toThrow('expected a function for onProgress but received number');
  });

  test('a missing addon is reported with the paths that were tried', () => {
    const env = { ITL_ADDON: '/nonexistent/itl_native.node' };
    expect(addonCandidates(env)).toEqual(['/nonexistent/itl_native.node']);
    expect(() => loadAddon(env)).toThrow(/the native addon is not built: run `npm run build` \(looked for \/nonexistent/);
  });
});
