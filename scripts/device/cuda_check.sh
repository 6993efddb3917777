#!/usr/bin/env bash
# Run ON THE GPU MACHINE (repo root, .devdeps carried): builds Prospect against the CUDA LibTorch of
# the machine's PyTorch, runs the test suite (CUDA cases included) and a short training benchmark.
# Everything it prints also lands in $OUT/cuda_check.log.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/prospect-out}"; mkdir -p "$OUT"
exec > >(tee "$OUT/cuda_check.log") 2>&1
D=/opt/prospect-deps
mkdir -p "$D"
for f in .devdeps/debs/*.deb; do dpkg -x "$f" "$D"; done
export LD_LIBRARY_PATH="$D/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
export PKG_CONFIG_PATH="$D/usr/lib/x86_64-linux-gnu/pkgconfig:$D/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$D"
TORCH_PREFIX="$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
T0=$(date +%s)
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$D/usr;$D/usr/lib/x86_64-linux-gnu/cmake;$D/usr/share/cmake" \
  -DPKG_CONFIG_EXECUTABLE="$D/usr/bin/pkgconf" -DPROSPECT_USE_MIMALLOC=OFF \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST=9.0 || exit 1
cmake --build build-cuda -j "$(nproc)" || exit 1
echo "[cuda_check] build took $(( $(date +%s) - T0 )) s"
( cd build-cuda && ctest --output-on-failure -j 8 --timeout 300 ) | tail -60
if [ -x build-cuda/prospect ]; then
  ./build-cuda/prospect bench-train --preset qwen3-0.6b --device cuda --dtype bf16 --steps 3 2>&1 | tail -20 || true
fi
