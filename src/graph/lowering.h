// Lowering: expression DAG -> chunk tasks, with fusion (SEMANTICS.md "Lowering and fusion").
// Pure and deterministic: the same expression always lowers to the same tasks and keys.
#pragma once

#include "absl/status/statusor.h"
#include "graph/expr.h"
#include "graph/task_graph.h"

namespace tessera::graph {

struct LowerOptions {
  /// A chunk task whose fused program would need more than this many bytes of materialised
  /// input, or whose result is larger, is refused at submit time (0: no limit).
  int64_t max_chunk_bytes = 0;
  /// More tasks than this is INVALID_ARGUMENT, checked before they are built (0: no limit).
  int64_t max_tasks = 0;
};

/// Lowers `root` into tasks:
///  - creation, scalar, unary, binary (broadcasting) and slice nodes fuse into one ChunkProgram
///    per task group; slices and broadcasts compose into the leaves' IndexMaps;
///  - a reduction fuses into the program below it (its chunk tasks emit partials over the chunks
///    of its input), followed by a combine tree of fan-in split_every in C order of the reduced
///    block indices; the last task per output block finalises (mean divides, axes dropped);
///  - kSource and reductions read by further elementwise work become kInput leaves;
///  - if the root is elementwise, one kChunk task per output chunk materialises it.
/// Keys are "<group>/<block index>" with group "<op>-<Token(node)[:12]>".
absl::StatusOr<TaskGraph> Lower(const NodePtr& root, const LowerOptions& options = {});

}  // namespace tessera::graph
