// Internals of the client's function-call API shared by value.cc (pure) and client.cc (gRPC):
// the Delayed graph node and conversions between the public Value and call::Value.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/value.h"
#include "tessera/tessera.h"

namespace tessera {

struct Delayed::Node {
  std::string key;
  std::string function;                    ///< empty for a persisted result
  std::vector<Arg> args;
  std::shared_ptr<Future::State> future;   ///< set for a persisted result
  ~Node();
};

namespace detail {
/// A fresh key for a call of `function`: "<function>-<process token>-<counter>".
std::string NewCallKey(const std::string& function);
call::Value ToCallValue(const Value& v);
Value FromCallValue(const call::Value& v);
}  // namespace detail

}  // namespace tessera
