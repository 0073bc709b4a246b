/// \file tessera/tessera.h
/// The Tessera client library: the one header applications include.
///
/// Arrays are lazy expressions, as in dask.array: building one validates it (shape, dtype,
/// chunks) and computes nothing. A Client sends the expression to a scheduler, which lowers it
/// into chunk tasks for the workers; `compute` brings the result back to this process.
///
/// Errors: every function that can fail throws tessera::Error, whose code() is an
/// absl-compatible status code and whose what() is a one-line message naming the bad value.
///
///   auto client = tessera::Client::local();                       // embedded cluster
///   auto x = tessera::random::random({50000, 50000});             // auto chunks
///   double y = client.compute(tessera::exp(x).mean()).get().scalar<double>();
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "tessera/types.h"

namespace tessera {

namespace graph {
struct Node;
}

/// The exception thrown by the client library.
class Error : public std::runtime_error {
 public:
  /// `code` follows absl::StatusCode / grpc::StatusCode numbering (3 = INVALID_ARGUMENT, 14 =
  /// UNAVAILABLE, ...).
  Error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

/// One axis of a basic index: a slice `start:stop:step`, an integer, `newaxis` or `ellipsis`.
///   x[{Slice::Step(-1), Slice::Step(-1)}]     // x[::-1, ::-1]
///   x[{Slice(10, 20), 3, newaxis, ellipsis}]  // x[10:20, 3, None, ...]
class Index {
 public:
  enum class Kind : int8_t { kSlice, kInteger, kNewAxis, kEllipsis };
  Index(int64_t i) : kind_(Kind::kInteger), index_(i) {}  // NOLINT: implicit, as in x[3]
  Index(int i) : kind_(Kind::kInteger), index_(i) {}      // NOLINT
  Kind kind() const { return kind_; }
  int64_t integer() const { return index_; }
  const std::optional<int64_t>& start() const { return start_; }
  const std::optional<int64_t>& stop() const { return stop_; }
  const std::optional<int64_t>& step() const { return step_; }

 protected:
  Index(Kind kind, std::optional<int64_t> start, std::optional<int64_t> stop,
        std::optional<int64_t> step)
      : kind_(kind), start_(start), stop_(stop), step_(step) {}

 private:
  Kind kind_;
  int64_t index_ = 0;
  std::optional<int64_t> start_, stop_, step_;
};

/// Python's slice(start, stop, step); an empty optional is Python's None.
class Slice : public Index {
 public:
  Slice(std::optional<int64_t> start = std::nullopt, std::optional<int64_t> stop = std::nullopt,
        std::optional<int64_t> step = std::nullopt)
      : Index(Kind::kSlice, start, stop, step) {}
  /// `::step`, e.g. Slice::Step(-1) for `::-1`.
  static Slice Step(int64_t step) { return Slice(std::nullopt, std::nullopt, step); }
  /// `:` (the whole axis).
  static Slice All() { return Slice(); }
};

struct NewAxisT : Index {
  NewAxisT() : Index(Kind::kNewAxis, {}, {}, {}) {}
};
struct EllipsisT : Index {
  EllipsisT() : Index(Kind::kEllipsis, {}, {}, {}) {}
};
/// NumPy's None / np.newaxis in an index.
inline const NewAxisT newaxis{};
/// NumPy's `...` in an index.
inline const EllipsisT ellipsis{};

/// Options of a reduction.
struct ReduceOptions {
  std::vector<int> axis;    ///< empty: all axes; negative values count from the end
  bool keepdims = false;
  int split_every = 8;      ///< fan-in of the combine tree
};

/// Options of var / std: a reduction's options plus NumPy's `ddof` (delta degrees of freedom).
/// A separate struct, so that `ddof` cannot be passed to sum() where it would mean nothing:
///   x.var({.axis = {0}, .ddof = 1})    // dask's x.var(axis=0, ddof=1)
struct VarOptions {
  std::vector<int> axis;  ///< empty: all axes; negative values count from the end
  bool keepdims = false;
  double ddof = 0;      ///< the divisor is max(N - ddof, 0); must be >= 0
  int split_every = 8;  ///< fan-in of the combine tree
};

/// A lazy, chunked N-d array. Cheap to copy (shares the expression). Thread-compatible.
class Array {
 public:
  /// dask.array's properties.
  const Shape& shape() const;
  const Chunks& chunks() const;
  /// The largest chunk along each axis (dask's chunksize).
  Shape chunksize() const;
  DType dtype() const;
  int ndim() const;
  int64_t size() const;
  int64_t nbytes() const;
  int64_t npartitions() const;
  /// "tessera.array<exp, shape=(50000, 50000), dtype=float64, chunksize=(3125, 3125)>".
  std::string repr() const;

  /// Basic indexing (see Index). Throws Error for too many indices, an integer out of range or
  /// a zero step.
  Array operator[](std::initializer_list<Index> index) const;
  Array operator[](const std::vector<Index>& index) const;
  Array operator[](const Index& index) const;

  /// Reductions (dask.array's methods). Throw Error for an axis out of range or repeated.
  Array sum(const ReduceOptions& options = {}) const;
  Array prod(const ReduceOptions& options = {}) const;
  Array mean(const ReduceOptions& options = {}) const;
  Array min(const ReduceOptions& options = {}) const;
  Array max(const ReduceOptions& options = {}) const;
  /// Logical or / and of `x != 0` (NaN counts as true), as numpy.any / numpy.all: the result is
  /// bool, exact, and an empty reduction gives false (any) or true (all).
  Array any(const ReduceOptions& options = {}) const;
  Array all(const ReduceOptions& options = {}) const;
  /// Shorthand: x.sum({1, 2}) reduces axes 1 and 2.
  Array sum(std::initializer_list<int> axes) const { return sum(ReduceOptions{axes}); }
  Array mean(std::initializer_list<int> axes) const { return mean(ReduceOptions{axes}); }
  Array min(std::initializer_list<int> axes) const { return min(ReduceOptions{axes}); }
  Array max(std::initializer_list<int> axes) const { return max(ReduceOptions{axes}); }
  Array prod(std::initializer_list<int> axes) const { return prod(ReduceOptions{axes}); }
  Array any(std::initializer_list<int> axes) const { return any(ReduceOptions{axes}); }
  Array all(std::initializer_list<int> axes) const { return all(ReduceOptions{axes}); }

  /// numpy.var / numpy.std: the mean of the squared deviations from the mean, divided by
  /// max(N - ddof, 0) instead of N; computed in two passes as NumPy does (the mean, then the
  /// sum of squares of x - mean). Integer and bool inputs give float64. Throws Error for an axis
  /// out of range or repeated, or a negative ddof.
  Array var(const VarOptions& options = {}) const;
  Array std(const VarOptions& options = {}) const;
  /// numpy.argmin / argmax: the int64 index of the first minimum / maximum along `axis`, or in
  /// the flattened (C-order) array when `axis` is empty. NaN counts as both the minimum and the
  /// maximum, as in NumPy. Throws Error for an axis out of range or an empty array or axis.
  Array argmin(std::optional<int> axis = std::nullopt, bool keepdims = false,
               int split_every = 8) const;
  Array argmax(std::optional<int> axis = std::nullopt, bool keepdims = false,
               int split_every = 8) const;

  /// dask's x.rechunk(chunks): the same values with another chunk grid (see ChunkSpec: an int
  /// for every axis, -1 for a whole axis, auto, explicit block sizes). Throws Error for chunks
  /// that do not fit the shape (explicit sizes that do not sum to the extent, a zero chunk).
  Array rechunk(const ChunkSpec& chunks = {}) const;
  /// numpy.reshape in C order; one extent may be -1 (inferred from the size). The chunks are
  /// chosen so that every output chunk is one input chunk relabelled (dask's merge_chunks).
  /// Throws Error for a size mismatch ("cannot reshape array of size 6 into shape (4,)"), more
  /// than one -1 or a negative extent.
  Array reshape(const Shape& shape) const;
  /// numpy.dot(*this, other); see tessera::dot.
  Array dot(const Array& other) const;

  /// NumPy's transpose: output axis i is input axis axes[i]; empty `axes` reverses the axes.
  /// Chunks are permuted with the axes; nothing is copied (the permutation composes into the
  /// index maps of the fused chunk programs). Throws Error for a length other than ndim(), an
  /// axis out of range or a repeated axis.
  Array transpose(const std::vector<int>& axes = {}) const;
  /// dask.array's `x.T`: the axes reversed.
  Array T() const { return transpose(); }

  Array astype(DType dtype) const;
  Array operator-() const;

  /// The expression node (engine-internal; applications need not use it).
  const std::shared_ptr<const graph::Node>& node() const { return node_; }
  explicit Array(std::shared_ptr<const graph::Node> node) : node_(std::move(node)) {}

 private:
  std::shared_ptr<const graph::Node> node_;
};

/// Elementwise arithmetic with NumPy broadcasting and promotion; Python scalars on either side.
Array operator+(const Array& a, const Array& b);
Array operator-(const Array& a, const Array& b);
Array operator*(const Array& a, const Array& b);
Array operator/(const Array& a, const Array& b);
Array operator+(const Array& a, double b);
Array operator-(const Array& a, double b);
Array operator*(const Array& a, double b);
Array operator/(const Array& a, double b);
Array operator+(double a, const Array& b);
Array operator-(double a, const Array& b);
Array operator*(double a, const Array& b);
Array operator/(double a, const Array& b);
/// Python's `%` (numpy.remainder): the result has the sign of the divisor.
Array operator%(const Array& a, const Array& b);
Array operator%(const Array& a, double b);
Array operator%(double a, const Array& b);

/// Elementwise comparisons with NumPy broadcasting: bool arrays, lazy like every other op.
/// (operator== builds an array; it does not compare expressions.)
Array operator<(const Array& a, const Array& b);
Array operator<=(const Array& a, const Array& b);
Array operator>(const Array& a, const Array& b);
Array operator>=(const Array& a, const Array& b);
Array operator==(const Array& a, const Array& b);
Array operator!=(const Array& a, const Array& b);
Array operator<(const Array& a, double b);
Array operator<=(const Array& a, double b);
Array operator>(const Array& a, double b);
Array operator>=(const Array& a, double b);
Array operator==(const Array& a, double b);
Array operator!=(const Array& a, double b);
Array operator<(double a, const Array& b);
Array operator<=(double a, const Array& b);
Array operator>(double a, const Array& b);
Array operator>=(double a, const Array& b);
Array operator==(double a, const Array& b);
Array operator!=(double a, const Array& b);

/// Elementwise functions (NumPy's names).
Array negative(const Array& x);
Array abs(const Array& x);
Array exp(const Array& x);
Array log(const Array& x);
Array sqrt(const Array& x);
Array sin(const Array& x);
Array cos(const Array& x);
Array tan(const Array& x);
Array arcsin(const Array& x);
Array arccos(const Array& x);
Array arctan(const Array& x);
Array square(const Array& x);
Array expm1(const Array& x);
Array log1p(const Array& x);
Array log2(const Array& x);
Array log10(const Array& x);
Array sinh(const Array& x);
Array cosh(const Array& x);
Array tanh(const Array& x);
/// floor / ceil / round keep the dtype (round is half to even, as numpy.round with decimals=0).
Array floor(const Array& x);
Array ceil(const Array& x);
Array round(const Array& x);
/// -1, 0 or +1 (NaN stays NaN), in the input's dtype.
Array sign(const Array& x);
/// bool results.
Array isnan(const Array& x);
Array isfinite(const Array& x);

/// Elementwise binary functions; a `double` operand is a weakly typed Python scalar.
Array power(const Array& a, const Array& b);
Array power(const Array& a, double b);
Array power(double a, const Array& b);
Array maximum(const Array& a, const Array& b);
Array maximum(const Array& a, double b);
Array maximum(double a, const Array& b);
Array minimum(const Array& a, const Array& b);
Array minimum(const Array& a, double b);
Array minimum(double a, const Array& b);
/// Python's `//`: floor(a / b).
Array floor_divide(const Array& a, const Array& b);
Array floor_divide(const Array& a, double b);
Array floor_divide(double a, const Array& b);
/// Python's `%` (numpy.mod is numpy.remainder): the result has the sign of b.
Array mod(const Array& a, const Array& b);
Array mod(const Array& a, double b);
Array mod(double a, const Array& b);
Array remainder(const Array& a, const Array& b);
Array remainder(const Array& a, double b);
Array remainder(double a, const Array& b);
/// atan2(a, b) in radians, and sqrt(a*a + b*b) without overflow.
Array arctan2(const Array& a, const Array& b);
Array arctan2(const Array& a, double b);
Array arctan2(double a, const Array& b);
Array hypot(const Array& a, const Array& b);
Array hypot(const Array& a, double b);
Array hypot(double a, const Array& b);
/// The comparison operators by NumPy's names (bool results).
Array less(const Array& a, const Array& b);
Array less_equal(const Array& a, const Array& b);
Array greater(const Array& a, const Array& b);
Array greater_equal(const Array& a, const Array& b);
Array equal(const Array& a, const Array& b);
Array not_equal(const Array& a, const Array& b);

/// numpy.where(condition, a, b): elements of `a` where `condition` is true (non-zero), else of
/// `b`; the three broadcast together and the dtype is NumPy's result type of `a` and `b` (a
/// `double` is a weakly typed Python float). Throws Error for shapes that do not broadcast.
Array where(const Array& condition, const Array& a, const Array& b);
Array where(const Array& condition, const Array& a, double b);
Array where(const Array& condition, double a, const Array& b);
Array where(const Array& condition, double a, double b);

/// Reductions as free functions (dask.array's da.sum(x, axis=...)).
Array sum(const Array& x, const ReduceOptions& options = {});
Array mean(const Array& x, const ReduceOptions& options = {});
Array min(const Array& x, const ReduceOptions& options = {});
Array max(const Array& x, const ReduceOptions& options = {});
Array prod(const Array& x, const ReduceOptions& options = {});
Array any(const Array& x, const ReduceOptions& options = {});
Array all(const Array& x, const ReduceOptions& options = {});

/// da.var / da.std / da.argmin / da.argmax: see the methods of the same names. Call the free
/// std qualified (`tessera::std(x)`, or `x.std()`): unqualified, `std` also names the namespace.
Array var(const Array& x, const VarOptions& options = {});
Array std(const Array& x, const VarOptions& options = {});
Array argmin(const Array& x, std::optional<int> axis = std::nullopt, bool keepdims = false);
Array argmax(const Array& x, std::optional<int> axis = std::nullopt, bool keepdims = false);

/// numpy.transpose(x, axes): see Array::transpose.
Array transpose(const Array& x, const std::vector<int>& axes = {});
/// da.rechunk(x, chunks) and numpy.reshape(x, shape): see Array::rechunk / Array::reshape.
Array rechunk(const Array& x, const ChunkSpec& chunks = {});
Array reshape(const Array& x, const Shape& shape);

/// numpy.concatenate(arrays, axis): the arrays joined along an existing axis (negative counts
/// from the end). Shapes must agree except along `axis`; the dtype is the promoted dtype of
/// all inputs; the chunks along `axis` are the inputs' chunks one after another. Throws Error
/// for an empty list, 0-d arrays, an axis out of range or mismatched shapes.
Array concatenate(const std::vector<Array>& arrays, int axis = 0);
/// numpy.stack(arrays, axis): equal shapes joined along a new axis of extent arrays.size() at
/// `axis` (from -(ndim + 1) to ndim). Throws Error for an empty list, unequal shapes or an axis
/// out of range.
Array stack(const std::vector<Array>& arrays, int axis = 0);

/// What a summarised repr shows of `x` (NumPy's `_leading_trailing`): along every axis longer
/// than 2 * edge_items, the first and the last `edge_items` entries joined; other axes whole.
/// Lazy, like any slice: computing it computes only the blocks it reads, so a repr of an array of
/// any size costs a few small tasks (see NDArray::summary_repr). Throws Error for edge_items < 1.
Array leading_trailing(const Array& x, int64_t edge_items = 3);

/// numpy.matmul (Python's `@`): 1-D operands are promoted as NumPy does (a vector on the left
/// is a row, on the right a column, and the added axis is dropped again); leading batch axes
/// broadcast. Blockwise: the inputs are materialised and each output block sums the products
/// of the matching blocks. Throws Error for 0-d operands, mismatched inner extents ("size 4 is
/// different from 3") or batch shapes that do not broadcast.
Array matmul(const Array& a, const Array& b);
/// numpy.dot: 0-d operands multiply, 1-D by 1-D is the inner product, otherwise the sum over
/// a's last axis and b's second-to-last (its only one when 1-D). Throws Error for extents that
/// do not match ("shapes (2, 3) and (4,) not aligned").
Array dot(const Array& a, const Array& b);
/// numpy.tensordot(a, b, axes=N): sums products over the last N axes of `a` and the first N of
/// `b`, in order; the result's axes are a's free axes then b's. Throws Error for N < 0, N more
/// than either operand's ndim, or mismatched extents.
Array tensordot(const Array& a, const Array& b, int axes = 2);
/// numpy.tensordot(a, b, axes=(a_axes, b_axes)): sums over the paired axes (negative axes count
/// from the end):  tensordot(a, b, {{1, 0}, {0, 1}}). Throws Error for unequal list lengths,
/// mismatched extents, repeated or out-of-range axes.
Array tensordot(const Array& a, const Array& b,
                const std::pair<std::vector<int>, std::vector<int>>& axes);

/// Options of a creation function.
struct ArrayOptions {
  ChunkSpec chunks;                ///< default: auto
  DType dtype = DType::kFloat64;
};

/// The target size of "auto" chunks, as dask's `array.chunk-size` (default 128 MiB; the
/// environment variable TESSERA_ARRAY_CHUNK_SIZE, e.g. "64MiB", sets it for the process).
/// `da.ones((200000, 200000))` gets 4000 x 4000 chunks at 128 MiB. Throws Error for bytes <= 0.
void set_chunk_size(int64_t bytes);
int64_t chunk_size();

/// Creation (dask.array's names). Throw Error for a negative extent, a zero chunk, ...
Array ones(const Shape& shape, const ArrayOptions& options = {});
Array zeros(const Shape& shape, const ArrayOptions& options = {});
Array empty(const Shape& shape, const ArrayOptions& options = {});
Array full(const Shape& shape, double value, const ArrayOptions& options = {});
/// [start, stop) by step, as numpy.arange (dtype from options: float64 unless told; the CLI
/// picks int64 for integer arguments, as NumPy does).
Array arange(double start, double stop, double step = 1, const ArrayOptions& options = {});
Array arange(double stop, const ArrayOptions& options = {});
/// `num` evenly spaced values over [start, stop] (or [start, stop) without endpoint), as
/// numpy.linspace computes them: element i is i * step + start, step = (stop - start) / (num - 1)
/// (or / num), and the last one is exactly `stop` with endpoint. Integer dtypes take the floor.
/// Throws Error for a negative num.
Array linspace(double start, double stop, int64_t num = 50, bool endpoint = true,
               const ArrayOptions& options = {});

/// An array of host data (dask's from_array of a NumPy array): `nbytes` bytes at `data`, the
/// NumElements(shape) elements of options.dtype in C order, native (little-endian) byte order;
/// bool elements are one byte each, non-zero meaning true. The bytes are copied into the
/// expression, which carries them to the scheduler when computed: meant for small and medium
/// inputs, not for data that should be loaded by the workers. Throws Error when `nbytes` does
/// not match the shape and dtype, for a bad shape or for chunks that do not fit.
///   std::vector<float> v = ...;
///   auto x = tessera::from_buffer(v.data(), v.size() * sizeof(float), {100, 20},
///                                 {.chunks = 50, .dtype = tessera::DType::kFloat32});
Array from_buffer(const void* data, size_t nbytes, const Shape& shape,
                  const ArrayOptions& options = {});
/// Typed conveniences over from_buffer: the values (copied) in C order with the dtype of the
/// element type (float64, float32, int64, int32, bool). Throws Error if values.size() is not
/// the number of elements of `shape`.
///   auto x = tessera::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
Array from_vector(const std::vector<double>& values, const Shape& shape,
                  const ChunkSpec& chunks = {});
Array from_vector(const std::vector<float>& values, const Shape& shape,
                  const ChunkSpec& chunks = {});
Array from_vector(const std::vector<int64_t>& values, const Shape& shape,
                  const ChunkSpec& chunks = {});
Array from_vector(const std::vector<int32_t>& values, const Shape& shape,
                  const ChunkSpec& chunks = {});
Array from_vector(const std::vector<bool>& values, const Shape& shape,
                  const ChunkSpec& chunks = {});

// ---- NumPy / dask.array functions built from the operations above (array_compose.cc). Each
// is lazy and fuses like the operations it is made of; each throws Error with NumPy's message
// for a bad axis or argument.

/// Arrays shaped and chunked like `a`, of a's dtype unless `dtype` is given.
Array ones_like(const Array& a, std::optional<DType> dtype = std::nullopt);
Array zeros_like(const Array& a, std::optional<DType> dtype = std::nullopt);
Array empty_like(const Array& a, std::optional<DType> dtype = std::nullopt);
Array full_like(const Array& a, double fill_value, std::optional<DType> dtype = std::nullopt);
/// numpy.eye: n x m (m = n when empty), ones on the k-th diagonal. Generated where read.
Array eye(int64_t n, std::optional<int64_t> m = std::nullopt, int64_t k = 0,
          const ArrayOptions& options = {});
/// numpy.clip: minimum(maximum(x, a_min), a_max); one bound may be empty, not both.
Array clip(const Array& x, std::optional<double> a_min, std::optional<double> a_max);
/// numpy.round(x, decimals) as NumPy computes it: rint(x * 10^d) / 10^d for d > 0, rint(x /
/// 10^-d) * 10^-d for d < 0 (integers: unchanged for d >= 0, rounded and cast back for d < 0).
Array round(const Array& x, int decimals);
/// numpy.ravel: the array flattened in C order (reshape to (-1,)).
Array ravel(const Array& x);
/// numpy.squeeze: the axes of extent 1 (all, or `axes`) dropped.
Array squeeze(const Array& x, const std::vector<int>& axes = {});
/// numpy.expand_dims: new axes of extent 1 at `axes` (positions in the result).
Array expand_dims(const Array& x, const std::vector<int>& axes);
/// numpy.swapaxes / numpy.moveaxis: transposes.
Array swapaxes(const Array& x, int axis1, int axis2);
Array moveaxis(const Array& x, const std::vector<int>& source,
               const std::vector<int>& destination);
/// numpy.broadcast_to: x's values repeated along new leading axes and axes of extent 1. New and
/// stretched axes are one chunk each, as dask's.
Array broadcast_to(const Array& x, const Shape& shape);
/// numpy.isclose: |a - b| <= atol + rtol * |b| where both are finite, a == b elsewhere, and
/// NaN == NaN when equal_nan; bool. allclose: whether all are (a 0-d bool array).
Array isclose(const Array& a, const Array& b, double rtol = 1e-05, double atol = 1e-08,
              bool equal_nan = false);
Array allclose(const Array& a, const Array& b, double rtol = 1e-05, double atol = 1e-08,
               bool equal_nan = false);
/// numpy.diff: the n-th difference along `axis` (not_equal for bool, as NumPy).
Array diff(const Array& x, int n = 1, int axis = -1);
/// numpy.nansum / nanprod / nanmean / nanmin / nanmax: NaN left out (nanmin / nanmax of an
/// all-NaN slice is NaN, nanmean of one is NaN). On integers they are sum ... max.
Array nansum(const Array& x, const ReduceOptions& options = {});
Array nanprod(const Array& x, const ReduceOptions& options = {});
Array nanmean(const Array& x, const ReduceOptions& options = {});
Array nanmin(const Array& x, const ReduceOptions& options = {});
Array nanmax(const Array& x, const ReduceOptions& options = {});

namespace random {
/// Options of a random array: chunks, dtype and seed. Without a seed, a fresh one is drawn
/// from the operating system's entropy; Array::repr() and seed_of() report it.
struct RandomOptions {
  ChunkSpec chunks;
  DType dtype = DType::kFloat64;
  std::optional<uint64_t> seed;
};
/// Uniform on [0, 1).
Array random(const Shape& shape, const RandomOptions& options = {});
/// Uniform on [low, high).
Array uniform(double low, double high, const Shape& shape, const RandomOptions& options = {});
/// Normal with mean `loc` and standard deviation `scale`.
Array normal(double loc, double scale, const Shape& shape, const RandomOptions& options = {});
/// Options of randint: as RandomOptions, but the dtype is an integer type, int64 by default.
struct RandIntOptions {
  ChunkSpec chunks;
  DType dtype = DType::kInt64;
  std::optional<uint64_t> seed;
};
/// numpy.random.randint: integers uniform on [low, high), or on [0, low) when `high` is empty.
/// Each element is a pure function of (seed, low, high, flat index), rejection-free
/// multiply-shift (docs/random.md), so values do not depend on the chunking. Throws Error for
/// low >= high ("high <= 0" without high, as NumPy), a dtype other than int64/int32, bounds
/// that do not fit the dtype, or bounds beyond +-2^53 (they travel as float64).
///   auto x = tessera::random::randint(0, 10, {1000, 1000}, {.chunks = 250, .seed = 7});
Array randint(int64_t low, std::optional<int64_t> high = std::nullopt, const Shape& size = {},
              const RandIntOptions& options = {});
/// The seed of a random array built by this namespace (nullopt for other arrays).
std::optional<uint64_t> seed_of(const Array& x);

/// dask.array.random.RandomState: a stream of seeds, so that a program that seeds once draws the
/// same arrays on every run. The k-th array drawn (k = 0, 1, ...) from RandomState(s) has the
/// seed SplitMix64(s)'s k-th output (draw_seed(s, k)); its values are then those of the free
/// functions with that seed, at any chunking. Two arrays drawn one after the other differ, as
/// NumPy's and dask's do. Not thread-safe (as a NumPy Generator): one per thread.
///   tessera::random::RandomState rs(42);
///   auto x = rs.random({50000, 50000});   // the same array on every run
///   auto y = rs.normal(0, 1, {1000});     // another seed
class RandomState {
 public:
  /// Without a seed, one from the operating system's entropy.
  explicit RandomState(std::optional<uint64_t> seed = std::nullopt);
  /// Restarts the stream at `seed` (dask's RandomState.seed).
  void seed(std::optional<uint64_t> seed = std::nullopt);
  /// The free functions' arrays with the next seed of the stream. options.seed must be empty
  /// (the stream gives it): Throws Error otherwise.
  Array random(const Shape& size = {}, const RandomOptions& options = {});
  Array uniform(double low, double high, const Shape& size = {}, const RandomOptions& options = {});
  Array normal(double loc, double scale, const Shape& size = {}, const RandomOptions& options = {});
  Array randint(int64_t low, std::optional<int64_t> high = std::nullopt, const Shape& size = {},
                const RandIntOptions& options = {});
  /// The stream's seed, and how many arrays have been drawn since it was set.
  uint64_t stream_seed() const { return seed_; }
  uint64_t draws() const { return draws_; }

 private:
  uint64_t Next(const std::optional<uint64_t>& given, const char* what) const;
  template <typename Options, typename Make>
  Array Draw(const Options& options, const char* what, Make make);
  uint64_t seed_ = 0;
  uint64_t draws_ = 0;
};
/// The seed of the k-th array drawn from RandomState(seed): SplitMix64's k-th output (k from 0),
/// i.e. its finaliser applied to seed + (k + 1) * 0x9e3779b97f4a7c15.
uint64_t draw_seed(uint64_t seed, uint64_t k);
}  // namespace random

/// A computed array in this process's memory (a NumPy ndarray, in effect). Immutable: copies
/// share its bytes, so that Future::get(), which hands out the future's array each time, does not
/// copy a large result.
class NDArray {
 public:
  NDArray() = default;
  NDArray(DType dtype, Shape shape, std::vector<uint8_t> bytes);
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t size() const;
  /// Raw C-ordered bytes.
  const std::vector<uint8_t>& bytes() const;
  /// Element `i` (flat C-order index) as double.
  double at(int64_t i) const;
  /// The value of a 0-d (or one-element) array. Throws Error if the array has other sizes.
  template <typename T>
  T scalar() const {
    return static_cast<T>(ScalarAsDouble());
  }
  /// All elements as doubles, C order.
  std::vector<double> to_vector() const;
  /// NumPy's repr: "1.718281828459045" for scalars, "array([...])" otherwise; arrays of more
  /// than `threshold` elements are summarised with "..." as NumPy does.
  std::string repr(int64_t threshold = 1000) const;
  /// The summarised repr of an array of shape `shape`, of which this array holds only the
  /// elements shown: leading_trailing(x, 3) computed. Equal to the computed x's repr() where x has
  /// more than 1000 elements, without computing x. Throws Error when this array's shape is not
  /// that of leading_trailing(x, 3) for an x of shape `shape`.
  std::string summary_repr(const Shape& shape) const;

 private:
  double ScalarAsDouble() const;
  std::string Repr(const Shape& logical, bool summarise) const;
  DType dtype_ = DType::kFloat64;
  Shape shape_;
  std::shared_ptr<const std::vector<uint8_t>> bytes_;  ///< null: no bytes
};

/// One worker as the scheduler sees it.
struct WorkerInfo {
  std::string name;
  std::string address;  ///< its data service, tcp://host:port
  std::string kind;     ///< "cpu" or "cuda"
  int nthreads = 0;
  int64_t memory_limit = 0;  ///< bytes
  int64_t memory_used = 0;   ///< bytes of results held
  int64_t tasks_executing = 0;      ///< running on its threads (its last heartbeat)
  int64_t tasks_processing = 0;     ///< assigned and not finished: executing + ready
  int64_t tasks_stored = 0;         ///< results it holds
  std::string device;               ///< GPU name; "" for cpu workers
  int64_t device_memory_limit = 0;  ///< bytes
  int64_t device_memory_used = 0;   ///< bytes
  int64_t spilled_bytes = 0;        ///< bytes of results spilled to its local directory
  int64_t spilled_count = 0;        ///< how many results are spilled
  bool paused = false;              ///< above its memory pause mark: takes no new tasks
  double last_seen_ago = 0;         ///< seconds since the scheduler last heard from it
  bool retiring = false;            ///< being retired: no new tasks, its results move away
};

/// A worker closed by Client::retire_workers.
struct RetiredWorker {
  std::string name;
  std::string address;     ///< tcp://host:port
  int64_t keys_moved = 0;  ///< results copied to other workers before it closed
  int64_t bytes_moved = 0;
};

/// Client.scheduler_info().
struct SchedulerInfo {
  std::string address;
  std::string id;
  std::string dashboard;  ///< http://host:port/status of its dashboard; "" when it has none
  std::vector<WorkerInfo> workers;
  /// The adaptive recommendation by kind ("cpu", "cuda"): workers that would finish the current
  /// work within the scheduler's --adapt-target, within its --min/--max-workers.
  std::map<std::string, int64_t> desired_workers;
  int64_t scale_events = 0;  ///< changes of that recommendation so far
};

class ClientImpl;

/// Progress of a running computation: tasks finished out of total.
using ProgressCallback = std::function<void(int64_t done, int64_t total)>;

/// A ready-made text progress bar for compute()'s callback, as dask's ProgressBar: silent for
/// computations shorter than `minimum_seconds` (default 1, or $TESSERA_PROGRESS_MINIMUM); then
/// on a terminal a bar redrawn in place ("[#####-----]  45% | 450/1000 tasks | 1.2s"), else a
/// "progress: ..." line every 5 s, so batch logs get no carriage returns.
///
///   tessera::ProgressBar bar;
///   auto y = client.compute(x, bar.callback()).get();
///   bar.finish();
class ProgressBar {
 public:
  /// `out` is stderr when null; `minimum_seconds` < 0 means $TESSERA_PROGRESS_MINIMUM or 1 s.
  explicit ProgressBar(std::FILE* out = nullptr, double minimum_seconds = -1);
  /// Starts the clock (again) and returns the callback to pass to compute().
  ProgressCallback callback();
  void update(int64_t done, int64_t total);
  /// Ends a drawn bar with a newline.
  void finish();
  void set_enabled(bool enabled) { enabled_ = enabled; }

 private:
  std::FILE* out_;
  bool tty_;
  bool enabled_ = true;
  bool drawn_ = false;
  std::chrono::steady_clock::duration minimum_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

class Value;

/// A result that will be available later: of an array computation (Client::compute of an Array)
/// or of a function call (Client::submit, map, compute of a Delayed), as Dask's Future. Copies
/// share the result; the cluster keeps the value while any copy lives (or until release()).
/// Thread-safe.
class Future {
 public:
  /// Blocks until the result is here and returns it as an array: an array computation's value,
  /// or a call's ndarray or number (a 0-d array). Throws Error with the worker's message if a
  /// task erred (also when a dependency erred), CANCELLED after cancel(), FAILED_PRECONDITION for
  /// a call whose value is not a number or an ndarray (use result()), or UNAVAILABLE if the
  /// scheduler went away.
  NDArray get();
  /// Blocks until the result is here and returns it as a Value (any type a function returns;
  /// an array computation's value as an ndarray). Throws as get().
  Value result();
  /// True once get() would not block.
  bool done() const;
  /// The keys of the result (one per output chunk; a call has one).
  const std::vector<std::string>& keys() const;
  /// The key of a call ("inc-5f3a9c0e21d4b7a6-17"); for an array the first chunk's key.
  const std::string& key() const;
  /// Dask's Future.cancel(): the cluster forgets the task unless other futures or tasks need it
  /// (a task already running finishes, its result is dropped); get() then throws CANCELLED.
  void cancel();
  /// Drops this future's claim on the value (Dask's Future.release()); other copies become
  /// unusable. Called by the destructor of the last copy.
  void release();
  struct State;
  explicit Future(std::shared_ptr<State> state) : state_(std::move(state)) {}
  const std::shared_ptr<State>& state() const { return state_; }

 private:
  std::shared_ptr<State> state_;
};

/// The types of Value: a registered function takes and returns these.
enum class ValueType : int8_t {
  kNone = 0,
  kInt64 = 1,
  kFloat64 = 2,
  kString = 3,
  kBytes = 4,
  kArray = 5,
  kList = 6,
};

/// A value that registered functions take and return: none, int64, float64, a string, bytes, an
/// ndarray or a list of values. Implicit from C++ values, so `client.submit("inc", 1)` works:
///   Value(3), Value(2.5), Value("text"), Value::bytes("\x01\x02"), Value(ndarray),
///   Value(std::vector<Value>{1, 2, 3}), Value() (None).
/// Thread-compatible.
class Value {
 public:
  Value() = default;
  template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
  Value(T v) : type_(ValueType::kInt64), i_(static_cast<int64_t>(v)) {}  // NOLINT: implicit
  Value(double v) : type_(ValueType::kFloat64), f_(v) {}                 // NOLINT
  Value(const char* s) : type_(ValueType::kString), s_(s) {}             // NOLINT
  Value(std::string s) : type_(ValueType::kString), s_(std::move(s)) {}  // NOLINT
  Value(NDArray a);                                                      // NOLINT
  Value(std::vector<Value> items);                                       // NOLINT
  static Value bytes(std::string b);

  ValueType type() const { return type_; }
  bool is_none() const { return type_ == ValueType::kNone; }
  /// The int64 (also a float64 with an integral value is refused: no silent truncation). Throws
  /// Error (FAILED_PRECONDITION, naming the actual type) for other types; likewise below.
  int64_t as_int() const;
  /// An int64 or a float64 as double.
  double as_double() const;
  /// A string's or bytes' contents.
  const std::string& as_string() const;
  const NDArray& as_array() const;
  const std::vector<Value>& as_list() const;
  /// Python's repr: 3, 2.5, 'text', b'\x01', None, [1, 2], or the ndarray's repr.
  std::string repr() const;
  bool operator==(const Value& other) const;

 private:
  ValueType type_ = ValueType::kNone;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<const NDArray> array_;
  std::shared_ptr<const std::vector<Value>> list_;
};

/// A lazy call of a registered function (dask.delayed): building one computes nothing; its
/// arguments may be other Delayed calls, futures and values, forming a graph that
/// Client::compute or Client::persist sends to the cluster: in one message up to 8192 calls,
/// beyond that in batches of 8192 in dependency order, the first running while the next are
/// sent; every call is checked against the workers' functions before any batch goes, so a bad
/// call still refuses the whole graph before anything runs. Cheap to copy.
///   auto z = tessera::delayed("add")(tessera::delayed("inc")(1), tessera::delayed("dec")(2));
///   client.compute(z).result().as_int();   // 3
class Delayed {
 public:
  /// The call's key in the cluster ("add-5f3a9c0e21d4b7a6-3"); unique in this process.
  const std::string& key() const;
  /// The function's name ("" for a Delayed that stands for a persisted result).
  const std::string& function() const;
  struct Node;
  explicit Delayed(std::shared_ptr<const Node> node) : node_(std::move(node)) {}
  const std::shared_ptr<const Node>& node() const { return node_; }

 private:
  std::shared_ptr<const Node> node_;
};

/// An argument of a call: a Value (literal), a Future (its value; the call waits for it), a
/// Delayed (computed as part of the same graph) or a list of arguments (std::vector<Arg>, which
/// the function receives as a list). Implicit from all of these.
class Arg {
 public:
  enum class Kind : int8_t { kValue, kFuture, kDelayed, kList };
  template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
  Arg(T v) : value_(v) {}                                  // NOLINT: implicit on purpose
  Arg(double v) : value_(v) {}                             // NOLINT
  Arg(const char* s) : value_(s) {}                        // NOLINT
  Arg(std::string s) : value_(std::move(s)) {}             // NOLINT
  Arg(NDArray a) : value_(std::move(a)) {}                 // NOLINT
  Arg(Value v) : value_(std::move(v)) {}                   // NOLINT
  Arg(const Future& f);                                    // NOLINT
  Arg(const Delayed& d);                                   // NOLINT
  Arg(std::vector<Arg> items) : kind_(Kind::kList), items_(std::move(items)) {}  // NOLINT
  Arg(const std::vector<Future>& futures);                 // NOLINT
  Arg(const std::vector<Delayed>& delayed);                // NOLINT

  Kind kind() const { return kind_; }
  const Value& value() const { return value_; }
  const std::shared_ptr<Future::State>& future() const { return future_; }
  Delayed delayed() const { return Delayed(delayed_); }
  const std::vector<Arg>& items() const { return items_; }

 private:
  friend struct Delayed::Node;
  Kind kind_ = Kind::kValue;
  Value value_;
  std::shared_ptr<Future::State> future_;
  std::shared_ptr<const Delayed::Node> delayed_;
  std::vector<Arg> items_;
};

/// `tessera::delayed("add")` : calling it builds a Delayed: delayed("add")(x, 1).
class DelayedFunction {
 public:
  explicit DelayedFunction(std::string function) : function_(std::move(function)) {}
  template <typename... A>
  Delayed operator()(A&&... args) const {
    return Call(std::vector<Arg>{Arg(std::forward<A>(args))...});
  }
  Delayed Call(std::vector<Arg> args) const;

 private:
  std::string function_;
};

/// dask.delayed for a registered function (by name: no code travels to the workers). The
/// function is checked when the graph is computed, not here.
inline DelayedFunction delayed(std::string function) { return DelayedFunction(std::move(function)); }

/// Per-call options of Client::submit_with / map / compute.
struct SubmitOptions {
  int retries = 0;   ///< reruns after an error (perhaps on another worker) before it errs
  int priority = 0;  ///< > 0: ahead of queued tasks; < 0: behind them (Dask's priority, coarse)
};

/// Options of Client::local().
struct LocalClusterOptions {
  int n_workers = 0;           ///< 0: 2 workers, or 1 on a one-core machine
  int threads_per_worker = 0;  ///< 0: cores / n_workers (at least 1)
  int64_t memory_limit = 0;    ///< per worker, bytes; 0: system memory / n_workers
  bool quiet = true;           ///< keep the embedded processes' INFO logs off stderr
  /// Dask's LocalCluster(...).adapt(minimum, maximum): with adapt_maximum > 0 the cluster starts
  /// with adapt_minimum workers and adds or retires workers (gracefully: results move first) as
  /// the scheduler's recommendation says; n_workers is then ignored.
  int adapt_minimum = 0;
  int adapt_maximum = 0;
  double adapt_target_seconds = 5;  ///< finish the queued work within this many seconds
};

/// Options of Client::connect().
struct ConnectOptions {
  std::chrono::milliseconds timeout{5000};  ///< how long to wait for the scheduler
};

/// A connection to a scheduler. Thread-safe. Move-only; destroying it releases its keys (and
/// stops an embedded cluster).
class Client {
 public:
  /// Connects to "tcp://host:port", "host:port" or "[v6]:port". Throws Error (UNAVAILABLE,
  /// naming the address) if no scheduler answers within options.timeout.
  static Client connect(const std::string& address, const ConnectOptions& options = {});
  /// Starts an embedded cluster in this process: the real scheduler and workers on loopback
  /// ports, running the same code as the standalone processes.
  static Client local(const LocalClusterOptions& options = {});

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  /// Submits `x` and returns a future of its value.
  Future compute(const Array& x, ProgressCallback progress = nullptr);
  /// Submits `x` and returns an array backed by its computed chunks, which stay in the
  /// workers' memory for as long as this client lives.
  Array persist(const Array& x);
  // ---- Function calls (Dask's futures and delayed) ----
  // Functions are registered in the workers by name (built-ins: inc, dec, add, sum of a list,
  // sleep, identity, noop; plugins: `cpu-worker --preload lib.so`). Every submit is checked
  // against the signatures the workers offer before anything runs: a function no worker offers
  // throws Error NOT_FOUND naming it; wrong argument counts or types throw INVALID_ARGUMENT
  // naming the function, its signature and the types given. A function that fails at run time
  // errs its task (and the tasks depending on it): get()/result() rethrow the worker's message.

  /// client.submit(func, *args): runs `function` on the arguments (values, futures, lists) and
  /// returns at once.  client.submit("add", client.submit("inc", 1), 2).result() == 4.
  template <typename... A>
  Future submit(const std::string& function, A&&... args) {
    return submit_args(function, std::vector<Arg>{Arg(std::forward<A>(args))...}, {});
  }
  /// submit with retries / priority: client.submit_with({.retries = 2}, "flaky", x).
  template <typename... A>
  Future submit_with(const SubmitOptions& options, const std::string& function, A&&... args) {
    return submit_args(function, std::vector<Arg>{Arg(std::forward<A>(args))...}, options);
  }
  Future submit_args(const std::string& function, std::vector<Arg> args,
                     const SubmitOptions& options = {});
  /// client.map(func, values): one call per value, sent in one message.
  std::vector<Future> map(const std::string& function, const std::vector<Arg>& values,
                          const SubmitOptions& options = {});
  /// client.gather(futures): waits for all and returns their values, fetched in batches (much
  /// faster than result() on each). Throws as Future::result() for the first that erred.
  std::vector<Value> gather(const std::vector<Future>& futures);
  /// Sends the graph of `x` (and every Delayed it uses) and returns a future of its value.
  Future compute(const Delayed& x, const SubmitOptions& options = {});
  std::vector<Future> compute(const std::vector<Delayed>& xs, const SubmitOptions& options = {});
  /// Dask's persist of a Delayed: starts computing at once and returns a Delayed that stands for
  /// the result held in the cluster, to be used in later graphs; does not wait.
  Delayed persist(const Delayed& x, const SubmitOptions& options = {});
  std::vector<Delayed> persist(const std::vector<Delayed>& xs, const SubmitOptions& options = {});
  /// Cancels each future (Future::cancel).
  void cancel(const std::vector<Future>& futures);
  /// The functions the workers offer: "add(number, number) -> number", ..., sorted.
  std::vector<std::string> functions();

  /// Workers, threads and memory.
  SchedulerInfo scheduler_info();
  /// Dask's client.retire_workers: closes the named workers (names or addresses) gracefully.
  /// Each gets no new tasks, finishes what it runs, and the results only it holds are copied to
  /// other workers before it exits, so nothing is recomputed. Returns once they are gone. Throws
  /// for an unknown worker, for a worker holding results when no other worker could take them,
  /// and when they are not gone within `timeout_seconds`.
  std::vector<RetiredWorker> retire_workers(const std::vector<std::string>& workers,
                                            double timeout_seconds = 60);
  /// Scaling down: retires up to `count` idle workers of `kind`, chosen by the scheduler (those
  /// holding the fewest results no other worker has), as retire_workers does. Returns those
  /// retired, possibly fewer (none idle) or none.
  std::vector<RetiredWorker> retire_idle_workers(const std::string& kind, int64_t count,
                                                 double timeout_seconds = 60);
  /// The scheduler's address, tcp://host:port.
  std::string address() const;

 private:
  explicit Client(std::unique_ptr<ClientImpl> impl);
  std::unique_ptr<ClientImpl> impl_;
};

/// The library version, "0.1.0".
std::string version();

}  // namespace tessera
