// Chunk programs on the device: see chunk_kernels.h.
//
// Compiled with --fmad=false, as the CPU kernels are with -ffp-contract=off: no multiply-add is
// contracted into an FMA, so a + width * u (random uniforms), start + step * i (arange) and
// every +, -, *, / give the CPU's bits.
#include "kernels/chunk_kernels.h"

#include <cub/block/block_reduce.cuh>
#include <cub/device/device_reduce.cuh>
#include <cub/device/device_segmented_reduce.cuh>
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/system/cuda/execution_policy.h>

#include <exception>
#include <string>

#include "common/element_ops.h"
#include "common/philox.h"

namespace tessera::cuda {
namespace {

using graph::BinaryOp;
using graph::RandomDist;
using graph::ReduceOp;
using graph::UnaryOp;

KernelStatus FromCuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return {};
  KernelStatus s;
  s.code = err == cudaErrorMemoryAllocation ? 1 : 2;
  s.message = std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) +
              ")";
  return s;
}

__device__ __forceinline__ bool IsIntegerDType(DType d) {
  return d == DType::kInt64 || d == DType::kInt32 || d == DType::kBool;
}

// A random leaf's value at flat index `index` (the CPU's RandomBlock, element by element).
__device__ __forceinline__ double RandomValue(const DeviceNode& n, int64_t index) {
  const philox::Block blk = philox::ElementBlock(n.seed, static_cast<uint64_t>(index));
  if (static_cast<RandomDist>(n.dist) == RandomDist::kNormal) {
    return n.a + n.b * philox::NormalDouble(blk);
  }
  switch (n.dtype) {
    case DType::kFloat64:
      return n.a + (n.b - n.a) * philox::UniformDouble(blk);
    case DType::kFloat32:
      return n.a + (n.b - n.a) * static_cast<double>(philox::UniformFloat(blk));
    default:
      return static_cast<double>(
          philox::RandInt(blk, element::ToInt64(n.a), element::ToInt64(n.b)));
  }
}

// numpy.linspace's element i (graph::LinspaceValue).
__device__ __forceinline__ double LinspaceValue(const DeviceNode& n, int64_t i) {
  return element::Linspace(n.start, n.step, n.value, n.a, n.b, n.num,
                           n.dtype == DType::kInt64 || n.dtype == DType::kInt32, i);
}

// The program's root value at global output coordinates `c`: every node in order, each rounded
// to its dtype, as the CPU executor's EvalBlock does for a block.
// Not inlined: every Thrust and CUB instantiation below calls this one copy (inlined, the math
// library of every op would be compiled once per reduction kind and output type).
__device__ __noinline__ double EvalProgram(const DeviceChunkTask& t, const int64_t* c) {
  double v[kMaxNodes];
  for (int i = 0; i < t.num_nodes; ++i) {
    const DeviceNode& n = t.nodes[i];
    int64_t flat = 0;
    if (n.kind == NodeKind::kArange || n.kind == NodeKind::kLinspace ||
        n.kind == NodeKind::kRandom || n.kind == NodeKind::kInput) {
      flat = n.base;
      for (int k = 0; k < t.ndim; ++k) flat += n.coef[k] * c[k];
    }
    double x = 0;
    switch (n.kind) {
      case NodeKind::kFull:
      case NodeKind::kScalar:
        x = n.value;
        break;
      case NodeKind::kArange:
        x = n.start + n.step * static_cast<double>(flat);
        break;
      case NodeKind::kLinspace:
        x = LinspaceValue(n, flat);
        break;
      case NodeKind::kRandom:
        x = RandomValue(n, flat);
        break;
      case NodeKind::kInput:
        x = n.window[flat];
        break;
      case NodeKind::kUnary:
        x = element::Unary(static_cast<UnaryOp>(n.op), v[n.arg0]);
        break;
      case NodeKind::kBinary:
        x = element::Binary(static_cast<BinaryOp>(n.op), IsIntegerDType(n.dtype), v[n.arg0],
                            v[n.arg1]);
        break;
      case NodeKind::kWhere:
        x = v[n.arg0] != 0 ? v[n.arg1] : v[n.arg2];  // NaN is true, as NumPy
        break;
    }
    v[i] = element::RoundValue(n.dtype, x);
  }
  return v[t.num_nodes - 1];
}

// The row walker (Materialize, and Reduce to one partial): the region is seen as rows along its
// last axis, cut into tiles of kTile elements; a block takes tiles in turn, and each thread
// evaluates kItems elements of a tile kThreads apart, so that neighbouring threads touch
// neighbouring elements (coalesced) and no element needs a division to find its coordinates.
// Per tile, one thread per leaf computes the leaf's flat index at the row's first element into
// shared memory; an element's flat index is then that plus coef[last] times its column.
constexpr int kThreads = 256;
constexpr int kItems = 4;
constexpr int64_t kTile = int64_t{kThreads} * kItems;
/// Rows shorter than this go to the element-wise path (a tile would be mostly idle).
constexpr int64_t kMinRow = kThreads;

struct RowPlan {
  int64_t rows = 1, cols = 1, col_tiles = 1, tiles = 1;
};

RowPlan PlanRows(const DeviceChunkTask& t) {
  RowPlan r;
  r.cols = t.ndim > 0 ? t.region[t.ndim - 1] : 1;
  for (int k = 0; k + 1 < t.ndim; ++k) r.rows *= t.region[k];
  r.col_tiles = (r.cols + kTile - 1) / kTile;
  r.tiles = r.rows * r.col_tiles;
  return r;
}

/// Blocks per launch: a function of the shape alone, so that a reduction's order (and its bits)
/// is the same on every device and every run.
unsigned GridFor(const RowPlan& r) {
  return static_cast<unsigned>(r.tiles < 4096 ? r.tiles : 4096);
}

// In shared memory, declared as raw bytes (a __shared__ variable may not have a constructor, and
// DeviceNode's members have initialisers).
struct SharedProgram {
  DeviceNode nodes[kMaxNodes];
  int64_t row_flat[kMaxNodes];  // leaves: flat index at the current row's column 0
  int64_t col_coef[kMaxNodes];  // leaves: coef of the last axis
  int8_t inputs[kMaxNodes];     // the kInput nodes, whose loads each tile prefetches
  int num_inputs;
};

#define TESSERA_SHARED_PROGRAM(name)                                   \
  __shared__ alignas(8) unsigned char name##_raw[sizeof(SharedProgram)]; \
  SharedProgram& name = *reinterpret_cast<SharedProgram*>(name##_raw)

__device__ void LoadProgram(const DeviceChunkTask& t, SharedProgram& sp) {
  const auto* src = reinterpret_cast<const uint64_t*>(t.nodes);
  auto* dst = reinterpret_cast<uint64_t*>(sp.nodes);
  const int words = t.num_nodes * static_cast<int>(sizeof(DeviceNode) / sizeof(uint64_t));
  for (int w = threadIdx.x; w < words; w += blockDim.x) dst[w] = src[w];
  __syncthreads();
  if (threadIdx.x == 0) {  // visible to all after StartRow's first barrier
    int m = 0;
    for (int i = 0; i < t.num_nodes; ++i) {
      if (sp.nodes[i].kind == NodeKind::kInput) sp.inputs[m++] = static_cast<int8_t>(i);
    }
    sp.num_inputs = m;
  }
}

// Called by the whole block for each tile: the leaves' flat indices at column 0 of `row`.
__device__ void StartRow(const DeviceChunkTask& t, SharedProgram& sp, int64_t row) {
  __syncthreads();  // every thread is done with the previous row
  const int i = threadIdx.x;
  if (i < t.num_nodes) {
    const DeviceNode& n = sp.nodes[i];
    int64_t flat = n.base, r = row;
    for (int k = t.ndim - 2; k >= 0; --k) {
      const int64_t e = t.region[k];
      flat += n.coef[k] * (t.lo[k] + r % e);
      r /= e;
    }
    const int64_t col_coef = t.ndim > 0 ? n.coef[t.ndim - 1] : 0;
    if (t.ndim > 0) flat += col_coef * t.lo[t.ndim - 1];
    sp.row_flat[i] = flat;
    sp.col_coef[i] = col_coef;
  }
  __syncthreads();
}

// The program's root value at column `col` of the current row (EvalProgram's evaluation, the
// leaves' indices from StartRow). Inlined into RowKernel, its only caller: one copy, without
// the cost of a call per element.
__device__ __forceinline__ double EvalRow(const SharedProgram& sp, int num_nodes, int64_t col) {
  double v[kMaxNodes];
  for (int i = 0; i < num_nodes; ++i) {
    const DeviceNode& n = sp.nodes[i];
    double x = 0;
    switch (n.kind) {
      case NodeKind::kFull:
      case NodeKind::kScalar:
        x = n.value;
        break;
      case NodeKind::kArange:
        x = n.start + n.step * static_cast<double>(sp.row_flat[i] + sp.col_coef[i] * col);
        break;
      case NodeKind::kLinspace:
        x = LinspaceValue(n, sp.row_flat[i] + sp.col_coef[i] * col);
        break;
      case NodeKind::kRandom:
        x = RandomValue(n, sp.row_flat[i] + sp.col_coef[i] * col);
        break;
      case NodeKind::kInput:
        x = n.window[sp.row_flat[i] + sp.col_coef[i] * col];
        break;
      case NodeKind::kUnary:
        x = element::Unary(static_cast<UnaryOp>(n.op), v[n.arg0]);
        break;
      case NodeKind::kBinary:
        x = element::Binary(static_cast<BinaryOp>(n.op), IsIntegerDType(n.dtype), v[n.arg0],
                            v[n.arg1]);
        break;
      case NodeKind::kWhere:
        x = v[n.arg0] != 0 ? v[n.arg1] : v[n.arg2];  // NaN is true, as NumPy
        break;
    }
    v[i] = n.dtype == DType::kFloat64 ? x : element::RoundValue(n.dtype, x);
  }
  return v[num_nodes - 1];
}

// Element `i` of the region in C order, evaluated.
// Regions of fewer than 2^32 elements (all but the largest) decompose `i` in 32-bit arithmetic,
// several times cheaper on the device than 64-bit division.
struct RegionEval {
  DeviceChunkTask t;
  bool narrow = false;
  __device__ double operator()(int64_t i) const {
    int64_t c[kMaxDims];
    if (narrow) {
      uint32_t j = static_cast<uint32_t>(i);
      for (int k = t.ndim - 1; k >= 0; --k) {
        const uint32_t r = static_cast<uint32_t>(t.region[k]);
        c[k] = t.lo[k] + j % r;
        j /= r;
      }
    } else {
      for (int k = t.ndim - 1; k >= 0; --k) {
        const int64_t r = t.region[k];
        c[k] = t.lo[k] + i % r;
        i /= r;
      }
    }
    return EvalProgram(t, c);
  }
};

// Element `i` of the reduction order: partial p = i / segment (C order over the kept axes), then
// position i % segment within it (C order over the reduced axes).
struct SegmentEval {
  DeviceChunkTask t;
  int64_t segment;
  bool narrow = false;  // as RegionEval's
  template <typename I>
  __device__ __forceinline__ void Coordinates(I i, int64_t* c) const {
    I p = i / static_cast<I>(segment), r = i - p * static_cast<I>(segment);
    for (int k = t.ndim - 1; k >= 0; --k) {
      const I e = static_cast<I>(t.region[k]);
      if (t.reduced[k]) {
        c[k] = t.lo[k] + static_cast<int64_t>(r % e);
        r /= e;
      } else {
        c[k] = t.lo[k] + static_cast<int64_t>(p % e);
        p /= e;
      }
    }
  }
  __device__ double operator()(int64_t i) const {
    int64_t c[kMaxDims];
    if (narrow) {
      Coordinates(static_cast<uint32_t>(i), c);
    } else {
      Coordinates(i, c);
    }
    return EvalProgram(t, c);
  }
};

// The same as wrapping int64 (NumPy's integer sum and prod wrap).
struct SegmentEvalInt {
  SegmentEval eval;
  __device__ uint64_t operator()(int64_t i) const {
    return static_cast<uint64_t>(element::ToInt64(eval(i)));
  }
};

template <typename T>
struct Store {
  RegionEval eval;
  T* out;
  __device__ void operator()(int64_t i) const;
};
template <>
__device__ void Store<double>::operator()(int64_t i) const { out[i] = eval(i); }
template <>
__device__ void Store<float>::operator()(int64_t i) const {
  out[i] = static_cast<float>(eval(i));
}
template <>
__device__ void Store<int64_t>::operator()(int64_t i) const { out[i] = element::ToInt64(eval(i)); }
template <>
__device__ void Store<int32_t>::operator()(int64_t i) const { out[i] = element::ToInt32(eval(i)); }
template <>
__device__ void Store<uint8_t>::operator()(int64_t i) const { out[i] = eval(i) != 0 ? 1 : 0; }

// One reduction functor per accumulator type, the op chosen at run time: each CUB algorithm is
// instantiated once per type rather than once per op (which multiplied the device code and its
// compile time by seven).
struct DoubleOp {
  ReduceOp op;
  __device__ double operator()(double a, double b) const {
    switch (op) {
      case ReduceOp::kProd:
        return a * b;
      case ReduceOp::kMin:
        return element::Minimum(a, b);
      case ReduceOp::kMax:
        return element::Maximum(a, b);
      case ReduceOp::kAny:
        return (a != 0 || b != 0) ? 1 : 0;  // NaN is true, as NumPy
      case ReduceOp::kAll:
        return (a != 0 && b != 0) ? 1 : 0;
      default:  // sum, mean
        return a + b;
    }
  }
};
// Wrapping int64 arithmetic, as NumPy's integer sum and prod.
struct IntOp {
  bool multiply;
  __device__ uint64_t operator()(uint64_t a, uint64_t b) const {
    return multiply ? a * b : a + b;
  }
};
struct TimesSegment {
  int64_t segment;
  __device__ int64_t operator()(int64_t p) const { return p * segment; }
};

// CUB's two-phase call: size the temporary storage, take it from the stream's pool, run.
template <typename In, typename Out, typename Op, typename T>
KernelStatus RunReduce(In in, Out out, int64_t num_partials, int64_t segment, Op op, T init,
                       cudaStream_t stream) {
  size_t temp_bytes = 0;
  void* temp = nullptr;
  const auto begin =
      thrust::make_transform_iterator(thrust::counting_iterator<int64_t>(0), TimesSegment{segment});
  const auto end =
      thrust::make_transform_iterator(thrust::counting_iterator<int64_t>(1), TimesSegment{segment});
  auto call = [&]() -> cudaError_t {
    if (num_partials == 1) {
      return cub::DeviceReduce::Reduce(temp, temp_bytes, in, out, segment, op, init, stream);
    }
    return cub::DeviceSegmentedReduce::Reduce(temp, temp_bytes, in, out, num_partials, begin, end,
                                              op, init, stream);
  };
  KernelStatus s = FromCuda(call(), "cub reduce (sizing)");
  if (!s.ok()) return s;
  s = FromCuda(cudaMallocAsync(&temp, temp_bytes > 0 ? temp_bytes : 1, stream),
               "cudaMallocAsync (reduce temporary storage)");
  if (!s.ok()) return s;
  s = FromCuda(call(), "cub reduce");
  const KernelStatus freed = FromCuda(cudaFreeAsync(temp, stream), "cudaFreeAsync");
  return s.ok() ? freed : s;
}

// What RowKernel does with each value: store it as the output dtype, or fold it into the
// block's partial.
enum class RowMode : int8_t {
  kFloat64, kFloat32, kInt64, kInt32, kBool, kReduceDouble, kReduceInt,
};

struct RowArgs {
  RowMode mode = RowMode::kFloat64;
  ReduceOp op = ReduceOp::kSum;  // kReduceDouble
  double init = 0;               // kReduceDouble
  bool multiply = false;         // kReduceInt: prod (else sum), wrapping as NumPy's
  void* out = nullptr;           // the values (C order), or one partial per block
};

__device__ __forceinline__ void PrefetchL2(const void* p) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

// The row walker's one kernel: Materialize and Reduce to one partial, every output dtype and
// reduction; the mode is uniform, so its branch costs a few instructions per element, and the
// interpreter is compiled once.
__global__ void __launch_bounds__(kThreads) RowKernel(DeviceChunkTask t, RowPlan plan, RowArgs a) {
  using DoubleReduce = cub::BlockReduce<double, kThreads>;
  using IntReduce = cub::BlockReduce<uint64_t, kThreads>;
  __shared__ union {
    typename DoubleReduce::TempStorage d;
    typename IntReduce::TempStorage i;
  } temp;
  TESSERA_SHARED_PROGRAM(sp);
  LoadProgram(t, sp);
  const DoubleOp dop{a.op};
  double dacc = a.init;
  uint64_t iacc = a.multiply ? 1 : 0;
  for (int64_t tile = blockIdx.x; tile < plan.tiles; tile += gridDim.x) {
    const int64_t row = tile / plan.col_tiles;
    const int64_t col0 = (tile - row * plan.col_tiles) * kTile + threadIdx.x;
    StartRow(t, sp, row);
    // One load in flight per element evaluated would leave the memory system idle: ask for all
    // of the tile's input values first.
    for (int m = 0; m < sp.num_inputs; ++m) {
      const int i = sp.inputs[m];
      const double* w = sp.nodes[i].window + sp.row_flat[i];
#pragma unroll
      for (int j = 0; j < kItems; ++j) {
        const int64_t col = col0 + int64_t{j} * kThreads;
        if (col < plan.cols) PrefetchL2(w + sp.col_coef[i] * col);
      }
    }
    const int64_t at = row * plan.cols;
#pragma unroll 1
    for (int j = 0; j < kItems; ++j) {
      const int64_t col = col0 + int64_t{j} * kThreads;
      if (col >= plan.cols) break;
      const double v = EvalRow(sp, t.num_nodes, col);
      switch (a.mode) {
        case RowMode::kFloat64:
          static_cast<double*>(a.out)[at + col] = v;
          break;
        case RowMode::kFloat32:
          static_cast<float*>(a.out)[at + col] = static_cast<float>(v);
          break;
        case RowMode::kInt64:
          static_cast<int64_t*>(a.out)[at + col] = element::ToInt64(v);
          break;
        case RowMode::kInt32:
          static_cast<int32_t*>(a.out)[at + col] = element::ToInt32(v);
          break;
        case RowMode::kBool:
          static_cast<uint8_t*>(a.out)[at + col] = v != 0 ? 1 : 0;
          break;
        case RowMode::kReduceDouble:
          dacc = dop(dacc, v);
          break;
        case RowMode::kReduceInt: {
          const auto x = static_cast<uint64_t>(element::ToInt64(v));
          iacc = a.multiply ? iacc * x : iacc + x;
          break;
        }
      }
    }
  }
  if (a.mode == RowMode::kReduceDouble) {
    const double total = DoubleReduce(temp.d).Reduce(dacc, dop);
    if (threadIdx.x == 0) static_cast<double*>(a.out)[blockIdx.x] = total;
  } else if (a.mode == RowMode::kReduceInt) {
    const uint64_t total = IntReduce(temp.i).Reduce(iacc, IntOp{a.multiply});
    if (threadIdx.x == 0) static_cast<uint64_t*>(a.out)[blockIdx.x] = total;
  }
}

// A reduction's second pass: one block folds the blocks' partials in a fixed order.
template <typename Acc, typename Op>
__global__ void __launch_bounds__(kThreads)
    FinishReduce(const Acc* in, unsigned n, Op op, Acc init, Acc* out) {
  using BlockReduce = cub::BlockReduce<Acc, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  Acc acc = init;
  for (unsigned i = threadIdx.x; i < n; i += kThreads) acc = op(acc, in[i]);
  const Acc total = BlockReduce(temp).Reduce(acc, op);
  if (threadIdx.x == 0) *out = total;
}

KernelStatus LaunchRows(const DeviceChunkTask& t, const RowPlan& plan, const RowArgs& a,
                        cudaStream_t stream) {
  RowKernel<<<GridFor(plan), kThreads, 0, stream>>>(t, plan, a);
  return FromCuda(cudaGetLastError(), "row kernel launch");
}

// Reduce to one partial with the row walker: block partials, then FinishReduce into `out`.
template <typename Acc, typename Op>
KernelStatus ReduceRows(const DeviceChunkTask& t, const RowPlan& plan, RowArgs a, Op op, Acc init,
                        Acc* out, cudaStream_t stream) {
  const unsigned grid = GridFor(plan);
  void* partials = nullptr;
  KernelStatus s = FromCuda(cudaMallocAsync(&partials, grid * sizeof(Acc), stream),
                            "cudaMallocAsync (block partials)");
  if (!s.ok()) return s;
  a.out = partials;
  s = LaunchRows(t, plan, a, stream);
  if (s.ok()) {
    FinishReduce<<<1, kThreads, 0, stream>>>(static_cast<const Acc*>(partials), grid, op, init,
                                             out);
    s = FromCuda(cudaGetLastError(), "reduce (final pass) launch");
  }
  const KernelStatus freed = FromCuda(cudaFreeAsync(partials, stream), "cudaFreeAsync");
  return s.ok() ? freed : s;
}

__global__ void UniformKernel(uint64_t seed, int64_t first, int64_t n, double* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = philox::UniformDouble(philox::ElementBlock(seed, static_cast<uint64_t>(first + i)));
  }
}

}  // namespace

KernelStatus Materialize(const DeviceChunkTask& task, DType out_dtype, void* d_out,
                         cudaStream_t stream) {
  int64_t n = 1;
  for (int k = 0; k < task.ndim; ++k) n *= task.region[k];
  if (n == 0) return {};
  const RowPlan plan = PlanRows(task);
  if (plan.cols >= kMinRow) {
    RowArgs a;
    a.out = d_out;
    switch (out_dtype) {
      case DType::kFloat64: a.mode = RowMode::kFloat64; break;
      case DType::kFloat32: a.mode = RowMode::kFloat32; break;
      case DType::kInt64: a.mode = RowMode::kInt64; break;
      case DType::kInt32: a.mode = RowMode::kInt32; break;
      case DType::kBool: a.mode = RowMode::kBool; break;
    }
    return LaunchRows(task, plan, a, stream);
  }
  const RegionEval eval{task, n < (int64_t{1} << 32)};
  const auto policy = thrust::cuda::par_nosync.on(stream);
  const thrust::counting_iterator<int64_t> first(0);
  try {
    switch (out_dtype) {
      case DType::kFloat64:
        thrust::for_each_n(policy, first, n, Store<double>{eval, static_cast<double*>(d_out)});
        break;
      case DType::kFloat32:
        thrust::for_each_n(policy, first, n, Store<float>{eval, static_cast<float*>(d_out)});
        break;
      case DType::kInt64:
        thrust::for_each_n(policy, first, n, Store<int64_t>{eval, static_cast<int64_t*>(d_out)});
        break;
      case DType::kInt32:
        thrust::for_each_n(policy, first, n, Store<int32_t>{eval, static_cast<int32_t*>(d_out)});
        break;
      case DType::kBool:
        thrust::for_each_n(policy, first, n, Store<uint8_t>{eval, static_cast<uint8_t*>(d_out)});
        break;
    }
  } catch (const std::exception& e) {  // Thrust reports launch failures as exceptions
    return KernelStatus{2, std::string("thrust::for_each_n: ") + e.what()};
  }
  return FromCuda(cudaGetLastError(), "materialize kernel launch");
}

KernelStatus Reduce(const DeviceChunkTask& task, Accumulator acc, int64_t num_partials,
                    int64_t segment, void* d_out, cudaStream_t stream) {
  if (num_partials <= 0) return {};
  const RowPlan plan = PlanRows(task);
  const bool rows = num_partials == 1 && segment > 0 && plan.cols >= kMinRow;
  const SegmentEval eval{task, segment, num_partials * segment < (int64_t{1} << 32)};
  const auto counting = thrust::counting_iterator<int64_t>(0);
  if (acc == Accumulator::kInt64) {
    const bool multiply = task.reduce_op == ReduceOp::kProd;
    if (rows) {
      RowArgs a;
      a.mode = RowMode::kReduceInt;
      a.multiply = multiply;
      return ReduceRows(task, plan, a, IntOp{multiply}, uint64_t{multiply ? 1u : 0u},
                        static_cast<uint64_t*>(d_out), stream);
    }
    const auto in = thrust::make_transform_iterator(counting, SegmentEvalInt{eval});
    return RunReduce(in, static_cast<uint64_t*>(d_out), num_partials, segment, IntOp{multiply},
                     uint64_t{multiply ? 1u : 0u}, stream);
  }
  double init = 0;  // sum, mean, any
  switch (task.reduce_op) {
    case ReduceOp::kProd:
    case ReduceOp::kAll:
      init = 1;
      break;
    case ReduceOp::kMin:
      init = HUGE_VAL;
      break;
    case ReduceOp::kMax:
      init = -HUGE_VAL;
      break;
    case ReduceOp::kArgmin:
    case ReduceOp::kArgmax:
      return KernelStatus{2, "reduce: argmin / argmax run on the host"};
    default:
      break;
  }
  if (rows) {
    RowArgs a;
    a.mode = RowMode::kReduceDouble;
    a.op = task.reduce_op;
    a.init = init;
    return ReduceRows(task, plan, a, DoubleOp{task.reduce_op}, init, static_cast<double*>(d_out),
                      stream);
  }
  const auto in = thrust::make_transform_iterator(counting, eval);
  return RunReduce(in, static_cast<double*>(d_out), num_partials, segment,
                   DoubleOp{task.reduce_op}, init, stream);
}

KernelStatus UniformForTesting(uint64_t seed, int64_t first, int64_t n, double* d_out,
                               cudaStream_t stream) {
  if (n <= 0) return {};
  UniformKernel<<<static_cast<unsigned>((n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096), 256, 0,
                  stream>>>(seed, first, n, d_out);
  return FromCuda(cudaGetLastError(), "uniform kernel launch");
}

}  // namespace tessera::cuda
