#include "scheduler/dashboard.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace tessera::scheduler {

using nlohmann::json;

void TaskStream::Append(std::vector<TaskEvent> events, double now) {
  absl::MutexLock lock(&mu_);
  for (auto& e : events) events_.push_back(std::move(e));
  while (events_.size() > capacity_) events_.pop_front();
  while (!events_.empty() && events_.front().stop < now - max_age_) events_.pop_front();
}

std::vector<TaskEvent> TaskStream::Since(double since, size_t limit, bool* truncated) const {
  absl::MutexLock lock(&mu_);
  // Events arrive roughly in stop order; scan back from the newest until a long run of older
  // ones (batches from several workers interleave a little).
  std::vector<const TaskEvent*> hits;
  size_t older_in_a_row = 0;
  for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
    if (it->stop > since) {
      hits.push_back(&*it);
      older_in_a_row = 0;
    } else if (++older_in_a_row > 4096) {
      break;
    }
  }
  *truncated = hits.size() > limit;
  if (hits.size() > limit) hits.resize(limit);  // keep the newest
  std::vector<TaskEvent> out;
  out.reserve(hits.size());
  for (auto it = hits.rbegin(); it != hits.rend(); ++it) out.push_back(**it);
  return out;
}

size_t TaskStream::size() const {
  absl::MutexLock lock(&mu_);
  return events_.size();
}

absl::StatusOr<double> ParseSince(std::string_view text) {
  std::string s(text);
  double scale = 1;
  if (s.size() >= 2 && s.compare(s.size() - 2, 2, "ms") == 0) {
    scale = 1e-3;
    s.resize(s.size() - 2);
  }
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "since='", std::string(text), "' ", std::string(why),
        ": give Unix seconds (1732240000.5) or milliseconds with 'ms' (1732240000500ms)"));
  };
  if (s.empty()) return bad("is empty");
  // strtod alone would accept " 1", "0x10", "inf" and "nan".
  for (char c : s) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
          c == '-' || c == '+')) {
      return bad("is not a number");
    }
  }
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE) return bad("is not a number");
  if (!std::isfinite(v)) return bad("is not finite");
  if (v < 0) return bad("is negative");
  return v * scale;
}

namespace {

// {"cpu": {"desired": 3, "workers": 1, "seconds_of_work": 12.5}, ...}
json DesiredJson(const Snapshot& s) {
  json out = json::object();
  for (const auto& [load, n] : s.desired_workers) {
    out[load.kind] = {{"desired", n}, {"workers", load.workers}, {"seconds_of_work", load.seconds}};
  }
  return out;
}

json StatesJson(const std::array<int64_t, kNumTaskStatuses>& states) {
  json j = json::object();
  for (int i = 0; i < kNumTaskStatuses; ++i) {
    j[std::string(TaskStatusName(static_cast<TaskStatus>(i)))] = states[i];
  }
  return j;
}

}  // namespace

json InfoJson(const Snapshot& s) {
  int64_t threads = 0, memory_used = 0, memory_limit = 0, executing = 0;
  json kinds = json::object();
  for (const auto& w : s.workers) {
    threads += w.nthreads;
    memory_used += w.memory_used;
    memory_limit += w.memory_limit;
    executing += w.tasks_executing;
    kinds[w.kind] = kinds.value(w.kind, 0) + 1;
  }
  return json{
      {"id", s.id},
      {"version", s.version},
      {"address", s.address},
      {"dashboard", s.dashboard},
      {"started", s.started},
      {"now", s.taken},
      {"uptime_seconds", std::max(0.0, s.taken - s.started)},
      {"clients", s.clients},
      {"workers", static_cast<int64_t>(s.workers.size())},
      {"workers_by_kind", kinds},
      {"threads", threads},
      {"memory_used", memory_used},
      {"memory_limit", memory_limit},
      {"tasks_executing", executing},
      {"tasks", StatesJson(s.tasks)},
      {"tasks_completed_total", s.counters.tasks_completed},
      {"tasks_erred_total", s.counters.tasks_erred},
      {"tasks_recomputed_total", s.counters.tasks_recomputed},
      {"workers_lost_total", s.counters.workers_lost},
      {"workers_retired_total", s.counters.workers_retired},
      {"keys_moved_total", s.counters.keys_moved},
      {"tasks_stolen_total", s.counters.tasks_stolen},
      {"desired_workers", DesiredJson(s)},
      {"scale_events_total", s.scale_events},
      {"transfer_bytes_total", s.transfer_bytes},
  };
}

json WorkersJson(const Snapshot& s) {
  json list = json::array();
  for (const auto& w : s.workers) {
    list.push_back(json{
        {"id", w.id},
        {"name", w.name},
        {"address", w.address},
        {"kind", w.kind},
        {"device", w.device},
        {"nthreads", w.nthreads},
        {"memory_used", w.memory_used},
        {"memory_limit", w.memory_limit},
        {"device_memory_used", w.device_memory_used},
        {"device_memory_limit", w.device_memory_limit},
        {"spilled_bytes", w.spilled_bytes},
        {"paused", w.paused},
        {"tasks_executing", w.tasks_executing},
        {"tasks_ready", std::max<int64_t>(0, w.tasks_processing - w.tasks_executing)},
        {"tasks_processing", w.tasks_processing},
        {"tasks_in_memory", w.tasks_in_memory},
        {"last_seen", w.last_seen},
        {"last_seen_ago", std::max(0.0, s.taken - w.last_seen)},
    });
  }
  return json{{"now", s.taken}, {"workers", list}};
}

json ScalingJson(const Snapshot& s) {
  json history = json::array();
  if (s.worker_counts != nullptr) {
    for (const WorkerCountPoint& p : *s.worker_counts) {
      history.push_back({{"time", p.time}, {"workers", p.workers}, {"desired", p.desired}});
    }
  }
  return json{{"now", s.taken},
              {"desired_workers", DesiredJson(s)},
              {"scale_events_total", s.scale_events},
              {"history", history}};
}

json TasksJson(const Snapshot& s) {
  json groups = json::array();
  for (const auto& g : s.groups) {
    // Done: results produced and since released or forgotten, or still in memory.
    const int64_t done = g.states[static_cast<int>(TaskStatus::kMemory)] +
                         g.states[static_cast<int>(TaskStatus::kReleased)] + g.forgotten;
    groups.push_back(json{
        {"name", g.name},
        {"total", g.total},
        {"states", StatesJson(g.states)},
        {"forgotten", g.forgotten},
        {"done", std::min(done, g.total)},
        {"erred", g.states[static_cast<int>(TaskStatus::kErred)]},
        {"completed", g.completed},
        {"compute_seconds", g.compute_seconds},
        {"nbytes", g.nbytes},
    });
  }
  return json{{"now", s.taken},
              {"tasks", StatesJson(s.tasks)},
              {"tasks_completed_total", s.counters.tasks_completed},
              {"tasks_erred_total", s.counters.tasks_erred},
              {"groups", groups}};
}

json TaskStreamJson(const std::vector<TaskEvent>& events, double since, double now,
                    bool truncated) {
  json list = json::array();
  for (const auto& e : events) {
    list.push_back(json{{"key", e.key},
                        {"group", e.group},
                        {"worker", e.worker},
                        {"thread", e.thread},
                        {"start", e.start},
                        {"stop", e.stop},
                        {"status", e.status},
                        {"nbytes", e.nbytes}});
  }
  return json{{"now", now}, {"since", since}, {"truncated", truncated}, {"events", list}};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace tessera::scheduler
