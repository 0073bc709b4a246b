#include "common/dtype.h"

#include "absl/strings/str_cat.h"

namespace tessera {

int64_t ItemSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
    case DType::kInt64:
      return 8;
    case DType::kFloat32:
    case DType::kInt32:
      return 4;
    case DType::kBool:
      return 1;
  }
  return 8;
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
      return "float64";
    case DType::kFloat32:
      return "float32";
    case DType::kInt64:
      return "int64";
    case DType::kInt32:
      return "int32";
    case DType::kBool:
      return "bool";
  }
  return "float64";
}

absl::StatusOr<DType> ParseDType(std::string_view name) {
  if (name == "float64" || name == "f8" || name == "float" || name == "double" || name == "d")
    return DType::kFloat64;
  if (name == "float32" || name == "f4" || name == "single" || name == "f") return DType::kFloat32;
  if (name == "int64" || name == "i8" || name == "int" || name == "long") return DType::kInt64;
  if (name == "int32" || name == "i4" || name == "intc") return DType::kInt32;
  if (name == "bool" || name == "bool_" || name == "?") return DType::kBool;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype '", std::string(name), "' (expected float64, float32, int64, int32 or bool)"));
}

bool IsFloating(DType dtype) { return dtype == DType::kFloat64 || dtype == DType::kFloat32; }

namespace {
int Rank(DType d) {
  switch (d) {
    case DType::kBool:
      return 0;
    case DType::kInt32:
      return 1;
    case DType::kInt64:
      return 2;
    case DType::kFloat32:
      return 3;
    case DType::kFloat64:
      return 4;
  }
  return 4;
}
}  // namespace

DType PromoteTypes(DType a, DType b) {
  if (a == b) return a;
  // NumPy: int64 with float32 -> float64, int32 with float32 -> float64.
  if ((a == DType::kFloat32 && (b == DType::kInt64 || b == DType::kInt32)) ||
      (b == DType::kFloat32 && (a == DType::kInt64 || a == DType::kInt32)))
    return DType::kFloat64;
  return Rank(a) >= Rank(b) ? a : b;
}

DType PromoteWithScalar(DType a, bool scalar_is_float) {
  if (scalar_is_float) return IsFloating(a) ? a : DType::kFloat64;
  return a == DType::kBool ? DType::kInt64 : a;
}

}  // namespace tessera
