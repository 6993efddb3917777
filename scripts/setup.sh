#!/usr/bin/env bash
# Idempotent setup for a fresh Debian 12 machine: installs the Debian packages Prospect needs (if
# missing), fetches the pinned test/demo assets, then configures and builds (Release) into build/.
# The CLI ends up at build/prospect.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PACKAGES=(build-essential cmake ninja-build pkg-config ccache
  libtorch-dev libopenblas0-openmp   # without OpenBLAS Debian's LibTorch falls back to reference BLAS (30x slower)
  nlohmann-json3-dev libcli11-dev libspdlog-dev libsentencepiece-dev libgtest-dev libpcre2-dev
  libmimalloc-dev
  python3-torch                      # the Python baseline step of scripts/bench_train.sh only (never the product)
  libgloo-dev                        # c10d ProcessGroupGloo headers (Debian's libtorch exports the symbols)
  libsnappy-dev libzstd-dev zlib1g-dev   # parquet page decompression
  clang-14 libclang-rt-14-dev lld-14)    # libFuzzer targets and sanitizer builds

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Commands that may come from elsewhere (e.g. nodejs from NodeSource bundles npm): only the command matters.
command -v npm >/dev/null || missing+=(npm)
command -v python3 >/dev/null || missing+=(python3)
[ -x /usr/bin/python3 ] || missing+=(python3)   # the SVG validity test calls /usr/bin/python3
if ((${#missing[@]})); then
  echo "[setup] installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

"$ROOT/scripts/fetch_assets.sh"
"$ROOT/scripts/fetch_llama_cpp.sh"

BUILD_DIR="${PROSPECT_BUILD_DIR:-$ROOT/build}"
JOBS="${PROSPECT_JOBS:-$(nproc)}"
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release ${PROSPECT_CMAKE_ARGS:-}
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "[setup] built $BUILD_DIR/prospect"
