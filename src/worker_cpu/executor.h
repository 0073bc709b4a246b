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

}  // namespace tessera::cpu
