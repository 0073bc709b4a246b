// Small helpers shared by the CPU executor's task kinds (executor.cc, block_ops.cc): error
// messages naming the task, and checks of shapes and buffers that arrive from the network.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/chunk.h"
#include "common/shape.h"
#include "graph/task_graph.h"

namespace tessera::cpu::detail {

/// INVALID_ARGUMENT "task '<key>': <args...>".
template <typename... Args>
absl::Status Invalid(const graph::TaskSpec& task, const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat("task '", task.key, "': ", args...));
}

/// "[1, 2, 3]".
inline std::string VecToString(const std::vector<int64_t>& v) {
  return absl::StrCat("[", absl::StrJoin(v, ", "), "]");
}

/// Element count of a shape, or -1 when an extent is negative or the count overflows int64.
inline int64_t SafeCount(const Shape& shape) {
  int64_t n = 1;
  for (int64_t e : shape) {
    if (e < 0) return -1;
    if (e != 0 && n > std::numeric_limits<int64_t>::max() / e) return -1;
    n *= e;
  }
  return n;
}

/// Row-major strides, in elements.
inline std::vector<int64_t> Strides(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int a = static_cast<int>(shape.size()) - 2; a >= 0; --a) s[a] = s[a + 1] * shape[a + 1];
  return s;
}

/// int64, int32 and bool: values the executors treat as integers.
inline bool IsInteger(DType d) {
  return d == DType::kInt64 || d == DType::kInt32 || d == DType::kBool;
}

/// A buffer whose rank, shape and byte count agree (what a peer or the scheduler sent).
inline bool WellFormed(const ChunkBuffer& c) {
  const int64_t n = SafeCount(c.shape);
  return c.shape.size() <= static_cast<size_t>(kMaxDims) && n >= 0 &&
         c.nbytes() == n * ItemSize(c.dtype);
}

}  // namespace tessera::cpu::detail
