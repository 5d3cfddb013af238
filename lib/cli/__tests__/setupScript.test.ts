/**
 * scripts/setup.sh paths that can be checked here without changing the machine: the libtorch
 * download failing with a clear message (this machine cannot reach the PyTorch server; the test
 * points it at a closed local port so it never downloads anything, wherever it runs), and the
 * cluster path, where a prebuilt libtorch is found and nothing is installed with apt.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const setup = join(root, 'scripts', 'setup.sh');

function runSetup(args: string[], env: NodeJS.ProcessEnv) {
  return spawnSync('bash', [setup, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
}

describe('scripts/setup.sh', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-setup-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('--fetch-libtorch fails clearly when the archive cannot be downloaded', () => {
    const result = runSetup(['--fetch-libtorch', 'cu128'], { ITL_LIBTORCH_URL: 'http://127.0.0.1:9/libtorch.zip' });
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('setup: error: cannot download libtorch 2.7.1+cu128 from http://127.0.0.1:9/libtorch.zip');
    expect(result.stderr).toContain('run setup with LIBTORCH=/path/to/libtorch');
    expect(existsSync(join(root, 'third_party', 'libtorch-2.7.1-cu128'))).toBe(false);
  });

  test('--fetch-libtorch rejects an unknown variant', () => {
    const result = runSetup(['--fetch-libtorch', 'cuda-please'], {});
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("unknown libtorch variant 'cuda-please'");
  });

  test('a LIBTORCH without TorchConfig.cmake is named in the error', () => {
    const result = runSetup(['--no-npm', '--no-build'], { LIBTORCH: join(scratch, 'nothing-here') });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`LIBTORCH=${join(scratch, 'nothing-here')} has no share/cmake/Torch/TorchConfig.cmake`);
  });

  test('with a prebuilt libtorch it says what it found and installs nothing with apt', () => {
    const prebuilt = join(scratch, 'libtorch');
    mkdirSync(join(prebuilt, 'share', 'cmake', 'Torch'), { recursive: true });
    writeFileSync(join(prebuilt, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), '# fake\n');
    writeFileSync(join(prebuilt, 'build-version'), '2.7.1+cu128\n');
    const bin = join(scratch, 'bin');
    mkdirSync(bin);
    const marker = join(scratch, 'apt-was-called');
    writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\ntouch ${marker}\nexit 1\n`);
    chmodSync(join(bin, 'apt-get'), 0o755);
    const result = runSetup(['--no-npm', '--no-build'], { LIBTORCH: prebuilt, PATH: `${bin}:${process.env.PATH}` });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`using the prebuilt libtorch at ${prebuilt}/share/cmake/Torch (nothing installed with apt)`);
    expect(result.stdout).toContain('libtorch build-version: 2.7.1+cu128');
    expect(existsSync(marker)).toBe(false);
  });

  test('the libtorch inside an installed PyTorch wheel is found through python3', () => {
    const wheel = join(scratch, 'site-packages', 'torch', 'share', 'cmake');
    mkdirSync(join(wheel, 'Torch'), { recursive: true });
    writeFileSync(join(wheel, 'Torch', 'TorchConfig.cmake'), '# fake\n');
    const bin = join(scratch, 'wheel-bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'python3'), `#!/bin/sh\necho ${join(wheel, 'Torch')}\n`);
    writeFileSync(join(bin, 'apt-get'), '#!/bin/sh\nexit 1\n');
    chmodSync(join(bin, 'python3'), 0o755);
    chmodSync(join(bin, 'apt-get'), 0o755);
    const env = { LIBTORCH: '', Torch_DIR: '', CMAKE_PREFIX_PATH: '', PATH: `${bin}:${process.env.PATH}` };
    const result = runSetup(['--no-npm', '--no-build'], env);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`using the prebuilt libtorch at ${join(wheel, 'Torch')} (nothing installed with apt)`);
  });
});
