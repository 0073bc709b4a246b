// Chunk tasks: what lowering (lowering.h) produces, what the scheduler tracks and what a worker
// executes. Pure data.
//
// A chunk task evaluates a fused ChunkProgram over a rectangular region of the program's output
// space, optionally reduces it to a partial result, and optionally finalises it. A combine task
// merges the partial results of its dependencies, in order, and optionally finalises.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/element_ops.h"
#include "common/shape.h"
#include "common/value.h"
#include "graph/expr.h"

namespace tessera::graph {

/// An affine map from the program's output coordinates to a leaf's own coordinates: for each
/// leaf axis a, coord[a] = offset[a] + step[a] * out[out_axis[a]], or coord[a] = offset[a] when
/// out_axis[a] == -1 (an integer index). step 0 broadcasts; negative steps read backwards
/// (x[::-1, ::-1]). Output axes that no leaf axis references are new axes or broadcasts.
struct IndexMap {
  std::vector<int64_t> offset;
  std::vector<int64_t> step;
  std::vector<int> out_axis;
  bool operator==(const IndexMap&) const = default;
};

/// One node of a fused program. Nodes are in topological order; the last is the root.
struct ProgramNode {
  /// kLinspace: element LinspaceValue(*this, leaf coordinate) of numpy.linspace.
  enum class Kind : int8_t {
    kFull = 0,
    kArange,
    kRandom,
    kInput,
    kScalar,
    kUnary,
    kBinary,
    kLinspace,
    kWhere,  ///< arg0 ? arg1 : arg2 (arg0 true when non-zero)
  };
  Kind kind = Kind::kFull;
  DType dtype = DType::kFloat64;  ///< dtype of this node's values

  double value = 0;               ///< kFull, kScalar
  double start = 0, step = 1;     ///< kArange: value at leaf coordinate i is start + i * step;
                                  ///< kLinspace: start and NumPy's step, with value = stop,
                                  ///< param_a = div (num - 1 with endpoint, else num) and
                                  ///< param_b = stop - start
  RandomDist dist = RandomDist::kUniform;
  uint64_t seed = 0;
  double param_a = 0, param_b = 1;  ///< kRandom: uniform low/high, normal mean/std
  Shape leaf_shape;               ///< kRandom: the random array's shape (flat index = counter);
                                  ///< kArange: {length}; kInput: the input array's shape
  int input = -1;                 ///< kInput: index into ChunkProgram::inputs
  UnaryOp unary = UnaryOp::kNegative;
  BinaryOp binary = BinaryOp::kAdd;
  int arg0 = -1, arg1 = -1;       ///< kUnary/kBinary/kWhere: indices of earlier nodes
  int arg2 = -1;                  ///< kWhere
  IndexMap map;                   ///< leaves (kFull, kArange, kRandom, kInput)

  bool operator==(const ProgramNode&) const = default;
};

/// A materialised array that a program reads (a persisted array or a reduction's result).
struct ProgramInput {
  std::string name;  ///< chunk keys are KeyFor(name, block)
  Shape shape;
  DType dtype = DType::kFloat64;
  Chunks chunks;
  bool operator==(const ProgramInput&) const = default;
};

/// A reduction fused into a chunk program: the region is reduced over `axes` (of the root's
/// space) into a partial result of the region's shape with those axes set to 1.
struct FusedReduce {
  ReduceOp op = ReduceOp::kSum;
  std::vector<int> axes;
  /// argmin/argmax: per axis of the root's space, the weight of its global coordinate in the
  /// result index (the C-order strides of the reduced axes' extents; 0 on kept axes).
  std::vector<int64_t> index_strides;
  bool operator==(const FusedReduce&) const = default;
};

/// A fused elementwise program over output coordinates, with an optional reduction on top.
struct ChunkProgram {
  int ndim = 0;                     ///< rank of the output space
  std::vector<ProgramNode> nodes;   ///< topological; nodes.back() is the root
  std::vector<ProgramInput> inputs;
  bool has_reduce = false;
  FusedReduce reduce;
  bool operator==(const ChunkProgram&) const = default;
};

/// Element i of a kLinspace leaf, in double precision, exactly as numpy.linspace computes it
/// (before the cast to the node's dtype; integer dtypes take the floor first).
inline double LinspaceValue(const ProgramNode& n, int64_t i) {
  const int64_t num = n.leaf_shape.empty() ? 0 : n.leaf_shape[0];
  return element::Linspace(n.start, n.step, n.value, n.param_a, n.param_b, num,
                           n.dtype == DType::kInt64 || n.dtype == DType::kInt32, i);
}

/// dtype of a partial result of `op` over values of `dtype` (sum/prod: int64 for bool and ints,
/// else the float type; mean: float64; min/max: dtype; any/all: bool; argmin/argmax: float64
/// (value, index) pairs along an extra trailing axis of extent 2).
inline DType PartialDType(ReduceOp op, DType dtype) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kProd:
      return IsFloating(dtype) ? dtype : DType::kInt64;
    case ReduceOp::kMean:
      return DType::kFloat64;
    case ReduceOp::kMin:
    case ReduceOp::kMax:
      return dtype;
    case ReduceOp::kAny:
    case ReduceOp::kAll:
      return DType::kBool;
    case ReduceOp::kArgmin:
    case ReduceOp::kArgmax:
      return DType::kFloat64;  // (value, index) pairs: a trailing axis of 2
  }
  return dtype;
}

/// kChunk: a fused program over a region. kCombine: merges partials. kContract: the tensordot
/// of two materialised blocks (deps {a block, b block}) over `contract_a` / `contract_b`, as the
/// float64 (or int64, for integer and bool dtypes) partial of a sum. kLiteral: the block's
/// values are `literal` (host data from the client), of dtype finalize.out_dtype. kCall: the
/// registered function `function` applied to `call_args` (client.submit / delayed); its deps are
/// the keys (futures) the arguments refer to, and its result is a call::Value.
enum class TaskKind : int8_t { kChunk = 0, kCombine = 1, kContract = 2, kLiteral = 3, kCall = 4 };

/// One argument of a kCall task: a literal value, the value of dependency `dep` (an index into
/// TaskSpec::deps), or a list of arguments (so a list may hold futures: sum([f1, f2, 3])).
struct CallArg {
  enum class Kind : int8_t { kLiteral = 0, kRef = 1, kList = 2 };
  Kind kind = Kind::kLiteral;
  call::Value literal;
  int dep = -1;
  std::vector<CallArg> items;
  bool operator==(const CallArg&) const = default;
};

/// One materialised input chunk that a kChunk task reads.
struct InputChunk {
  int input = 0;            ///< index into ChunkProgram::inputs
  std::vector<int64_t> lo;  ///< the chunk's first element, in the input array's coordinates
  Shape shape;              ///< the chunk's shape
  bool operator==(const InputChunk&) const = default;
};

/// What to do to a result before it is stored as a final output chunk.
struct Finalize {
  bool enabled = false;
  double divide_by = 1;  ///< mean: the number of reduced elements
  Shape out_shape;       ///< reduced axes dropped unless keepdims
  DType out_dtype = DType::kFloat64;
  bool operator==(const Finalize&) const = default;
};

struct TaskSpec {
  std::string key;
  std::string group;              ///< task group for progress ("sum-3f2a9c")
  TaskKind kind = TaskKind::kChunk;
  std::vector<std::string> deps;  ///< kChunk: input chunk keys; kCombine: partials, in order
  // kChunk
  int program = -1;               ///< index into TaskGraph::programs
  std::vector<int64_t> lo, hi;    ///< region of the output space, half-open
  std::vector<InputChunk> input_chunks;  ///< parallel to deps
  // kCombine
  ReduceOp combine_op = ReduceOp::kSum;
  // kContract
  std::vector<int> contract_a, contract_b;
  // kLiteral: the block's bytes, C order, shape hi - lo
  std::string literal;
  // kCall
  std::string function;            ///< the registered function's name
  std::vector<CallArg> call_args;
  int retries = 0;                 ///< times the scheduler reruns the task after an error
  int priority = 0;                ///< higher runs first among ready tasks
  // both
  Finalize finalize;
  int64_t est_bytes = 0;          ///< estimated size of the result
  bool operator==(const TaskSpec&) const = default;
};

/// The result of lowering one expression.
struct TaskGraph {
  std::vector<ChunkProgram> programs;
  std::vector<TaskSpec> tasks;      ///< topological: dependencies first (existing keys excluded)
  std::vector<std::string> external_deps;  ///< keys the tasks read that already exist (kSource)
  // The result array
  std::string output_name;
  Shape shape;
  DType dtype = DType::kFloat64;
  Chunks chunks;
  std::vector<std::string> output_keys;  ///< one per output block, C order
  /// Optional (CallGraphFromProto fills it): for every task's deps in turn, the dep's index in
  /// `tasks` when it is an earlier task of this graph, else -1. Spares the scheduler a lookup
  /// of every key it was just given.
  std::vector<int32_t> dep_positions;
};

}  // namespace tessera::graph
