// An unchunked, element-by-element reference evaluator for expression DAGs (graph/expr.h).
//
// Differential tests compare what the cluster computes (chunked, fused, on CPU or CUDA workers)
// against this evaluator. It is deliberately simple: every node is evaluated over its whole
// shape in double precision (long double for reduction accumulators) and rounded to the node's
// dtype, with NumPy's semantics for each op. Integers above 2^53 lose precision; use it on
// arrays small enough to hold in memory.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/chunk.h"
#include "graph/expr.h"

namespace tessera::testing {

/// Evaluates `root` into one dense buffer of the root's dtype and shape. kSource nodes read
/// `sources[source_name]`, which must have the node's shape and dtype. Random numbers follow
/// common/philox.h with the flat index of the element in the random array's own shape:
/// uniform = a + (b - a) * UniformDouble (UniformFloat for float32), normal = a + b * NormalDouble,
/// and an integer uniform array is randint: RandInt(a, b) (docs/random.md).
/// Errors: a missing or mismatched source, an array too large to evaluate here.
absl::StatusOr<ChunkBuffer> EvaluateReference(
    const graph::NodePtr& root, const std::map<std::string, ChunkBuffer>& sources = {});

// The element-level semantics the evaluator uses, for tests that interpret lowered programs
// with the same rules.

/// `x` as an element of `dtype` holds it (C casts as NumPy's astype; NaN to integer gives 0).
double RoundToDType(double x, DType dtype);
/// NumPy's unary op in double precision (astype is the identity: RoundToDType casts).
double ReferenceUnary(graph::UnaryOp op, double x);
/// NumPy's binary op in double precision; `result_dtype` selects integer // and % rules.
double ReferenceBinary(graph::BinaryOp op, double a, double b, DType result_dtype);
/// Element `index` (flat, in the random array's own shape) of a random array.
double ReferenceRandom(graph::RandomDist dist, uint64_t seed, double a, double b, DType dtype,
                       uint64_t index);

/// Row-major strides, in elements, of an array of `shape`.
inline std::vector<int64_t> Strides(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int a = static_cast<int>(shape.size()) - 2; a >= 0; --a) s[a] = s[a + 1] * shape[a + 1];
  return s;
}

/// Calls f(coord) for every coordinate of `shape` in C order (nothing for an empty shape).
template <typename F>
void ForEachCoord(const Shape& shape, F&& f) {
  if (NumElements(shape) == 0) return;
  std::vector<int64_t> c(shape.size(), 0);
  while (true) {
    f(c);
    int a = static_cast<int>(shape.size()) - 1;
    for (; a >= 0; --a) {
      if (++c[a] < shape[a]) break;
      c[a] = 0;
    }
    if (a < 0) return;
  }
}

}  // namespace tessera::testing
