#!/usr/bin/env bash
# GGUF export throughput and memory: a Qwen3-0.6B-shaped model (`prospect init --preset qwen3-0.6b`,
# bf16, random weights) exported to q8_0 (default; any --dtype of `prospect export --format gguf`).
# Reports the output MB/s, the peak RSS of the export against the model's size on disk, and the
# machine's sequential write speed (dd, 1 GB, fdatasync) for comparison.
# Usage: scripts/bench_gguf.sh [DTYPE]   (env: PROSPECT_BIN, BENCH_DIR)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DTYPE="${1:-q8_0}"
BIN="${PROSPECT_BIN:-$ROOT/build/prospect}"
DIR="${BENCH_DIR:-$ROOT/.cache/bench-gguf}"
MODEL="$DIR/qwen3-0.6b"
mkdir -p "$DIR"
if [ ! -f "$MODEL/model.safetensors" ]; then
  "$BIN" init --preset qwen3-0.6b --out "$MODEL" --force >/dev/null
fi
cp "$ROOT/.cache/tokenizers/qwen3/tokenizer.json" "$ROOT/.cache/tokenizers/qwen3/tokenizer_config.json" "$MODEL/"
OUT="$DIR/qwen3-0.6b-$DTYPE.gguf"
rm -f "$OUT"
sync
/usr/bin/time -v "$BIN" export --format gguf --model "$MODEL" --dtype "$DTYPE" --out "$OUT" \
  >"$DIR/summary.json" 2>"$DIR/time.txt"
RSS_KB=$(grep "Maximum resident set size" "$DIR/time.txt" | awk '{print $NF}')
MODEL_BYTES=$(stat -c %s "$MODEL/model.safetensors")
DD=$(dd if=/dev/zero of="$DIR/dd.tmp" bs=16M count=64 conv=fdatasync 2>&1 | tail -1 | sed 's/.*, //')
rm -f "$DIR/dd.tmp"
python3 - "$DIR/summary.json" "$RSS_KB" "$MODEL_BYTES" "$DD" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
rss = int(sys.argv[2]) * 1024
model = int(sys.argv[3])
print(json.dumps({"dtype": s["dtype"], "out_mb": round(s["bytes"] / 1e6, 1), "seconds": round(s["seconds"], 2),
                  "mb_per_s": round(s["mb_per_s"], 1), "peak_rss_mb": round(rss / 1e6, 1),
                  "model_mb": round(model / 1e6, 1), "rss_over_model": round(rss / model, 3),
                  "dd_write": sys.argv[4], "tensor_types": s["tensor_types"]}))
PY
