// The one place that builds gRPC channels and servers' options, and maps statuses between
// absl and gRPC (the codes are the same numbers).
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace tessera::rpc {

/// Largest message Tessera sends (bulk data travels in 1 MiB pieces well below this).
inline constexpr int kMaxMessageBytes = 64 << 20;
/// Size of one GetData piece: 1 MiB less 16 KiB, so that a piece's buffers (its data and its
/// serialised form) stay below the workers' 1 MiB mmap threshold (worker_main.cc) and are reused
/// from the heap; mapped anew for every piece, their pages were faulted in each time (~500 faults
/// per piece, several ms on a VM).
inline constexpr int64_t kPieceBytes = (1 << 20) - (16 << 10);

/// An insecure channel to "host:port" with Tessera's limits and keepalive settings.
std::shared_ptr<grpc::Channel> BuildChannel(const std::string& host_port);
/// Applies Tessera's limits to a server under construction: messages of at most
/// `max_receive_bytes` are accepted (gRPC answers a larger one RESOURCE_EXHAUSTED and keeps
/// serving), and of at most kMaxMessageBytes sent.
void ConfigureServer(grpc::ServerBuilder* builder, int max_receive_bytes = kMaxMessageBytes);

inline grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())),
                      std::string(s.message()));
}
inline absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(static_cast<int>(s.error_code())),
                      s.error_message());
}

}  // namespace tessera::rpc
