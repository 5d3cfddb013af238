#!/usr/bin/env node
// Prints what binding.gyp needs, one item per line, so node-gyp and CMake build from the same
// source list (native/sources.json) against the same libtorch:
//   sources | include_dirs | cflags | libraries | lib_dir
// libtorch is the one setup.sh chose (see prebuiltPrefix); the rpath lets the addon find it at run time.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');

function multiarch() {
  try {
    return execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim() || 'x86_64-linux-gnu';
  } catch {
    return 'x86_64-linux-gnu';
  }
}

// A prebuilt libtorch's prefix: $LIBTORCH, else the one $Torch_DIR or scripts/setup.sh's record
// (third_party/Torch_DIR) names by its share/cmake/Torch folder; none means Debian's libtorch-dev.
function prebuiltPrefix() {
  if (process.env.LIBTORCH) return process.env.LIBTORCH;
  let torchDir = process.env.Torch_DIR;
  const record = path.join(root, 'third_party', 'Torch_DIR');
  if (!torchDir && fs.existsSync(record)) torchDir = fs.readFileSync(record, 'utf8').trim();
  return torchDir ? path.resolve(torchDir, '..', '..', '..') : undefined;
}

function torchLayout() {
  const prefix = prebuiltPrefix();
  if (prefix) {
    return {
      include: [path.join(prefix, 'include'), path.join(prefix, 'include', 'torch', 'csrc', 'api', 'include')],
      lib: path.join(prefix, 'lib'),
    };
  }
  return {
    // /usr/include itself is searched anyway; naming it with -I breaks libstdc++'s #include_next.
    include: ['/usr/include/torch/csrc/api/include'],
    lib: path.join('/usr/lib', multiarch()),
  };
}

function fail(message) {
  process.stderr.write(`gyp-config: ${message}\n`);
  process.exit(1);
}

const what = process.argv[2];
const torch = torchLayout();
if (!fs.existsSync(path.join(torch.include[torch.include.length - 1], 'torch', 'version.h'))) {
  fail(`libtorch headers not found under ${torch.include.join(', ')} (set LIBTORCH or run scripts/setup.sh)`);
}
// libtorch's OpenMP runtime, beside it: itl's core is compiled with -fopenmp so that at::parallel_for
// (a header template) runs on libtorch's threads, and linked to that runtime, not the compiler's
// (CMakeLists.txt does the same).
function openmpRuntime() {
  const names = fs.existsSync(torch.lib) ? fs.readdirSync(torch.lib).sort() : [];
  const found = names.find((name) => /^lib(gomp|iomp5)[-.].*so/.test(name));
  return found ? path.join(torch.lib, found) : undefined;
}
const openmp = openmpRuntime();

const sources = JSON.parse(fs.readFileSync(path.join(root, 'native', 'sources.json'), 'utf8'));
const lines = {
  sources: () => [...sources.core, ...sources.addon],
  include_dirs: () => ['native/core'],
  // libtorch's headers as system headers, as CMake passes them: libtorch 2.10+ headers use C++20
  // bit-field initialisers that GCC accepts in C++17 but warns about, once per translation unit.
  cflags: () => [...torch.include.map((dir) => `-isystem${dir}`), ...(openmp ? ['-fopenmp'] : [])],
  libraries: () => [`-L${torch.lib}`, `-Wl,-rpath,${torch.lib}`, '-ltorch', '-ltorch_cpu', '-lc10', ...(openmp ? [openmp] : []), '-ldl'],
  lib_dir: () => [torch.lib],
}[what];
if (!lines) fail(`unknown query '${what}': expected sources, include_dirs, cflags, libraries or lib_dir`);
process.stdout.write(`${lines().join('\n')}\n`);
