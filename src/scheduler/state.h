// The scheduler's state machine: tasks, workers, clients and the transitions between task states
// (Dask's: waiting, queued, processing, memory, erred, released, forgotten).
//
// Plain C++, no gRPC and no clock: the service (scheduler_service.h) converts messages and calls
// these methods under one lock, and the tests drive it directly. Not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/chunk.h"
#include "graph/task_graph.h"
#include "scheduler/adaptive.h"

namespace tessera::scheduler {

using WorkerId = int64_t;
using ComputationId = int64_t;

struct WorkerSpec {
  std::string name;
  std::string address;  ///< data service, host:port
  std::string kind = "cpu";
  int nthreads = 1;
  int64_t memory_limit = 0;
  std::string device;
  int64_t device_memory = 0;
  std::vector<call::Signature> functions;  ///< what kCall tasks it can run
};

struct WorkerMetrics {
  int64_t memory_used = 0;
  int64_t executing = 0;
  int64_t stored = 0;
  int64_t device_memory_used = 0;  ///< cuda workers
  int64_t spilled_bytes = 0;       ///< results in the worker's local directory
  int64_t spilled_count = 0;
  /// Above its memory pause mark: PickWorker gives it no task until a heartbeat says otherwise.
  bool paused = false;
};

enum class TaskStatus { kWaiting, kQueued, kProcessing, kMemory, kErred, kReleased };
inline constexpr int kNumTaskStatuses = 6;
std::string_view TaskStatusName(TaskStatus status);

/// A task group (TaskSpec::group, e.g. "sum-3f2a9c"): how many of its tasks are in each state,
/// kept up to date on every transition so that reading it costs O(groups), not O(tasks).
struct GroupView {
  std::string name;
  int64_t total = 0;                               ///< tasks ever added to the group
  std::array<int64_t, kNumTaskStatuses> states{};  ///< live tasks by TaskStatus
  int64_t forgotten = 0;       ///< tasks the scheduler no longer tracks (done with)
  int64_t completed = 0;       ///< results reported (a recomputed task counts again)
  double compute_seconds = 0;  ///< sum of the workers' compute time of its tasks
  int64_t nbytes = 0;          ///< bytes of the results it produced
};

/// Monotonic counters since the scheduler started.
struct StateCounters {
  int64_t tasks_completed = 0;  ///< results accepted from workers
  int64_t tasks_erred = 0;      ///< tasks that entered the erred state (failed or a dep failed)
  /// Results that were in memory, were lost with their worker and are computed again.
  int64_t tasks_recomputed = 0;
  int64_t workers_lost = 0;     ///< workers removed without retirement (died, timed out)
  int64_t workers_retired = 0;  ///< workers closed by a graceful retirement
  int64_t keys_moved = 0;       ///< results copied off retiring workers
  int64_t tasks_stolen = 0;     ///< queued tasks given back by paused workers, placed elsewhere
};

/// A program as the scheduler stores it: an id unique in this scheduler.
struct ProgramEntry {
  int64_t id = 0;
  graph::ChunkProgram program;
};

/// One input of an assigned task, or a key to fetch, with where to find it. Inline storage: a
/// result has one holder and a task at most two inputs, most of the time, and assigning a task
/// is the scheduler's most frequent operation.
struct AssignedInput {
  using Holders = absl::InlinedVector<std::string, 1>;
  std::string key;     ///< fetches only: a task's input keys are its spec's deps
  Holders holders;     ///< data-service addresses
  ChunkPtr inline_data;  ///< set when the scheduler holds the value
};

struct Assignment {
  std::shared_ptr<const graph::TaskSpec> spec;  ///< the task's own, shared: never null
  uint64_t handle = 0;  ///< the task's handle, echoed in its TaskDone (SchedulerState::ByHandle)
  int64_t program_id = -1;
  absl::InlinedVector<AssignedInput, 2> inputs;  ///< parallel to spec.deps
};

/// What the scheduler has to tell one worker; drained by TakeCommands.
struct WorkerCommands {
  std::vector<std::shared_ptr<const ProgramEntry>> programs;  ///< not yet sent to this worker
  std::vector<Assignment> tasks;
  std::vector<std::string> releases;
  /// Keys to copy from other workers (a retiring worker's results moving here).
  std::vector<AssignedInput> fetches;
  /// Assigned tasks to give back if they have not started (the worker paused).
  std::vector<std::string> steals;
  /// The worker has been retired: close its session (after sending the above).
  bool close = false;
  bool empty() const {
    return programs.empty() && tasks.empty() && releases.empty() && fetches.empty() &&
           steals.empty() && !close;
  }
};

/// A finished task as a worker reports it.
struct TaskResult {
  std::string_view key;  ///< valid for the TaskFinished call (a view of the worker's message)
  int64_t nbytes = 0;
  ChunkPtr inline_data;  ///< small results travel inline and are then held here
  double seconds = 0;
  uint64_t handle = 0;  ///< the assignment's handle echoed back; 0: look the key up
};

struct SubmitResult {
  ComputationId computation = 0;
  std::vector<std::string> keys;
  int64_t num_tasks = 0;
};

struct Progress {
  int64_t done = 0;
  int64_t total = 0;
  bool finished = false;
  bool erred = false;
  std::string error;
  std::string erred_key;
};

struct KeyLocation {
  std::string_view key;  ///< the key asked for (a view of the caller's string)
  bool known = false;
  TaskStatus status = TaskStatus::kReleased;
  std::vector<std::string> holders;
  ChunkPtr inline_data;
  std::string error;
};

struct WorkerView {
  WorkerId id = 0;
  WorkerSpec spec;
  WorkerMetrics metrics;
  int64_t processing = 0;
  int64_t stored_keys = 0;
  bool retiring = false;
};

/// A graceful retirement's outcome, for the worker that asked or the `Retire` RPC.
struct RetirementView {
  WorkerId id = 0;
  std::string name, address;
  bool done = false;     ///< every result only it held now has another holder
  int64_t keys_moved = 0;
  int64_t bytes_moved = 0;
};

struct StateOptions {
  /// A worker is handed at most nthreads * saturation + 1 tasks at once; the rest stay queued
  /// on the scheduler (Dask's queuing), which keeps memory bounded and balances load.
  double saturation = 2.0;
  /// Short tasks: once a task group's measured duration is known, a worker may hold enough of
  /// its tasks to stay busy for `short_task_window` seconds per thread (covering the round trip
  /// and the workers' 2 ms event batching), up to `max_saturation` per thread. Without this,
  /// 1e3-element chunks leave workers idle between assignments.
  double short_task_window = 0.004;
  double max_saturation = 256.0;
  /// A task that was running on this many workers that died (not retired) is marked erred
  /// instead of being tried again: it is probably what kills them (Dask's allowed-failures and
  /// KilledWorker).
  int allowed_failures = 3;
  /// Keep forgotten tasks for TakeForgotten() instead of freeing them (the server frees them
  /// outside its lock).
  bool defer_freeing = false;
};

/// Placement defaults (see SchedulerState::PickWorker).
/// The duration assumed for a task of a group that no worker has measured yet.
inline constexpr double kDefaultTaskSeconds = 0.01;
/// A worker kind counts as measured on a group after this many of its tasks; until then it is
/// assumed as fast as the fastest kind, so that it is given some of the group's tasks.
inline constexpr int64_t kExploreSamples = 3;
/// Assumed transfer rate of a task's inputs between workers, bytes per second.
inline constexpr double kTransferBytesPerSecond = 5e8;

class SchedulerState {
 public:
  explicit SchedulerState(StateOptions options = {});

  // ---- Workers ----
  WorkerId AddWorker(const WorkerSpec& spec);
  /// Forgets a worker: its processing tasks go back to the queue and results only it held are
  /// recomputed from their lineage where still needed.
  void RemoveWorker(WorkerId id);
  /// A heartbeat's figures. A worker paused for memory is asked to give back the tasks it was
  /// assigned and has not started (WorkerCommands::steals) that another worker, neither paused
  /// nor retiring, could run: when it pauses, and when such a worker joins or resumes.
  void UpdateMetrics(WorkerId id, const WorkerMetrics& metrics);
  /// The worker gave back `key` (StealTasks) before starting it: it is queued again and placed
  /// elsewhere. Ignored when `key` is no longer processing on that worker.
  void TaskStolen(WorkerId worker, std::string_view key);
  bool HasWorker(WorkerId id) const { return workers_.count(id) != 0; }
  /// Starts a graceful retirement: the worker gets no new tasks, those it runs finish, and every
  /// result that only it holds is copied to another worker (WorkerCommands::fetches). When none is
  /// left, its commands carry `close` and RetirementDone() is true; the caller then removes it,
  /// which recomputes nothing. FAILED_PRECONDITION when it holds such results and no other worker
  /// could take them (with `force`, it is retired anyway and they are recomputed when it leaves);
  /// NOT_FOUND for an unknown worker. Retiring a retiring worker is a no-op.
  absl::Status RetireWorker(WorkerId id, bool force = false);
  /// The worker's retirement state; nullopt when it is not retiring (or unknown).
  std::optional<RetirementView> Retirement(WorkerId id) const;
  /// The unfinished work (waiting, queued and processing tasks) in estimated compute seconds as
  /// each worker kind would take it, with the workers of that kind (retiring ones excluded):
  /// the adaptive policy's input. O(groups + workers).
  std::vector<KindLoad> Workload() const;
  /// Up to `n` idle workers of `kind` (nothing processing, not retiring), those holding the fewest
  /// bytes no other worker has first: the cheapest to retire when scaling down.
  std::vector<WorkerId> WorkersToClose(const std::string& kind, int64_t n) const;
  /// Finds a worker by name or by data-service address ("host:port", "tcp://host:port").
  std::optional<WorkerId> FindWorker(std::string_view name_or_address) const;
  /// A worker copied `key` from a peer as asked (FetchKeys).
  void KeyAcquired(WorkerId worker, const std::string& key);
  /// It could not: `message` says why. Another worker is tried, up to a few times.
  void AcquireFailed(WorkerId worker, const std::string& key, const std::string& message);

  // ---- Clients ----
  /// Adds the tasks of `graph` (keys already known are shared, as Dask does), marks the output
  /// keys wanted by `client` and schedules what is ready. Errors: an external dependency that is
  /// not in memory (NOT_FOUND), a task larger than every worker's memory limit
  /// (RESOURCE_EXHAUSTED). kCall tasks are checked against the functions the workers offer: a
  /// function no worker offers (NOT_FOUND, naming it) or arguments whose count or types do not fit
  /// its signature (INVALID_ARGUMENT, naming the function, the signature and what was given).
  /// With no worker connected at all, calls are accepted unchecked and run once one joins.
  absl::StatusOr<SubmitResult> Submit(const std::string& client, graph::TaskGraph graph);
  /// The functions offered by at least one worker, by name.
  std::vector<call::Signature> Functions() const;
  /// The client no longer wants these keys.
  void Release(const std::string& client, const std::vector<std::string_view>& keys);
  /// Releases everything the client wanted.
  void RemoveClient(const std::string& client);

  // ---- Worker events ----
  /// A task finished on `worker`: its result is kept and `result.seconds` updates the moving
  /// averages of its group's duration, overall and for the worker's kind.
  /// `group`, when given, receives the task's group name ("" for a task no longer known): the
  /// dashboard's event needs it, and asking here saves a second lookup of the key.
  void TaskFinished(WorkerId worker, const TaskResult& result, std::string* group = nullptr);
  /// A task failed on `worker` with `message`; `code` is the status code of the failure.
  /// kResourceExhausted (out of memory, e.g. a GPU's) sends the task back to the queue, never to
  /// be assigned to `worker` again, while some other worker has not failed it that way; this does
  /// not consume its retries. Otherwise the task is retried while it has retries left, else it
  /// errs (and so do its dependents) with `message`.
  void TaskFailed(WorkerId worker, const std::string& key, const std::string& message,
                  absl::StatusCode code = absl::StatusCode::kUnknown);

  // ---- Queries ----
  WorkerCommands TakeCommands(WorkerId worker);
  bool HasCommands(WorkerId worker) const;
  Progress GetProgress(ComputationId id) const;
  /// Progress of the keys alone (no computation id): finished when all are in memory.
  Progress GetKeysProgress(const std::vector<std::string>& keys) const;
  KeyLocation Locate(std::string_view key) const;
  std::vector<WorkerView> Workers() const;
  int64_t NumTasks() const { return static_cast<int64_t>(tasks_.size()); }
  int64_t NumInMemory() const;
  std::optional<TaskStatus> StatusOf(const std::string& key) const;
  /// The task group of a known key, or "" (for observers: the task stream).
  std::string GroupOf(const std::string& key) const;
  /// Task groups in the order they were first seen; groups whose tasks are all forgotten are
  /// kept (up to `kMaxFinishedGroups` of them) so a finished computation stays visible.
  std::vector<GroupView> Groups() const;
  /// Live tasks by TaskStatus (forgotten tasks are not counted).
  std::array<int64_t, kNumTaskStatuses> TaskCounts() const { return task_counts_; }
  const StateCounters& counters() const { return counters_; }
  static constexpr size_t kMaxFinishedGroups = 200;
  /// Bumped on every change that a waiting client might care about.
  uint64_t version() const { return version_; }

 private:
  struct Computation;
  struct Durations;
  struct Group {
    GroupView view;
    uint64_t order = 0;
    /// Its entry in durations_ once a task of it finished here (nullptr until then, and after
    /// durations_ is cleared): saves hashing the group's name for every placement and result.
    struct Durations* durations = nullptr;
  };
  struct Task {
    /// Immutable once added; shared with the assignments that send it (no copy per dispatch).
    std::shared_ptr<const graph::TaskSpec> spec;
    Group* group = nullptr;  ///< owned by groups_; set by AttachGroup
    std::shared_ptr<const ProgramEntry> program;
    TaskStatus status = TaskStatus::kWaiting;
    // Inline vectors: most tasks have at most two inputs, one dependent, one holder and one
    // computation, so adding a task allocates no vector at all.
    absl::InlinedVector<Task*, 2> deps;
    absl::InlinedVector<Task*, 2> dependents;
    int64_t missing_deps = 0;    ///< deps not in memory
    int64_t waiters = 0;         ///< dependents that still need this task's value
    int64_t wanted = 0;          ///< client references
    absl::InlinedVector<WorkerId, 1> who_has;
    ChunkPtr inline_data;
    WorkerId processing_on = -1;
    int64_t nbytes = 0;
    std::string error;
    std::string erred_key;
    absl::InlinedVector<Computation*, 1> computations;
    absl::InlinedVector<Computation*, 1> output_of;  ///< computations with this task as an output
    int retries_left = 0;                 ///< kCall: reruns left after an error
    /// Workers that ran out of memory running it (RESOURCE_EXHAUSTED): never assigned there again.
    std::vector<WorkerId> oom_on;
    std::string oom_error;        ///< the last such failure's message
    double assigned_seconds = 0;  ///< estimated duration added to its worker's queued_seconds
    int suspicious = 0;           ///< workers that died while running it
    bool steal_asked = false;     ///< its paused worker was asked to give it back
    WorkerId moving_to = -1;      ///< a worker fetching it off a retiring holder...
    WorkerId moving_from = -1;    ///< ... that holder
    int move_attempts = 0;
    bool forgotten = false;       ///< out of tasks_, destroyed by Bury()
    uint64_t handle = 0;          ///< slot in slots_ and that slot's generation
  };
  struct Computation {
    ComputationId id = 0;
    std::string client;
    std::vector<Task*> outputs;
    /// Every task counted in `total`. They stay alive as long as the computation: they are the
    /// lineage of its wanted outputs.
    std::vector<Task*> members;
    int64_t total = 0;
    int64_t done = 0;
    int64_t live_outputs = 0;  ///< outputs the client still wants; 0 ends the computation
    std::string error, erred_key;
  };
  struct Worker {
    WorkerSpec spec;
    int kind = 0;  ///< index of spec.kind in kinds_
    WorkerMetrics metrics;
    absl::flat_hash_set<Task*> processing;
    /// Sum of the processing tasks' assigned_seconds, kept incrementally so that placing a task
    /// does not walk every worker's processing set.
    double queued_seconds = 0;
    int64_t stored_keys = 0;
    std::unordered_set<int64_t> programs_sent;
    absl::flat_hash_set<std::string> functions;
    WorkerCommands outbox;
    // Graceful retirement.
    bool retiring = false;
    int64_t moves_in_flight = 0;  ///< its results being fetched by other workers
    int64_t keys_moved = 0, bytes_moved = 0;
    bool retired = false;  ///< nothing left to move: close sent
  };

  // One dependency of a submitted task, resolved once while the submit is checked: a task of the
  // same graph (its index, an earlier one) or a task the scheduler knows.
  struct DepRef {
    int new_index = -1;
    Task* known = nullptr;
  };

  Task* Find(std::string_view key) const;
  /// The live task of a handle given out with its assignment, or null (forgotten since, or 0).
  Task* ByHandle(uint64_t handle) const;
  void TakeSlot(Task* t);
  void FreeSlot(Task* t);
  /// Every status change goes through here, to keep the group and total counts exact.
  void SetStatus(Task* t, TaskStatus status);
  // A new task: counted in its group as released. `hint`, the previous task's group, saves the
  // lookup when it is the same (consecutive tasks of a graph mostly are). Returns t's group.
  Group* AttachGroup(Task* t, Group* hint = nullptr);
  void DetachGroup(Task* t);  // a task about to be forgotten
  /// `deps`: the task's dependencies' specs, parallel to spec.deps.
  absl::Status CheckCall(const graph::TaskSpec& spec,
                         absl::Span<const graph::TaskSpec* const> deps) const;
  call::Type ResultType(const graph::TaskSpec& spec) const;
  void EndComputation(Computation* c);
  void MakeReady(Task* t);
  /// A task taken back from a worker before it finished there (the worker left, or gave it back
  /// paused): queued again at the front, since it was placed before what waits.
  void Requeue(Task* t);
  void EnterRunning(Task* t);   // t starts needing its deps
  void LeaveRunning(Task* t);   // t no longer needs its deps
  void Recompute(Task* t);      // bring a released or lost task back
  void MaybeRelease(Task* t);
  // Forgetting takes a task out of tasks_ but keeps it allocated (`forgotten`, in graveyard_)
  // until Bury() at the end of the public method: pointers held by the walk stay valid.
  void MaybeForget(Task* t);
  void ForgetOne(Task* t, std::vector<Task*>* next);
  void Bury();

 public:
  /// Forgotten tasks, freed when this is destroyed. With `StateOptions::defer_freeing`, Bury()
  /// keeps them for TakeForgotten(): the server frees them after releasing its lock (freeing the
  /// 200 000 tasks of a released tree held the lock for a tenth of a second).
  class Forgotten {
   public:
    Forgotten() = default;
    size_t size() const { return tasks_.size(); }

   private:
    friend class SchedulerState;
    std::vector<std::unique_ptr<Task>> tasks_;
  };
  Forgotten TakeForgotten();

 private:
  void MarkErred(Task* t, const std::string& message, const std::string& origin);
  void MarkOneErred(Task* t, const std::string& message, const std::string& origin);
  void MarkDone(Task* t);
  // Measured compute seconds of a task group: over every worker (Dask's task-prefix duration) and
  // per worker kind, since a GPU may run a group 50x faster than a CPU, or slower.
  struct KindSeconds {
    double seconds = 0;  ///< moving average
    int64_t samples = 0;
  };
  struct Durations {
    double seconds = 0;              ///< moving average over every kind
    std::vector<KindSeconds> kinds;  ///< by kind index (kinds_), grown on demand
  };
  struct Placement {
    WorkerId worker = -1;
    double seconds = 0;  ///< the task's estimated duration there
  };
  int KindIndex(const std::string& kind);
  const Durations* FindDurations(const Task* t) const;
  /// Estimated compute seconds of a task of the group `d` (nullptr: none measured) on `kind`.
  static double EstimateSeconds(const Durations* d, int kind);
  /// Whether `t` may run on worker `id` at all: it offers t's function (calls), its estimated
  /// result fits the worker's memory limit, and it did not run out of memory on it.
  bool CanRun(const Task* t, WorkerId id, const Worker& w) const;
  void Unassign(Worker& w, Task* t);  // takes t off w's processing set
  /// Asks each paused worker for the assigned tasks that a worker neither paused nor retiring
  /// could run, once per assignment (on a pause, a resume, or a new worker).
  void StealFromPausedWorkers();
  /// Moves the results only retiring worker `id` holds; closes it when there are none left.
  void AdvanceRetirement(WorkerId id);
  /// Asks some other worker to fetch `t` off retiring worker `from`; false when none can.
  bool StartMove(Task* t, WorkerId from);
  /// Forgets the move of `t` in flight, if any (its worker left, or `t` was released).
  void CancelMove(Task* t);
  /// AdvanceRetirement for every retiring worker with no move in flight.
  void AdvanceRetirements();
  /// Whether `t` is a result held only by worker `id` (and not by the scheduler inline).
  static bool OnlyOn(const Task* t, WorkerId id);
  void Schedule();
  Placement PickWorker(const Task* t) const;
  void Assign(Task* t, const Placement& p);
  bool Saturated(const Worker& w, const Durations* d) const;
  std::vector<std::string> Holders(const Task* t) const;
  /// Appends t's holders' addresses to `out` (a vector or AssignedInput::Holders).
  template <typename Out>
  void AddHolders(const Task* t, Out* out) const;

  StateOptions options_;
  /// By key; the key is a view of the task's own spec.key (one copy of each key, and open
  /// addressing: a lookup is the scheduler's most frequent operation, several per task).
  absl::flat_hash_map<std::string_view, std::unique_ptr<Task>> tasks_;
  // Every task in tasks_ holds a slot here; its handle is the slot's index (low 32 bits) and the
  // slot's generation (high 32 bits, bumped on each reuse). Workers echo the handle with a result,
  // so a finished task is found by one index rather than by hashing and comparing its key, whose
  // cache misses were a third of TaskFinished's time on B5's tree.
  struct Slot {
    Task* task = nullptr;
    uint32_t generation = 0;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<std::unique_ptr<Task>> graveyard_;  ///< forgotten during the current call
  Forgotten forgotten_;  ///< buried, kept for TakeForgotten (defer_freeing)
  std::map<WorkerId, Worker> workers_;
  WorkerId next_worker_ = 1;
  int64_t next_program_ = 1;
  std::deque<Task*> ready_;
  std::unordered_map<std::string, absl::flat_hash_map<Task*, int64_t>> client_wants_;
  std::unordered_map<ComputationId, std::unique_ptr<Computation>> computations_;
  ComputationId next_computation_ = 1;
  uint64_t version_ = 0;
  /// By task group (TaskSpec::group), for the short-task window of Saturated() and for placement.
  /// Node-based: Group::durations points into it.
  absl::node_hash_map<std::string, Durations> durations_;
  std::vector<std::string> kinds_;  ///< worker kinds ("cpu", "cuda", ...) in the order first seen
  std::unordered_map<std::string, std::unique_ptr<Group>> groups_;
  uint64_t next_group_order_ = 0;
  std::deque<Group*> finished_groups_;  ///< groups with no live task, oldest first
  std::array<int64_t, kNumTaskStatuses> task_counts_{};
  StateCounters counters_;
  /// Functions offered by workers: the first signature seen for a name, and how many workers
  /// offer it.
  struct FunctionOffer {
    call::Signature signature;
    int workers = 0;
  };
  std::unordered_map<std::string, FunctionOffer> functions_;
  /// A move off a retiring worker was cancelled (its result released): AdvanceRetirements is due.
  bool retirement_stalled_ = false;
};

}  // namespace tessera::scheduler
