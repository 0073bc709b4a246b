// What the dashboard serves, as plain data: a snapshot of the scheduler that the service
// publishes every ~100 ms, the recent task events, and their JSON forms (/api/v1/...).
//
// No HTTP and no locks of the scheduler here: the HTTP threads (dashboard_server.h) only ever read
// an immutable Snapshot and the TaskStream, so a page load never waits for the scheduler's state,
// and the tests render everything without a network. docs/dashboard.md documents every field.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/state.h"

namespace tessera::scheduler {

/// One worker as the dashboard shows it.
struct WorkerSnapshot {
  int64_t id = 0;
  std::string name;
  std::string address;  ///< tcp://host:port of its data service
  std::string kind;     ///< "cpu" or "cuda"
  std::string device;   ///< GPU name; "" for cpu workers
  int nthreads = 0;
  int64_t memory_used = 0;  ///< bytes of results it holds (its last heartbeat)
  int64_t memory_limit = 0;
  int64_t device_memory_used = 0;  ///< cuda workers: device bytes their running tasks hold
  int64_t device_memory_limit = 0;
  int64_t spilled_bytes = 0;     ///< results in its local directory (its last heartbeat)
  bool paused = false;           ///< above its memory pause mark: takes no new tasks
  int64_t tasks_executing = 0;   ///< running on its threads (its last heartbeat)
  int64_t tasks_processing = 0;  ///< assigned by the scheduler and not finished
  int64_t tasks_in_memory = 0;   ///< results it holds, as the scheduler counts them
  double last_seen = 0;          ///< Unix seconds of its last message
};

/// Worker counts at one adaptive evaluation, for the dashboard's timeline.
struct WorkerCountPoint {
  double time = 0;                          ///< Unix seconds
  std::map<std::string, int64_t> workers;   ///< connected, by kind
  std::map<std::string, int64_t> desired;   ///< the recommendation, by kind
};

/// Everything but the task stream, taken under the scheduler's lock in O(workers + groups).
struct Snapshot {
  std::string id;         ///< the scheduler's id ("scheduler-1a2b...")
  std::string version;    ///< Tessera's version
  std::string address;    ///< the scheduler's gRPC address, tcp://host:port
  std::string dashboard;  ///< http://host:port/status, "" when unknown
  double started = 0;     ///< Unix seconds
  double taken = 0;       ///< Unix seconds when this snapshot was taken
  int64_t clients = 0;    ///< connected client sessions
  std::vector<WorkerSnapshot> workers;
  std::vector<GroupView> groups;
  std::array<int64_t, kNumTaskStatuses> tasks{};  ///< live tasks by TaskStatus
  StateCounters counters;
  int64_t transfer_bytes = 0;  ///< bytes workers fetched from peers, as they reported them
  /// The adaptive recommendation by kind, with each kind's load (scheduler/adaptive.h).
  std::vector<std::pair<KindLoad, int64_t>> desired_workers;
  int64_t scale_events = 0;  ///< changes of the recommendation since the start
  /// The last 15 minutes of worker counts, oldest first (shared: not copied per snapshot).
  std::shared_ptr<const std::vector<WorkerCountPoint>> worker_counts;
};

/// One finished (or failed) task, for the task stream.
struct TaskEvent {
  std::string key;
  std::string group;
  std::string worker;  ///< worker name
  int thread = -1;     ///< the worker's thread (lane) that ran it; -1 when unknown
  double start = 0;    ///< Unix seconds (the worker's clock)
  double stop = 0;
  std::string status;  ///< "memory" or "erred"
  int64_t nbytes = 0;  ///< result size
};

/// The recent task events, oldest first, bounded in count and age. Thread-safe.
class TaskStream {
 public:
  explicit TaskStream(size_t capacity = 100'000, double max_age_seconds = 300)
      : capacity_(capacity), max_age_(max_age_seconds) {}
  /// Adds events (in any order of stop time; they are kept in arrival order).
  void Append(std::vector<TaskEvent> events, double now);
  /// Events with stop > since, at most `limit` of them (the most recent), oldest first.
  /// `*truncated` is set when more matched.
  std::vector<TaskEvent> Since(double since, size_t limit, bool* truncated) const;
  size_t size() const;

 private:
  const size_t capacity_;
  const double max_age_;
  mutable absl::Mutex mu_;
  std::deque<TaskEvent> events_ ABSL_GUARDED_BY(mu_);
};

/// Parses the `since` query parameter of /api/v1/task-stream: Unix time in seconds (decimals
/// allowed, "1732240000.5"), or in milliseconds when it ends in "ms" ("1732240000500ms").
/// INVALID_ARGUMENT naming the text when it is empty, not a number, negative or not finite.
absl::StatusOr<double> ParseSince(std::string_view text);

/// The JSON documents of the API (docs/dashboard.md).
nlohmann::json InfoJson(const Snapshot& s);
nlohmann::json WorkersJson(const Snapshot& s);
nlohmann::json TasksJson(const Snapshot& s);
/// /api/v1/scaling: the adaptive recommendation and the worker-count timeline.
nlohmann::json ScalingJson(const Snapshot& s);
nlohmann::json TaskStreamJson(const std::vector<TaskEvent>& events, double since, double now,
                              bool truncated);
/// json.dump() that never throws on bad UTF-8 in worker names or keys (it substitutes U+FFFD).
std::string Dump(const nlohmann::json& j);

}  // namespace tessera::scheduler
