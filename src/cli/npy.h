// NumPy's .npy file format (version 1.0) for a computed array: what `tessera eval --save` writes,
// so that `np.load(path)` gives the exact values, dtype and shape.
#pragma once

#include <string>
#include <vector>

#include "tessera/tessera.h"

namespace tessera::cli {

/// NumPy's dtype string for `dtype`: "<f8", "<f4", "<i8", "<i4", "|b1".
std::string NpyDescr(DType dtype);

/// The .npy header for an array of `dtype` and `shape` as NumPy 1.24's np.save writes it: the
/// magic "\x93NUMPY", version 1.0, the little-endian header length, then the dict
/// "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }" with NumPy's spare spaces for
/// growing the first axis, padded with spaces and a final '\n' so that the data starts at a
/// multiple of 64 bytes.
std::string NpyHeader(DType dtype, const Shape& shape);

/// The whole file: NpyHeader followed by the array's C-ordered little-endian bytes.
std::string NpyBytes(const NDArray& array);

/// Writes `array` to `path` in .npy format. Throws tessera::Error naming the path when it
/// cannot be written.
void SaveNpy(const std::string& path, const NDArray& array);

}  // namespace tessera::cli
