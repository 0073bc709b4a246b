// A chunk held in host memory: dtype, shape and C-ordered bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "common/dtype.h"
#include "common/shape.h"

namespace tessera {

/// Marks the whole 2 MiB pages inside [p, p + n) for transparent huge pages (madvise
/// MADV_HUGEPAGE) when n is several MiB; best effort, no effect where the kernel's THP setting
/// is "never".
void AdviseHugePages(void* p, size_t n);

/// Sets `v` to `n` zero elements. A buffer of several MiB is first reserved (allocated, not
/// touched), its pages advised for huge pages, and only then zeroed, so that it is faulted in
/// 2 MiB at a time: on the VMs measured a 4 KiB page fault costs 3-12 us, over 3 s for 1 GiB.
template <typename T>
void ResizeZeroed(std::vector<T>& v, size_t n) {
  v.clear();
  if (v.capacity() < n) {
    std::vector<T>().swap(v);
    v.reserve(n);
    AdviseHugePages(v.data(), n * sizeof(T));
  }
  v.resize(n);
}

/// A dense host array. Immutable once shared (ChunkPtr); thread-compatible.
struct ChunkBuffer {
  DType dtype = DType::kFloat64;
  Shape shape;
  std::vector<uint8_t> bytes;  ///< NumElements(shape) * ItemSize(dtype) bytes, C order.
  /// Set when `bytes` hold an encoded call::Value (a string, bytes, list or none returned by a
  /// registered function; see common/value.h) rather than array elements.
  bool encoded_value = false;

  int64_t num_elements() const { return NumElements(shape); }
  int64_t nbytes() const { return static_cast<int64_t>(bytes.size()); }
  template <typename T>
  const T* data() const { return reinterpret_cast<const T*>(bytes.data()); }
  template <typename T>
  T* mutable_data() { return reinterpret_cast<T*>(bytes.data()); }

  /// Allocates a zeroed buffer.
  static ChunkBuffer Zeros(DType dtype, Shape shape) {
    ChunkBuffer b;
    b.dtype = dtype;
    b.shape = std::move(shape);
    ResizeZeroed(b.bytes, static_cast<size_t>(NumElements(b.shape) * ItemSize(dtype)));
    return b;
  }
  /// Element `i` converted to double, whatever the dtype.
  double GetAsDouble(int64_t i) const {
    switch (dtype) {
      case DType::kFloat64: return data<double>()[i];
      case DType::kFloat32: return data<float>()[i];
      case DType::kInt64: return static_cast<double>(data<int64_t>()[i]);
      case DType::kInt32: return data<int32_t>()[i];
      case DType::kBool: return data<uint8_t>()[i] != 0 ? 1.0 : 0.0;
    }
    return 0;
  }
};

using ChunkPtr = std::shared_ptr<const ChunkBuffer>;

}  // namespace tessera
