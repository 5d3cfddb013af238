#!/usr/bin/env bash
# Builds the addon a second way, with node-gyp from binding.gyp (same sources, CPU libtorch), into
# build/, and checks that it loads and works: doctor through it, and the addon test suite against it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

start=$(date +%s)
npx node-gyp rebuild -j "$(nproc)" --loglevel=warn
echo "node-gyp build: $(( $(date +%s) - start )) s"

export ITL_ADDON="$ROOT/build/Release/itl_native.node"
node bin/itl.js doctor --json --seconds 0.2 | node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
  if (!r.addon_path.endsWith("build/Release/itl_native.node")) throw new Error("doctor did not use the node-gyp addon: " + r.addon_path);
  if (!(r.matmul_gflops > 0)) throw new Error("no matmul rate from the node-gyp addon");
  console.log(`node-gyp addon: libtorch ${r.torch_version}, ${r.blas.name}, ${r.matmul_gflops.toFixed(1)} GFLOP/s`);'
node --experimental-vm-modules node_modules/jest/bin/jest.js lib/native/__tests__ --silent
