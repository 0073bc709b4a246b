// The scheduler's HTTP server (cpp-httplib): /status, /api/v1/..., /metrics and /health.
//
// Its threads never take the scheduler's lock: they read the latest published Snapshot (a
// shared_ptr swapped under a short lock), the TaskStream (its own lock) and the lock-free latency
// histogram. A slow or flooding HTTP client can therefore not delay task dispatch.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "scheduler/dashboard.h"
#include "scheduler/metrics.h"

namespace httplib {
class Server;
}

namespace tessera::scheduler {

/// Where the server reads what it serves. Each callback must be thread-safe and fast.
struct DashboardSource {
  std::function<std::shared_ptr<const Snapshot>()> snapshot;
  const TaskStream* stream = nullptr;
  const LatencyHistogram* event_latency = nullptr;
  std::function<double()> now;  ///< Unix seconds
};

/// A running dashboard. Thread-safe.
class DashboardServer {
 public:
  /// Binds host:port (port 0: any free port) and serves on its own threads. UNAVAILABLE when
  /// the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<DashboardServer>> Start(const std::string& host, int port,
                                                                DashboardSource source);
  ~DashboardServer();
  int port() const { return port_; }
  /// Stops serving and joins the threads. Idempotent.
  void Stop();

 private:
  DashboardServer() = default;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace tessera::scheduler
