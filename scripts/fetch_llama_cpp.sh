#!/usr/bin/env bash
# Fetches real llama.cpp for the GGUF tests: the npm package node-llama-cpp and its prebuilt CPU binary
# @node-llama-cpp/linux-x64, both pinned by version and sha256 of the npm tarball, installed without
# install scripts (no build from source, no model downloads) into the ignored .cache/node-llama-cpp.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="3.22.1"
SHA_MAIN="a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f"   # node-llama-cpp
SHA_BIN="0d953e1503d5ab4608d8ed5b739132308c81ac05ffeb760d2a7f30e08a9f90e0"    # @node-llama-cpp/linux-x64
DEST="$ROOT/.cache/node-llama-cpp"
STAMP="$VERSION $SHA_MAIN $SHA_BIN"

if [ -f "$DEST/.stamp" ] && [ "$(cat "$DEST/.stamp")" = "$STAMP" ] && [ -d "$DEST/node_modules/node-llama-cpp" ]; then
  exit 0
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "node-llama-cpp@$VERSION" "@node-llama-cpp/linux-x64@$VERSION" >/dev/null)
verify() {
  local got; got="$(sha256sum "$1" | cut -d' ' -f1)"
  if [ "$got" != "$2" ]; then
    echo "fetch_llama_cpp: sha256 mismatch for $(basename "$1"): got $got, expected $2" >&2
    exit 1
  fi
}
verify "$TMP/node-llama-cpp-$VERSION.tgz" "$SHA_MAIN"
verify "$TMP/node-llama-cpp-linux-x64-$VERSION.tgz" "$SHA_BIN"
rm -rf "$DEST.tmp" && mkdir -p "$DEST.tmp"
cp "$TMP"/*.tgz "$DEST.tmp/"
(cd "$DEST.tmp" && echo '{"name":"prospect-llama-cpp","private":true}' > package.json &&
  npm install --silent --no-audit --no-fund --ignore-scripts --omit=optional \
    "./node-llama-cpp-$VERSION.tgz" "./node-llama-cpp-linux-x64-$VERSION.tgz" >/dev/null &&
  rm -f ./*.tgz)
echo "$STAMP" > "$DEST.tmp/.stamp"
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"
echo "[fetch_llama_cpp] node-llama-cpp $VERSION (prebuilt linux-x64) in $DEST"
