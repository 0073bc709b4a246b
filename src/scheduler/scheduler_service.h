// The scheduler process's gRPC edge: converts tessera.v1 messages to domain types and drives
// SchedulerState under one lock. Used by the `scheduler` binary and by the embedded cluster.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class Server;
}

namespace tessera::scheduler {

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 8786;  ///< 0 picks a free port
  /// A worker silent for this long is removed and its work rescheduled.
  double worker_timeout_seconds = 30;
};

/// A running scheduler. Thread-safe.
class SchedulerServer {
 public:
  /// Binds and starts serving; UNAVAILABLE with the address if the port is taken.
  static absl::StatusOr<std::unique_ptr<SchedulerServer>> Start(const ServerOptions& options);
  ~SchedulerServer();

  /// The bound port (useful with port 0).
  int port() const { return port_; }
  /// Stops accepting work, ends worker and client streams and returns when all handlers are
  /// done. Idempotent.
  void Shutdown();
  /// Blocks until Shutdown.
  void Wait();

 private:
  SchedulerServer() = default;
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<grpc::Server> grpc_;
  int port_ = 0;
};

}  // namespace tessera::scheduler
