#!/usr/bin/env bash
# Fresh machine -> every test: installs, builds, then runs the whole suite through CTest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
BUILD_DIR="${PROSPECT_BUILD_DIR:-$ROOT/build}"
cd "$BUILD_DIR"
ctest --output-on-failure -j "${PROSPECT_TEST_JOBS:-2}" --timeout 900 "$@"
