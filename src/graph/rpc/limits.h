// Limits on what one request to the scheduler may ask for. Every RPC checks its input against
// these before acting, so that a hostile or buggy peer gets an error instead of taking the
// process's memory or time. docs/protocol.md ("Limits") lists them; change both together.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/shape.h"

namespace tessera::wire {

/// Largest message the scheduler's gRPC server accepts (RESOURCE_EXHAUSTED from gRPC beyond it).
/// A FROM_BUFFER graph carries up to graph::kMaxFromBufferBytes (32 MiB) of data; bulk chunks
/// never pass through the scheduler (workers stream them to each other in 1 MiB pieces).
inline constexpr int kMaxSchedulerMessageBytes = 64 << 20;
/// Nodes of one submitted expression graph.
inline constexpr int kMaxGraphNodes = 100'000;
/// Depth of an expression graph (the longest chain of inputs); lowering recurses along it.
inline constexpr int kMaxGraphDepth = 10'000;
/// Stack for the threads that lower graphs (the scheduler's RPC threads, the embedded cluster's):
/// a graph of kMaxGraphDepth needs between 4 and 8 MiB in a release build (it crashed a
/// scheduler started under `ulimit -s 4096`), several times that under the sanitizers.
inline constexpr size_t kLoweringThreadStackBytes = size_t{32} << 20;
/// Chunks of any one array (node) of a submitted graph, and so keys of a result.
inline constexpr int64_t kMaxChunksPerArray = 4'000'000;
/// Tasks one Submit may create (a graph's lowered tasks, or its CALL tasks).
inline constexpr int64_t kMaxTasksPerSubmit = 4'000'000;
/// Dimensions of an array (the same as the engine's kMaxDims).
inline constexpr int kMaxNdim = kMaxDims;
/// Bytes of a key, client id, source name, function name, worker name, address or kind.
inline constexpr size_t kMaxStringBytes = 4096;
/// Keys in one Wait, Locate or Release request, and call_outputs in one Submit: enough for
/// every key of the largest array.
inline constexpr int64_t kMaxKeysPerRequest = kMaxChunksPerArray;

/// The limits above as one value, so that tests and the fuzz targets can run the scheduler's
/// validation with smaller ones. The scheduler uses the defaults.
struct RequestLimits {
  int max_graph_nodes = kMaxGraphNodes;
  int max_graph_depth = kMaxGraphDepth;
  int64_t max_chunks_per_array = kMaxChunksPerArray;
  int64_t max_tasks = kMaxTasksPerSubmit;
  size_t max_string_bytes = kMaxStringBytes;
  int64_t max_keys = kMaxKeysPerRequest;
};

}  // namespace tessera::wire
