// B5 of BENCHMARKS.md through the client API, shared by b5_throughput and tessera-bench:
//   noop: client.map("noop", range(n)) then gather       (n independent tasks)
//   tree: n inc leaves summed by a pairwise tree of adds  (2 n - 1 tasks), result checked
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include <tessera/tessera.h>

namespace tessera::bench {

/// One timed run. `seconds` runs from submitting to having the results on the client; building
/// the graph is excluded (`build_seconds`).
struct B5Run {
  int64_t tasks = 0;
  double seconds = 0;
  double build_seconds = 0;
  int64_t result = 0;  ///< tree: the sum; noop: how many results were None
  bool ok = false;
};

inline double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// n independent noop calls; ok when every result is None. Throws tessera::Error.
inline B5Run RunNoop(Client& client, int64_t n) {
  const auto b0 = std::chrono::steady_clock::now();
  std::vector<Arg> values;
  values.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values.emplace_back(i);
  B5Run run;
  run.build_seconds = SecondsSince(b0);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Future> futures = client.map("noop", values);
  std::vector<Value> got = client.gather(futures);
  run.seconds = SecondsSince(t0);
  for (const auto& v : got) run.result += v.is_none();
  run.tasks = n;
  run.ok = run.result == n;
  return run;
}

/// The pairwise tree sum of inc(0) ... inc(n - 1); ok when it is n (n + 1) / 2. Throws
/// tessera::Error.
inline B5Run RunTree(Client& client, int64_t n) {
  const auto b0 = std::chrono::steady_clock::now();
  std::vector<Delayed> level;
  level.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) level.push_back(delayed("inc")(i));
  while (level.size() > 1) {
    std::vector<Delayed> next;
    next.reserve(level.size() / 2 + 1);
    for (size_t k = 0; k + 1 < level.size(); k += 2) {
      next.push_back(delayed("add")(level[k], level[k + 1]));
    }
    if (level.size() % 2 == 1) next.push_back(level.back());
    level = std::move(next);
  }
  B5Run run;
  run.build_seconds = SecondsSince(b0);
  const auto t0 = std::chrono::steady_clock::now();
  run.result = client.compute(level[0]).result().as_int();
  run.seconds = SecondsSince(t0);
  run.tasks = 2 * n - 1;
  run.ok = run.result == n * (n + 1) / 2;
  return run;
}

}  // namespace tessera::bench
