/// \file tessera/types.h
/// Element types, shapes and chunk requests shared by the public API and the engine.
#pragma once

#include <climits>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <variant>
#include <vector>

namespace tessera {

/// The five element types (NumPy names: float64, float32, int64, int32, bool).
enum class DType : int8_t { kFloat64 = 0, kFloat32 = 1, kInt64 = 2, kInt32 = 3, kBool = 4 };

/// Array extents in C order (0 to 8 axes; an extent may be 0).
using Shape = std::vector<int64_t>;
/// Per axis, the sizes of the blocks along that axis, as dask's `chunks` tuple of tuples.
using Chunks = std::vector<std::vector<int64_t>>;

/// Per-axis chunk size meaning "auto" (dask's "auto").
inline constexpr int64_t kAutoChunk = INT64_MIN;

/// A chunk request as a user writes it, before it is fitted to a shape:
///   ChunkSpec()                    "auto" on every axis (128 MiB target, as dask)
///   ChunkSpec(1000)                1000 along every axis; -1 means the whole axis
///   ChunkSpec({1000, 1000, 5})     one size per axis (-1 whole axis, kAutoChunk auto)
///   ChunkSpec::Explicit({{...}})   explicit block sizes per axis
struct ChunkSpec {
  struct Auto {};
  using Axis = std::variant<int64_t, std::vector<int64_t>>;
  std::variant<Auto, int64_t, std::vector<Axis>> value = Auto{};

  ChunkSpec() = default;
  ChunkSpec(int64_t n) : value(n) {}  // NOLINT: implicit on purpose, as dask's chunks=1000
  ChunkSpec(int n) : value(int64_t{n}) {}  // NOLINT
  ChunkSpec(std::initializer_list<int64_t> sizes)  // NOLINT
      : value(std::vector<Axis>(sizes.begin(), sizes.end())) {}
  static ChunkSpec PerAxis(const std::vector<int64_t>& sizes) {
    ChunkSpec s;
    s.value = std::vector<Axis>(sizes.begin(), sizes.end());
    return s;
  }
  static ChunkSpec PerAxis(std::vector<Axis> axes) {
    ChunkSpec s;
    s.value = std::move(axes);
    return s;
  }
  static ChunkSpec Explicit(const Chunks& chunks) {
    ChunkSpec s;
    std::vector<Axis> axes;
    for (const auto& a : chunks) axes.emplace_back(a);
    s.value = std::move(axes);
    return s;
  }
};

}  // namespace tessera
