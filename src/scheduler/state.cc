#include "scheduler/state.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/shape.h"
#include "common/status.h"

namespace tessera::scheduler {

std::string_view TaskStatusName(TaskStatus status) {
  switch (status) {
    case TaskStatus::kWaiting:
      return "waiting";
    case TaskStatus::kQueued:
      return "queued";
    case TaskStatus::kProcessing:
      return "processing";
    case TaskStatus::kMemory:
      return "memory";
    case TaskStatus::kErred:
      return "erred";
    case TaskStatus::kReleased:
      return "released";
  }
  return "released";
}

SchedulerState::SchedulerState(StateOptions options) : options_(options) {}

void SchedulerState::SetStatus(Task* t, TaskStatus status) {
  if (t->status == status) return;
  auto& from = t->group->view.states[static_cast<int>(t->status)];
  --from;
  ++t->group->view.states[static_cast<int>(status)];
  --task_counts_[static_cast<int>(t->status)];
  ++task_counts_[static_cast<int>(status)];
  t->status = status;
}

SchedulerState::Group* SchedulerState::AttachGroup(Task* t, Group* hint) {
  static const std::string kOther = "other";
  const std::string& name = t->spec->group.empty() ? kOther : t->spec->group;
  Group* g = hint;  // live when it matches: it has the previous task
  if (g == nullptr || g->view.name != name) {
    auto& slot = groups_[name];
    if (slot == nullptr) {
      slot = std::make_unique<Group>();
      slot->view.name = name;
      slot->order = next_group_order_++;
    } else {
      int64_t live = 0;
      for (int64_t n : slot->view.states) live += n;
      if (live == 0) {  // a finished group comes back to life
        finished_groups_.erase(
            std::remove(finished_groups_.begin(), finished_groups_.end(), slot.get()),
            finished_groups_.end());
      }
    }
    g = slot.get();
  }
  t->group = g;
  ++g->view.total;
  ++g->view.states[static_cast<int>(t->status)];
  ++task_counts_[static_cast<int>(t->status)];
  return g;
}

void SchedulerState::DetachGroup(Task* t) {
  Group* g = t->group;
  --g->view.states[static_cast<int>(t->status)];
  --task_counts_[static_cast<int>(t->status)];
  ++g->view.forgotten;
  int64_t live = 0;
  for (int64_t n : g->view.states) live += n;
  if (live > 0) return;
  finished_groups_.push_back(g);
  while (finished_groups_.size() > kMaxFinishedGroups) {
    Group* old = finished_groups_.front();
    finished_groups_.pop_front();
    groups_.erase(old->view.name);
  }
}

SchedulerState::Task* SchedulerState::Find(std::string_view key) const {
  auto it = tasks_.find(key);
  return it == tasks_.end() ? nullptr : it->second.get();
}

SchedulerState::Task* SchedulerState::ByHandle(uint64_t handle) const {
  const uint64_t slot = handle & 0xffffffffu;
  if (handle == 0 || slot >= slots_.size() || slots_[slot].generation != handle >> 32) {
    return nullptr;
  }
  return slots_[slot].task;
}

void SchedulerState::TakeSlot(Task* t) {
  uint32_t index;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  // Generation 0 is never handed out, so no handle is 0.
  if (++slot.generation == 0) slot.generation = 1;
  slot.task = t;
  t->handle = uint64_t{slot.generation} << 32 | index;
}

void SchedulerState::FreeSlot(Task* t) {
  const uint32_t index = static_cast<uint32_t>(t->handle & 0xffffffffu);
  slots_[index].task = nullptr;
  free_slots_.push_back(index);
  t->handle = 0;
}

// ---------------------------------------------------------------- workers

WorkerId SchedulerState::AddWorker(const WorkerSpec& spec) {
  const WorkerId id = next_worker_++;
  Worker& w = workers_[id];
  w.spec = spec;
  w.kind = KindIndex(spec.kind);
  for (const auto& sig : spec.functions) {
    if (!w.functions.insert(sig.name).second) continue;
    auto [it, fresh] = functions_.try_emplace(sig.name);
    if (fresh) it->second.signature = sig;
    ++it->second.workers;
  }
  ++version_;
  Schedule();
  StealFromPausedWorkers();
  return id;
}

void SchedulerState::RemoveWorker(WorkerId id) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  std::vector<Task*> requeue(it->second.processing.begin(), it->second.processing.end());
  for (const std::string& name : it->second.functions) {
    auto f = functions_.find(name);
    if (f != functions_.end() && --f->second.workers == 0) functions_.erase(f);
  }
  const bool retired = it->second.retired;
  const std::string name = it->second.spec.name;
  if (retired) {
    ++counters_.workers_retired;
  } else {
    ++counters_.workers_lost;
  }
  workers_.erase(it);
  std::vector<Task*> killers;
  for (Task* t : requeue) {
    t->processing_on = -1;
    // A worker that dies while running a task may have been killed by it (out of memory, a
    // crash in a plugin): after `allowed_failures` such deaths the task errs instead of taking
    // down worker after worker.
    if (!retired && ++t->suspicious > options_.allowed_failures) {
      killers.push_back(t);
      continue;
    }
    Requeue(t);
  }
  for (Task* t : killers) {
    if (t->status != TaskStatus::kProcessing) continue;  // erred as a dependent of another
    TESSERA_LOG(kWarning, "task ", t->spec->key, " was running on ", t->suspicious,
                " workers that died; marking it erred");
    MarkErred(t,
              absl::StrCat("task ", t->spec->key, " was running on ", t->suspicious,
                           " workers that died (the last: ", name,
                           "); it is not tried again (allowed-failures ",
                           options_.allowed_failures, ")"),
              t->spec->key);
  }
  // Moves to or from it are void.
  std::vector<WorkerId> retiring;
  for (auto& [wid, w] : workers_) {
    if (w.retiring && !w.retired) retiring.push_back(wid);
  }
  // Results only this worker held are lost; recompute those still needed.
  std::vector<Task*> lost;
  for (auto& [key, t] : tasks_) {
    auto pos = std::find(t->who_has.begin(), t->who_has.end(), id);
    if (pos == t->who_has.end()) continue;
    t->who_has.erase(pos);
    if (t->status == TaskStatus::kMemory && t->who_has.empty() && t->inline_data == nullptr) {
      lost.push_back(t.get());
    }
  }
  if (!retiring.empty()) {
    for (auto& [key, t] : tasks_) {
      if (t->moving_to != id && t->moving_from != id) continue;
      CancelMove(t.get());
    }
  }
  for (Task* t : lost) {
    // Its dependents that were ready lose an input.
    SetStatus(t, TaskStatus::kReleased);
    for (Task* d : t->dependents) {
      if (d->status == TaskStatus::kQueued || d->status == TaskStatus::kWaiting) {
        ++d->missing_deps;
        if (d->status == TaskStatus::kQueued) {
          SetStatus(d, TaskStatus::kWaiting);
          ready_.erase(std::remove(ready_.begin(), ready_.end(), d), ready_.end());
        }
      }
    }
    if (t->waiters > 0 || t->wanted > 0) {
      ++counters_.tasks_recomputed;
      Recompute(t);
    }
  }
  // A queued task that ran out of memory on every remaining worker would block the head of the
  // queue forever: it errs as if the last of them had failed it. (With no worker left at all,
  // tasks wait for one to join, as any task does.)
  if (!workers_.empty()) {
    std::vector<Task*> stuck;
    for (Task* t : ready_) {
      if (t->oom_on.empty()) continue;
      bool runnable = false;
      for (const auto& [wid, w] : workers_) runnable |= CanRun(t, wid, w);
      if (!runnable) stuck.push_back(t);
    }
    for (Task* t : stuck) {
      if (t->status == TaskStatus::kQueued) MarkErred(t, t->oom_error, t->spec->key);
    }
  }
  for (WorkerId r : retiring) AdvanceRetirement(r);
  ++version_;
  Schedule();
}

bool SchedulerState::OnlyOn(const Task* t, WorkerId id) {
  return t->status == TaskStatus::kMemory && t->inline_data == nullptr && t->who_has.size() == 1 &&
         t->who_has[0] == id;
}

absl::Status SchedulerState::RetireWorker(WorkerId id, bool force) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return absl::NotFoundError(absl::StrCat("no worker ", id));
  Worker& w = it->second;
  if (w.retiring) return absl::OkStatus();
  bool other = false;
  for (const auto& [wid, o] : workers_) other |= wid != id && !o.retiring;
  if (!other && !force) {
    int64_t unique = 0;
    for (const auto& [key, t] : tasks_) unique += OnlyOn(t.get(), id) ? 1 : 0;
    if (unique > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "worker ", w.spec.name, " holds ", unique,
          " results that no other worker has, and there is no other worker to move them to"));
    }
  }
  w.retiring = true;
  TESSERA_LOG(kInfo, "retiring worker ", w.spec.name, ": moving its results to other workers");
  AdvanceRetirement(id);
  ++version_;
  Schedule();  // its queued share of work goes elsewhere as it finishes
  return absl::OkStatus();
}

bool SchedulerState::StartMove(Task* t, WorkerId from) {
  constexpr int kMaxMoveAttempts = 3;
  if (t->move_attempts >= kMaxMoveAttempts) return false;
  // The worker holding the fewest results takes it.
  Worker* target = nullptr;
  WorkerId target_id = -1;
  for (auto& [wid, w] : workers_) {
    if (wid == from || w.retiring) continue;
    if (target == nullptr || w.stored_keys < target->stored_keys) {
      target = &w;
      target_id = wid;
    }
  }
  if (target == nullptr) return false;
  ++t->move_attempts;
  t->moving_to = target_id;
  t->moving_from = from;
  ++workers_.at(from).moves_in_flight;
  ++target->stored_keys;  // counted now, so that the next move picks another worker
  AssignedInput& in = target->outbox.fetches.emplace_back();
  in.key = t->spec->key;
  AddHolders(t, &in.holders);
  return true;
}

void SchedulerState::AdvanceRetirement(WorkerId id) {
  auto it = workers_.find(id);
  if (it == workers_.end() || !it->second.retiring || it->second.retired) return;
  Worker& w = it->second;
  if (w.moves_in_flight > 0) return;  // answered by KeyAcquired / AcquireFailed
  int64_t started = 0;
  for (auto& [key, t] : tasks_) {
    if (OnlyOn(t.get(), id) && t->moving_to < 0 && StartMove(t.get(), id)) ++started;
  }
  if (started == 0 && w.processing.empty()) {
    // Whatever is left (moves that failed too often) is recomputed from lineage when it goes.
    w.retired = true;
    w.outbox.close = true;
    TESSERA_LOG(kInfo, "worker ", w.spec.name, " retired: ", w.keys_moved, " results (",
                FormatBytes(w.bytes_moved), ") moved to other workers");
  }
}

void SchedulerState::KeyAcquired(WorkerId worker, const std::string& key) {
  auto wit = workers_.find(worker);
  if (wit == workers_.end()) return;
  Worker& w = wit->second;
  Task* t = Find(key);
  const bool expected = t != nullptr && t->moving_to == worker;
  if (expected) {
    --w.stored_keys;  // counted when the move started; counted again below if it is kept
    auto from = workers_.find(t->moving_from);
    t->moving_to = t->moving_from = -1;
    if (from != workers_.end()) {
      --from->second.moves_in_flight;
      if (t->status == TaskStatus::kMemory) {
        ++from->second.keys_moved;
        from->second.bytes_moved += t->nbytes;
        ++counters_.keys_moved;
      }
    }
  }
  if (t != nullptr && t->status == TaskStatus::kMemory &&
      std::find(t->who_has.begin(), t->who_has.end(), worker) == t->who_has.end()) {
    t->who_has.push_back(worker);
    ++w.stored_keys;
  } else if (t == nullptr || t->status != TaskStatus::kMemory) {
    w.outbox.releases.push_back(key);  // released while it travelled
  }
  AdvanceRetirements();
  ++version_;
}

void SchedulerState::CancelMove(Task* t) {
  if (t->moving_to < 0) return;
  auto to = workers_.find(t->moving_to);
  if (to != workers_.end()) --to->second.stored_keys;
  auto from = workers_.find(t->moving_from);
  if (from != workers_.end()) {
    --from->second.moves_in_flight;
    retirement_stalled_ |= from->second.retiring;
  }
  t->moving_to = t->moving_from = -1;
}

void SchedulerState::AdvanceRetirements() {
  retirement_stalled_ = false;
  for (auto& [wid, r] : workers_) {
    if (r.retiring && !r.retired && r.moves_in_flight == 0) AdvanceRetirement(wid);
  }
}

void SchedulerState::AcquireFailed(WorkerId worker, const std::string& key,
                                   const std::string& message) {
  auto wit = workers_.find(worker);
  if (wit == workers_.end()) return;
  Task* t = Find(key);
  if (t != nullptr && t->moving_to == worker) {
    TESSERA_LOG(kWarning, "worker ", wit->second.spec.name, " could not fetch ", key, ": ",
                message);
    CancelMove(t);
  }
  AdvanceRetirements();  // tries another worker, or gives up on the key
  ++version_;
}

std::optional<RetirementView> SchedulerState::Retirement(WorkerId id) const {
  auto it = workers_.find(id);
  if (it == workers_.end() || !it->second.retiring) return std::nullopt;
  const Worker& w = it->second;
  return RetirementView{id, w.spec.name, w.spec.address, w.retired, w.keys_moved, w.bytes_moved};
}

std::vector<KindLoad> SchedulerState::Workload() const {
  std::vector<KindLoad> out(kinds_.size());
  for (size_t k = 0; k < kinds_.size(); ++k) out[k].kind = kinds_[k];
  for (const auto& [id, w] : workers_) {
    if (w.retiring) continue;
    KindLoad& l = out[static_cast<size_t>(w.kind)];
    ++l.workers;
    l.threads += std::max(1, w.spec.nthreads);
  }
  for (const auto& [name, g] : groups_) {
    const auto& st = g->view.states;
    const int64_t n = st[static_cast<int>(TaskStatus::kWaiting)] +
                      st[static_cast<int>(TaskStatus::kQueued)] +
                      st[static_cast<int>(TaskStatus::kProcessing)];
    if (n == 0) continue;
    auto d = durations_.find(name);
    const Durations* dp = d == durations_.end() ? nullptr : &d->second;
    for (size_t k = 0; k < out.size(); ++k) {
      out[k].seconds += static_cast<double>(n) * EstimateSeconds(dp, static_cast<int>(k));
    }
  }
  return out;
}

std::vector<WorkerId> SchedulerState::WorkersToClose(const std::string& kind, int64_t n) const {
  std::vector<std::pair<int64_t, WorkerId>> idle;  // (unique bytes, id)
  for (const auto& [id, w] : workers_) {
    if (w.retiring || w.spec.kind != kind || !w.processing.empty()) continue;
    idle.emplace_back(0, id);
  }
  if (idle.empty() || n <= 0) return {};
  for (const auto& [key, t] : tasks_) {
    for (auto& [bytes, id] : idle) {
      if (OnlyOn(t.get(), id)) bytes += t->nbytes;
    }
  }
  std::sort(idle.begin(), idle.end());
  std::vector<WorkerId> out;
  for (size_t i = 0; i < idle.size() && static_cast<int64_t>(i) < n; ++i) out.push_back(idle[i].second);
  return out;
}

std::optional<WorkerId> SchedulerState::FindWorker(std::string_view name_or_address) const {
  std::string bare(name_or_address);
  if (bare.rfind("tcp://", 0) == 0) bare.erase(0, 6);
  for (const auto& [id, w] : workers_) {
    if (w.spec.name == name_or_address || w.spec.address == bare ||
        w.spec.name == "tcp://" + bare) {
      return id;
    }
  }
  return std::nullopt;
}

void SchedulerState::UpdateMetrics(WorkerId id, const WorkerMetrics& metrics) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  const bool changed = it->second.metrics.paused != metrics.paused;
  const bool resumed = it->second.metrics.paused && !metrics.paused;
  it->second.metrics = metrics;
  // Tasks held back while every worker was paused go out as soon as one resumes.
  if (resumed) Schedule();
  if (changed) StealFromPausedWorkers();
}

void SchedulerState::StealFromPausedWorkers() {
  std::vector<std::pair<WorkerId, const Worker*>> takers;
  bool any_paused = false;
  for (const auto& [id, w] : workers_) {
    any_paused = any_paused || (w.metrics.paused && !w.processing.empty());
    if (!w.metrics.paused && !w.retiring) takers.emplace_back(id, &w);
  }
  if (!any_paused || takers.empty()) return;
  for (auto& [id, w] : workers_) {
    if (!w.metrics.paused) continue;
    size_t asked = 0;
    for (Task* t : w.processing) {
      if (t->steal_asked) continue;
      for (const auto& [taker, o] : takers) {
        if (CanRun(t, taker, *o)) {
          t->steal_asked = true;
          w.outbox.steals.push_back(t->spec->key);
          ++asked;
          break;
        }
      }
    }
    if (asked > 0) {
      TESSERA_LOG(kInfo, "worker ", w.spec.name, " is paused for memory: asking it to give back ",
                  asked, " queued task", asked == 1 ? "" : "s");
    }
  }
}

void SchedulerState::TaskStolen(WorkerId worker, std::string_view key) {
  auto wit = workers_.find(worker);
  Task* t = Find(key);
  if (wit == workers_.end() || t == nullptr || t->status != TaskStatus::kProcessing ||
      t->processing_on != worker) {
    return;
  }
  Unassign(wit->second, t);
  Requeue(t);
  ++counters_.tasks_stolen;
  Schedule();
}

// ---------------------------------------------------------------- clients

namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    absl::StrAppend(&out, i > 0 ? ", " : "", shape[i]);
  }
  return out + (shape.size() == 1 ? ",)" : ")");
}

// A task whose result cannot fit on any worker, named by its block's shape and bytes, with a
// chunking that would fit: the block's largest axis halved until it takes at most a quarter of
// the largest worker's memory (room for its inputs and neighbours, as Dask's 128 MiB default
// leaves on a 4 GiB worker).
absl::Status TooBigError(const graph::TaskSpec& spec, int64_t largest_worker) {
  std::string what = absl::StrCat("task ", spec.key, " produces ", FormatBytes(spec.est_bytes));
  std::vector<int64_t> shape;
  int64_t elements = 1;
  for (size_t i = 0; i < spec.lo.size() && i < spec.hi.size(); ++i) {
    shape.push_back(spec.hi[i] - spec.lo[i]);
    elements *= std::max<int64_t>(1, shape.back());
  }
  std::string hint = "use smaller chunks";
  if (!shape.empty() && elements > 0 && spec.est_bytes >= elements) {
    const int64_t item = spec.est_bytes / elements;
    what = absl::StrCat("task ", spec.key, " produces a chunk of shape ", ShapeText(shape), " (",
                        FormatBytes(spec.est_bytes), ")");
    std::vector<int64_t> fit = shape;
    auto bytes = [&] {
      int64_t n = item;
      for (int64_t e : fit) n *= std::max<int64_t>(1, e);
      return n;
    };
    while (bytes() > largest_worker / 4) {
      auto big = std::max_element(fit.begin(), fit.end());
      if (*big <= 1) break;
      *big = (*big + 1) / 2;
    }
    hint = absl::StrCat("use chunks of at most ", ShapeText(fit), " (", FormatBytes(bytes()),
                        "), e.g. chunks=", ShapeText(fit));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      what, ", more than any worker's memory limit (", FormatBytes(largest_worker), "); ", hint));
}

}  // namespace

absl::StatusOr<SubmitResult> SchedulerState::Submit(const std::string& client,
                                                    graph::TaskGraph graph) {
  // Validate before changing anything.
  int64_t largest_worker = 0;
  for (const auto& [id, w] : workers_) largest_worker = std::max(largest_worker, w.spec.memory_limit);
  for (const std::string& key : graph.external_deps) {
    // A persisted key may be momentarily out of memory (its holder died and it is being
    // recomputed from lineage): tasks reading it simply wait for it.
    const Task* t = Find(key);
    if (t == nullptr) {
      return absl::NotFoundError(absl::StrCat("input key '", key,
                                              "' is not in the cluster (was it released?)"));
    }
    // A call on an erred future errs in turn (as Dask's futures do); arrays refuse at submit.
    const bool is_call = !graph.tasks.empty() && graph.tasks[0].kind == graph::TaskKind::kCall;
    if (t->status == TaskStatus::kErred && !is_call) {
      return absl::FailedPreconditionError(
          absl::StrCat("input key '", key, "' erred: ", t->error));
    }
  }
  // Every dependency is looked up once, here, and the result used below: among the graph's
  // earlier tasks (by the positions the graph came with, else by key), else in the cluster.
  size_t num_deps_total = 0;
  for (const auto& spec : graph.tasks) num_deps_total += spec.deps.size();
  const int32_t* position = graph.dep_positions.size() == num_deps_total && num_deps_total > 0
                                ? graph.dep_positions.data()
                                : nullptr;
  absl::flat_hash_map<std::string_view, int> new_keys;  // views of the graph's own keys
  if (position == nullptr) new_keys.reserve(graph.tasks.size());
  std::vector<DepRef> dep_refs;  // every task's deps in turn
  dep_refs.reserve(num_deps_total);
  absl::InlinedVector<const graph::TaskSpec*, 4> dep_specs;
  for (size_t i = 0; i < graph.tasks.size(); ++i) {
    const graph::TaskSpec& spec = graph.tasks[i];
    if (largest_worker > 0 && spec.est_bytes > largest_worker) {
      return TooBigError(spec, largest_worker);
    }
    dep_specs.clear();
    for (const std::string& dep : spec.deps) {
      DepRef ref;
      int earlier = -1;
      if (position != nullptr) {
        earlier = *position++;
        // Only an earlier task (a graph is in dependency order): a later one falls through to
        // the cluster's keys, and to the unknown-key error, as a key lookup would.
        if (earlier >= static_cast<int>(i)) earlier = -1;
      } else if (auto it = new_keys.find(dep); it != new_keys.end()) {
        earlier = it->second;
      }
      if (earlier >= 0) {
        ref.new_index = earlier;
        dep_specs.push_back(&graph.tasks[static_cast<size_t>(earlier)]);
      } else if ((ref.known = Find(dep)) != nullptr) {
        dep_specs.push_back(ref.known->spec.get());
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("task ", spec.key, " depends on unknown key '", dep, "'"));
      }
      dep_refs.push_back(ref);
    }
    if (spec.kind == graph::TaskKind::kChunk &&
        (spec.program < 0 || spec.program >= static_cast<int>(graph.programs.size()))) {
      return absl::InvalidArgumentError(
          absl::StrCat("task ", spec.key, " refers to program ", spec.program, " of ",
                       graph.programs.size()));
    }
    if (spec.kind == graph::TaskKind::kCall) TESSERA_RETURN_IF_ERROR(CheckCall(spec, dep_specs));
    if (position == nullptr) new_keys.emplace(spec.key, static_cast<int>(i));
  }

  std::vector<std::shared_ptr<const ProgramEntry>> programs;
  for (auto& p : graph.programs) {
    auto entry = std::make_shared<ProgramEntry>();
    entry->id = next_program_++;
    entry->program = std::move(p);
    programs.push_back(std::move(entry));
  }

  auto comp = std::make_unique<Computation>();
  comp->id = next_computation_++;
  comp->client = client;
  Computation* c = comp.get();
  std::vector<Task*> added;
  std::vector<Task*> graph_tasks(graph.tasks.size());  // by index in the graph
  const DepRef* ref = dep_refs.data();
  Group* group = nullptr;
  for (size_t i = 0; i < graph.tasks.size(); ++i) {
    graph::TaskSpec& spec = graph.tasks[i];
    const size_t num_deps = spec.deps.size();
    // One probe of the table: the spec goes into a new task first, whose key the table then
    // views. A key already there (resubmitted) keeps its task; the new one is dropped.
    auto owned = std::make_unique<Task>();
    owned->spec = std::make_shared<const graph::TaskSpec>(std::move(spec));
    auto [slot, inserted] = tasks_.try_emplace(owned->spec->key);
    Task* t = inserted ? owned.get() : slot->second.get();
    if (inserted) {
      slot->second = std::move(owned);
      if (t->spec->kind == graph::TaskKind::kChunk) t->program = programs[t->spec->program];
      t->status = TaskStatus::kReleased;
      t->retries_left = t->spec->retries;
      for (size_t k = 0; k < num_deps; ++k) {
        Task* d = ref[k].new_index >= 0 ? graph_tasks[static_cast<size_t>(ref[k].new_index)]
                                        : ref[k].known;
        t->deps.push_back(d);
        d->dependents.push_back(t);
      }
      group = AttachGroup(t, group);
      TakeSlot(t);
      added.push_back(t);
    } else if (t->status == TaskStatus::kErred) {
      // A resubmission retries what failed before (the failure may have been transient).
      SetStatus(t, TaskStatus::kReleased);
      t->error.clear();
      t->retries_left = t->spec->retries;
      t->oom_on.clear();
      added.push_back(t);
    } else if (t->status == TaskStatus::kReleased) {
      added.push_back(t);  // its value was dropped but the lineage is known: compute it again
    }
    ref += num_deps;
    graph_tasks[i] = t;
    c->total++;
    t->computations.push_back(c);
    c->members.push_back(t);
    if (t->status == TaskStatus::kMemory) {
      c->done++;
    }
  }
  SubmitResult result;
  result.computation = c->id;
  result.num_tasks = c->total;
  // Output keys are wanted before anything runs, so nothing they need is released early.
  auto& wants = client_wants_[client];
  for (size_t i = 0; i < graph.output_keys.size(); ++i) {
    const std::string& key = graph.output_keys[i];
    // Calls (map) list their outputs in the order of their tasks: no lookup then.
    Task* t = i < c->members.size() && c->members[i]->spec->key == key ? c->members[i] : Find(key);
    if (t == nullptr) continue;  // a kSource root: the key exists under the source's name
    if (!t->output_of.empty() && t->output_of.back() == c) continue;  // listed twice
    c->outputs.push_back(t);
    t->output_of.push_back(c);
    ++c->live_outputs;
    ++t->wanted;
    ++wants[t];
  }
  result.keys = std::move(graph.output_keys);
  computations_.emplace(c->id, std::move(comp));
  for (Task* t : added) {
    if (t->status == TaskStatus::kReleased) Recompute(t);
  }
  ++version_;
  Schedule();
  return result;
}

void SchedulerState::Release(const std::string& client, const std::vector<std::string_view>& keys) {
  auto cw = client_wants_.find(client);
  if (cw == client_wants_.end()) return;
  std::vector<Computation*> ended;
  std::vector<Task*> found;  // by key; forgotten tasks stay allocated until Bury()
  found.reserve(keys.size());
  for (std::string_view key : keys) {
    Task* t = Find(key);
    if (t == nullptr) continue;
    found.push_back(t);
    auto it = cw->second.find(t);
    if (it == cw->second.end()) continue;
    --t->wanted;
    if (--it->second > 0) continue;
    cw->second.erase(it);
    // Computations whose outputs the client no longer wants at all are done with.
    for (Computation* c : t->output_of) {
      if (c->client == client && --c->live_outputs == 0) ended.push_back(c);
    }
  }
  for (Computation* c : ended) EndComputation(c);
  for (Task* t : found) {
    if (t->forgotten) continue;
    MaybeRelease(t);
    MaybeForget(t);
  }
  if (cw->second.empty()) client_wants_.erase(cw);
  ++version_;
  Bury();
}

void SchedulerState::Bury() {
  if (!options_.defer_freeing) {
    graveyard_.clear();
    return;
  }
  auto& kept = forgotten_.tasks_;
  if (kept.empty()) {
    kept.swap(graveyard_);
  } else {
    kept.insert(kept.end(), std::make_move_iterator(graveyard_.begin()),
                std::make_move_iterator(graveyard_.end()));
    graveyard_.clear();
  }
}

SchedulerState::Forgotten SchedulerState::TakeForgotten() { return std::move(forgotten_); }

void SchedulerState::EndComputation(Computation* c) {
  for (Task* t : c->members) {
    auto& v = t->computations;
    v.erase(std::remove(v.begin(), v.end(), c), v.end());
  }
  for (Task* t : c->outputs) {
    auto& v = t->output_of;
    v.erase(std::remove(v.begin(), v.end(), c), v.end());
  }
  // Forgetting one task may forget others (its dependencies): those are marked forgotten and
  // stay allocated until Bury(), so the pointers stay valid.
  std::vector<Task*> members = std::move(c->members);
  computations_.erase(c->id);
  for (Task* t : members) {
    if (t->forgotten) continue;
    MaybeRelease(t);
    MaybeForget(t);
  }
}

void SchedulerState::RemoveClient(const std::string& client) {
  auto cw = client_wants_.find(client);
  if (cw == client_wants_.end()) return;
  // Views of the tasks' own keys: Release keeps forgotten tasks allocated until it returns.
  std::vector<std::string_view> keys;
  for (const auto& [t, n] : cw->second) {
    for (int64_t i = 0; i < n; ++i) keys.push_back(t->spec->key);
  }
  Release(client, keys);
}

// ---------------------------------------------------------------- transitions

// A released (or lost) task is needed again: it waits for its deps, recomputing them as well.
void SchedulerState::Recompute(Task* t) {
  if (t->status != TaskStatus::kReleased) return;
  SetStatus(t, TaskStatus::kWaiting);
  t->missing_deps = 0;
  EnterRunning(t);
  const Task* erred = nullptr;
  for (Task* d : t->deps) {
    if (d->status != TaskStatus::kMemory) {
      ++t->missing_deps;
      if (d->status == TaskStatus::kReleased) Recompute(d);
      if (d->status == TaskStatus::kErred) erred = d;
    }
  }
  if (erred != nullptr) {
    MarkErred(t, erred->error, erred->erred_key);
  } else if (t->missing_deps == 0) {
    MakeReady(t);
  }
}

void SchedulerState::EnterRunning(Task* t) {
  for (Task* d : t->deps) ++d->waiters;
}

void SchedulerState::LeaveRunning(Task* t) {
  for (Task* d : t->deps) {
    --d->waiters;
    MaybeRelease(d);
  }
}

void SchedulerState::Requeue(Task* t) {
  t->processing_on = -1;
  SetStatus(t, TaskStatus::kQueued);
  ready_.push_front(t);
}

void SchedulerState::MakeReady(Task* t) {
  SetStatus(t, TaskStatus::kQueued);
  // Tasks with inputs (combines, consumers) go first: they free memory. Roots wait their turn.
  // A call's priority overrides that: above 0 first, below 0 last.
  if (t->spec->priority != 0) {
    if (t->spec->priority > 0) {
      ready_.push_front(t);
    } else {
      ready_.push_back(t);
    }
  } else if (t->deps.empty()) {
    ready_.push_back(t);
  } else {
    ready_.push_front(t);
  }
}

void SchedulerState::MaybeRelease(Task* t) {
  if (t->status != TaskStatus::kMemory || t->waiters > 0 || t->wanted > 0) return;
  // A move in flight is void: the fetching worker is told to drop the key when it reports it, and
  // the retirement goes on (AdvanceRetirements, at the next event).
  CancelMove(t);
  for (WorkerId w : t->who_has) {
    auto it = workers_.find(w);
    if (it == workers_.end()) continue;
    it->second.outbox.releases.push_back(t->spec->key);
    --it->second.stored_keys;
  }
  t->who_has.clear();
  t->inline_data.reset();
  SetStatus(t, TaskStatus::kReleased);
  // Callers decide about forgetting: it destroys `t`.
}

void SchedulerState::MaybeForget(Task* first) {
  // A worklist of keys rather than recursion: forgetting the end of a chain of 100 000 calls
  // walks the whole chain, and a key (not a pointer) stays valid if its task is forgotten first.
  std::vector<Task*> work;
  ForgetOne(first, &work);
  while (!work.empty()) {
    Task* t = work.back();
    work.pop_back();
    ForgetOne(t, &work);
  }
}

void SchedulerState::ForgetOne(Task* t, std::vector<Task*>* next) {
  if (t->forgotten) return;
  // Forget when no client wants it and nothing that may still run or be recomputed depends on
  // it; the lineage of wanted keys stays so lost results can be recomputed.
  // A live computation's members are its lineage (and it counts its progress over them): they
  // are forgotten when the computation ends (EndComputation).
  if (t->wanted > 0 || !t->dependents.empty()) return;
  if (!t->computations.empty()) {
    // Unneeded work does not run, though: a queued or waiting task goes back to released.
    if (t->status == TaskStatus::kQueued) {
      ready_.erase(std::remove(ready_.begin(), ready_.end(), t), ready_.end());
      LeaveRunning(t);
      SetStatus(t, TaskStatus::kReleased);
    } else if (t->status == TaskStatus::kWaiting) {
      LeaveRunning(t);
      SetStatus(t, TaskStatus::kReleased);
    }
    return;
  }
  if (t->status == TaskStatus::kMemory || t->status == TaskStatus::kProcessing ||
      t->status == TaskStatus::kQueued || t->status == TaskStatus::kWaiting) {
    if (t->status == TaskStatus::kMemory) {
      MaybeRelease(t);
      if (t->status == TaskStatus::kMemory) return;
    } else if (t->status == TaskStatus::kQueued) {
      ready_.erase(std::remove(ready_.begin(), ready_.end(), t), ready_.end());
      LeaveRunning(t);
    } else if (t->status == TaskStatus::kWaiting) {
      LeaveRunning(t);
    } else {
      return;  // processing: forgotten when it finishes
    }
  }
  const auto& deps = t->deps;
  for (Task* d : deps) {
    auto& v = d->dependents;
    v.erase(std::remove(v.begin(), v.end(), t), v.end());
  }
  next->insert(next->end(), deps.begin(), deps.end());
  DetachGroup(t);
  t->forgotten = true;
  FreeSlot(t);
  auto it = tasks_.find(t->spec->key);
  graveyard_.push_back(std::move(it->second));
  tasks_.erase(it);
}

void SchedulerState::MarkDone(Task* t) {
  for (Computation* c : t->computations) c->done++;
}

void SchedulerState::TaskFinished(WorkerId worker, const TaskResult& result, std::string* group) {
  // By handle; by key for a worker that sent none (or a handle of a task forgotten since, which
  // the key does not find either).
  Task* t = ByHandle(result.handle);
  if (t == nullptr) t = Find(result.key);
  if (group != nullptr) {
    if (t != nullptr) {
      *group = t->group->view.name;
    } else {
      group->clear();
    }
  }
  auto wit = workers_.find(worker);
  if (wit != workers_.end() && t != nullptr) Unassign(wit->second, t);
  if (t == nullptr) {
    // Forgotten while running: the worker can drop it.
    if (wit != workers_.end() && result.inline_data == nullptr) {
      wit->second.outbox.releases.emplace_back(result.key);
    }
    Schedule();
    return;
  }
  if (t->status != TaskStatus::kProcessing || t->processing_on != worker) {
    // A duplicate (the task was rescheduled): keep the first result, but remember the holder.
    if (t->status == TaskStatus::kMemory && result.inline_data == nullptr && wit != workers_.end() &&
        std::find(t->who_has.begin(), t->who_has.end(), worker) == t->who_has.end()) {
      t->who_has.push_back(worker);
      ++wit->second.stored_keys;
    } else if (wit != workers_.end() && result.inline_data == nullptr) {
      wit->second.outbox.releases.emplace_back(result.key);
    }
    Schedule();
    return;
  }
  if (result.seconds > 0 && !t->spec->group.empty() && wit != workers_.end()) {
    if (t->group->durations == nullptr) {
      if (durations_.size() > 100'000) {  // bounded memory
        durations_.clear();
        for (auto& [name, g] : groups_) g->durations = nullptr;
      }
      t->group->durations = &durations_[t->spec->group];
    }
    Durations& d = *t->group->durations;
    const bool fresh = d.kinds.empty();  // no result of the group measured yet
    d.seconds = fresh ? result.seconds : 0.9 * d.seconds + 0.1 * result.seconds;
    const size_t kind = static_cast<size_t>(wit->second.kind);
    if (d.kinds.size() <= kind) d.kinds.resize(kind + 1);
    KindSeconds& k = d.kinds[kind];
    k.seconds = k.samples == 0 ? result.seconds : 0.9 * k.seconds + 0.1 * result.seconds;
    ++k.samples;
  }
  SetStatus(t, TaskStatus::kMemory);
  t->processing_on = -1;
  t->nbytes = result.nbytes;
  ++counters_.tasks_completed;
  ++t->group->view.completed;
  t->group->view.compute_seconds += result.seconds;
  t->group->view.nbytes += result.nbytes;
  if (result.inline_data != nullptr) {
    t->inline_data = result.inline_data;
  } else if (wit != workers_.end()) {
    t->who_has.push_back(worker);
    ++wit->second.stored_keys;
  }
  MarkDone(t);
  LeaveRunning(t);
  for (Task* d : t->dependents) {
    if (d->status == TaskStatus::kWaiting && --d->missing_deps == 0) MakeReady(d);
  }
  MaybeRelease(t);
  if (t->status == TaskStatus::kReleased) MaybeForget(t);
  if (wit != workers_.end() && wit->second.retiring) AdvanceRetirement(worker);
  // Only when releasing a result above cancelled a retiring worker's move: this is the hot path.
  if (retirement_stalled_) AdvanceRetirements();
  ++version_;
  Schedule();
  Bury();
}

void SchedulerState::MarkErred(Task* root, const std::string& message, const std::string& origin) {
  // Iterative, as MaybeForget: an error at the root of a long chain errs the whole chain.
  std::vector<Task*> work{root};
  while (!work.empty()) {
    Task* t = work.back();
    work.pop_back();
    if (t->status == TaskStatus::kErred) continue;
    MarkOneErred(t, message, origin);
    work.insert(work.end(), t->dependents.begin(), t->dependents.end());
  }
}

void SchedulerState::MarkOneErred(Task* t, const std::string& message, const std::string& origin) {
  if (t->status == TaskStatus::kQueued) {
    ready_.erase(std::remove(ready_.begin(), ready_.end(), t), ready_.end());
  }
  if (t->status == TaskStatus::kProcessing) {
    auto it = workers_.find(t->processing_on);
    if (it != workers_.end()) Unassign(it->second, t);
  }
  const bool was_running = t->status == TaskStatus::kWaiting ||
                           t->status == TaskStatus::kQueued ||
                           t->status == TaskStatus::kProcessing;
  SetStatus(t, TaskStatus::kErred);
  ++counters_.tasks_erred;
  t->error = message;
  t->erred_key = origin;
  t->processing_on = -1;
  for (Computation* c : t->computations) {
    if (c->error.empty()) {
      c->error = message;
      c->erred_key = origin;
    }
  }
  if (was_running) LeaveRunning(t);
}

void SchedulerState::TaskFailed(WorkerId worker, const std::string& key, const std::string& message,
                                absl::StatusCode code) {
  Task* t = Find(key);
  auto wit = workers_.find(worker);
  if (wit != workers_.end() && t != nullptr) Unassign(wit->second, t);
  if (t != nullptr && t->status == TaskStatus::kProcessing && t->processing_on == worker) {
    bool elsewhere = false;
    if (code == absl::StatusCode::kResourceExhausted) {
      // Out of memory says more about the worker (a GPU's few GiB) than about the task: another
      // worker, a CPU one with more memory say, may well run it. Kept in case none can.
      t->oom_on.push_back(worker);
      t->oom_error = message;
      for (const auto& [id, w] : workers_) elsewhere |= CanRun(t, id, w);
    }
    if (elsewhere) {
      const Worker& w = wit->second;  // found: it is the task's worker
      TESSERA_LOG(kWarning, "task ", key, " ran out of memory on worker ", w.spec.name, " (kind ",
                  w.spec.kind, "): retrying on another worker");
      t->processing_on = -1;
      MakeReady(t);
    } else if (t->retries_left > 0 && code != absl::StatusCode::kResourceExhausted) {
      // (Out of memory everywhere: rerunning would find no worker to take it.)
      --t->retries_left;  // Dask's retries: run it again, perhaps elsewhere
      t->processing_on = -1;
      MakeReady(t);
    } else {
      MarkErred(t, message, key);
    }
    ++version_;
  }
  if (wit != workers_.end() && wit->second.retiring) AdvanceRetirement(worker);
  Schedule();
}

// ---------------------------------------------------------------- scheduling

int SchedulerState::KindIndex(const std::string& kind) {
  auto it = std::find(kinds_.begin(), kinds_.end(), kind);
  if (it != kinds_.end()) return static_cast<int>(it - kinds_.begin());
  kinds_.push_back(kind);
  return static_cast<int>(kinds_.size()) - 1;
}

const SchedulerState::Durations* SchedulerState::FindDurations(const Task* t) const {
  if (t->spec->group.empty()) return nullptr;
  if (t->group->durations != nullptr) return t->group->durations;
  auto it = durations_.find(t->spec->group);
  return it == durations_.end() ? nullptr : &it->second;
}

double SchedulerState::EstimateSeconds(const Durations* d, int kind) {
  if (d == nullptr) return kDefaultTaskSeconds;
  const size_t k = static_cast<size_t>(kind);
  if (k < d->kinds.size() && d->kinds[k].samples >= kExploreSamples) return d->kinds[k].seconds;
  // Not measured enough on this kind: optimistic, as fast as the fastest kind seen so far. A kind
  // that never ran the group thus still gets some of its tasks and is measured; pessimism would
  // keep, say, a GPU worker idle forever once CPU workers had measured the group first.
  double fastest = std::numeric_limits<double>::infinity();
  for (const KindSeconds& ks : d->kinds) {
    if (ks.samples > 0) fastest = std::min(fastest, ks.seconds);
  }
  return std::isfinite(fastest) ? fastest : kDefaultTaskSeconds;
}

bool SchedulerState::CanRun(const Task* t, WorkerId id, const Worker& w) const {
  if (t->spec->kind == graph::TaskKind::kCall && w.functions.count(t->spec->function) == 0) {
    return false;
  }
  // Its result could not fit on that worker at all (a smaller worker beside a larger one).
  if (w.spec.memory_limit > 0 && t->spec->est_bytes > w.spec.memory_limit) return false;
  return std::find(t->oom_on.begin(), t->oom_on.end(), id) == t->oom_on.end();
}

void SchedulerState::Unassign(Worker& w, Task* t) {
  if (w.processing.erase(t) == 0) return;
  // Reset when empty so that rounding errors of the running sum do not accumulate.
  w.queued_seconds =
      w.processing.empty() ? 0 : std::max(0.0, w.queued_seconds - t->assigned_seconds);
}

bool SchedulerState::Saturated(const Worker& w, const Durations* d) const {
  double saturation = options_.saturation;
  if (d != nullptr) {
    // The worker's own kind's measure, and the base saturation until it has one: a GPU's
    // 0.1 ms tasks would otherwise give a CPU worker a window of hundreds of its 5 ms tasks.
    const size_t k = static_cast<size_t>(w.kind);
    if (k < d->kinds.size() && d->kinds[k].samples > 0) {
      saturation = std::clamp(options_.short_task_window / std::max(d->kinds[k].seconds, 1e-9),
                              options_.saturation,
                              std::max(options_.saturation, options_.max_saturation));
    }
  }
  const double limit = std::max(1, w.spec.nthreads) * saturation + 1;
  return static_cast<double>(w.processing.size()) >= limit;
}

SchedulerState::Placement SchedulerState::PickWorker(const Task* t) const {
  // The worker where the task would finish first: input bytes it would have to fetch, plus its
  // queue (the estimated seconds of the tasks it is processing, spread over its threads), plus
  // the task's estimated duration on that worker's kind. Paused workers (memory above their pause
  // mark) and saturated ones are skipped: a task waits on the scheduler rather than in a long
  // worker queue, and a slower worker with a free slot takes it meanwhile.
  Placement best;
  double best_cost = std::numeric_limits<double>::infinity();
  const Durations* d = FindDurations(t);  // once per task, not per worker
  for (const auto& [id, w] : workers_) {
    if (w.retiring || w.metrics.paused || Saturated(w, d) || !CanRun(t, id, w)) continue;
    double missing = 0;
    for (const Task* dep : t->deps) {
      if (dep->inline_data != nullptr) continue;
      if (std::find(dep->who_has.begin(), dep->who_has.end(), id) == dep->who_has.end()) {
        missing += static_cast<double>(dep->nbytes);
      }
    }
    const double seconds = EstimateSeconds(d, w.kind);
    const double cost = missing / kTransferBytesPerSecond +
                        w.queued_seconds / std::max(1, w.spec.nthreads) + seconds;
    if (cost < best_cost) {
      best_cost = cost;
      best = Placement{id, seconds};
    }
  }
  return best;
}

template <typename Out>
void SchedulerState::AddHolders(const Task* t, Out* out) const {
  for (WorkerId w : t->who_has) {
    auto it = workers_.find(w);
    if (it != workers_.end()) out->push_back(it->second.spec.address);
  }
}

std::vector<std::string> SchedulerState::Holders(const Task* t) const {
  std::vector<std::string> out;
  AddHolders(t, &out);
  return out;
}

void SchedulerState::Assign(Task* t, const Placement& p) {
  Worker& w = workers_.at(p.worker);
  SetStatus(t, TaskStatus::kProcessing);
  t->processing_on = p.worker;
  t->steal_asked = false;
  w.processing.insert(t);
  t->assigned_seconds = p.seconds;
  w.queued_seconds += p.seconds;
  Assignment a;
  a.spec = t->spec;  // shared, not copied
  a.handle = t->handle;
  if (t->program != nullptr) {
    a.program_id = t->program->id;
    if (w.programs_sent.insert(t->program->id).second) w.outbox.programs.push_back(t->program);
  }
  for (const Task* d : t->deps) {
    AssignedInput& in = a.inputs.emplace_back();
    AddHolders(d, &in.holders);
    in.inline_data = d->inline_data;
  }
  w.outbox.tasks.push_back(std::move(a));
}

void SchedulerState::Schedule() {
  while (!ready_.empty()) {
    Task* t = ready_.front();
    const Placement p = PickWorker(t);
    if (p.worker < 0) break;  // every worker is saturated (or there are none)
    ready_.pop_front();
    Assign(t, p);
  }
}

// ---------------------------------------------------------------- calls

call::Type SchedulerState::ResultType(const graph::TaskSpec& spec) const {
  if (spec.kind != graph::TaskKind::kCall) return call::Type::kAny;
  auto f = functions_.find(spec.function);
  return f == functions_.end() ? call::Type::kAny : f->second.signature.returns;
}

absl::Status SchedulerState::CheckCall(const graph::TaskSpec& spec,
                                       absl::Span<const graph::TaskSpec* const> deps) const {
  if (workers_.empty()) return absl::OkStatus();  // nothing to check against yet
  auto f = functions_.find(spec.function);
  if (f == functions_.end()) {
    std::vector<std::string> names;
    for (const auto& [name, offer] : functions_) names.push_back(name);
    return call::NotOfferedError(spec.function, std::move(names));
  }
  absl::InlinedVector<call::Type, 8> given;  // no allocation for the usual few arguments
  for (const graph::CallArg& a : spec.call_args) {
    switch (a.kind) {
      case graph::CallArg::Kind::kLiteral:
        given.push_back(a.literal.type);
        break;
      case graph::CallArg::Kind::kList:
        given.push_back(call::Type::kList);
        break;
      case graph::CallArg::Kind::kRef:
        if (a.dep < 0 || a.dep >= static_cast<int>(spec.deps.size())) {
          return absl::InvalidArgumentError(absl::StrCat("task ", spec.key, ": argument refers to input ",
                                                         a.dep, " of ", spec.deps.size()));
        }
        given.push_back(ResultType(*deps[static_cast<size_t>(a.dep)]));
        break;
    }
  }
  return f->second.signature.Check(given);
}

std::vector<call::Signature> SchedulerState::Functions() const {
  std::vector<call::Signature> out;
  for (const auto& [name, offer] : functions_) out.push_back(offer.signature);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

// ---------------------------------------------------------------- queries

WorkerCommands SchedulerState::TakeCommands(WorkerId worker) {
  auto it = workers_.find(worker);
  if (it == workers_.end()) return {};
  WorkerCommands out = std::move(it->second.outbox);
  it->second.outbox = WorkerCommands{};
  return out;
}

bool SchedulerState::HasCommands(WorkerId worker) const {
  auto it = workers_.find(worker);
  return it != workers_.end() && !it->second.outbox.empty();
}

Progress SchedulerState::GetProgress(ComputationId id) const {
  Progress p;
  auto it = computations_.find(id);
  if (it == computations_.end()) {
    p.erred = true;
    p.error = absl::StrCat("unknown computation ", id, " (released?)");
    return p;
  }
  const Computation& c = *it->second;
  p.total = c.total;
  p.done = std::min(c.done, c.total);  // a recomputed task counts again
  if (!c.error.empty()) {
    p.erred = true;
    p.error = c.error;
    p.erred_key = c.erred_key;
    return p;
  }
  // From the last output back: outputs finish roughly in the order they were submitted, so an
  // unfinished one is found at once while a large map (8192 outputs a computation) is running.
  p.finished = std::all_of(c.outputs.rbegin(), c.outputs.rend(),
                           [](const Task* t) { return t->status == TaskStatus::kMemory; });
  return p;
}

Progress SchedulerState::GetKeysProgress(const std::vector<std::string>& keys) const {
  Progress p;
  p.total = static_cast<int64_t>(keys.size());
  p.finished = true;
  for (const std::string& key : keys) {
    const Task* t = Find(key);
    if (t == nullptr) {
      p.erred = true;
      p.error = absl::StrCat("key '", key, "' is not known to the scheduler");
      p.erred_key = key;
      return p;
    }
    if (t->status == TaskStatus::kErred) {
      p.erred = true;
      p.error = t->error;
      p.erred_key = t->erred_key;
      return p;
    }
    if (t->status == TaskStatus::kMemory) {
      ++p.done;
    } else {
      p.finished = false;
    }
  }
  return p;
}

KeyLocation SchedulerState::Locate(std::string_view key) const {
  KeyLocation loc;
  loc.key = key;
  const Task* t = Find(key);
  if (t == nullptr) return loc;
  loc.known = true;
  loc.status = t->status;
  if (t->inline_data != nullptr) {
    loc.inline_data = t->inline_data;
  } else {
    loc.holders = Holders(t);
  }
  if (t->status == TaskStatus::kErred) loc.error = t->error;
  return loc;
}

std::vector<WorkerView> SchedulerState::Workers() const {
  std::vector<WorkerView> out;
  for (const auto& [id, w] : workers_) {
    WorkerView v;
    v.id = id;
    v.spec = w.spec;
    v.metrics = w.metrics;
    v.processing = static_cast<int64_t>(w.processing.size());
    v.stored_keys = w.stored_keys;
    v.retiring = w.retiring;
    out.push_back(std::move(v));
  }
  return out;
}

int64_t SchedulerState::NumInMemory() const {
  return task_counts_[static_cast<int>(TaskStatus::kMemory)];
}

std::string SchedulerState::GroupOf(const std::string& key) const {
  const Task* t = Find(key);
  return t == nullptr ? std::string() : t->group->view.name;
}

std::vector<GroupView> SchedulerState::Groups() const {
  std::vector<const Group*> sorted;
  sorted.reserve(groups_.size());
  for (const auto& [name, g] : groups_) sorted.push_back(g.get());
  std::sort(sorted.begin(), sorted.end(),
            [](const Group* a, const Group* b) { return a->order < b->order; });
  std::vector<GroupView> out;
  out.reserve(sorted.size());
  for (const Group* g : sorted) out.push_back(g->view);
  return out;
}

std::optional<TaskStatus> SchedulerState::StatusOf(const std::string& key) const {
  const Task* t = Find(key);
  if (t == nullptr) return std::nullopt;
  return t->status;
}

}  // namespace tessera::scheduler
