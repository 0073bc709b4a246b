// The scheduler process's gRPC edge: converts tessera.v1 messages to domain types and drives
// SchedulerState under one lock. Used by the `scheduler` binary and by the embedded cluster.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "scheduler/adaptive.h"

namespace grpc {
class Server;
}

namespace tessera::scheduler {

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 8786;  ///< 0 picks a free port
  /// A worker silent for this long is removed and its work rescheduled; a worker that hears
  /// nothing from the scheduler for this long reconnects. Heartbeats go both ways every second
  /// (more often when this is under 5 s).
  double worker_timeout_seconds = 5;
  /// A task running on this many workers that died is marked erred (SchedulerState).
  int allowed_failures = 3;
  /// The adaptive recommendation (scheduler_info, /metrics `tessera_desired_workers`), updated
  /// every `adapt_interval_seconds`.
  AdaptiveOptions adaptive;
  double adapt_interval_seconds = 1;
  /// The HTTP dashboard (docs/dashboard.md): its port, 0 for any free port, -1 (the default
  /// here; the `scheduler` binary's default is 8787) for none.
  int dashboard_port = -1;
  /// Its interface; "" means `host`.
  std::string dashboard_host;
  /// When dashboard_port is taken, serve on any free port (with a warning) instead of failing,
  /// as dask-scheduler does for its default port.
  bool dashboard_any_port_if_taken = false;
};

/// A running scheduler. Thread-safe.
class SchedulerServer {
 public:
  /// Binds and starts serving; UNAVAILABLE with the address if the port is taken.
  static absl::StatusOr<std::unique_ptr<SchedulerServer>> Start(const ServerOptions& options);
  ~SchedulerServer();

  /// The bound port (useful with port 0).
  int port() const { return port_; }
  /// The dashboard's bound port; 0 when it is off.
  int dashboard_port() const { return dashboard_port_; }
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
  int dashboard_port_ = 0;
};

}  // namespace tessera::scheduler
