/** The CLI in-process (main with captured output) and through the `itl` bin, as users run it. */
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { runItl as run } from './runItl.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

describe('itl CLI', () => {
  test('doctor --json reports libtorch, CUDA, BLAS, threads and a measured matmul rate', async () => {
    const { code, stdout } = await run(['doctor', '--json', '--seconds', '0.2']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.torch_version).toMatch(/^\d+\.\d+\.\d+/);
    expect(typeof report.cuda_available).toBe('boolean');
    expect(report.cuda_device_count).toBe(report.cuda_available ? report.cuda_device_count : 0);
    expect(report.blas.name).toEqual(expect.any(String));
    expect(report.threads).toEqual({
      torch_intra_op: expect.any(Number),
      torch_inter_op: expect.any(Number),
      blas: expect.any(Number),
      blas_own_threads: expect.any(Boolean),
      hardware: expect.any(Number),
      itl_kernels: expect.any(Number),
      policy: expect.any(String),
    });
    // itl's own CPU loops run on libtorch's threads (a build without OpenMP would give 1).
    expect(report.threads.itl_kernels).toBe(report.threads.torch_intra_op);
    // One libtorch thread beside a BLAS that runs its own (OpenBLAS); all of them otherwise (MKL).
    expect(report.threads.torch_intra_op).toBe(report.threads.blas_own_threads ? 1 : report.threads.hardware);
    if (report.blas.name === 'OpenBLAS') expect(report.threads.blas_own_threads).toBe(true);
    if (report.blas.name === 'MKL') {
      // MKL runs on libtorch's threads, as many as it has.
      expect(report.threads.blas_own_threads).toBe(false);
      expect(report.threads.blas).toBe(report.threads.torch_intra_op);
      expect(report.threads.policy).toBe(
        `MKL (${report.threads.blas} thread(s)) runs on libtorch's ${report.threads.torch_intra_op} intra-op thread(s); no BLAS pool of its own`,
      );
    }
    expect(report.matmul_gflops).toBeGreaterThan(0);
    expect(report.matmul).toMatchObject({ size: 1024, dtype: 'fp32', device: 'cpu' });
  });

  test('the thread policy comes from flags, then the environment', async () => {
    const fromFlag = JSON.parse((await run(['doctor', '--json', '--seconds', '0.05', '--torch-threads', '2'])).stdout);
    expect(fromFlag.threads.torch_intra_op).toBe(2);
    expect(fromFlag.threads.itl_kernels).toBe(2);
    const fromEnv = JSON.parse((await run(['doctor', '--json', '--seconds', '0.05'], { ...process.env, ITL_TORCH_THREADS: '1' })).stdout);
    expect(fromEnv.threads.torch_intra_op).toBe(1);
    // A BLAS count only a BLAS with its own pool (OpenBLAS) can take; MKL refuses it, naming why.
    const blas = await run(['doctor', '--json', '--seconds', '0.05', '--torch-threads', '2', '--blas-threads', '1']);
    if (fromFlag.threads.blas_own_threads) {
      expect(blas.code).toBe(0);
      expect(JSON.parse(blas.stdout).threads).toMatchObject({ torch_intra_op: 2, blas: 1 });
    } else {
      expect(blas.code).toBe(1);
      expect(blas.stderr).toContain(
        `blas_threads 1 cannot be set: the BLAS here (${fromFlag.blas.name}) has no threads of its own ` +
          "and runs on libtorch's 2 intra-op threads; set torch_threads instead [ITL_INVALID_ARGUMENT]",
      );
      // Alone, a BLAS count is libtorch's count there (what `itl launch` asks of each worker).
      const alone = await run(['doctor', '--json', '--seconds', '0.05', '--blas-threads', '1']);
      expect(alone.code).toBe(0);
      expect(JSON.parse(alone.stdout).threads.torch_intra_op).toBe(1);
    }
    const bad = await run(['doctor'], { ...process.env, ITL_TORCH_THREADS: 'many' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("expected a non-negative integer for ITL_TORCH_THREADS but received 'many'");
  });

  test('bench prints one JSON object with the matmul figure', async () => {
    const { code, stdout } = await run(['bench', 'matmul', '--json']);
    expect(code).toBe(0);
    const figures = JSON.parse(stdout);
    expect(figures.matmul_gflops).toBeGreaterThan(0);
    expect(figures.system.torch_version).toMatch(/^\d+\./);
  });

  test('bench engine-bf16 runs the engine in bf16 and says how far its logits land from fp32', async () => {
    const { code, stdout } = await run(['bench', 'engine-bf16', '--json']);
    expect(code).toBe(0);
    const figures = JSON.parse(stdout);
    expect(figures.bf16_forward_tokens_per_s).toBeGreaterThan(0);
    expect(figures.bf16_generate_tokens_per_s).toBeGreaterThan(0);
    expect(figures.bf16_matmul_gflops).toBeGreaterThan(0);
    expect(figures.bf16_engine).toMatchObject({ dtype: 'bf16', device: 'cpu', preset: 'bench-20m' });
    // bf16 keeps 8 bits of mantissa: logits of this random model (|logit| ~ 1) move by ~1e-2, not
    // zero (that would mean fp32 ran twice) and not by whole units.
    expect(figures.bf16_max_logit_diff_vs_fp32).toBeGreaterThan(0);
    expect(figures.bf16_max_logit_diff_vs_fp32).toBeLessThan(0.1);
    expect(figures.bf16_top1_agreement_vs_fp32).toBeGreaterThanOrEqual(0.95);
    expect(figures.forward_tokens_per_s).toBeUndefined();
  });

  test('usage errors exit 2 and say what was wrong', async () => {
    const unknown = await run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Unknown argument: frobnicate');
    const bench = await run(['bench', 'nope']);
    expect(bench.code).toBe(2);
    expect(bench.stderr).toContain("unknown benchmark 'nope'");
    const threads = await run(['doctor', '--torch-threads', '-1']);
    expect(threads.code).toBe(2);
    expect(threads.stderr).toContain('expected a non-negative integer for --torch-threads but received -1');
    const none = await run([]);
    expect(none.code).toBe(2);
  });

  test('the itl bin runs the compiled CLI with --help on every command', () => {
    const bin = join(root, 'bin', 'itl.js');
    const help = execFileSync('node', [bin, '--help'], { encoding: 'utf8' });
    expect(help).toContain('itl doctor');
    expect(help).toContain('itl bench');
    for (const command of ['doctor', 'bench']) {
      expect(execFileSync('node', [bin, command, '--help'], { encoding: 'utf8' })).toContain('--json');
    }
    const failing = spawnSync('node', [bin, 'doctor', '--seconds', '0'], { encoding: 'utf8' });
    expect(failing.status).toBe(1);
    expect(failing.stderr).toContain('expected --seconds in (0, 600] but received 0');
  });
});
