// The seed's loop exercise: 256 independent chains z = add(inc(i), dec(inc(i))), persisted in
// the cluster, then one sum over the persisted results (Dask's persist then delayed(sum)).
// The answer is sum(2 i + 1 for i < 256) = 65536.
//
//   delayed_loop [scheduler-address]     (no address: an embedded local cluster)
#include <chrono>
#include <cstdio>
#include <vector>

#include <tessera/tessera.h>

int main(int argc, char** argv) {
  using tessera::delayed;
  try {
    auto client = argc > 1 ? tessera::Client::connect(argv[1]) : tessera::Client::local();
    const auto start = std::chrono::steady_clock::now();
    std::vector<tessera::Delayed> results;
    for (int i = 0; i < 256; ++i) {
      auto x = delayed("inc")(i);
      auto y = delayed("dec")(x);
      results.push_back(delayed("add")(x, y));
    }
    std::vector<tessera::Delayed> persisted = client.persist(results);
    auto total = delayed("sum")(persisted);
    const int64_t result = client.compute(total).result().as_int();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("result = %lld\nwall = %.3f s\n", static_cast<long long>(result), wall);
    return result == 65536 ? 0 : 1;
  } catch (const tessera::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
