// The CPU executor: evaluates chunk tasks (task_graph.h) with blocked, vectorisable loops.
// Thread-safe: functions are pure and may run concurrently on any threads.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "common/chunk.h"
#include "graph/task_graph.h"

namespace tessera::cpu {

/// Runs one task. For kChunk, `program` is the task's program and `deps` the input chunks, in
/// the order of task.deps / task.input_chunks; for kCombine, `program` is unused and `deps` are
/// the partials to merge, in order. Applies task.finalize when enabled. Errors (a dependency
/// whose shape or dtype does not match the spec, a region outside the output space) are
/// INVALID_ARGUMENT with the key and the bad value; they never crash the process.
absl::StatusOr<ChunkBuffer> ExecuteTask(const graph::TaskSpec& task,
                                        const graph::ChunkProgram* program,
                                        const std::vector<ChunkPtr>& deps);

/// A chunk task checked and planned on the host for an executor on another device (the CUDA
/// worker), with the CPU executor's own validation and error messages: the region, the result's
/// shape, and every leaf's flat index as an affine function of the output coordinates.
struct PreparedChunk {
  Shape region;     ///< hi - lo
  Shape out_shape;  ///< the region, or with a fused reduction the partial (reduced axes 1)
  std::vector<bool> reduced;  ///< per output axis: reduced by the fused reduction
  /// kArange, kLinspace, kRandom and kInput nodes: the leaf's flat index (into the random
  /// array, the arange or the input window) at global output coordinate c is
  /// base + sum_k coef[k] * c[k].
  struct Leaf {
    int64_t base = 0;
    std::vector<int64_t> coef;
    int window = -1;  ///< kInput: index into `windows`
  };
  std::vector<Leaf> leaf;      ///< per program node
  std::vector<double> scalar;  ///< per program node: kFull / kScalar value rounded to its dtype
  /// The input windows, as contiguous float64 host arrays (C order over the box a leaf reads).
  /// They point into `window_storage` or into a dependency's own values: keep the deps alive.
  std::vector<const double*> window_values;
  std::vector<int64_t> window_sizes;
  std::vector<std::vector<double>> window_storage;
};

/// Validates a kChunk task exactly as ExecuteTask does and plans it (PreparedChunk). Errors are
/// ExecuteTask's.
absl::StatusOr<PreparedChunk> PrepareChunk(const graph::TaskSpec& task,
                                           const graph::ChunkProgram* program,
                                           const std::vector<ChunkPtr>& deps);

/// What ExecuteTask does to a task's raw result before returning it: an argmin / argmax partial
/// becomes its index, then task.finalize (mean's division, the final shape and dtype) applies.
/// For executors that compute the raw result elsewhere.
absl::StatusOr<ChunkBuffer> FinishTask(const graph::TaskSpec& task,
                                       const graph::ChunkProgram* program, ChunkBuffer raw);

}  // namespace tessera::cpu
