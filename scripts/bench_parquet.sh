#!/usr/bin/env bash
# Parquet read throughput: Prospect's reader (to JSON rows) vs parquet-wasm (Rust arrow-rs in
# WebAssembly, to an Arrow table) on the same ~100 MB multi-row-group UltraFeedback-like file.
#   scripts/bench_parquet.sh [MB]        (needs build/prospect and npm access for the writer)
# The file is generated into .cache/bench/ (not committed). Prints one JSON line per reader.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MB="${1:-100}"
CLI="${PROSPECT_CLI:-$ROOT/build/prospect}"
"$ROOT/scripts/fetch_parquet_writers.sh"
FILE="$ROOT/.cache/bench/uf_${MB}mb.parquet"
mkdir -p "$(dirname "$FILE")"
if [ ! -f "$FILE" ]; then
  node --max-old-space-size=8192 "$ROOT/scripts/bench_parquet.mjs" write "$FILE.tmp" "$MB" >&2
  mv "$FILE.tmp" "$FILE"
fi
echo "[bench_parquet] $FILE ($(du -m "$FILE" | cut -f1) MB); best of 3 passes each" >&2
"$CLI" bench-parquet "$FILE" --repeat 3
"$CLI" bench-parquet "$FILE" --repeat 3 --training-columns
node --max-old-space-size=8192 "$ROOT/scripts/bench_parquet.mjs" read "$FILE" 3
