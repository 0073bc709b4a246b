#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with Clang in build-fuzz and runs each for N executions
# from its seed corpus (fuzz/corpus/<target>/). Exits non-zero on the first crash, leak, UB or
# timeout; the reproducer is left in build-fuzz/artifacts/.
#
#   scripts/fuzz.sh [--runs N] [--jobs J] [--target NAME]
#
# --runs: executions per target (default 1000000; CI runs a short pass with --runs 20000)
# --jobs: build parallelism (default: the number of cores)
# --target: run only this target (submit_fuzzer or cli_parser_fuzzer)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=1000000
jobs=$(nproc)
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --target) only="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
targets=(submit_fuzzer cli_parser_fuzzer)
if [ -n "$only" ]; then targets=("$only"); fi

scripts/deps.sh  # clang and libclang-rt-14-dev among the rest; installs only what is missing
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DTESSERA_BUILD_FUZZERS=ON \
    -DTESSERA_CUDA=OFF -DTESSERA_TCMALLOC=OFF -DTESSERA_BUILD_TESTS=OFF \
    -DTESSERA_BUILD_EXAMPLES=OFF >/dev/null
fi
# Only the fuzz targets and the libraries they link (not the scheduler or worker binaries).
cmake --build build-fuzz -j"$jobs" --target "${targets[@]}"

mkdir -p build-fuzz/artifacts
for t in "${targets[@]}"; do
  # The committed seeds stay read-only: new inputs go to a scratch corpus in build-fuzz.
  mkdir -p "build-fuzz/corpus/$t"
  echo "fuzz.sh: $t, $runs runs" >&2
  start=$(date +%s)
  set +e
  build-fuzz/fuzz/"$t" -runs="$runs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" \
    "build-fuzz/corpus/$t" "fuzz/corpus/$t" 2>&1 | tail -n 25
  status=${PIPESTATUS[0]}
  set -e
  echo "fuzz.sh: $t finished in $(( $(date +%s) - start )) s with status $status" >&2
  if [ "$status" -ne 0 ]; then
    echo "fuzz.sh: $t failed; reproducer in build-fuzz/artifacts/ (run build-fuzz/fuzz/$t FILE)" >&2
    exit "$status"
  fi
done
