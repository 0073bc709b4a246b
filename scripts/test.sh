#!/usr/bin/env bash
# Installs what is missing, builds everything with the tests, and runs them in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh -DTESSERA_BUILD_TESTS=ON
cd build
ctest --output-on-failure -j"$(( $(nproc) * 2 ))" --timeout 300
