// B5 of BENCHMARKS.md, Tessera's side: scheduler throughput with function calls.
//   noop: client.map("noop", range(n)) then gather       (n independent tasks)
//   tree: n inc leaves summed by a pairwise tree of adds  (2 n - 1 tasks), result checked
// Prints one JSON object per timed run on stdout. Driven by bench/run_b5.py, which starts the
// cluster and runs Dask distributed on the same workloads.
//
//   b5_throughput ADDRESS {noop|tree} N REPEAT
#include <cstdio>
#include <cstdlib>
#include <string>

#include <tessera/tessera.h>

#include "b5_workloads.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: b5_throughput ADDRESS {noop|tree} N REPEAT\n");
    return 2;
  }
  const std::string workload = argv[2];
  const int64_t n = std::atoll(argv[3]);
  const int repeat = std::atoi(argv[4]);
  if (workload != "noop" && workload != "tree") {
    std::fprintf(stderr, "unknown workload '%s'\n", workload.c_str());
    return 2;
  }
  try {
    tessera::Client client = tessera::Client::connect(argv[1]);
    for (int run = 0; run < repeat; ++run) {
      const tessera::bench::B5Run r = workload == "noop" ? tessera::bench::RunNoop(client, n)
                                                         : tessera::bench::RunTree(client, n);
      if (workload == "noop") {
        std::printf("{\"workload\": \"noop\", \"tasks\": %lld, \"seconds\": %.6f, \"ok\": %s}\n",
                    static_cast<long long>(r.tasks), r.seconds, r.ok ? "true" : "false");
      } else {
        std::printf(
            "{\"workload\": \"tree\", \"tasks\": %lld, \"seconds\": %.6f, "
            "\"build_seconds\": %.6f, \"result\": %lld, \"ok\": %s}\n",
            static_cast<long long>(r.tasks), r.seconds, r.build_seconds,
            static_cast<long long>(r.result), r.ok ? "true" : "false");
      }
      std::fflush(stdout);
      if (!r.ok) return 1;
    }
  } catch (const tessera::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
