#!/usr/bin/env bash
# Sets up itl on this machine; safe to run again (each step skips what is already done).
#
#   scripts/setup.sh                          install what the build needs, npm ci, build
#   scripts/setup.sh --fetch-libtorch VARIANT download + verify the official prebuilt libtorch
#                                             (VARIANT: cpu, cu118, cu121, cu124, cu126, cu128, …)
#   scripts/setup.sh --no-build               stop after installing
#   scripts/setup.sh --no-npm --no-build      only find libtorch and the system packages
#
# Where libtorch comes from, in order:
#   $LIBTORCH (an unpacked prebuilt archive), $Torch_DIR, a TorchConfig.cmake on $CMAKE_PREFIX_PATH,
#   the libtorch inside an installed PyTorch wheel (python3 -c 'import torch') — in these cases
#   nothing is installed with apt; otherwise, on Debian/Ubuntu as root, Debian's libtorch-dev (CPU).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$1" >&2; exit "${2:-1}"; }

LIBTORCH_VERSION=${ITL_LIBTORCH_VERSION:-2.7.1}

fetch_libtorch() {
  local variant=$1
  [[ $variant =~ ^(cpu|cu[0-9]{3}|rocm[0-9.]+)$ ]] || die "unknown libtorch variant '$variant': expected cpu, cuXYZ (e.g. cu128) or rocmX.Y" 2
  local url=${ITL_LIBTORCH_URL:-https://download.pytorch.org/libtorch/${variant}/libtorch-cxx11-abi-shared-with-deps-${LIBTORCH_VERSION}%2B${variant}.zip}
  local dest="$ROOT/third_party/libtorch-${LIBTORCH_VERSION}-${variant}"
  if [[ -f $dest/share/cmake/Torch/TorchConfig.cmake ]]; then
    say "libtorch ${LIBTORCH_VERSION}+${variant} already unpacked at $dest"
  else
    command -v curl >/dev/null || die "curl is needed to download libtorch"
    command -v unzip >/dev/null || die "unzip is needed to unpack libtorch"
    mkdir -p "$ROOT/third_party"
    local archive
    archive=$(mktemp "$ROOT/third_party/libtorch-XXXXXX.zip")
    say "downloading $url"
    local curl_error
    if ! curl_error=$(curl -fsSL --connect-timeout 15 -o "$archive" "$url" 2>&1); then
      rm -f "$archive"
      die "cannot download libtorch ${LIBTORCH_VERSION}+${variant} from $url (${curl_error:-no answer}). This machine cannot reach the PyTorch download server: download the archive elsewhere, unpack it, and run setup with LIBTORCH=/path/to/libtorch." 3
    fi
    if [[ -n ${ITL_LIBTORCH_SHA256:-} ]]; then
      echo "${ITL_LIBTORCH_SHA256}  $archive" | sha256sum -c --quiet - || { rm -f "$archive"; die "sha256 of $url does not match ITL_LIBTORCH_SHA256" 3; }
    fi
    unzip -tq "$archive" >/dev/null || { rm -f "$archive"; die "the downloaded archive $url is corrupt (unzip -t failed)" 3; }
    local staging
    staging=$(mktemp -d "$ROOT/third_party/.unpack-XXXXXX")
    unzip -q "$archive" -d "$staging"
    rm -f "$archive"
    [[ -f $staging/libtorch/share/cmake/Torch/TorchConfig.cmake ]] || { rm -rf "$staging"; die "the archive from $url has no libtorch/share/cmake/Torch/TorchConfig.cmake" 3; }
    rm -rf "$dest"
    mv "$staging/libtorch" "$dest"
    rm -rf "$staging"
    say "sha256 $(sha256sum "$dest/share/cmake/Torch/TorchConfig.cmake" | cut -c1-16)… (TorchConfig.cmake)"
  fi
  say "libtorch ready: export LIBTORCH=$dest and run scripts/setup.sh again"
}

# Prints the folder holding TorchConfig.cmake of a prebuilt libtorch, or nothing.
find_prebuilt_torch() {
  local candidate
  if [[ -n ${LIBTORCH:-} ]]; then
    [[ -f $LIBTORCH/share/cmake/Torch/TorchConfig.cmake ]] || die "LIBTORCH=$LIBTORCH has no share/cmake/Torch/TorchConfig.cmake"
    echo "$LIBTORCH/share/cmake/Torch"; return
  fi
  if [[ -n ${Torch_DIR:-} ]]; then
    [[ -f $Torch_DIR/TorchConfig.cmake ]] || die "Torch_DIR=$Torch_DIR has no TorchConfig.cmake"
    echo "$Torch_DIR"; return
  fi
  local IFS=:
  for candidate in ${CMAKE_PREFIX_PATH:-}; do
    [[ -f $candidate/share/cmake/Torch/TorchConfig.cmake ]] && { echo "$candidate/share/cmake/Torch"; return; }
    [[ -f $candidate/Torch/TorchConfig.cmake ]] && { echo "$candidate/Torch"; return; }
  done
  if command -v python3 >/dev/null && candidate=$(python3 -c 'import torch, os; print(os.path.join(torch.utils.cmake_prefix_path, "Torch"))' 2>/dev/null); then
    [[ -f $candidate/TorchConfig.cmake ]] && { echo "$candidate"; return; }
  fi
}

apt_install() {
  local multiarch
  multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
  local packages=(cmake g++ make python3 pkg-config libtorch-dev libgloo-dev libopenblas0-pthread
                  nlohmann-json3-dev libgtest-dev chromium fonts-dejavu-core)
  local missing=()
  local package
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || die "missing Debian packages (${missing[*]}); run this script as root, or install them"
    say "installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  else
    say "Debian packages present"
  fi
  # Debian's default libblas.so.3 may be the reference BLAS (~7 GFLOP/s here); OpenBLAS is ~200.
  local alternative
  for alternative in libblas.so.3 liblapack.so.3; do
    local target="/usr/lib/$multiarch/openblas-pthread/$alternative"
    if [[ -e $target ]] && [[ $(readlink -f "/usr/lib/$multiarch/$alternative") != $(readlink -f "$target") ]]; then
      update-alternatives --set "$alternative-$multiarch" "$target" >/dev/null
      say "$alternative now points to OpenBLAS (pthread)"
    fi
  done
}

check_tools() {
  local tool
  for tool in cmake g++ node npm; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed; a cluster module or your package manager provides it"
  done
}

npm_install() {
  local stamp=node_modules/.itl-setup-stamp
  local want
  # What npm ci installs depends on the lockfile and on which install scripts may run.
  want=$( { cat package-lock.json; node -p 'JSON.stringify(require("./package.json").allowScripts ?? {})'; } | sha256sum | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    say "node_modules up to date"
  else
    say "npm ci"
    npm ci --no-audit --no-fund
    echo "$want" > "$stamp"
  fi
}

main() {
  local build=1 npm=1
  while (($#)); do
    case $1 in
      --fetch-libtorch) [[ $# -ge 2 ]] || die "--fetch-libtorch needs a variant (cpu, cu128, …)" 2
                        fetch_libtorch "$2"; return ;;
      --no-build) build=0 ;;
      --no-npm) npm=0 ;;
      -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; return ;;
      *) die "unknown option '$1' (see --help)" 2 ;;
    esac
    shift
  done

  local torch_dir
  torch_dir=$(find_prebuilt_torch)
  if [[ -n $torch_dir ]]; then
    say "using the prebuilt libtorch at $torch_dir (nothing installed with apt)"
    [[ -f $torch_dir/../../../build-version ]] && say "libtorch build-version: $(cat "$torch_dir/../../../build-version")"
    export Torch_DIR=$torch_dir
    check_tools
  elif command -v apt-get >/dev/null; then
    apt_install
  else
    die "no libtorch found: set LIBTORCH to an unpacked prebuilt libtorch, or run scripts/setup.sh --fetch-libtorch VARIANT"
  fi

  if ((npm)); then npm_install; fi
  if ((build)); then
    say "building the native addon (cmake-js) and the TypeScript (tsc)"
    npm run build
  fi
  say "done"
}

main "$@"
