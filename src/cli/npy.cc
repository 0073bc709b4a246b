#include "cli/npy.h"

#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

namespace tessera::cli {

static_assert(std::endian::native == std::endian::little,
              "the .npy writer copies array bytes as they are and labels them little-endian");

namespace {

// NumPy (1.23+) leaves room after the dict to rewrite the first axis with up to 21 digits.
constexpr size_t kGrowthAxisMaxDigits = 21;
constexpr size_t kArrayAlign = 64;
constexpr size_t kPrefixLen = 10;  // magic (6) + version (2) + uint16 header length (2)

}  // namespace

std::string NpyDescr(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
      return "<f8";
    case DType::kFloat32:
      return "<f4";
    case DType::kInt64:
      return "<i8";
    case DType::kInt32:
      return "<i4";
    case DType::kBool:
      return "|b1";
  }
  throw Error(3, "no .npy dtype for dtype " + std::to_string(static_cast<int>(dtype)));
}

std::string NpyHeader(DType dtype, const Shape& shape) {
  // Python's repr of the shape tuple: (), (5,), (2, 3).
  std::string shape_repr = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) shape_repr += ", ";
    shape_repr += std::to_string(shape[i]);
  }
  if (shape.size() == 1) shape_repr += ",";
  shape_repr += ")";

  std::string dict = "{'descr': '" + NpyDescr(dtype) + "', 'fortran_order': False, 'shape': " +
                     shape_repr + ", }";
  if (!shape.empty()) {
    const size_t digits = std::to_string(shape[0]).size();
    if (digits < kGrowthAxisMaxDigits) dict.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  // As numpy.lib.format._wrap_header: the '\n' counts in the length, and the padding is
  // between 1 and 64 spaces.
  const size_t hlen = dict.size() + 1;
  const size_t padlen = kArrayAlign - ((kPrefixLen + hlen) % kArrayAlign);
  const size_t total = hlen + padlen;
  if (total > 0xffff) throw Error(3, "array has too many dimensions for a .npy 1.0 header");

  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(total & 0xff);
  out += static_cast<char>((total >> 8) & 0xff);
  out += dict;
  out.append(padlen, ' ');
  out += '\n';
  return out;
}

std::string NpyBytes(const NDArray& array) {
  std::string out = NpyHeader(array.dtype(), array.shape());
  const std::vector<uint8_t>& bytes = array.bytes();
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return out;
}

void SaveNpy(const std::string& path, const NDArray& array) {
  const std::string data = NpyBytes(array);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    throw Error(5, "cannot write '" + path + "': " + std::strerror(errno));
  }
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) {
    throw Error(5, "cannot write '" + path + "': " + std::strerror(errno));
  }
}

}  // namespace tessera::cli
