// The value of one element of a chunk program node, as a scalar function compiled for the host
// and the device (TESSERA_HD): NumPy's semantics of every unary and binary op in double
// precision, and the rounding of a node's value to its dtype. The CUDA kernels evaluate programs
// with these functions; the CPU executor's block kernels (worker_cpu/kernels.cc) are vectorised
// loops with the same semantics, and tests/common/element_ops_test.cc holds the two to the same
// bits (exp, arcsin and arccos excepted: the CPU has its own vectorised versions, within 1 ulp).
//
// Free of CUDA includes and of anything but <cmath>: nvcc maps the std:: math functions to
// CUDA's device math library, which is correctly rounded where IEEE 754 requires it (+ - * /
// sqrt) and within the documented ulps elsewhere (docs/cuda.md).
#pragma once

#include <cmath>
#include <cstdint>

#include "common/hd.h"
#include "graph/ops.h"
#include "tessera/types.h"

namespace tessera::element {

/// NumPy's float->int64 conversion (x86): truncation, INT64_MIN for NaN and out of range.
TESSERA_HD int64_t ToInt64(double v) {
  if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) return static_cast<int64_t>(v);
  return INT64_MIN;
}

/// Conversion to int32: truncation, wrapping modulo 2^32; INT32_MIN for NaN and values outside
/// int64.
TESSERA_HD int32_t ToInt32(double v) {
  if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
    return static_cast<int32_t>(
        static_cast<uint32_t>(static_cast<uint64_t>(static_cast<int64_t>(v))));
  }
  return INT32_MIN;
}

/// A node's value rounded to its dtype, as NumPy's astype (float64: unchanged).
TESSERA_HD double RoundValue(DType dtype, double v) {
  switch (dtype) {
    case DType::kFloat64:
      return v;
    case DType::kFloat32:
      return static_cast<double>(static_cast<float>(v));
    case DType::kInt64:
      return static_cast<double>(ToInt64(v));
    case DType::kInt32:
      return static_cast<double>(ToInt32(v));
    case DType::kBool:
      return v != 0 ? 1.0 : 0.0;
  }
  return v;
}

/// NumPy's npy_divmod for doubles: floor division.
TESSERA_HD double FloorDivide(double a, double b) {
  if (b == 0) return a / b;
  const double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) div -= 1.0;
  }
  if (div != 0) {
    double floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
    return floordiv;
  }
  return std::copysign(0.0, a / b);
}

/// NumPy's remainder: the sign of the divisor.
TESSERA_HD double Remainder(double a, double b) {
  if (b == 0) return std::fmod(a, b);
  double mod = std::fmod(a, b);
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

/// NumPy's maximum / minimum: NaN from either side propagates.
TESSERA_HD double Maximum(double a, double b) { return (a >= b || a != a) ? a : b; }
TESSERA_HD double Minimum(double a, double b) { return (a <= b || a != a) ? a : b; }

/// op(x) in double (the node's rounding to its dtype is RoundValue, applied after).
TESSERA_HD double Unary(graph::UnaryOp op, double v) {
  using graph::UnaryOp;
  switch (op) {
    case UnaryOp::kNegative: return -v;
    case UnaryOp::kAbs: return std::fabs(v);
    case UnaryOp::kSqrt: return std::sqrt(v);
    case UnaryOp::kSquare: return v * v;
    case UnaryOp::kExp: return std::exp(v);
    case UnaryOp::kExpm1: return std::expm1(v);
    case UnaryOp::kLog: return std::log(v);
    case UnaryOp::kLog1p: return std::log1p(v);
    case UnaryOp::kLog2: return std::log2(v);
    case UnaryOp::kLog10: return std::log10(v);
    case UnaryOp::kSin: return std::sin(v);
    case UnaryOp::kCos: return std::cos(v);
    case UnaryOp::kTan: return std::tan(v);
    case UnaryOp::kArcsin: return std::asin(v);
    case UnaryOp::kArccos: return std::acos(v);
    case UnaryOp::kArctan: return std::atan(v);
    case UnaryOp::kSinh: return std::sinh(v);
    case UnaryOp::kCosh: return std::cosh(v);
    case UnaryOp::kTanh: return std::tanh(v);
    case UnaryOp::kFloor: return std::floor(v);
    case UnaryOp::kCeil: return std::ceil(v);
    case UnaryOp::kRound: return std::nearbyint(v);  // half to even, as NumPy
    case UnaryOp::kSign: return v > 0 ? 1.0 : (v < 0 ? -1.0 : (v == 0 ? 0.0 : v));
    case UnaryOp::kIsnan: return v != v ? 1.0 : 0.0;
    case UnaryOp::kIsfinite: return v - v == 0 ? 1.0 : 0.0;
    case UnaryOp::kAstype: return v;  // the cast is the node's RoundValue
  }
  return NAN;  // unknown ops are rejected by validation before any evaluation
}

/// op(a, b) in double. `integer` selects NumPy's integer semantics where they differ from
/// float's (x // 0 and x % 0 give 0).
TESSERA_HD double Binary(graph::BinaryOp op, bool integer, double a, double b) {
  using graph::BinaryOp;
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSubtract: return a - b;
    case BinaryOp::kMultiply: return a * b;
    case BinaryOp::kDivide: return a / b;
    case BinaryOp::kFloorDivide: return (integer && b == 0) ? 0.0 : FloorDivide(a, b);
    case BinaryOp::kMod: return (integer && b == 0) ? 0.0 : Remainder(a, b);
    case BinaryOp::kPower: return std::pow(a, b);
    case BinaryOp::kMaximum: return Maximum(a, b);
    case BinaryOp::kMinimum: return Minimum(a, b);
    case BinaryOp::kArctan2: return std::atan2(a, b);
    case BinaryOp::kHypot: return std::hypot(a, b);
    case BinaryOp::kLess: return a < b ? 1.0 : 0.0;
    case BinaryOp::kLessEqual: return a <= b ? 1.0 : 0.0;
    case BinaryOp::kGreater: return a > b ? 1.0 : 0.0;
    case BinaryOp::kGreaterEqual: return a >= b ? 1.0 : 0.0;
    case BinaryOp::kEqual: return a == b ? 1.0 : 0.0;
    case BinaryOp::kNotEqual: return a != b ? 1.0 : 0.0;
  }
  return NAN;
}

/// Element i of numpy.linspace in double precision, before the cast to the node's dtype:
/// i * step + start, or (i / div) * delta + start when step is 0 (div: num - 1 with endpoint,
/// else num; delta = stop - start), exactly `stop` at the end point; integer dtypes take the
/// floor. graph::LinspaceValue and the CUDA kernels both compute it here.
TESSERA_HD double Linspace(double start, double step, double stop, double div, double delta,
                           int64_t num, bool integer, int64_t i) {
  const double x = static_cast<double>(i);
  double y;
  if (div > 0) {
    y = step == 0 ? (x / div) * delta + start : x * step + start;
  } else {
    y = x * delta + start;
  }
  if (num > 1 && div == static_cast<double>(num - 1) && i == num - 1) y = stop;  // endpoint
  if (integer) y = std::floor(y);
  return y;
}

}  // namespace tessera::element
