// The high-level expression graph: what a client builds and submits, and what the scheduler
// lowers into chunk tasks (lowering.h). Pure data, no I/O.
//
// An expression is a DAG of immutable nodes shared by std::shared_ptr. Every constructor
// function below validates its inputs and infers shape, dtype and chunks, so an invalid
// expression cannot be built: errors are returned as absl::Status naming the bad value.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dtype.h"
#include "common/shape.h"
#include "graph/ops.h"

namespace tessera::graph {

enum class OpKind : int8_t {
  kFull = 0,     ///< ones, zeros, full, empty: every element `value`.
  kArange = 1,   ///< 1-D: element i = start + i * step.
  kRandom = 2,   ///< Philox counter-mode random numbers (common/philox.h).
  kSource = 3,   ///< An array already materialised in the cluster (persist): chunk keys.
  kScalar = 4,   ///< A Python scalar operand (0-d, weakly typed as NumPy does).
  kUnary = 5,
  kBinary = 6,
  kSlice = 7,    ///< Basic indexing: slices with steps, integers, None (new axis).
  kReduce = 8,
  kTranspose = 9,  ///< Permutes axes: output axis i is input axis `axes[i]`.
  kLinspace = 10,  ///< 1-D: numpy.linspace(start, stop, num, endpoint), see Linspace().
  kWhere = 11,     ///< numpy.where(c, a, b): inputs {c, a, b}, broadcast together.
  kRechunk = 12,   ///< The input with another chunk grid (fused: only the task regions change).
  kConcatenate = 13,  ///< inputs joined along axes[0]; each already cast to the result dtype.
  kReshape = 14,   ///< C-order reshape; chunks from ReshapeChunks(). Materialised.
  kTensordot = 15, ///< numpy.tensordot(a, b, (axes, axes_b)). Inputs materialised.
  kFromBuffer = 16,  ///< Host data sent by the client (`data`, C order, little-endian).
};

/// NumPy's name of the op ("exp", "add", "sum"...).
std::string_view UnaryOpName(UnaryOp op);
std::string_view BinaryOpName(BinaryOp op);
std::string_view ReduceOpName(ReduceOp op);

/// One axis of a basic index, after normalisation against the input extent.
struct AxisIndex {
  enum class Kind : int8_t { kSlice = 0, kInteger = 1, kNewAxis = 2 };
  Kind kind = Kind::kSlice;
  /// kSlice: the first element read, the step (non-zero, may be negative) and the number of
  /// elements, all resolved as Python's slice.indices() does. kInteger: `start` is the index.
  int64_t start = 0;
  int64_t step = 1;
  int64_t length = 0;
};

/// An index as a user writes it, before normalisation: slices with optional bounds, integers
/// (negative counts from the end), None and Ellipsis.
struct IndexItem {
  enum class Kind : int8_t { kSlice = 0, kInteger = 1, kNewAxis = 2, kEllipsis = 3 };
  Kind kind = Kind::kSlice;
  std::optional<int64_t> start, stop, step;  ///< kSlice
  int64_t index = 0;                          ///< kInteger
  static IndexItem Slice(std::optional<int64_t> start = {}, std::optional<int64_t> stop = {},
                         std::optional<int64_t> step = {});
  static IndexItem Integer(int64_t i);
  static IndexItem NewAxis();
  static IndexItem Ellipsis();
};

struct Node;
using NodePtr = std::shared_ptr<const Node>;

/// One node of the expression DAG. Immutable once built.
struct Node {
  OpKind kind = OpKind::kFull;
  DType dtype = DType::kFloat64;
  Shape shape;
  Chunks chunks;  ///< Output chunk grid (kScalar: empty).
  std::vector<NodePtr> inputs;

  // Parameters; which ones apply depends on `kind`.
  double value = 0;           ///< kFull, kScalar: the value (kScalar also keeps `scalar_is_float`).
  bool scalar_is_float = true;
  double start = 0, step = 1; ///< kArange; kLinspace: start and NumPy's step
  double stop = 0;            ///< kLinspace
  bool endpoint = true;       ///< kLinspace
  RandomDist dist = RandomDist::kUniform;
  uint64_t seed = 0;          ///< kRandom
  double param_a = 0, param_b = 1;  ///< kRandom: uniform low/high, normal mean/std
  UnaryOp unary = UnaryOp::kNegative;
  BinaryOp binary = BinaryOp::kAdd;
  std::vector<AxisIndex> index;   ///< kSlice: one entry per output-producing item, see Slice()
  ReduceOp reduce = ReduceOp::kSum;
  std::vector<int> axes;          ///< kReduce: sorted, unique, non-negative;
                                  ///< kTranspose: the permutation, non-negative;
                                  ///< kConcatenate: {axis}; kTensordot: a's contracted axes
  std::vector<int> axes_b;        ///< kTensordot: b's contracted axes, paired with `axes`
  bool keepdims = false;
  int split_every = 8;            ///< kReduce: fan-in of the combine tree
  std::string source_name;        ///< kSource: key prefix; chunk keys are KeyFor(name, block)
  std::shared_ptr<const std::string> data;  ///< kFromBuffer: NumElements(shape) items of dtype
};

// ---- Constructors. Each validates and returns a node with shape, dtype and chunks set. ----

absl::StatusOr<NodePtr> Full(const Shape& shape, double value, DType dtype, const ChunkSpec& chunks,
                             int64_t chunk_target_bytes = kDefaultChunkBytes);
absl::StatusOr<NodePtr> Arange(double start, double stop, double step, DType dtype,
                               const ChunkSpec& chunks,
                               int64_t chunk_target_bytes = kDefaultChunkBytes);
absl::StatusOr<NodePtr> Random(const Shape& shape, RandomDist dist, double a, double b,
                               uint64_t seed, DType dtype, const ChunkSpec& chunks,
                               int64_t chunk_target_bytes = kDefaultChunkBytes);
/// numpy.linspace: `num` values from `start` to `stop` (included when `endpoint`), element i
/// computed as NumPy does: i * step + start with step = (stop - start) / div, div = num - 1
/// (endpoint) or num; (i / div) * (stop - start) + start when step is 0; the last element is
/// exactly `stop` when endpoint and num > 1; integer dtypes take the floor. Errors: num < 0.
absl::StatusOr<NodePtr> Linspace(double start, double stop, int64_t num, bool endpoint, DType dtype,
                                 const ChunkSpec& chunks,
                                 int64_t chunk_target_bytes = kDefaultChunkBytes);
/// An array held in the cluster under keys KeyFor(name, block index).
absl::StatusOr<NodePtr> Source(std::string name, const Shape& shape, DType dtype, Chunks chunks);
NodePtr Scalar(double value, bool is_float);
absl::StatusOr<NodePtr> Unary(UnaryOp op, NodePtr x, std::optional<DType> astype = {});
/// NumPy broadcasting; a kScalar operand is broadcast too.
absl::StatusOr<NodePtr> Binary(BinaryOp op, NodePtr a, NodePtr b);
/// Basic indexing with Python semantics (errors: too many indices, integer out of range, zero
/// step).
absl::StatusOr<NodePtr> Slice(NodePtr x, const std::vector<IndexItem>& items);
/// `axes` empty means all axes; negative axes count from the end; duplicates and out-of-range
/// axes are errors.
absl::StatusOr<NodePtr> Reduce(ReduceOp op, NodePtr x, std::vector<int> axes, bool keepdims,
                               int split_every = 8);

/// NumPy's transpose: output axis i is input axis axes[i]. `axes` empty means reversed axes;
/// negative axes count from the end. Errors: a length other than the rank, an axis out of
/// range, a repeated axis.
absl::StatusOr<NodePtr> Transpose(NodePtr x, std::vector<int> axes = {});

/// numpy.where(c, a, b): elements of `a` where `c` is true (non-zero), else of `b`; the three
/// broadcast together; the dtype is NumPy's result type of a and b (Python scalars weak).
absl::StatusOr<NodePtr> Where(NodePtr c, NodePtr a, NodePtr b);

/// numpy.var / numpy.std: sum((x - mean(x))**2) / max(n - ddof, 0) over `axes` (empty: all),
/// built from mean, subtract, square, sum and divide as NumPy computes it (two passes).
/// Errors: as Reduce, and a negative ddof.
absl::StatusOr<NodePtr> Var(NodePtr x, std::vector<int> axes, bool keepdims, double ddof,
                            int split_every = 8);
absl::StatusOr<NodePtr> Std(NodePtr x, std::vector<int> axes, bool keepdims, double ddof,
                            int split_every = 8);

/// numpy.argmin / argmax over one axis, or over the flattened array when `axis` is empty;
/// int64 result. Errors: axis out of range, an empty array or axis.
absl::StatusOr<NodePtr> ArgReduce(ReduceOp op, NodePtr x, std::optional<int> axis,
                                  bool keepdims = false, int split_every = 8);

/// dask's x.rechunk(chunks). Fused: only the chunk grid of the tasks changes (a materialised
/// input is read through its own chunks). Errors: chunks that do not fit the shape.
absl::StatusOr<NodePtr> Rechunk(NodePtr x, const ChunkSpec& chunks,
                                int64_t chunk_target_bytes = kDefaultChunkBytes);

/// numpy.concatenate(arrays, axis): shapes must agree except along `axis`; the dtype is the
/// promoted dtype of all inputs; chunks along `axis` are the inputs' chunks one after another.
absl::StatusOr<NodePtr> Concatenate(const std::vector<NodePtr>& arrays, int axis = 0);
/// numpy.stack(arrays, axis): equal shapes, a new axis of extent len(arrays) at `axis`.
absl::StatusOr<NodePtr> Stack(const std::vector<NodePtr>& arrays, int axis = 0);

/// numpy.reshape in C order; one extent may be -1 (inferred). The result's chunks are chosen
/// with ReshapeChunks so that every output chunk is one input chunk relabelled.
/// Errors: a size mismatch, more than one -1, a negative extent.
absl::StatusOr<NodePtr> Reshape(NodePtr x, Shape shape);

/// For a C-order reshape of an array of shape `in_shape` and chunks `in_chunks` into
/// `out_shape` (same size): the input chunking the reshape reads (`first`) and the output's
/// chunking (`second`), such that output block i holds exactly the elements of input block i'
/// in the same order, where i' maps block indices group by group (see Reshape()).
std::pair<Chunks, Chunks> ReshapeChunks(const Shape& in_shape, const Chunks& in_chunks,
                                        const Shape& out_shape);

/// numpy.tensordot(a, b, (a_axes, b_axes)): sums products over the paired axes (equal
/// extents); the result's axes are a's free axes then b's. Errors: unequal pair counts,
/// mismatched extents, repeated or out-of-range axes.
absl::StatusOr<NodePtr> Tensordot(NodePtr a, NodePtr b, std::vector<int> a_axes,
                                  std::vector<int> b_axes);
/// numpy.matmul (`@`): 1-D operands are promoted as NumPy does; leading (batch) axes broadcast.
/// Errors: 0-d operands, mismatched inner extents, batch shapes that do not broadcast.
absl::StatusOr<NodePtr> Matmul(NodePtr a, NodePtr b);
/// numpy.dot: 0-d operands multiply, 1-D by 1-D is the inner product, otherwise the sum over
/// a's last axis and b's second-to-last (its only, when 1-D).
absl::StatusOr<NodePtr> Dot(NodePtr a, NodePtr b);

/// The most host data one from_buffer node carries: the data travel inside the submitted graph
/// (one gRPC message of at most 64 MiB).
inline constexpr int64_t kMaxFromBufferBytes = int64_t{32} << 20;

/// An array from host memory: NumElements(shape) values of `dtype` in C order, copied.
/// Errors: a size that does not match the shape or exceeds kMaxFromBufferBytes, chunks that do
/// not fit.
absl::StatusOr<NodePtr> FromBuffer(std::string bytes, const Shape& shape, DType dtype,
                                   const ChunkSpec& chunks,
                                   int64_t chunk_target_bytes = kDefaultChunkBytes);

/// The key of block `index` of an array named `name`: "name/i,j,k" ("name/" for 0-d).
std::string KeyFor(std::string_view name, const std::vector<int64_t>& block_index);

/// A stable content hash of the DAG under `node` (hex), used to name lowered task groups as
/// dask's tokenize does: the same expression gets the same keys.
std::string Token(const NodePtr& node);

}  // namespace tessera::graph
