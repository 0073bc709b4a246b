#!/usr/bin/env bash
# B1-B3 and B7 of BENCHMARKS.md and an exact checksum of a random array, through the tessera
# CLI against a running cluster, as a Markdown table (B7's time here includes generating and
# persisting its 4 GiB input x; bench/gpu_kernels.cc times its kernels alone). The docker
# compose `bench` service and scripts/gpu-check.sh use it. Each workload runs REPEAT times;
# every result is checked.
#
#   bench/run_cli.sh SCHEDULER_ADDRESS [LABEL] [REPEAT]
set -euo pipefail
address=${1:?usage: run_cli.sh SCHEDULER_ADDRESS [LABEL] [REPEAT]}
label=${2:-cluster}
repeat=${3:-3}
tessera=${TESSERA:-tessera}

# id|expression|check: "LO HI" (the result must lie in [LO, HI]) or "= TEXT" (printed exactly)
workloads=(
  "B1|x = da.random.random((50000, 50000)); da.exp(x).mean()|1.7182 1.7184"
  "B2|x = da.ones((200000, 200000), chunks=(10000, 10000)); (x * x[::-1, ::-1]).sum()|= 40000000000.0"
  "B3|x = da.random.random((10000, 20000, 10), chunks=(1000, 1000, 5)); y = da.random.random((10000, 20000, 10), chunks=(1000, 1000, 5)); (da.arcsin(x) + da.arccos(y)).sum(axis=(1, 2)).mean()|314000 314320"
  "B7|x = da.random.random((16384, 32768)).persist(); y = (da.exp(x) * 2 + 1).persist(); y.sum()|2381800000 2382000000"
  "RAND|x = da.random.random((4000, 4000), chunks=(1000, 1000), seed=3); (x * 2**53).astype('int64').sum()|= 6121826233570873941"
)
echo "| workers | workload | run | seconds | result | check |"
echo "| --- | --- | --- | --- | --- | --- |"
status=0
for w in "${workloads[@]}"; do
  IFS='|' read -r id code check <<<"$w"
  for run in $(seq "$repeat"); do
    t0=$(date +%s.%N)
    result=$("$tessera" --scheduler "$address" eval --no-progress "$code" 2>&1 | tail -1) || true
    t1=$(date +%s.%N)
    if [ "${check:0:2}" = "= " ]; then
      [ "$result" = "${check:2}" ] && verdict=ok || verdict=WRONG
    else
      verdict=$(awk -v r="$result" -v c="$check" 'BEGIN { split(c, b, " ");
        print (r ~ /^-?[0-9.e+-]+$/ && r + 0 >= b[1] + 0 && r + 0 <= b[2] + 0) ? "ok" : "WRONG" }')
    fi
    [ "$verdict" = ok ] || status=1
    printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$id" "$run" \
      "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" "$result" "$verdict"
  done
done
exit $status
