// The seed's first delayed exercise: inc and dec run side by side, then add. Each "slow" step is
// the built-in sleep (which returns its argument), so the chain
//   x = inc(sleep(sleep(1)))   2 s, then 2
//   y = dec(sleep(2))          2 s, then 1
//   z = add(x, y)              3
// takes about 2 s on two workers where running it step by step takes 4 s.
//
//   delayed_sleep [scheduler-address]     (no address: an embedded local cluster)
#include <chrono>
#include <cstdio>

#include <tessera/tessera.h>

int main(int argc, char** argv) {
  using tessera::delayed;
  try {
    auto client = argc > 1 ? tessera::Client::connect(argv[1]) : tessera::Client::local();
    const auto start = std::chrono::steady_clock::now();
    auto x = delayed("inc")(delayed("sleep")(delayed("sleep")(1)));
    auto y = delayed("dec")(delayed("sleep")(2));
    auto z = delayed("add")(x, y);
    const int64_t result = client.compute(z).result().as_int();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("result = %lld\nwall = %.3f s\n", static_cast<long long>(result), wall);
    return result == 3 ? 0 : 1;
  } catch (const tessera::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
