#include "worker/function_registry.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "graph/rpc/wire.h"

namespace tessera::worker {
namespace {

using call::Type;
using call::Value;

Value Number(const Value& like, double f, int64_t i) {
  return like.type == Type::kInt64 ? Value::Int(i) : Value::Float(f);
}

absl::StatusOr<Value> Sum(const std::vector<Value>& args) {
  bool all_int = true;
  int64_t isum = 0;
  double fsum = 0;
  const auto& items = args[0].list;
  for (size_t k = 0; k < items.size(); ++k) {
    const Value& v = items[k];
    if (!v.is_number()) {
      return absl::InvalidArgumentError(absl::StrCat("sum: item ", k, " of the list is ",
                                                     v.Describe(), ", not a number"));
    }
    all_int &= v.type == Type::kInt64;
    if (v.type == Type::kInt64) {
      isum += v.i;  // wraps like int64 arithmetic in NumPy
    }
    fsum += v.as_double();
  }
  return all_int ? Value::Int(isum) : Value::Float(fsum);
}

}  // namespace

FunctionRegistry& FunctionRegistry::Global() {
  static FunctionRegistry* registry = [] {
    auto* r = new FunctionRegistry();
    AddBuiltins(r);
    return r;
  }();
  return *registry;
}

absl::Status FunctionRegistry::Register(call::Signature signature, Function function) {
  if (signature.name.empty()) return absl::InvalidArgumentError("a function needs a name");
  // The name goes to the scheduler in a proto string and is checked there (length): refused here
  // with the same words, the plugin's load fails with them instead of the worker's registration.
  TESSERA_RETURN_IF_ERROR(wire::ValidateStringNamed(signature.name, wire::RequestLimits{}, [&] {
    return absl::StrCat("function name ", wire::QuotedForMessage(signature.name));
  }));
  if (signature.variadic && signature.params.empty()) signature.variadic = false;
  absl::MutexLock lock(&mu_);
  const std::string name = signature.name;
  auto entry = std::make_shared<const Entry>(Entry{std::move(signature), std::move(function)});
  if (!functions_.emplace(name, std::move(entry)).second) {
    return absl::AlreadyExistsError(absl::StrCat("function '", name, "' is already registered"));
  }
  return absl::OkStatus();
}

std::vector<call::Signature> FunctionRegistry::Signatures() const {
  std::vector<call::Signature> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, e] : functions_) out.push_back(e->signature);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

absl::StatusOr<call::Value> FunctionRegistry::Call(const std::string& name,
                                                   const std::vector<call::Value>& args) const {
  std::shared_ptr<const Entry> entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = functions_.find(name);
    if (it == functions_.end()) {
      return absl::NotFoundError(absl::StrCat("no function '", name, "' on this worker"));
    }
    entry = it->second;
  }
  absl::InlinedVector<Type, 8> given;  // no allocation per call for the usual few arguments
  for (const Value& v : args) given.push_back(v.type);
  if (auto s = entry->signature.Check(given); !s.ok()) return s;
  try {
    return entry->function(args);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(name, " raised: ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat(name, " raised an unknown exception"));
  }
}

void FunctionRegistry::AddBuiltins(FunctionRegistry* r) {
  auto add = [&](call::Signature s, Function f) {
    const absl::Status status = r->Register(std::move(s), std::move(f));
    (void)status;  // the built-ins' names are distinct
  };
  add({"inc", {Type::kNumber}, false, Type::kNumber}, [](const std::vector<Value>& a) {
    return absl::StatusOr<Value>(Number(a[0], a[0].f + 1, a[0].i + 1));
  });
  add({"dec", {Type::kNumber}, false, Type::kNumber}, [](const std::vector<Value>& a) {
    return absl::StatusOr<Value>(Number(a[0], a[0].f - 1, a[0].i - 1));
  });
  add({"add", {Type::kNumber, Type::kNumber}, false, Type::kNumber},
      [](const std::vector<Value>& a) -> absl::StatusOr<Value> {
        if (a[0].type == Type::kInt64 && a[1].type == Type::kInt64) return Value::Int(a[0].i + a[1].i);
        return Value::Float(a[0].as_double() + a[1].as_double());
      });
  add({"sum", {Type::kList}, false, Type::kNumber}, Sum);
  add({"sleep", {Type::kNumber}, false, Type::kNumber},
      [](const std::vector<Value>& a) -> absl::StatusOr<Value> {
        const double seconds = a[0].as_double();
        if (!(seconds >= 0) || seconds > 86400) {
          return absl::InvalidArgumentError(
              absl::StrCat("sleep: ", a[0].Repr(), " seconds is not in [0, 86400]"));
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
        return a[0];
      });
  add({"identity", {Type::kAny}, false, Type::kAny},
      [](const std::vector<Value>& a) { return absl::StatusOr<Value>(a[0]); });
  add({"noop", {Type::kAny}, true, Type::kNone},
      [](const std::vector<Value>&) { return absl::StatusOr<Value>(Value::None()); });
}

namespace detail {
bool RegisterOrDie(call::Signature signature, Function function) {
  const std::string name = signature.name;
  const absl::Status s = FunctionRegistry::Global().Register(std::move(signature), std::move(function));
  if (!s.ok()) {
    std::fprintf(stderr, "error: registering function '%s': %s\n", name.c_str(),
                 std::string(s.message()).c_str());
    std::exit(1);
  }
  return true;
}
}  // namespace detail

}  // namespace tessera::worker
