// Task kinds of the CPU executor other than fused chunk programs: block contraction
// (tensordot / matmul), literal blocks (from_buffer), and argmin / argmax partials.
// Internal to the CPU worker; see executor.h for the contract of ExecuteTask.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/chunk.h"
#include "graph/task_graph.h"

namespace tessera::cpu::detail {

/// The tensordot of deps[0] and deps[1] over task.contract_a / task.contract_b: a float64 partial
/// (int64, exact and wrapping, when both blocks are integer or bool) of shape a's free extents
/// then b's.
absl::StatusOr<ChunkBuffer> RunContract(const graph::TaskSpec& task,
                                        const std::vector<ChunkPtr>& deps);

/// The block carried by a kLiteral task, checked against its region and dtype.
absl::StatusOr<ChunkBuffer> RunLiteral(const graph::TaskSpec& task);

/// Merges argmin / argmax partials ((value, index) pairs along a trailing axis of 2).
absl::StatusOr<ChunkBuffer> RunArgCombine(const graph::TaskSpec& task,
                                          const std::vector<ChunkPtr>& deps);

/// An argmin / argmax partial as the int64 indices (the trailing pair axis dropped).
absl::StatusOr<ChunkBuffer> ArgPartialToIndex(const graph::TaskSpec& task, const ChunkBuffer& in);

/// Folds (value, global index) pairs into an argmin / argmax partial. The winner is the smallest
/// (argmin) or largest (argmax) value, the first NaN beating everything, and the smaller index
/// between equals: the result does not depend on the order of Add calls.
class ArgReducer {
 public:
  ArgReducer(bool is_max, int64_t size) : is_max_(is_max), val_(size, 0.0), idx_(size, -1) {}

  static bool Better(bool is_max, double v, int64_t i, double cv, int64_t ci) {
    if (ci < 0) return true;
    const bool vn = std::isnan(v), cn = std::isnan(cv);
    if (cn) return vn && i < ci;
    if (vn) return true;
    if (v == cv) return i < ci;
    return is_max ? v > cv : v < cv;
  }
  void Add(int64_t p, double v, int64_t i) {
    if (Better(is_max_, v, i, val_[p], idx_[p])) {
      val_[p] = v;
      idx_[p] = i;
    }
  }
  /// The partial: `shape` with a trailing axis of 2, float64 (value, index).
  ChunkBuffer Finish(Shape shape) const;

 private:
  bool is_max_;
  std::vector<double> val_;
  std::vector<int64_t> idx_;
};

}  // namespace tessera::cpu::detail
