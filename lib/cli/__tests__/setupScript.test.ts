/**
 * scripts/setup.sh's choice of libtorch, checked without changing the machine or reaching any
 * network: each test runs a copy of the script in a scratch repository root (so third_party/ and
 * build-cmake/ are the scratch ones), with fake python3/pip, apt-get, dpkg-query, update-alternatives and id first on
 * PATH that log how they were called. The order under test: a libtorch the user points at, else an
 * installed PyTorch wheel, else the PyTorch wheel installed with pip (configured index first,
 * PyTorch's own index only when that lacks it); --system-libtorch keeps Debian's libtorch-dev.
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

// python3: `-c …import torch…` prints $FAKE_WHEEL_TORCH_DIR when set (an installed wheel), else
// fails; `-m pip install` behaves as $FAKE_PIP says:
//   configured   installs the wheel pip was asked for from the configured index
//   pytorch      "No matching distribution" unless --index-url is given (PyTorch's index)
//   cpu-only     installs a wheel without libtorch_cuda.so unless --index-url is given
//   offline      "No matching distribution", then a connection error for --index-url
//   broken       fails for another reason (a full disk)
const fakePython = `#!/bin/sh
echo "python3 $*" >> "$FAKE_LOG"
if [ "$1" = -c ]; then
  [ -n "$FAKE_WHEEL_TORCH_DIR" ] && { echo "$FAKE_WHEEL_TORCH_DIR"; exit 0; }
  echo "ModuleNotFoundError: No module named 'torch'" >&2; exit 1
fi
[ "$1" = -m ] && [ "$2" = pip ] || exit 2
shift 2
[ "$1" = --version ] && { echo "pip 23.0.1"; exit 0; }
target= index= requirement=
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift ;;
    --index-url) index=$2; shift ;;
    -*) ;;
    *) requirement=$1 ;;
  esac
  shift
done
case "$FAKE_PIP:$index" in
  pytorch:|offline:) echo "ERROR: No matching distribution found for $requirement"; exit 1 ;;
  broken:*) echo "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device"; exit 1 ;;
  offline:*) echo "ERROR: Could not find a version that satisfies the requirement (connection refused)"; exit 1 ;;
esac
version=\${requirement#torch==}
mkdir -p "$target/torch/share/cmake/Torch" "$target/torch/lib" "$target/torch-$version.dist-info"
echo "# fake" > "$target/torch/share/cmake/Torch/TorchConfig.cmake"
touch "$target/torch/__init__.py" "$target/torch/lib/libtorch_python.so" "$target/torch/lib/libtorch_cpu.so"
echo "set(PACKAGE_VERSION \\"\${version%%+*}\\")" > "$target/torch/share/cmake/Torch/TorchConfigVersion.cmake"
case "$requirement:$FAKE_PIP:$index" in
  *+cpu:*|*:cpu-only:) ;;
  *) touch "$target/torch/lib/libtorch_cuda.so" ;;
esac
`;

interface Sandbox {
  repo: string;
  bin: string;
  log: string;
  run(args: string[], env?: NodeJS.ProcessEnv): SpawnSyncReturns<string>;
  calls(): string[];
}

describe('scripts/setup.sh', () => {
  let scratch: string;
  let count = 0;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-setup-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** A repository root holding only scripts/setup.sh, and fakes first on PATH. */
  function sandbox(missingDebianPackages: string[] = []): Sandbox {
    const base = join(scratch, `case-${count++}`);
    const repo = join(base, 'repo');
    const bin = join(base, 'bin');
    const log = join(base, 'calls.log');
    mkdirSync(join(repo, 'scripts'), { recursive: true });
    mkdirSync(bin);
    copyFileSync(join(root, 'scripts', 'setup.sh'), join(repo, 'scripts', 'setup.sh'));
    writeFileSync(log, '');
    const fakes: Record<string, string> = {
      python3: fakePython,
      'apt-get': '#!/bin/sh\necho "apt-get $*" >> "$FAKE_LOG"\n',
      'dpkg-query': `#!/bin/sh\nfor p in ${missingDebianPackages.join(' ')}; do [ "$p" = "$3" ] && exit 1; done\nprintf 'install ok installed'\n`,
      'update-alternatives': '#!/bin/sh\necho "update-alternatives $*" >> "$FAKE_LOG"\n',
      id: '#!/bin/sh\necho 0\n',
    };
    for (const [name, text] of Object.entries(fakes)) {
      writeFileSync(join(bin, name), text);
      chmodSync(join(bin, name), 0o755);
    }
    return {
      repo,
      bin,
      log,
      run: (args, env = {}) =>
        spawnSync('bash', [join(repo, 'scripts', 'setup.sh'), ...args], {
          encoding: 'utf8',
          timeout: 60_000,
          env: {
            ...process.env,
            LIBTORCH: '',
            Torch_DIR: '',
            CMAKE_PREFIX_PATH: '',
            ITL_TORCH_VERSION: '',
            FAKE_PIP: 'configured',
            FAKE_WHEEL_TORCH_DIR: '',
            ...env,
            FAKE_LOG: log,
            PATH: `${bin}:${process.env.PATH}`,
          },
        }),
      calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
    };
  }

  /** A prebuilt libtorch folder (the official archive's layout); returns its prefix. */
  function fakeLibtorch(where: string, buildVersion?: string): string {
    mkdirSync(join(where, 'share', 'cmake', 'Torch'), { recursive: true });
    writeFileSync(join(where, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), '# fake\n');
    if (buildVersion) writeFileSync(join(where, 'build-version'), `${buildVersion}\n`);
    return where;
  }

  const pipInstalls = (box: Sandbox) => box.calls().filter((call) => call.startsWith('python3 -m pip install'));
  const record = (box: Sandbox) => readFileSync(join(box.repo, 'third_party', 'Torch_DIR'), 'utf8').trim();

  test('--fetch-libtorch fails clearly when the archive cannot be downloaded', () => {
    const box = sandbox();
    const result = box.run(['--fetch-libtorch', 'cu128'], { ITL_LIBTORCH_URL: 'http://127.0.0.1:9/libtorch.zip' });
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('setup: error: cannot download libtorch 2.7.1+cu128 from http://127.0.0.1:9/libtorch.zip');
    expect(result.stderr).toContain('run setup with LIBTORCH=/path/to/libtorch');
    expect(existsSync(join(box.repo, 'third_party', 'libtorch-2.7.1-cu128'))).toBe(false);
  });

  test('--fetch-libtorch rejects an unknown variant', () => {
    const result = sandbox().run(['--fetch-libtorch', 'cuda-please']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("unknown libtorch variant 'cuda-please'");
  });

  test('a LIBTORCH without TorchConfig.cmake is named in the error', () => {
    const box = sandbox();
    const result = box.run(['--no-npm', '--no-build'], { LIBTORCH: join(scratch, 'nothing-here') });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`LIBTORCH=${join(scratch, 'nothing-here')} has no share/cmake/Torch/TorchConfig.cmake`);
  });

  test('a given LIBTORCH wins over an installed wheel; it is recorded and nothing is installed', () => {
    const box = sandbox(['cmake', 'python3-pip']);
    const prebuilt = fakeLibtorch(join(scratch, 'libtorch'), '2.7.1+cu128');
    const wheel = fakeLibtorch(join(scratch, 'site-packages', 'torch'));
    const result = box.run(['--no-npm', '--no-build'], {
      LIBTORCH: prebuilt,
      FAKE_WHEEL_TORCH_DIR: join(wheel, 'share', 'cmake', 'Torch'),
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`using the prebuilt libtorch at ${prebuilt}/share/cmake/Torch (nothing installed with apt)`);
    expect(result.stdout).toContain('libtorch build-version: 2.7.1+cu128');
    expect(record(box)).toBe(`${prebuilt}/share/cmake/Torch`);
    expect(box.calls()).toEqual([]);
  });

  test('the libtorch inside an installed PyTorch wheel is used before installing one', () => {
    const box = sandbox(['cmake', 'python3-pip']);
    const wheel = join(fakeLibtorch(join(scratch, 'site-packages-2', 'torch')), 'share', 'cmake', 'Torch');
    const result = box.run(['--no-npm', '--no-build'], { FAKE_WHEEL_TORCH_DIR: wheel });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`using the prebuilt libtorch at ${wheel} (nothing installed with apt)`);
    expect(record(box)).toBe(wheel);
    expect(pipInstalls(box)).toEqual([]);
    expect(box.calls().some((call) => call.startsWith('apt-get'))).toBe(false);
  });

  test('with no libtorch anywhere, the CPU wheel is installed with pip into third_party/torch-wheel, once', () => {
    const box = sandbox(['python3-pip']);
    const result = box.run(['--no-npm', '--no-build']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const torchDir = join(box.repo, 'third_party', 'torch-wheel', 'torch', 'share', 'cmake', 'Torch');
    expect(result.stdout).toContain('installing torch==2.13.0+cpu (cpu) with pip into third_party/torch-wheel');
    expect(result.stdout).toContain(`using libtorch 2.13.0 from the PyTorch wheel at ${torchDir}`);
    expect(existsSync(join(torchDir, 'TorchConfig.cmake'))).toBe(true);
    expect(record(box)).toBe(torchDir);
    // apt installs pip (and the build's packages), never Debian's libtorch.
    const apt = box.calls().filter((call) => call.startsWith('apt-get install'));
    expect(apt).toEqual(['apt-get install -y -q python3-pip']);
    // From pip's configured index, without the wheel's Python dependencies (only libtorch is used).
    const installs = pipInstalls(box);
    expect(installs).toHaveLength(1);
    expect(installs[0]).toMatch(/--target \S+\/third_party\/\.torch-wheel-\w+ /);
    expect(installs[0]).toContain('--no-deps');
    expect(installs[0]).not.toContain('--index-url');
    expect(installs[0]).toMatch(/ torch==2\.13\.0\+cpu$/);
    expect(readdirSync(join(box.repo, 'third_party')).sort()).toEqual(['Torch_DIR', 'torch-wheel']);
    // Only libtorch is kept, not the Python package around it.
    expect(readdirSync(join(box.repo, 'third_party', 'torch-wheel', 'torch')).sort()).toEqual(['lib', 'share']);
    expect(readdirSync(join(box.repo, 'third_party', 'torch-wheel', 'torch', 'lib'))).toEqual(['libtorch_cpu.so']);

    // A second run finds the installed wheel and installs nothing.
    const again = box.run(['--no-npm', '--no-build']);
    expect(again.status).toBe(0);
    expect(pipInstalls(box)).toHaveLength(1);
    expect(again.stdout).toContain(`using libtorch 2.13.0 from the PyTorch wheel at ${torchDir}`);
  });

  test("PyTorch's CPU index is asked only when pip's configured index lacks the wheel", () => {
    const box = sandbox();
    const result = box.run(['--no-npm', '--no-build'], { FAKE_PIP: 'pytorch', ITL_TORCH_VERSION: '2.9.1' });
    expect(result.status).toBe(0);
    const installs = pipInstalls(box);
    expect(installs).toHaveLength(2);
    expect(installs[0]).not.toContain('--index-url');
    expect(installs[1]).toContain('--index-url https://download.pytorch.org/whl/cpu');
    expect(installs[1]).toMatch(/ torch==2\.9\.1\+cpu$/);
    expect(result.stdout).toContain(
      "pip's configured index has no torch==2.9.1+cpu; trying PyTorch's index https://download.pytorch.org/whl/cpu",
    );
    expect(result.stdout).toContain('using libtorch 2.9.1 from the PyTorch wheel');
  });

  test('when pip can install no wheel, setup fails naming both sources and leaves nothing half-installed', () => {
    const box = sandbox();
    const result = box.run(['--no-npm', '--no-build'], { FAKE_PIP: 'offline' });
    expect(result.status).toBe(3);
    expect(result.stderr).toContain(
      "setup: error: pip could not install torch==2.13.0+cpu from pip's configured index nor from https://download.pytorch.org/whl/cpu",
    );
    expect(result.stderr).toContain('set LIBTORCH to an unpacked prebuilt libtorch');
    expect(readdirSync(join(box.repo, 'third_party'))).toEqual([]);
  });

  test("a pip failure other than a missing wheel is reported as it is, without trying PyTorch's index", () => {
    const box = sandbox();
    const result = box.run(['--no-npm', '--no-build'], { FAKE_PIP: 'broken' });
    expect(result.status).toBe(3);
    expect(result.stderr).toContain(
      'setup: error: pip could not install torch==2.13.0+cpu: ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device',
    );
    expect(pipInstalls(box)).toHaveLength(1);
    expect(readdirSync(join(box.repo, 'third_party'))).toEqual([]);
  });

  test("--cuda installs the CUDA wheel with its dependencies, from PyTorch's index when the configured one has only CPU wheels", () => {
    const box = sandbox();
    const result = box.run(['--cuda', '--no-npm', '--no-build'], { FAKE_PIP: 'cpu-only', ITL_TORCH_CUDA: 'cu126' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const installs = pipInstalls(box);
    expect(installs).toHaveLength(2);
    expect(installs[0]).toMatch(/ torch==2\.13\.0$/);
    expect(installs[1]).toContain('--index-url https://download.pytorch.org/whl/cu126');
    expect(installs[1]).toMatch(/ torch==2\.13\.0\+cu126$/);
    for (const call of installs) expect(call).not.toContain('--no-deps');
    expect(result.stdout).toContain("pip's configured index gave a torch 2.13.0 without CUDA");
    expect(existsSync(join(box.repo, 'third_party', 'torch-wheel', 'torch', 'lib', 'libtorch_cuda.so'))).toBe(true);
  });

  test("--system-libtorch installs Debian's libtorch-dev and OpenBLAS and never asks Python", () => {
    const box = sandbox(['libtorch-dev', 'libopenblas0-pthread']);
    const wheel = join(fakeLibtorch(join(scratch, 'site-packages-3', 'torch')), 'share', 'cmake', 'Torch');
    box.run(['--system-libtorch', '--no-npm', '--no-build'], { FAKE_WHEEL_TORCH_DIR: wheel });
    expect(box.calls().filter((call) => call.startsWith('apt-get install'))).toEqual([
      'apt-get install -y -q libtorch-dev libopenblas0-pthread',
    ]);
    expect(box.calls().some((call) => call.startsWith('python3'))).toBe(false);
  });

  test('a build folder configured against another libtorch is removed, so CMake cannot keep the old one', () => {
    const box = sandbox();
    const prebuilt = fakeLibtorch(join(scratch, 'libtorch-new'));
    mkdirSync(join(box.repo, 'build-cmake'));
    writeFileSync(join(box.repo, 'build-cmake', 'CMakeCache.txt'), `ITL_TORCH_DIR:INTERNAL=${scratch}\n`);
    const result = box.run(['--no-npm', '--no-build'], { LIBTORCH: prebuilt });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`build-cmake/ was configured against ${scratch}; removing it`);
    expect(existsSync(join(box.repo, 'build-cmake'))).toBe(false);

    // Configured against the same one: kept.
    mkdirSync(join(box.repo, 'build-cmake'));
    writeFileSync(join(box.repo, 'build-cmake', 'CMakeCache.txt'), `ITL_TORCH_DIR:INTERNAL=${prebuilt}/share/cmake/Torch\n`);
    expect(box.run(['--no-npm', '--no-build'], { LIBTORCH: prebuilt }).status).toBe(0);
    expect(existsSync(join(box.repo, 'build-cmake', 'CMakeCache.txt'))).toBe(true);

    // Configured before the libtorch was recorded (an older checkout): removed too.
    writeFileSync(join(box.repo, 'build-cmake', 'CMakeCache.txt'), 'Torch_DIR:PATH=/usr/lib/x86_64-linux-gnu/cmake/Torch\n');
    const unrecorded = box.run(['--no-npm', '--no-build'], { LIBTORCH: prebuilt });
    expect(unrecorded.stdout).toContain('build-cmake/ was configured against an unrecorded libtorch; removing it');
    expect(existsSync(join(box.repo, 'build-cmake'))).toBe(false);
  });
});
