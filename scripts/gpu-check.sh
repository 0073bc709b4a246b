#!/usr/bin/env bash
# The CUDA worker's GPU checks, in one script for a short session on a GPU machine.
#
#   Here (no GPU needed):  scripts/gpu-check.sh pack
#     builds with CUDA for sm_90 into build-gpu/ and packs the programs and the CUDA test into
#     .gpu/ with ../shared/tools/gpu-bundle.sh (.gpu is in .git/info/exclude).
#   On the GPU machine:    scripts/gpu-check.sh run OUT_DIR
#     (with .gpu carried along) runs the CUDA tests, then bench/run_cli.sh (B1-B3 and an exact
#     random-array checksum) on a scheduler + cuda-worker cluster and on the same machine's CPU
#     cores with cpu-workers, and writes the logs, the test output and the tables into OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  pack)
    scripts/deps.sh
    cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DTESSERA_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90 -DTESSERA_BUILD_TESTS=ON -DTESSERA_BUILD_EXAMPLES=ON >/dev/null
    cmake --build build-gpu -j"$(nproc)" --target scheduler cpu-worker cuda-worker tessera \
      cuda_worker_test adaptive_cluster_test gpu_kernel_bench
    ../shared/tools/gpu-bundle.sh .gpu build-gpu/bin/scheduler build-gpu/bin/cpu-worker \
      build-gpu/bin/cuda-worker build-gpu/bin/tessera build-gpu/tests/cuda_worker_test \
      build-gpu/tests/adaptive_cluster_test build-gpu/bin/gpu_kernel_bench
    cp scripts/gpu-check.sh bench/run_cli.sh .gpu/
    du -sh .gpu
    ;;
  run)
    out=${2:?usage: gpu-check.sh run OUT_DIR}
    mkdir -p "$out"
    here=$(cd "$(dirname "$0")" && pwd)  # .gpu/, with run_cli.sh beside this script
    [ -f "$here/run_cli.sh" ] || here=$PWD/bench
    bundle=$here
    [ -f "$bundle/env.sh" ] || bundle=$PWD/.gpu
    # shellcheck disable=SC1091
    . "$bundle/env.sh"
    bin=$bundle/bin
    export TESSERA_BIN_DIR=$bin
    {
      echo "# CUDA worker checks, $(date -u +%Y-%m-%dT%H:%MZ)"
      nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
      echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc)"
    } | tee "$out/machine.txt"
    # The device's own work first (B1-B3 through the CUDA executor, B7 against the copy
    # bandwidth), then the tests, then the two clusters.
    timeout 150 "$bin/gpu_kernel_bench" --repeat 3 --threads 4 >"$out/gpu_kernels.json" \
      2>"$out/gpu_kernels.err" || echo "gpu_kernel_bench failed: $?" >>"$out/gpu_kernels.err"
    cat "$out/gpu_kernels.json" "$out/gpu_kernels.err"
    timeout 120 "$bin/cuda_worker_test" 2>&1 | tee "$out/cuda_worker_test.txt" || true
    timeout 90 "$bin/adaptive_cluster_test" --gtest_filter='*Gpu*' 2>&1 |
      tee "$out/adaptive_gpu_test.txt" || true

    run_cluster() {  # kind workers threads
      local kind=$1 n=$2 threads=$3 log=$out/cluster-$1.log
      "$bin/scheduler" --host 127.0.0.1 --port 0 --dashboard-address none >"$log" 2>&1 &
      local sched=$!
      for _ in $(seq 100); do grep -q "Scheduler at" "$log" && break; sleep 0.1; done
      local port
      port=$(grep -o -m1 "Scheduler at tcp://[^ ]*" "$log" | head -1 | sed 's/.*://')
      local addr=127.0.0.1:$port
      if [ "$kind" = cuda ]; then
        "$bin/cuda-worker" --scheduler "$addr" >>"$log" 2>&1 &
      else
        for i in $(seq "$n"); do
          "$bin/cpu-worker" --scheduler "$addr" --nthreads "$threads" --name "cpu$i" >>"$log" 2>&1 &
        done
      fi
      for _ in $(seq 600); do
        [ "$(grep -c 'registered with scheduler' "$log")" -ge "$n" ] && break; sleep 0.1
      done
      TESSERA=$bin/tessera timeout 100 "$here/run_cli.sh" "$addr" "$kind" 3 |
        tee -a "$out/results.md" || true
      kill "$sched" $(jobs -p) 2>/dev/null || true
      wait 2>/dev/null || true
    }
    : >"$out/results.md"
    gpus=$(nvidia-smi -L | wc -l)
    run_cluster cuda "$gpus" 1
    run_cluster cpu 2 "$(( $(nproc) / 2 ))"
    ;;
  *)
    echo "usage: $0 pack | run OUT_DIR" >&2
    exit 2
    ;;
esac
