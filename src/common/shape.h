// Shapes, chunk grids and dask-compatible chunk normalisation.
#pragma once

#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dtype.h"
#include "tessera/types.h"

namespace tessera {

// Shape, Chunks, ChunkSpec and kAutoChunk are public (tessera/types.h).

inline constexpr int kMaxDims = 8;
/// Default target bytes of an auto-sized chunk, as dask's `array.chunk-size`.
inline constexpr int64_t kDefaultChunkBytes = int64_t{128} << 20;
/// Default cap on the number of chunks of one array.
inline constexpr int64_t kDefaultMaxChunks = int64_t{10'000'000};

/// Checks ndim, non-negative extents and that the element count and byte size fit in int64.
absl::Status ValidateShape(const Shape& shape, DType dtype);
/// Product of extents; the caller has validated the shape.
int64_t NumElements(const Shape& shape);

/// Turns a ChunkSpec into explicit per-axis block sizes for `shape`, as dask.array's
/// normalize_chunks does ("auto" aims at `target_bytes` per chunk and rounds to factors of the
/// extent, so ones((200000, 200000)) gets 4000 x 4000). Errors name the bad value: zero or
/// negative sizes, wrong number of axes, explicit sizes that do not add up to the extent, or
/// more than `max_chunks` chunks.
absl::StatusOr<Chunks> NormalizeChunks(const ChunkSpec& spec, const Shape& shape, DType dtype,
                                       int64_t target_bytes = kDefaultChunkBytes,
                                       int64_t max_chunks = kDefaultMaxChunks);

/// Regular blocks of `size` covering `extent`, the last one smaller (one empty block when extent
/// is 0).
std::vector<int64_t> RegularBlocks(int64_t extent, int64_t size);
/// Number of blocks per axis.
std::vector<int64_t> NumBlocks(const Chunks& chunks);
/// Total number of chunks.
int64_t TotalBlocks(const Chunks& chunks);
/// Start offsets of each block along each axis (same layout as chunks, without the end).
std::vector<std::vector<int64_t>> BlockOffsets(const Chunks& chunks);
/// Shape implied by a chunk grid.
Shape ShapeOfChunks(const Chunks& chunks);
/// Largest block along each axis.
Shape MaxChunkShape(const Chunks& chunks);

/// "(50000, 50000)" as Python prints a tuple ("(5,)" for one axis, "()" for none).
std::string ShapeToString(const Shape& shape);
/// "((1000, 1000), (5, 5))".
std::string ChunksToString(const Chunks& chunks);

/// Parses "4GiB", "512MB", "1.5 GB", "1000000" (bytes), as dask's parse_bytes.
absl::StatusOr<int64_t> ParseBytes(std::string_view text);
/// "3.73 GiB" as dask's format_bytes.
std::string FormatBytes(int64_t bytes);

}  // namespace tessera
