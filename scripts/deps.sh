#!/usr/bin/env bash
# Installs Tessera's build dependencies from Debian's packages. Idempotent: installs only what is
# missing, and runs `apt-get update` only when something is.
#
#   scripts/deps.sh           what the build and the tests need
#   scripts/deps.sh --bench   that, and what bench/run_bench.py needs: Dask distributed and
#                             matplotlib (Debian's, 2022.12), for the runs against Dask and charts
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libtcmalloc-minimal4  # the scheduler's allocator (TESSERA_TCMALLOC; src/scheduler/CMakeLists.txt)
  python3-numpy
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer (libclang_rt.fuzzer) and the sanitizers
  chromium  # the dashboard's browser test (tests/integration/browser_test.cc); skipped without it
)
case "${1:-}" in
  "") ;;
  --bench) packages+=(python3-dask python3-distributed python3-matplotlib) ;;
  *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
