#!/usr/bin/env bash
# Sets up itl on this machine; safe to run again (each step skips what is already done).
#
#   scripts/setup.sh                          find or install a prebuilt libtorch 2.x, the system
#                                             packages the build needs, npm ci, build
#   scripts/setup.sh --cuda | --cpu           which PyTorch wheel to install when one is needed
#                                             (default: CUDA when nvidia-smi sees a GPU, else CPU)
#   scripts/setup.sh --system-libtorch        Debian's libtorch-dev 1.13 (CPU, OpenBLAS) instead
#   scripts/setup.sh --fetch-libtorch VARIANT download + verify the official prebuilt libtorch
#                                             (VARIANT: cpu, cu118, cu121, cu124, cu126, cu128, …)
#   scripts/setup.sh --no-build               stop after installing
#   scripts/setup.sh --no-npm --no-build      only find libtorch and the system packages
#
# Where libtorch comes from, in order:
#   1. what you point at: $LIBTORCH (an unpacked prebuilt archive), $Torch_DIR, a TorchConfig.cmake
#      on $CMAKE_PREFIX_PATH;
#   2. the libtorch inside an installed PyTorch wheel (python3 -c 'import torch');
#      (in cases 1 and 2 nothing is installed with apt)
#   3. otherwise the PyTorch wheel (torch==$ITL_TORCH_VERSION, default 2.13.0; +cpu unless --cuda) is
#      installed with pip into third_party/torch-wheel/ (ignored by git), from pip's configured
#      index, or from PyTorch's own index (download.pytorch.org/whl/cpu, /whl/$ITL_TORCH_CUDA) when
#      that one lacks it. Only its libtorch is used; Python never imports it.
# The choice is written to third_party/Torch_DIR, which CMakeLists.txt and scripts/gyp-config.cjs
# read, so later `npm run build` / `npm test` use the same libtorch without any variable set.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$1" >&2; exit "${2:-1}"; }

LIBTORCH_VERSION=${ITL_LIBTORCH_VERSION:-2.7.1}
TORCH_VERSION=${ITL_TORCH_VERSION:-2.13.0}
TORCH_CUDA=${ITL_TORCH_CUDA:-cu128}
WHEEL_DIR=$ROOT/third_party/torch-wheel
TORCH_RECORD=$ROOT/third_party/Torch_DIR

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

# Prints the folder holding TorchConfig.cmake of a libtorch the user pointed at or that Python has,
# or nothing.
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

# pip install of one torch requirement into a fresh folder; prints pip's output on failure.
pip_torch() {
  local staging=$1 requirement=$2 deps=$3
  shift 3
  local flags=(--target "$staging" --only-binary=:all: --no-compile --no-input --disable-pip-version-check)
  ((deps)) || flags+=(--no-deps)
  python3 -m pip install "${flags[@]}" "$@" "$requirement" 2>&1
}

# Installs the PyTorch wheel into $WHEEL_DIR (once) and sets WHEEL_TORCH_DIR to its Torch folder.
# The CPU wheel is taken without its Python dependencies (only libtorch is used); the CUDA wheel
# needs its nvidia-* dependencies, whose libraries libtorch_cuda.so finds through its own rpath.
install_torch_wheel() {
  local flavour=$1
  local torch_dir=$WHEEL_DIR/torch/share/cmake/Torch
  if [[ -f $torch_dir/TorchConfig.cmake ]]; then
    local have=cpu
    [[ -e $WHEEL_DIR/torch/lib/libtorch_cuda.so ]] && have=cuda
    [[ $have == "$flavour" ]] || say "note: $WHEEL_DIR holds a $have wheel, not $flavour; remove it to install the other one"
    WHEEL_TORCH_DIR=$torch_dir; return
  fi
  command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 \
    || die "no libtorch found, and python3 with pip is needed to install the PyTorch wheel (Debian: apt-get install python3-pip); or set LIBTORCH to an unpacked prebuilt libtorch"
  local requirement deps pytorch_index
  if [[ $flavour == cuda ]]; then
    requirement="torch==$TORCH_VERSION" deps=1 pytorch_index=${ITL_TORCH_INDEX_URL:-https://download.pytorch.org/whl/$TORCH_CUDA}
  else
    requirement="torch==$TORCH_VERSION+cpu" deps=0 pytorch_index=${ITL_TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}
  fi
  mkdir -p "$(dirname "$WHEEL_DIR")"
  local staging output
  staging=$(mktemp -d "$(dirname "$WHEEL_DIR")/.torch-wheel-XXXXXX")
  # Removes the half-installed folder whatever happens; the finished one is renamed into place.
  trap "rm -rf '$staging'" EXIT
  say "installing $requirement ($flavour) with pip into ${WHEEL_DIR#"$ROOT"/} from pip's configured index"
  local found=0
  if output=$(pip_torch "$staging" "$requirement" "$deps"); then
    # An unlabelled torch==V also matches a +cpu wheel: only a wheel with libtorch_cuda.so will do.
    if [[ $flavour == cpu || -e $staging/torch/lib/libtorch_cuda.so ]]; then found=1; else
      say "pip's configured index gave a torch $TORCH_VERSION without CUDA"
      rm -rf "$staging"; mkdir -p "$staging"
    fi
  elif ! grep -q 'No matching distribution found' <<<"$output"; then
    die "pip could not install $requirement: $(tail -n 3 <<<"$output" | tr '\n' ' ')" 3
  fi
  if ((!found)); then
    [[ $flavour == cuda ]] && requirement="torch==$TORCH_VERSION+$TORCH_CUDA"
    say "pip's configured index has no $requirement; trying PyTorch's index $pytorch_index"
    output=$(pip_torch "$staging" "$requirement" "$deps" --index-url "$pytorch_index") \
      || die "pip could not install $requirement from pip's configured index nor from $pytorch_index: $(tail -n 3 <<<"$output" | tr '\n' ' ')
Install a PyTorch wheel yourself (python3 -c 'import torch' must work), or set LIBTORCH to an unpacked prebuilt libtorch." 3
  fi
  [[ -f $staging/torch/share/cmake/Torch/TorchConfig.cmake ]] || die "the wheel pip installed for $requirement has no torch/share/cmake/Torch/TorchConfig.cmake" 3
  # Only libtorch is used (lib/, include/, share/cmake/): the Python package around it, its test
  # binaries and libtorch_python.so are ~270 MB of the CPU wheel's 700 MB unpacked.
  find "$staging/torch" -mindepth 1 -maxdepth 1 ! -name lib ! -name include ! -name share -exec rm -rf {} +
  rm -f "$staging/torch/lib/libtorch_python.so"
  rm -rf "$WHEEL_DIR"
  mv "$staging" "$WHEEL_DIR"
  trap - EXIT
  say "installed $(cd "$WHEEL_DIR" && ls -d torch-*.dist-info 2>/dev/null | sed 's/\.dist-info$//') ($(du -sh "$WHEEL_DIR" | cut -f1))"
  WHEEL_TORCH_DIR=$torch_dir
}

# The version a libtorch's CMake config declares (Debian's has none: its package version instead).
torch_version_of() {
  if [[ -f $1/TorchConfigVersion.cmake ]]; then
    sed -n 's/^set(PACKAGE_VERSION "\(.*\)")$/\1/p' "$1/TorchConfigVersion.cmake" | head -n 1
  else
    dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null || echo "of unknown version"
  fi
}

apt_install() {
  local system_libtorch=$1
  local multiarch
  multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
  # The build (cmake, g++, nlohmann/json, GoogleTest), gloo's headers (c10d's ProcessGroupGloo
  # includes them; every libtorch holds gloo's code but wheels and archives ship no gloo headers),
  # pip for the PyTorch wheel, chromium and a font for the analysis' PNG/HTML, clang-format for
  # `npm run lint` (part of `npm test`). Debian's libtorch also wants OpenBLAS for speed; the
  # wheel's libtorch carries MKL.
  local packages=(cmake g++ make python3 pkg-config nlohmann-json3-dev libgtest-dev libgloo-dev chromium fonts-dejavu-core clang-format)
  if ((system_libtorch)); then
    packages+=(libtorch-dev libopenblas0-pthread)
  else
    packages+=(python3-pip)
  fi
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
  ((system_libtorch)) || return 0
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

# Records the libtorch for later builds (none for Debian's, which CMake finds by itself); a build
# folder configured against another one is removed (CMake caches the libraries it found, so it
# would keep linking the old one).
record_torch() {
  local torch_dir=$1 system=$2
  torch_dir=$(cd "$torch_dir" && pwd)
  if ((system)); then
    rm -f "$TORCH_RECORD"
  elif [[ ! -f $TORCH_RECORD || $(cat "$TORCH_RECORD") != "$torch_dir" ]]; then
    mkdir -p "$(dirname "$TORCH_RECORD")"
    printf '%s\n' "$torch_dir" > "$TORCH_RECORD.tmp" && mv "$TORCH_RECORD.tmp" "$TORCH_RECORD"
  fi
  local configured
  configured=$(sed -n 's/^ITL_TORCH_DIR:[A-Z]*=//p' build-cmake/CMakeCache.txt 2>/dev/null || true)
  # A folder configured before the libtorch was recorded (no ITL_TORCH_DIR) caches whatever
  # find_package found then, so it is as stale as one configured against another libtorch.
  if [[ -f build-cmake/CMakeCache.txt && ( -z $configured || $(cd "$configured" 2>/dev/null && pwd) != "$torch_dir" ) ]]; then
    say "build-cmake/ was configured against ${configured:-an unrecorded libtorch}; removing it to rebuild against $torch_dir"
    rm -rf build-cmake
  fi
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
  local build=1 npm=1 system_libtorch=0 flavour=
  while (($#)); do
    case $1 in
      --fetch-libtorch) [[ $# -ge 2 ]] || die "--fetch-libtorch needs a variant (cpu, cu128, …)" 2
                        fetch_libtorch "$2"; return ;;
      --system-libtorch) system_libtorch=1 ;;
      --cuda) flavour=cuda ;;
      --cpu) flavour=cpu ;;
      --no-build) build=0 ;;
      --no-npm) npm=0 ;;
      -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}"; return ;;
      *) die "unknown option '$1' (see --help)" 2 ;;
    esac
    shift
  done
  if [[ -z $flavour ]]; then
    flavour=cpu
    if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then flavour=cuda; fi
  fi

  local torch_dir=
  if ((system_libtorch)); then
    command -v apt-get >/dev/null || die "--system-libtorch needs Debian/Ubuntu (apt-get): it installs libtorch-dev"
    apt_install 1
    torch_dir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)/cmake/Torch
    [[ -f $torch_dir/TorchConfig.cmake ]] || die "libtorch-dev is installed but $torch_dir/TorchConfig.cmake is missing"
    say "using Debian's libtorch $(torch_version_of "$torch_dir") at $torch_dir (OpenBLAS)"
  else
    torch_dir=$(find_prebuilt_torch)
    if [[ -n $torch_dir ]]; then
      say "using the prebuilt libtorch at $torch_dir (nothing installed with apt)"
      [[ -f $torch_dir/../../../build-version ]] && say "libtorch build-version: $(cat "$torch_dir/../../../build-version")"
    else
      if command -v apt-get >/dev/null; then apt_install 0; fi
      install_torch_wheel "$flavour"
      torch_dir=$WHEEL_TORCH_DIR
      say "using libtorch $(torch_version_of "$torch_dir") from the PyTorch wheel at $torch_dir"
    fi
    if [[ $flavour == cuda && ! -e $torch_dir/../../../lib/libtorch_cuda.so ]]; then
      say "note: this libtorch has no CUDA (no lib/libtorch_cuda.so)"
    fi
    check_tools
  fi
  record_torch "$torch_dir" "$system_libtorch"
  ((system_libtorch)) || export Torch_DIR=$torch_dir

  if ((npm)); then npm_install; fi
  if ((build)); then
    say "building the native addon (cmake-js) and the TypeScript (tsc)"
    npm run build
  fi
  say "done"
}

main "$@"
