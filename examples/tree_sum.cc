// The seed's tree summation: inc over 0..n-1, then pairwise adds level by level until one value
// remains (an odd one out moves up a level unchanged). sum(i + 1 for i < n) = n (n + 1) / 2.
//
//   tree_sum [scheduler-address] [n]     (no address or "local": an embedded local cluster;
//                                         n defaults to 1000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <tessera/tessera.h>

int main(int argc, char** argv) {
  using tessera::delayed;
  try {
    const bool local = argc < 2 || std::string(argv[1]) == "local";
    auto client = local ? tessera::Client::local() : tessera::Client::connect(argv[1]);
    const int64_t n = argc > 2 ? std::atoll(argv[2]) : 1000;
    const auto start = std::chrono::steady_clock::now();
    std::vector<tessera::Delayed> level;
    level.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) level.push_back(delayed("inc")(i));
    while (level.size() > 1) {
      std::vector<tessera::Delayed> next;
      for (size_t k = 0; k + 1 < level.size(); k += 2) next.push_back(delayed("add")(level[k], level[k + 1]));
      if (level.size() % 2 == 1) next.push_back(level.back());
      level = std::move(next);
    }
    const int64_t result = client.compute(level[0]).result().as_int();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("result = %lld\nwall = %.3f s\ntasks = %lld\n", static_cast<long long>(result), wall,
                static_cast<long long>(2 * n - 1));
    return result == n * (n + 1) / 2 ? 0 : 1;
  } catch (const tessera::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
