#!/usr/bin/env bash
# Training-step benchmark: tokens/s, peak memory (maxrss) and the share of time in forward,
# no-grad (KL + reference), backward and optimizer, for a tiny and a Qwen3-0.6B-shaped model
# (random init, batch 2 x 512 tokens, LoRA r 16 on q,k,v,o,gate,up,down, fp32 on CPU).
# Reference point: a TRL-style Python LoRA-KTO step with Qwen3-0.6B shapes takes 77 s and 11.7 GB
# on the same 2-core machine.  Usage: scripts/bench_train.sh [extra bench-train args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
P="${PROSPECT:-$ROOT/build/prospect}"
echo "# tiny"
"$P" --threads "${THREADS:-$(nproc)}" bench-train --preset tiny --batch 2 --seq 512 --rank 16 --steps 5 --warmup 1 "$@" | tee /tmp/bench_tiny.json
echo "# qwen3-0.6b shapes"
"$P" --threads "${THREADS:-$(nproc)}" bench-train --preset qwen3-0.6b --batch 2 --seq 512 --rank 16 --steps "${QWEN_STEPS:-1}" --warmup 0 "$@" | tee /tmp/bench_06b.json
python3 - <<'PY'
import json
d = json.load(open("/tmp/bench_06b.json"))
print(f"qwen3-0.6b: {d['step_seconds']:.1f} s/step vs TRL 77 s (x{77/d['step_seconds']:.2f} faster), "
      f"peak {d['peak_rss_mb']/1024:.1f} GB vs 11.7 GB")
PY
