// An example plugin: user functions for Tessera's workers, in a shared library that a worker
// loads at start-up with `cpu-worker --preload libtessera_example_plugin.so`. The functions are
// then offered to the scheduler like the built-ins, and clients call them by name:
//
//   client.submit("cube", 3).result().as_double()           // 27.0
//   tessera eval 'greet("Ada")'                              // 'Hello, Ada!'
//
// Build it as a MODULE library against Tessera's headers (see tests/integration/CMakeLists.txt)
// without linking Tessera's libraries: the registry lives in the worker binary, which exports its
// symbols to the plugin.
#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "worker/function_registry.h"

namespace {

using tessera::call::Type;
using tessera::call::Value;

}  // namespace

// cube(number) -> float64
TESSERA_REGISTER_FUNCTION(cube, "cube", ({Type::kNumber}), Type::kFloat64,
                          [](const std::vector<Value>& args) -> absl::StatusOr<Value> {
                            const double x = args[0].as_double();
                            return Value::Float(x * x * x);
                          });

// greet(string) -> string
TESSERA_REGISTER_FUNCTION(greet, "greet", ({Type::kString}), Type::kString,
                          [](const std::vector<Value>& args) -> absl::StatusOr<Value> {
                            return Value::String("Hello, " + args[0].s + "!");
                          });

// flaky(any) -> any: fails every other call in this worker process (the 1st, 3rd, ...), then
// returns its argument: shows `retries` (client.submit_with({.retries = 3}, "flaky", x)).
TESSERA_REGISTER_FUNCTION(flaky, "flaky", ({Type::kAny}), Type::kAny,
                          [](const std::vector<Value>& args) -> absl::StatusOr<Value> {
                            static std::atomic<int64_t> calls{0};
                            if (calls.fetch_add(1) % 2 == 0) {
                              return absl::UnavailableError("flaky: failed this time");
                            }
                            return args[0];
                          });

// explode(any) -> none: always throws, to show that an exception errs the task, not the worker.
TESSERA_REGISTER_FUNCTION(explode, "explode", ({Type::kAny}), Type::kNone,
                          [](const std::vector<Value>& args) -> absl::StatusOr<Value> {
                            throw std::runtime_error("exploded on " + args[0].Repr());
                          });
