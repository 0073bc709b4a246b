#include "common/shape.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessera {

absl::Status ValidateShape(const Shape& shape, DType dtype) {
  if (shape.size() > kMaxDims) {
    return absl::InvalidArgumentError(absl::StrCat("array has ", shape.size(),
                                                   " dimensions; at most ", kMaxDims,
                                                   " are supported"));
  }
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("negative extent ", shape[i], " in shape ",
                                                     ShapeToString(shape), " (axis ", i, ")"));
    }
    if (shape[i] != 0 && count > std::numeric_limits<int64_t>::max() / shape[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeToString(shape), " has more elements than fit in int64"));
    }
    count *= shape[i];
  }
  if (count > std::numeric_limits<int64_t>::max() / ItemSize(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("shape ", ShapeToString(shape), " of ",
                                                   std::string(DTypeName(dtype)),
                                                   " has more bytes than fit in int64"));
  }
  return absl::OkStatus();
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t e : shape) n *= e;
  return n;
}

std::vector<int64_t> RegularBlocks(int64_t extent, int64_t size) {
  if (extent == 0) return {0};
  std::vector<int64_t> blocks(static_cast<size_t>(extent / size), size);
  if (extent % size != 0) blocks.push_back(extent % size);
  return blocks;
}

namespace {

// dask.array.core.round_to: a chunk size near `c` that is a factor of `s` (within a factor of two)
// or a multiple of it.
int64_t RoundTo(double c, int64_t s) {
  if (c <= static_cast<double>(s)) {
    int64_t best = 0;
    for (int64_t f = 1; f * f <= s; ++f) {
      if (s % f != 0) continue;
      for (int64_t g : {f, s / f}) {
        if (c / 2 <= static_cast<double>(g) && static_cast<double>(g) <= c) best = std::max(best, g);
      }
    }
    if (best > 0) return best;
    return std::max<int64_t>(1, static_cast<int64_t>(c));
  }
  return static_cast<int64_t>(c / static_cast<double>(s)) * s;
}

}  // namespace

absl::StatusOr<Chunks> NormalizeChunks(const ChunkSpec& spec, const Shape& shape, DType dtype,
                                       int64_t target_bytes, int64_t max_chunks) {
  const size_t ndim = shape.size();
  // First resolve to one Axis entry per dimension.
  std::vector<ChunkSpec::Axis> axes;
  if (std::holds_alternative<ChunkSpec::Auto>(spec.value)) {
    axes.assign(ndim, kAutoChunk);
  } else if (const auto* n = std::get_if<int64_t>(&spec.value)) {
    axes.assign(ndim, *n);
  } else {
    axes = std::get<std::vector<ChunkSpec::Axis>>(spec.value);
    if (axes.size() != ndim) {
      return absl::InvalidArgumentError(absl::StrCat("chunks have ", axes.size(),
                                                     " dimensions but the shape ",
                                                     ShapeToString(shape), " has ", ndim));
    }
  }
  Chunks out(ndim);
  std::vector<size_t> autos;
  for (size_t i = 0; i < ndim; ++i) {
    if (const auto* explicit_sizes = std::get_if<std::vector<int64_t>>(&axes[i])) {
      int64_t total = 0;
      for (int64_t b : *explicit_sizes) {
        if (b < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("negative chunk size ", b, " on axis ", i));
        }
        if (b == 0 && shape[i] != 0) {
          return absl::InvalidArgumentError(absl::StrCat("zero chunk size on axis ", i));
        }
        total += b;
      }
      if (total != shape[i] || explicit_sizes->empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("chunks ", "(", absl::StrJoin(*explicit_sizes, ", "), ") on axis ", i,
                         " add up to ", total, ", not to the extent ", shape[i]));
      }
      out[i] = *explicit_sizes;
      continue;
    }
    int64_t size = std::get<int64_t>(axes[i]);
    if (size == kAutoChunk) {
      autos.push_back(i);
      continue;
    }
    if (size == -1) size = std::max<int64_t>(shape[i], 1);
    if (size == 0) {
      return absl::InvalidArgumentError(absl::StrCat("chunk size 0 on axis ", i,
                                                     " (chunk sizes must be positive)"));
    }
    if (size < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "negative chunk size ", size, " on axis ", i, " (use -1 for the whole axis)"));
    }
    out[i] = RegularBlocks(shape[i], std::min(size, std::max<int64_t>(shape[i], 1)));
  }
  // dask.array.core.auto_chunks without previous chunks.
  const double limit = std::max<double>(1.0, static_cast<double>(target_bytes));
  while (!autos.empty()) {
    double largest_block = 1;
    for (size_t i = 0; i < ndim; ++i) {
      if (!out[i].empty()) largest_block *= static_cast<double>(*std::max_element(out[i].begin(), out[i].end()));
    }
    const double size = std::pow(limit / static_cast<double>(ItemSize(dtype)) / largest_block,
                                 1.0 / static_cast<double>(autos.size()));
    std::vector<size_t> small;
    for (size_t i : autos) {
      if (static_cast<double>(shape[i]) < size) small.push_back(i);
    }
    if (!small.empty()) {
      for (size_t i : small) out[i] = {shape[i]};
      std::vector<size_t> rest;
      for (size_t i : autos) {
        if (std::find(small.begin(), small.end(), i) == small.end()) rest.push_back(i);
      }
      autos = rest;
      continue;
    }
    for (size_t i : autos) out[i] = RegularBlocks(shape[i], std::max<int64_t>(1, RoundTo(size, shape[i])));
    autos.clear();
  }
  int64_t total = 1;
  for (const auto& axis : out) {
    total *= static_cast<int64_t>(axis.size());
    if (total > max_chunks) {
      // Described by block size and count per axis: the chunk tuples themselves can run to
      // millions of entries.
      std::vector<std::string> counts;
      Shape largest;
      for (const auto& a : out) {
        counts.push_back(absl::StrCat(a.size()));
        largest.push_back(a.empty() ? 0 : *std::max_element(a.begin(), a.end()));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "chunks of up to ", ShapeToString(largest), " give ", absl::StrJoin(counts, " x "),
          " blocks for shape ", ShapeToString(shape), ", more than the ", max_chunks,
          " allowed; choose larger chunks"));
    }
  }
  return out;
}

std::vector<int64_t> NumBlocks(const Chunks& chunks) {
  std::vector<int64_t> n;
  for (const auto& axis : chunks) n.push_back(static_cast<int64_t>(axis.size()));
  return n;
}

int64_t TotalBlocks(const Chunks& chunks) {
  int64_t n = 1;
  for (const auto& axis : chunks) n *= static_cast<int64_t>(axis.size());
  return n;
}

std::vector<std::vector<int64_t>> BlockOffsets(const Chunks& chunks) {
  std::vector<std::vector<int64_t>> offsets(chunks.size());
  for (size_t a = 0; a < chunks.size(); ++a) {
    int64_t at = 0;
    for (int64_t b : chunks[a]) {
      offsets[a].push_back(at);
      at += b;
    }
  }
  return offsets;
}

Shape ShapeOfChunks(const Chunks& chunks) {
  Shape shape;
  for (const auto& axis : chunks) {
    int64_t total = 0;
    for (int64_t b : axis) total += b;
    shape.push_back(total);
  }
  return shape;
}

Shape MaxChunkShape(const Chunks& chunks) {
  Shape shape;
  for (const auto& axis : chunks) {
    shape.push_back(axis.empty() ? 0 : *std::max_element(axis.begin(), axis.end()));
  }
  return shape;
}

std::string ShapeToString(const Shape& shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

std::string ChunksToString(const Chunks& chunks) {
  std::vector<std::string> axes;
  for (const auto& axis : chunks) axes.push_back(ShapeToString(axis));
  if (axes.size() == 1) return absl::StrCat("(", axes[0], ",)");
  return absl::StrCat("(", absl::StrJoin(axes, ", "), ")");
}

absl::StatusOr<int64_t> ParseBytes(std::string_view text_in) {
  const std::string text(text_in);
  std::string s;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) s.push_back(c);
  }
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot parse byte size '", text,
                                                   "' (expected e.g. 4GiB, 512MB, 1000000)"));
  }
  double number = 0;
  try {
    number = std::stod(s.substr(0, i));
  } catch (...) {
    return absl::InvalidArgumentError(absl::StrCat("cannot parse byte size '", text, "'"));
  }
  std::string unit = s.substr(i);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},           {"b", 1},          {"kb", 1e3},          {"mb", 1e6},
      {"gb", 1e9},       {"tb", 1e12},      {"k", 1e3},           {"m", 1e6},
      {"g", 1e9},        {"t", 1e12},       {"kib", 1024.0},      {"mib", 1048576.0},
      {"gib", 1073741824.0}, {"tib", 1099511627776.0}, {"ki", 1024.0}, {"mi", 1048576.0},
      {"gi", 1073741824.0},  {"ti", 1099511627776.0}};
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) {
      const double bytes = number * factor;
      if (bytes > 9.2e18) return absl::InvalidArgumentError(absl::StrCat("byte size '", text, "' is too large"));
      return static_cast<int64_t>(bytes);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown unit '", s.substr(i), "' in byte size '", text, "'"));
}

std::string FormatBytes(int64_t bytes) {
  static const char* kUnits[] = {"B", "kiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 * 0.9 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[64];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[u]);
  }
  return buf;
}

}  // namespace tessera
