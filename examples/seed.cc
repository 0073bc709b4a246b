// The seed computation from C++: B1 of BENCHMARKS.md on a cluster.
//
//   build/bin/seed                          # embedded local cluster
//   build/bin/seed tcp://127.0.0.1:8786     # a running scheduler
//   build/bin/seed --size 20000             # the quick variant
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <tessera/tessera.h>

int main(int argc, char** argv) {
  std::string address;
  int64_t n = 50000;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--size" && i + 1 < argc) {
      n = std::atoll(argv[++i]);
    } else if (arg == "--help" || arg == "-h") {
      std::printf("usage: seed [SCHEDULER_ADDRESS] [--size N]\n");
      return 0;
    } else {
      address = arg;
    }
  }
  try {
    auto client = address.empty() ? tessera::Client::local() : tessera::Client::connect(address);
    const auto start = std::chrono::steady_clock::now();
    auto x = tessera::random::random({n, n});  // auto chunks, as dask
    double y = client.compute(tessera::exp(x).mean()).get().scalar<double>();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("da.exp(da.random.random((%lld, %lld))).mean() = %.17g  (%.2f s, chunks %s)\n",
                static_cast<long long>(n), static_cast<long long>(n), y, seconds,
                x.repr().c_str());
    return 0;
  } catch (const tessera::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
