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
  -DPKG_CONFIG_EXECUTABLE="$D/usr/bin/pkgconf" -DPROSPECT_USE_MIMALLOC=OFF -DPROSPECT_INCLUDE_FIRST="$D/usr/include" \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST=9.0 || exit 1
cmake --build build-cuda -j "$(nproc)" -- -k 0 || echo "[cuda_check] BUILD HAD FAILURES"
echo "[cuda_check] build took $(( $(date +%s) - T0 )) s"
# The Hugging Face cross-check first (transformers, peft, tokenizers live in this machine's Python).
python3 scripts/device/verify_hf.py --prospect build-cuda/prospect --work /tmp/verify --out "$OUT" --root . 2>&1 | tail -40
( cd build-cuda && ctest --output-on-failure -j 16 --timeout 120 -E "Cli|cli" ) 2>&1 | tail -40
( cd build-cuda && ctest -R "Cuda|LossCuda" --output-on-failure ) 2>&1 | tail -15
# Short GPU benchmark: Qwen3-0.6B shapes, batch 2 x 512, LoRA r 16, bf16 base + fp32 LoRA.
timeout 60 build-cuda/prospect bench-train --preset qwen3-0.6b --batch 2 --seq 512 --rank 16 --steps 2 --warmup 1 \
  --device cuda --dtype bf16 2>&1 | tail -20 || true
