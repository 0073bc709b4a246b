#!/usr/bin/env bash
# Configures and builds Tessera into build/ (programs in build/bin). Extra arguments go to the
# CMake configure step, e.g. scripts/build.sh -DTESSERA_BUILD_TESTS=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
"$PWD/scripts/deps.sh"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
