// B5 of BENCHMARKS.md, Tessera's side: scheduler throughput with function calls.
//   noop: client.map("noop", range(n)) then gather       (n independent tasks)
//   tree: n inc leaves summed by a pairwise tree of adds  (2 n - 1 tasks), result checked
// Prints one JSON object per timed run on stdout. Driven by bench/run_b5.py, which starts the
// cluster and runs Dask distributed on the same workloads.
//
//   b5_throughput ADDRESS {noop|tree} N REPEAT
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <tessera/tessera.h>

namespace {

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: b5_throughput ADDRESS {noop|tree} N REPEAT\n");
    return 2;
  }
  const std::string workload = argv[2];
  const int64_t n = std::atoll(argv[3]);
  const int repeat = std::atoi(argv[4]);
  try {
    tessera::Client client = tessera::Client::connect(argv[1]);
    for (int run = 0; run < repeat; ++run) {
      if (workload == "noop") {
        std::vector<tessera::Arg> values;
        values.reserve(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) values.emplace_back(i);
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<tessera::Future> futures = client.map("noop", values);
        const double submit = Since(t0);
        std::vector<tessera::Value> got = client.gather(futures);
        const double seconds = Since(t0);
        std::fprintf(stderr, "noop: submit %.3f s, total %.3f s\n", submit, seconds);
        int64_t nones = 0;
        for (const auto& v : got) nones += v.is_none();
        const bool ok = nones == n;
        std::printf("{\"workload\": \"noop\", \"tasks\": %lld, \"seconds\": %.6f, \"ok\": %s}\n",
                    static_cast<long long>(n), seconds, ok ? "true" : "false");
        if (!ok) return 1;
      } else if (workload == "tree") {
        const auto b0 = std::chrono::steady_clock::now();
        std::vector<tessera::Delayed> level;
        level.reserve(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) level.push_back(tessera::delayed("inc")(i));
        while (level.size() > 1) {
          std::vector<tessera::Delayed> next;
          next.reserve(level.size() / 2 + 1);
          for (size_t k = 0; k + 1 < level.size(); k += 2) {
            next.push_back(tessera::delayed("add")(level[k], level[k + 1]));
          }
          if (level.size() % 2 == 1) next.push_back(level.back());
          level = std::move(next);
        }
        const double build = Since(b0);
        const auto t0 = std::chrono::steady_clock::now();
        const int64_t result = client.compute(level[0]).result().as_int();
        const double seconds = Since(t0);
        const bool ok = result == n * (n + 1) / 2;
        std::printf("{\"workload\": \"tree\", \"tasks\": %lld, \"seconds\": %.6f, "
                    "\"build_seconds\": %.6f, \"result\": %lld, \"ok\": %s}\n",
                    static_cast<long long>(2 * n - 1), seconds, build,
                    static_cast<long long>(result), ok ? "true" : "false");
        if (!ok) return 1;
      } else {
        std::fprintf(stderr, "unknown workload '%s'\n", workload.c_str());
        return 2;
      }
      std::fflush(stdout);
    }
  } catch (const tessera::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
