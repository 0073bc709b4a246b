// Chunk programs on the device: see chunk_kernels.h.
//
// Compiled with --fmad=false, as the CPU kernels are with -ffp-contract=off: no multiply-add is
// contracted into an FMA, so a + width * u (random uniforms), start + step * i (arange) and
// every +, -, *, / give the CPU's bits.
#include "kernels/chunk_kernels.h"

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

// Element `i` of the region in C order, evaluated.
struct RegionEval {
  DeviceChunkTask t;
  __device__ double operator()(int64_t i) const {
    int64_t c[kMaxDims];
    for (int k = t.ndim - 1; k >= 0; --k) {
      const int64_t r = t.region[k];
      c[k] = t.lo[k] + i % r;
      i /= r;
    }
    return EvalProgram(t, c);
  }
};

// Element `i` of the reduction order: partial p = i / segment (C order over the kept axes), then
// position i % segment within it (C order over the reduced axes).
struct SegmentEval {
  DeviceChunkTask t;
  int64_t segment;
  __device__ double operator()(int64_t i) const {
    int64_t p = i / segment, r = i % segment;
    int64_t c[kMaxDims];
    for (int k = t.ndim - 1; k >= 0; --k) {
      const int64_t e = t.region[k];
      if (t.reduced[k]) {
        c[k] = t.lo[k] + r % e;
        r /= e;
      } else {
        c[k] = t.lo[k] + p % e;
        p /= e;
      }
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
  const RegionEval eval{task};
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
  const SegmentEval eval{task, segment};
  const auto counting = thrust::counting_iterator<int64_t>(0);
  if (acc == Accumulator::kInt64) {
    const auto in = thrust::make_transform_iterator(counting, SegmentEvalInt{eval});
    const bool multiply = task.reduce_op == ReduceOp::kProd;
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
