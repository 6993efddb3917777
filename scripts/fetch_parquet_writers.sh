#!/usr/bin/env bash
# Installs the independent Parquet writers/readers used to (re)generate the golden files in
# tests/golden/data/parquet/ and by scripts/bench_parquet.sh: parquet-wasm (Rust arrow/parquet compiled
# to WebAssembly), apache-arrow (to build its input tables) and hyparquet-writer (pure JS), pinned by
# version and npm tarball sha256, into the ignored .cache/node/parquet. The goldens are committed, so
# tests never need this.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.cache/node/parquet"
PKGS=(
  "parquet-wasm 0.8.0 b3b9dff7561a35833bfed7c45f28279f981f9b10478a8c5b56c38f012c4c23ad"
  "apache-arrow 21.2.0 dd63a3a4c380eddeb00c718740414ff33c4ded015c8720798afdfcc61b5dac41"
  "hyparquet-writer 0.17.0 364f2735995f26456e5fb9b4a1d2e9f3733d1c5983044f40ef2608f7e0ca5dcf"
)
STAMP="$(printf '%s\n' "${PKGS[@]}" | sha256sum | cut -d' ' -f1)"
if [ -f "$DEST/.stamp" ] && [ "$(cat "$DEST/.stamp")" = "$STAMP" ]; then
  exit 0
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
TGZS=()
for entry in "${PKGS[@]}"; do
  read -r name version sha <<<"$entry"
  tgz="$(cd "$TMP" && npm pack --silent "$name@$version")"
  got="$(sha256sum "$TMP/$tgz" | cut -d' ' -f1)"
  if [ "$got" != "$sha" ]; then
    echo "fetch_parquet_writers: sha256 mismatch for $name@$version: got $got, expected $sha" >&2
    exit 1
  fi
  TGZS+=("$TMP/$tgz")
done
rm -rf "$DEST.tmp"
mkdir -p "$DEST.tmp"
(cd "$DEST.tmp" && echo '{"private": true}' > package.json && npm install --silent --no-audit --no-fund "${TGZS[@]}" >/dev/null)
echo "$STAMP" > "$DEST.tmp/.stamp"
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"
echo "[fetch_parquet_writers] parquet-wasm, apache-arrow, hyparquet-writer in $DEST/node_modules"
