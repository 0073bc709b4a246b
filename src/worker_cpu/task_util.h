// Small helpers shared by the CPU executor's task kinds (executor.cc, block_ops.cc) and the CUDA
// executor: error messages naming the task, checks of shapes and buffers that arrive from the
// network, and the conversion of double values to a dtype's bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/chunk.h"
#include "common/element_ops.h"
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

/// Writes n doubles as `dtype` values at element offset `at` of `dst`, converting as NumPy's
/// astype does (the CPU executor's results and the CUDA executor's partials).
inline void StoreAs(DType dtype, const double* src, int64_t n, uint8_t* dst, int64_t at) {
  switch (dtype) {
    case DType::kFloat64:
      std::memcpy(reinterpret_cast<double*>(dst) + at, src, n * sizeof(double));
      return;
    case DType::kFloat32: {
      float* d = reinterpret_cast<float*>(dst) + at;
      for (int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(src[i]);
      return;
    }
    case DType::kInt64: {
      int64_t* d = reinterpret_cast<int64_t*>(dst) + at;
      for (int64_t i = 0; i < n; ++i) d[i] = element::ToInt64(src[i]);
      return;
    }
    case DType::kInt32: {
      int32_t* d = reinterpret_cast<int32_t*>(dst) + at;
      for (int64_t i = 0; i < n; ++i) d[i] = element::ToInt32(src[i]);
      return;
    }
    case DType::kBool: {
      uint8_t* d = dst + at;
      for (int64_t i = 0; i < n; ++i) d[i] = src[i] != 0 ? 1 : 0;
      return;
    }
  }
}

}  // namespace tessera::cpu::detail
