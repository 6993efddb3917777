#!/usr/bin/env bash
# Data-parallel benchmark on this machine: loopback all-reduce bandwidth of the c10d backend, and
# the Enhanced KTO step time of 1 process x N threads against N ranks x 1 thread on the same global
# batch, with the share of the step spent communicating.  On a CUDA build run with DEVICE ranks on
# the GPUs via torchrun instead (NCCL).  Usage: scripts/bench_dp.sh [PRESET [GLOBAL_BATCH [SEQ]]]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
P="${PROSPECT:-$ROOT/build/prospect}"
PRESET="${1:-tiny}"
BATCH="${2:-4}"
SEQ="${3:-256}"
N="${NPROC:-2}"
STEPS="${STEPS:-5}"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ARGS=(bench-dp --preset "$PRESET" --batch "$BATCH" --seq "$SEQ" --steps "$STEPS" --warmup 1)
echo "# all-reduce bandwidth, $N ranks on loopback"
"$P" launch --nproc-per-node "$N" --master-port "$(port)" -- bench-dp --allreduce-only | tee /tmp/bench_dp_ar.json
echo "# 1 process x $N threads, global batch $BATCH x $SEQ ($PRESET)"
OMP_NUM_THREADS="$N" "$P" "${ARGS[@]}" | tee /tmp/bench_dp_1.json
echo "# $N ranks x 1 thread, same global batch"
OMP_NUM_THREADS=1 "$P" launch --nproc-per-node "$N" --master-port "$(port)" -- "${ARGS[@]}" | tee /tmp/bench_dp_n.json
python3 - <<'PY'
import json
ar = json.load(open("/tmp/bench_dp_ar.json"))
one = json.load(open("/tmp/bench_dp_1.json"))
many = json.load(open("/tmp/bench_dp_n.json"))
for r in ar["allreduce"]:
    print(f"all-reduce {r['mib']:>3} MiB: {r['seconds']*1e3:8.2f} ms  algbw {r['algbw_gb_per_s']:.2f} GB/s  busbw {r['busbw_gb_per_s']:.2f} GB/s")
print(f"step: 1 proc x {one['threads_per_rank']} threads {one['step_seconds']:.3f} s | "
      f"{many['world_size']} ranks x {many['threads_per_rank']} thread {many['step_seconds']:.3f} s "
      f"(ratio {one['step_seconds']/many['step_seconds']:.2f}x), communication {100*many['comm_share']:.1f}% of the step")
PY
