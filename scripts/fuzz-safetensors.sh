#!/usr/bin/env bash
# Builds a checkpoint-parsing fuzzer (clang, libFuzzer + AddressSanitizer + UBSan) and runs it.
#   scripts/fuzz-safetensors.sh [SECONDS] [TARGET]     SECONDS default 60
#   TARGET: safetensors (default; parse_safetensors) or llama_config (parse_llama_config)
# Needs clang and libFuzzer's runtime (Debian: apt-get install -y clang libclang-rt-14-dev).
# Output in build-fuzz/<target>/: the binary, the generated seed corpus, the corpus it grows, and
# any crash-* / leak-* / timeout-* input it finds (the script then exits non-zero).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
target="${2:-safetensors}"
case "$target" in
  safetensors) sources="native/core/io/safetensors_header.cpp" dict="-dict=native/fuzz/safetensors.dict" ;;
  llama_config) sources="native/core/io/llama_config.cpp" dict="" ;;
  *) echo "fuzz-safetensors: unknown target '$target' (safetensors, llama_config)" >&2; exit 2 ;;
esac
out="build-fuzz/$target"
cxx="${CXX_FUZZ:-clang++}"
command -v "$cxx" >/dev/null || { echo "fuzz-safetensors: $cxx not found (apt-get install -y clang libclang-rt-14-dev)" >&2; exit 2; }
mkdir -p "$out/seed" "$out/corpus" "$out/artifacts"
# The parsers alone: no libtorch, so every input costs microseconds.
"$cxx" -std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I native/core "native/fuzz/${target}_fuzz.cpp" $sources native/core/util/error.cpp -o "$out/fuzz"
python3 native/fuzz/make_seed_corpus.py "$out/seed" "$target"
"$out/fuzz" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  $dict -artifact_prefix="$out/artifacts/" "$out/corpus" "$out/seed"
