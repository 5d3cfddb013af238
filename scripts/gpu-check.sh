#!/usr/bin/env bash
# The CUDA check of the C++ engine on a GPU machine without Node or network (docs/design.md, "Environment
# facts (measured)"): builds itl_core and its tests with plain CMake against the libtorch inside python3's
# torch package, runs every ctest test (the "cuda" label: the engine on cuda:0 against itself on the CPU),
# then compares the engine's CUDA logits with transformers' on the same model folders (scripts/gpu-check.py).
#   bash scripts/gpu-check.sh        (from the repository root; logs and results go to $OUT if set)
# Needs, beside CMake, a C++ compiler and nvcc: nlohmann/json headers and GoogleTest (installed, or
# carried in third_party/gpu-carry by scripts/prepare-gpu-carry.sh). Exits 1 if any step failed.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${ITL_GPU_BUILD:-$ROOT/build-gpu}
OUT=${OUT:-$BUILD/out}
WORK=$BUILD/work
CARRY=$ROOT/third_party/gpu-carry
JOBS=${ITL_GPU_JOBS:-16}
read -r -a EXTRA_CMAKE_ARGS <<<"${ITL_GPU_CMAKE_ARGS:-}"  # e.g. -DITL_FORCE_CUDA_TESTS=ON to try the script without CUDA
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1

failed=()
step() { echo; echo "== $*"; }
record() {  # record NAME STATUS
  if [[ $2 -eq 0 ]]; then echo "-- $1: ok"; else echo "-- $1: FAILED ($2)"; failed+=("$1"); fi
}
finish() {
  echo
  if [[ ${#failed[@]} -eq 0 ]]; then echo "gpu-check: all steps passed"; exit 0; fi
  echo "gpu-check: FAILED: ${failed[*]}"
  exit 1
}
die() { echo "gpu-check: $*"; failed+=("setup"); finish; }

step "machine"
date -u
nvidia-smi || echo "(nvidia-smi failed)"
python3 -c 'import torch, sys
print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.version.cuda,
      "| available", torch.cuda.is_available(), "|", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no device")
import transformers; print("transformers", transformers.__version__)' || die "python3 cannot import torch and transformers"
cmake --version | head -1
c++ --version | head -1

step "toolchain"
TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)') || die "torch.utils.cmake_prefix_path failed"
[[ -f $TORCH_PREFIX/Torch/TorchConfig.cmake ]] || die "no TorchConfig.cmake under $TORCH_PREFIX"
echo "libtorch CMake config: $TORCH_PREFIX/Torch"
NVCC=$(command -v nvcc || true)
[[ -z $NVCC && -x /usr/local/cuda/bin/nvcc ]] && NVCC=/usr/local/cuda/bin/nvcc
cuda_args=()
if [[ -n $NVCC ]]; then
  # TorchConfig (Caffe2's cuda.cmake) finds the CUDA toolkit through nvcc and enables CUDA.
  export CUDACXX=$NVCC CUDAToolkit_ROOT=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
  cuda_args=(-DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST=9.0)
  "$NVCC" --version | tail -2
else
  echo "warning: no nvcc on PATH or in /usr/local/cuda; TorchConfig may not find CUDA"
fi
if [[ ! -f /usr/include/nlohmann/json.hpp && ! -f $CARRY/include/nlohmann/json.hpp ]]; then
  die "nlohmann/json headers are missing: run scripts/prepare-gpu-carry.sh on the build machine and carry third_party/gpu-carry"
fi
# The CPU tests read the real configs from <repo>/../shared/reference/models (by their source path).
REF=$ROOT/../shared/reference/models
if [[ ! -d $REF && -d $CARRY/reference-models ]]; then
  mkdir -p "$ROOT/../shared/reference" && ln -s "$CARRY/reference-models" "$REF" && echo "reference models: linked $REF"
fi
[[ -d $REF ]] || echo "warning: no $REF; the Presets/config tests that read it will fail or skip"

step "configure"
generator=Ninja
command -v ninja >/dev/null || generator="Unix Makefiles"
cmake -S "$ROOT" -B "$BUILD" -G "$generator" -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$TORCH_PREFIX/Torch" "${cuda_args[@]}" "${EXTRA_CMAKE_ARGS[@]}"
record configure $?
[[ ${#failed[@]} -eq 0 ]] || finish
grep -qs "itl_cuda_tests" "$BUILD"/build.ninja "$BUILD"/Makefile ||
  die "itl_cuda_tests was not configured: CMake found no CUDA libtorch or no GoogleTest (carry third_party/gpu-carry, see scripts/prepare-gpu-carry.sh)"

step "build (-j$JOBS)"
start=$SECONDS
cmake --build "$BUILD" -j "$JOBS"
record build $?
echo "build took $((SECONDS - start)) s"
[[ ${#failed[@]} -eq 0 ]] || finish

step "CUDA engine tests (itl_cuda_tests, one process, with the attention kernels it saw)"
ITL_TEST_TMP=$WORK/test-tmp "$BUILD/itl_cuda_tests" --gtest_output="xml:$OUT/cuda-gtest.xml"
record itl_cuda_tests $?

step "ctest -L cuda"
ctest --test-dir "$BUILD" -L cuda --output-on-failure --output-junit "$OUT/ctest-cuda.xml"
record "ctest -L cuda" $?

step "ctest (everything else: the CPU suite)"
ctest --test-dir "$BUILD" -LE cuda -j 8 --output-on-failure --output-junit "$OUT/ctest-cpu.xml"
record "ctest -LE cuda" $?

step "cross-check with transformers on CUDA"
rm -rf "$WORK/native-check"
"$BUILD/itl_native_check" "$WORK/native-check" cuda:0 && PYTHONUNBUFFERED=1 python3 "$ROOT/scripts/gpu-check.py" "$WORK/native-check" --json "$OUT/crosscheck.json"
record "transformers cross-check" $?

finish
