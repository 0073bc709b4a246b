// Registered functions: what CALL tasks (client.submit, map, delayed, the CLI's inc(1)) run on a
// worker. Functions are looked up by name, so no code travels over the wire and a client can
// never run arbitrary code on a worker. Shared by cpu-worker and cuda-worker.
//
// A plugin (a shared library given to a worker with --preload) registers its functions at load
// time with TESSERA_REGISTER_FUNCTION; see examples/plugin/.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/value.h"

namespace tessera::worker {

/// A registered function. It may return an error Status or throw: either errs the task with the
/// message, and the worker lives on. It may run on several threads at once.
using Function = std::function<absl::StatusOr<call::Value>(const std::vector<call::Value>& args)>;

/// Functions by name. Thread-safe.
class FunctionRegistry {
 public:
  /// The process's registry, holding the built-ins (inc, dec, add, sum, sleep, identity, noop)
  /// and whatever plugins registered.
  static FunctionRegistry& Global();

  /// Adds a function. Errors: an empty name or a name already registered (ALREADY_EXISTS).
  absl::Status Register(call::Signature signature, Function function);
  /// The signatures of every function, sorted by name (what a worker offers the scheduler).
  std::vector<call::Signature> Signatures() const;
  /// Calls `name` after checking the arguments' types against its signature. Errors: an unknown
  /// function (NOT_FOUND), arguments that do not fit (INVALID_ARGUMENT naming the signature and
  /// what was given), the function's own error or exception (its message, prefixed by the
  /// function's name when it threw).
  absl::StatusOr<call::Value> Call(const std::string& name,
                                   const std::vector<call::Value>& args) const;

  /// Registers the built-ins into `registry` (done for Global()).
  static void AddBuiltins(FunctionRegistry* registry);

 private:
  struct Entry {
    call::Signature signature;
    Function function;
  };
  mutable absl::Mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Entry>> functions_ ABSL_GUARDED_BY(mu_);
};

namespace detail {
/// Registers at static-initialisation time; failures are logged to stderr and the worker exits,
/// as with a plugin that fails to load.
bool RegisterOrDie(call::Signature signature, Function function);
}  // namespace detail

}  // namespace tessera::worker

/// Registers a function in the process's registry when the library (or program) is loaded:
///
///   TESSERA_REGISTER_FUNCTION(square, "square",
///                             ({tessera::call::Type::kNumber}), tessera::call::Type::kFloat64,
///                             [](const std::vector<tessera::call::Value>& a)
///                                 -> absl::StatusOr<tessera::call::Value> {
///                               return tessera::call::Value::Float(a[0].as_double() * a[0].as_double());
///                             });
///
/// `id` is a C identifier unique in the library; then the name, the parameter types in
/// parentheses and braces, the return type and the function. Arguments arrive already checked
/// against the parameter types. A plugin is loaded by `cpu-worker --preload path.so` (and
/// cuda-worker); a name registered twice makes the worker exit with the reason.
#define TESSERA_REGISTER_FUNCTION(id, name, params, returns, ...)                          \
  static const bool tessera_registered_function_##id =                                     \
      ::tessera::worker::detail::RegisterOrDie(                                             \
          ::tessera::call::Signature{name, std::vector<::tessera::call::Type> params, false, \
                                     returns},                                              \
          __VA_ARGS__)
