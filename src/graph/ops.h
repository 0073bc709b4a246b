// The element-wise and reduction operations of chunk programs, as plain enums: included by the
// expression graph, the CPU executor and the CUDA kernels (which see no Abseil or std::string),
// so every executor switches over the very same values. Their numeric values are the wire
// values of tessera.v1.
#pragma once

#include <cstdint>

namespace tessera::graph {

enum class UnaryOp : int8_t {
  kNegative = 0, kAbs, kSqrt, kSquare, kExp, kExpm1, kLog, kLog1p, kLog2, kLog10,
  kSin, kCos, kTan, kArcsin, kArccos, kArctan, kSinh, kCosh, kTanh,
  kFloor, kCeil, kRound, kSign, kIsnan, kIsfinite, kAstype,
};

enum class BinaryOp : int8_t {
  kAdd = 0, kSubtract, kMultiply, kDivide, kFloorDivide, kMod, kPower, kMaximum, kMinimum,
  kArctan2, kHypot, kLess, kLessEqual, kGreater, kGreaterEqual, kEqual, kNotEqual,
};

/// kAny / kAll: logical or / and of `x != 0` (NaN is true), with bool partials and result.
/// kArgmin / kArgmax: the index of the first minimum / maximum (NaN counts as both, as NumPy's
/// argmin/argmax return the first NaN), int64; partials are (value, index) pairs of doubles.
enum class ReduceOp : int8_t { kSum = 0, kProd, kMin, kMax, kMean, kAny, kAll, kArgmin, kArgmax };

inline bool IsArgReduce(ReduceOp op) { return op == ReduceOp::kArgmin || op == ReduceOp::kArgmax; }

enum class RandomDist : int8_t { kUniform = 0, kNormal = 1 };

}  // namespace tessera::graph
