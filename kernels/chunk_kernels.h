// Device execution of chunk programs (graph/task_graph.h) with Thrust and CUB: the plain
// declarations that src/worker_cuda calls; the kernels themselves are in chunk_kernels.cu.
//
// A chunk program arrives here already checked and planned on the host (cpu::PrepareChunk):
// every leaf's flat index is an affine function of the output coordinates, input windows are
// contiguous float64 arrays in device memory. Each device thread evaluates the whole program
// for one element with the host/device functions of common/philox.h and common/element_ops.h,
// so generation, element-wise work and a fused reduction are one pass over the elements and a
// reduced chunk is never stored: Materialize runs thrust::for_each_n over a counting iterator;
// Reduce feeds a transform iterator of that evaluation straight into cub::DeviceReduce (one
// partial) or cub::DeviceSegmentedReduce (one segment per partial element).
//
// Stream-ordered: every function takes the stream last, allocates its temporary storage with
// cudaMallocAsync on it (the device's memory pool) and does not synchronise. Not thread-safe
// per stream; distinct streams may be used concurrently.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "graph/ops.h"
#include "tessera/types.h"

namespace tessera::cuda {

/// Programs with more nodes than this (or more axes than kMaxDims) run on the host.
inline constexpr int kMaxNodes = 48;
inline constexpr int kMaxDims = 8;

/// graph::ProgramNode::Kind's values (checked by static_assert in worker_cuda).
enum class NodeKind : int8_t {
  kFull = 0, kArange, kRandom, kInput, kScalar, kUnary, kBinary, kLinspace, kWhere,
};

/// One program node in the device's flat form: the node plus the host's plan of it. POD.
struct DeviceNode {
  NodeKind kind = NodeKind::kFull;
  DType dtype = DType::kFloat64;
  int8_t op = 0;    ///< graph::UnaryOp or graph::BinaryOp
  int8_t dist = 0;  ///< graph::RandomDist
  int32_t arg0 = -1, arg1 = -1, arg2 = -1;
  double value = 0;          ///< kFull / kScalar: rounded to dtype; kLinspace: stop
  double start = 0, step = 1;  ///< kArange, kLinspace
  double a = 0, b = 1;       ///< kRandom: parameters; kLinspace: div and delta
  int64_t num = 0;           ///< kLinspace: number of samples
  uint64_t seed = 0;         ///< kRandom
  int64_t base = 0;          ///< leaves: flat index = base + sum_k coef[k] * coord[k]
  int64_t coef[kMaxDims] = {};
  const double* window = nullptr;  ///< kInput: device pointer to the window's values
};

/// A chunk task for the device: the program (nodes in device memory) over the region
/// [lo, lo + region) of the output space, with an optional fused reduction.
struct DeviceChunkTask {
  int ndim = 0;
  int num_nodes = 0;
  const DeviceNode* nodes = nullptr;  ///< device memory, num_nodes entries
  int64_t lo[kMaxDims] = {};
  int64_t region[kMaxDims] = {};
  bool reduced[kMaxDims] = {};  ///< axes folded by the reduction
  graph::ReduceOp reduce_op = graph::ReduceOp::kSum;
};

/// The outcome of a device call. code: 0 success, 1 out of device memory, 2 any other CUDA
/// error (message names the call and CUDA's error string).
struct KernelStatus {
  int code = 0;
  std::string message;
  bool ok() const { return code == 0; }
};

/// Evaluates every element of the region into `d_out` (device memory, C order over the region,
/// values of the root node's dtype `out_dtype`).
KernelStatus Materialize(const DeviceChunkTask& task, DType out_dtype, void* d_out,
                         cudaStream_t stream);

/// How a reduction's partial values are accumulated on the device.
enum class Accumulator : int8_t {
  kDouble = 0,  ///< sum, mean, prod, min, max, any, all of doubles: double partials
  kInt64 = 1,   ///< sum, prod of integer and bool values: wrapping int64 partials
};

/// Reduces the region into `num_partials` partial values written to `d_out` (device memory;
/// double or int64 by `acc`), partial p being the reduction of the `segment` elements whose
/// kept-axis coordinates are the p-th in C order. num_partials * segment == region elements.
KernelStatus Reduce(const DeviceChunkTask& task, Accumulator acc, int64_t num_partials,
                    int64_t segment, void* d_out, cudaStream_t stream);

/// Writes the Philox elements `first`, ..., `first + n - 1` of a uniform float64 random array
/// (RandomDist kUniform, low 0, high 1) with `seed` into d_out: for known-answer tests of the
/// device generator.
KernelStatus UniformForTesting(uint64_t seed, int64_t first, int64_t n, double* d_out,
                               cudaStream_t stream);

}  // namespace tessera::cuda
