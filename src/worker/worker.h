// The worker runtime shared by cpu-worker and cuda-worker: the session with the scheduler, the
// thread pool running tasks, the data store and the data service peers fetch from.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/address.h"
#include "common/chunk.h"
#include "graph/task_graph.h"

namespace tessera::worker {

/// Runs one task on some device. Implementations must be thread-safe.
class TaskExecutor {
 public:
  virtual ~TaskExecutor() = default;
  /// "cpu" or "cuda".
  virtual std::string kind() const = 0;
  /// A device description for scheduler_info ("" for CPU).
  virtual std::string device() const { return ""; }
  virtual int64_t device_memory() const { return 0; }
  /// Device bytes in use by running tasks, for heartbeats (0 for CPU).
  virtual int64_t device_memory_used() const { return 0; }
  virtual absl::StatusOr<ChunkBuffer> Execute(const graph::TaskSpec& task,
                                              const graph::ChunkProgram* program,
                                              const std::vector<ChunkPtr>& deps) = 0;
};

struct WorkerOptions {
  Address scheduler;
  int nthreads = 1;
  int64_t memory_limit = 0;  ///< bytes
  std::string name;          ///< default: the worker's address
  std::string host;          ///< interface for the data service; default all interfaces
  int port = 0;              ///< data service port; 0 picks a free one
  std::string contact_host;  ///< address advertised to peers; default chosen from the scheduler's
  int64_t inline_limit = 64 << 10;  ///< results up to this size travel inline to the scheduler
  double heartbeat_seconds = 1.0;
  /// This worker's own spill directory (see MakeSpillDirectory), removed with its contents at
  /// Shutdown. "" with a memory limit: Start makes one under $TMPDIR or /tmp.
  std::string spill_directory;
  /// Spill least-recently-used results while they hold more than memory_target * memory_limit
  /// bytes (Dask's distributed.worker.memory.target).
  double memory_target = 0.6;
  /// Stop starting tasks while the process's resident memory stays above
  /// memory_pause * memory_limit after spilling (distributed.worker.memory.pause).
  double memory_pause = 0.85;
};

/// Creates a fresh, private `tessera-worker-XXXXXX` directory inside `parent` (created first if
/// missing; "" means $TMPDIR, else /tmp) for a worker's spilled results, and returns its path.
/// The process holds an exclusive flock on the directory's `.lock` file until it exits; first,
/// the directories in `parent` whose lock is free (their worker died without cleaning up, e.g.
/// killed with SIGKILL) are removed, with a warning, as Dask's workers purge stale directories. Errors (INVALID_ARGUMENT) name `parent` and why it
/// cannot hold one.
absl::StatusOr<std::string> MakeSpillDirectory(const std::string& parent);

/// Checks memory_target and memory_pause: fractions in (0, 1], pause >= target. The message
/// names the option and its value.
absl::Status CheckMemoryFractions(double target, double pause);

/// A running worker. Thread-safe.
class Worker {
 public:
  /// Starts the data service and the session thread (which connects to the scheduler, retrying
  /// with backoff and logging each failed attempt). Errors: the port cannot be bound
  /// (UNAVAILABLE); bad memory fractions or no spill directory can be made (INVALID_ARGUMENT).
  static absl::StatusOr<std::unique_ptr<Worker>> Start(const WorkerOptions& options,
                                                       std::unique_ptr<TaskExecutor> executor);
  ~Worker();
  /// The advertised data-service address, host:port.
  std::string address() const;
  /// Stops the session, waits for running tasks and stops the data service. Idempotent.
  void Shutdown();
  /// Blocks until Shutdown.
  void Wait();
  /// Graceful retirement (SIGTERM): asks the scheduler to move the results only this worker
  /// holds to other workers and waits up to `timeout` for it to close the session. True when it
  /// did; false without a scheduler or on timeout (the caller shuts down anyway).
  bool Retire(std::chrono::milliseconds timeout);
  /// Whether the scheduler retired this worker (`tessera retire`, or after Retire()): the process
  /// should then exit.
  bool closed_by_scheduler() const;

  class Impl;

 private:
  Worker() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::worker
