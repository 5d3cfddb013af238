#!/usr/bin/env bash
# Builds the safetensors header fuzzer (clang, libFuzzer + AddressSanitizer + UBSan) and runs it.
#   scripts/fuzz-safetensors.sh [SECONDS]      (default 60)
# Needs clang and libFuzzer's runtime (Debian: apt-get install -y clang libclang-rt-14-dev).
# Output in build-fuzz/: the binary, the generated seed corpus, the corpus it grows, and any
# crash-* / leak-* / timeout-* input it finds (the script then exits non-zero).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
out=build-fuzz
cxx="${CXX_FUZZ:-clang++}"
command -v "$cxx" >/dev/null || { echo "fuzz-safetensors: $cxx not found (apt-get install -y clang libclang-rt-14-dev)" >&2; exit 2; }
mkdir -p "$out/seed" "$out/corpus" "$out/artifacts"
# The parser alone: no libtorch, so every input costs microseconds.
"$cxx" -std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I native/core native/fuzz/safetensors_fuzz.cpp native/core/io/safetensors_header.cpp native/core/util/error.cpp \
  -o "$out/safetensors_fuzz"
python3 native/fuzz/make_seed_corpus.py "$out/seed"
"$out/safetensors_fuzz" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -dict=native/fuzz/safetensors.dict -artifact_prefix="$out/artifacts/" "$out/corpus" "$out/seed"
