#!/usr/bin/env bash
# Installs what is missing, builds everything with the tests, runs them in parallel, then a short
# fuzzing pass of the libFuzzer targets (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh -DTESSERA_BUILD_TESTS=ON
(cd build && ctest --output-on-failure -j"$(( $(nproc) * 2 ))" --timeout 300)
# A short fuzzing pass (the million-run one is `scripts/fuzz.sh` alone; see fuzz/README.md).
scripts/fuzz.sh --runs 20000
