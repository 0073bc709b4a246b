// NumPy broadcasting of elementwise operands, shared by the expression constructors (Binary,
// Where, Matmul's batch axes). Internal to src/graph.
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/expr.h"

namespace tessera::graph {

/// The broadcast shape of `shapes` (NumPy's rules), or INVALID_ARGUMENT "<op>: operands could
/// not be broadcast together with shapes A B ...".
absl::StatusOr<Shape> BroadcastShapes(std::string_view op, const std::vector<const Shape*>& shapes);

/// The chunks of an elementwise result of `shape` over `operands`: along each axis, those of the
/// first operand that spans the axis without broadcasting (one whole chunk if none does).
Chunks BroadcastChunks(const Shape& shape, const std::vector<const Node*>& operands);

}  // namespace tessera::graph
