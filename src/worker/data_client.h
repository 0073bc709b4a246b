// Fetching chunks from a worker's data service (GetData), used by workers for their inputs and by
// the client for results. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/chunk.h"

namespace tessera::worker {

/// Caches one channel per peer address.
class DataClient {
 public:
  /// Fetches `key` from the worker at `address` (host:port), reassembling the streamed pieces.
  /// Errors carry the address and key (UNAVAILABLE when the peer is gone, NOT_FOUND when it no
  /// longer holds the key).
  absl::StatusOr<ChunkBuffer> Fetch(const std::string& address, const std::string& key,
                                    double timeout_seconds = 300);

 private:
  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& address);
  absl::Mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::worker
