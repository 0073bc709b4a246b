// A test plugin for memory_test, preloaded into a cpu-worker: hold_memory(mebibytes, seconds)
// allocates that much memory, writes to every page of it (so that it is resident), keeps it for
// `seconds`, frees it and returns mebibytes. It drives a worker above its memory pause mark on
// purpose.
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "worker/function_registry.h"

namespace {

using tessera::call::Type;
using tessera::call::Value;

}  // namespace

TESSERA_REGISTER_FUNCTION(hold_memory, "hold_memory", ({Type::kNumber, Type::kNumber}),
                          Type::kFloat64,
                          [](const std::vector<Value>& args) -> absl::StatusOr<Value> {
                            const double mib = args[0].as_double();
                            const double seconds = args[1].as_double();
                            if (!(mib >= 0 && mib <= 4096) || !(seconds >= 0 && seconds <= 60)) {
                              return absl::InvalidArgumentError(
                                  "hold_memory: mebibytes in [0, 4096], seconds in [0, 60]");
                            }
                            const size_t bytes = static_cast<size_t>(mib * 1048576);
                            std::unique_ptr<char[]> block(new char[bytes]);
                            for (size_t i = 0; i < bytes; i += 4096) block[i] = 1;
                            std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
                            volatile char keep = bytes > 0 ? block[bytes - 1] : 0;
                            (void)keep;
                            return Value::Float(mib);
                          });
