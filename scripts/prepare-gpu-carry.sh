#!/usr/bin/env bash
# Copies into third_party/gpu-carry/ (ignored by git) what scripts/gpu-check.sh needs on a GPU
# machine that has no network and may lack them: nlohmann/json headers, GoogleTest sources, gloo's
# headers (ProcessGroupGloo.hpp needs them; PyTorch wheels lack them; libtorch holds gloo's code), and the
# real reference config files the CPU tests read from ../shared/reference/models. Run it here, then
# name third_party/gpu-carry in the device tool's `carry` list. About 13 MB.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=$ROOT/third_party/gpu-carry
NLOHMANN=${ITL_NLOHMANN_INCLUDE:-/usr/include/nlohmann}
GOOGLETEST=${ITL_GOOGLETEST_SOURCE:-/usr/src/googletest}
REFERENCE=${ITL_REFERENCE_MODELS:-$ROOT/../shared/reference/models}

fail() { echo "prepare-gpu-carry: $*" >&2; exit 1; }
[[ -f $NLOHMANN/json.hpp ]] || fail "no nlohmann/json headers at $NLOHMANN (Debian: nlohmann-json3-dev)"
[[ -f $GOOGLETEST/CMakeLists.txt ]] || fail "no GoogleTest sources at $GOOGLETEST (Debian: googletest)"
[[ -d $REFERENCE ]] || fail "no reference models at $REFERENCE"

rm -rf "$DEST"
mkdir -p "$DEST/include"
cp -r "$NLOHMANN" "$DEST/include/nlohmann"
GLOO=${ITL_GLOO_INCLUDE:-/usr/include/gloo}
if [[ -f $GLOO/config.h ]]; then cp -r "$GLOO" "$DEST/include/gloo"; else echo "prepare-gpu-carry: no gloo headers at $GLOO (Debian: libgloo-dev); CPU ranks there will not communicate" >&2; fi
cp -r "$GOOGLETEST" "$DEST/googletest"
cp -r "$REFERENCE" "$DEST/reference-models"
chmod -R u+w "$DEST"
echo "prepare-gpu-carry: wrote $(du -sh "$DEST" | cut -f1) to ${DEST#"$ROOT"/}; carry: [\"third_party/gpu-carry\"]"
