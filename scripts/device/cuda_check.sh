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
timeout 120 python3 scripts/device/verify_hf.py --prospect build-cuda/prospect --work /tmp/verify --out "$OUT" --root . \
  > "$OUT/verify_hf.log" 2>&1; tail -20 "$OUT/verify_hf.log"
# The WHOLE suite (CPU and CUDA cases, CLI included), full output kept: round 1 kept only the names
# of 22 failing tests, which is why their cause is still unknown.
( cd build-cuda && timeout 300 ctest --output-on-failure -j 8 --timeout 120 ) > "$OUT/ctest_full.log" 2>&1
grep -E "tests passed|tests failed|Failed|\*\*\*" "$OUT/ctest_full.log" | tail -40
echo "[cuda_check] tests done at +$(( $(date +%s) - T0 )) s"
# GPU benchmarks, same GPU, same run: transformers+PEFT (TRL's KTO step order) against Prospect.
# Card config: 2 x 512, accumulation 8, gradient checkpointing on; throughput config: 16k tokens/micro-batch.
for cfg in "2 8 --grad-ckpt" "32 1"; do
  set -- $cfg
  timeout 150 python3 scripts/device/hf_kto_step_bench.py --batch "$1" --seq 512 --accum "$2" --steps 3 ${3:-} \
    >> "$OUT/bench_hf.jsonl" 2>> "$OUT/bench_hf.err" || echo "[cuda_check] hf bench $cfg failed"
  GC=""; [ -n "${3:-}" ] && GC="--gradient-checkpointing"
  timeout 150 build-cuda/prospect bench-train --preset qwen3-0.6b --batch "$1" --seq 512 --prompt 256 --rank 16 \
    --steps 3 --warmup 1 --device cuda --dtype bf16 $GC >> "$OUT/bench_prospect.jsonl" 2>> "$OUT/bench_prospect.err" \
    || echo "[cuda_check] prospect bench $cfg failed"
done
cat "$OUT/bench_hf.jsonl" "$OUT/bench_prospect.jsonl" 2>/dev/null
echo "[cuda_check] finished at +$(( $(date +%s) - T0 )) s"
