// Element types of Tessera arrays and NumPy's promotion rules among them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "tessera/types.h"

namespace tessera {

// DType itself is public (tessera/types.h); its numeric values are the wire values.

/// Bytes per element.
int64_t ItemSize(DType dtype);
/// NumPy's name: "float64", "float32", "int64", "int32", "bool".
std::string_view DTypeName(DType dtype);
/// Parses NumPy's names and the usual aliases ("f8", "float", "int", "i8", "bool_"...).
absl::StatusOr<DType> ParseDType(std::string_view name);
/// True for float64 and float32.
bool IsFloating(DType dtype);
/// NumPy's result type of a binary operation between two arrays.
DType PromoteTypes(DType a, DType b);
/// Result type of an array of type `a` with a Python scalar (NumPy's weak scalar rule): a float
/// literal turns integer and bool arrays into float64, an int literal turns bool into int64.
DType PromoteWithScalar(DType a, bool scalar_is_float);

}  // namespace tessera
