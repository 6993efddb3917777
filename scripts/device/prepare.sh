#!/usr/bin/env bash
# Run HERE (Debian) before a GPU check: downloads the Debian packages the GPU machine lacks (it has
# PyTorch+CUDA, nvcc, cmake, ninja but no apt and no network) into .devdeps/debs (git-ignored via
# .git/info/exclude; pass `.devdeps` in the device tool's carry list).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "$ROOT/.devdeps/debs"
cd "$ROOT/.devdeps/debs"
apt-get download libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 nlohmann-json3-dev libcli11-dev libgtest-dev \
  libsentencepiece-dev libsentencepiece0 libprotobuf-lite32 libpcre2-dev libpcre2-8-0 libpcre2-16-0 \
  libpcre2-32-0 libpcre2-posix3 pkgconf pkgconf-bin libpkgconf3 \
  libsnappy-dev libsnappy1v5 libzstd-dev libzstd1 zlib1g-dev zlib1g   # Parquet page codecs
ls -la
