#include "scheduler/metrics.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>

namespace tessera::scheduler {

void LatencyHistogram::Observe(double seconds) {
  if (!(seconds >= 0)) seconds = 0;  // also NaN
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

LatencyHistogram::Counts LatencyHistogram::Read() const {
  Counts c;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    c.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    c.count += c.buckets[i];
  }
  c.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9;
  return c;
}

std::string EscapeLabel(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// Builds the document family by family: HELP and TYPE once, then the samples.
class Writer {
 public:
  void Family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // labels: already rendered `a="x",b="y"` or "".
  void Sample(const std::string& name, const std::string& labels, double value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    char buf[64];
    // Integers print exactly; other values with enough digits to round-trip.
    if (value == static_cast<double>(static_cast<int64_t>(value)) && std::abs(value) < 1e15) {
      std::snprintf(buf, sizeof buf, " %" PRId64 "\n", static_cast<int64_t>(value));
    } else {
      std::snprintf(buf, sizeof buf, " %.17g\n", value);
    }
    out_ += buf;
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string Label(const char* name, const std::string& value) {
  return std::string(name) + "=\"" + EscapeLabel(value) + "\"";
}

std::string WorkerLabels(const WorkerSnapshot& w) {
  return Label("worker", w.name) + "," + Label("kind", w.kind);
}

}  // namespace

std::string RenderMetrics(const Snapshot& s, const LatencyHistogram::Counts& latency) {
  Writer m;
  m.Family("tessera_workers", "gauge", "Workers connected to the scheduler, by kind.");
  std::map<std::string, int64_t> kinds = {{"cpu", 0}, {"cuda", 0}};
  for (const auto& w : s.workers) ++kinds[w.kind];
  for (const auto& [kind, n] : kinds) m.Sample("tessera_workers", Label("kind", kind), n);

  m.Family("tessera_desired_workers", "gauge",
           "Workers of each kind that would finish the current work within the adaptive target "
           "(5 s by default), within --min-workers / --max-workers, with hysteresis: the "
           "signal for an autoscaler.");
  for (const auto& [load, n] : s.desired_workers) {
    m.Sample("tessera_desired_workers", Label("kind", load.kind), n);
  }
  m.Family("tessera_scale_events_total", "counter",
           "Changes of the adaptive recommendation (tessera_desired_workers).");
  m.Sample("tessera_scale_events_total", "", s.scale_events);

  m.Family("tessera_worker_threads", "gauge", "Task threads of each worker.");
  for (const auto& w : s.workers) m.Sample("tessera_worker_threads", WorkerLabels(w), w.nthreads);
  m.Family("tessera_worker_memory_used_bytes", "gauge",
           "Bytes of task results a worker holds (its last heartbeat).");
  for (const auto& w : s.workers) {
    m.Sample("tessera_worker_memory_used_bytes", WorkerLabels(w), w.memory_used);
  }
  m.Family("tessera_worker_memory_limit_bytes", "gauge", "A worker's memory limit in bytes.");
  for (const auto& w : s.workers) {
    m.Sample("tessera_worker_memory_limit_bytes", WorkerLabels(w), w.memory_limit);
  }
  m.Family("tessera_worker_device_memory_used_bytes", "gauge",
           "GPU memory a worker uses (0 for cpu workers).");
  for (const auto& w : s.workers) {
    m.Sample("tessera_worker_device_memory_used_bytes", WorkerLabels(w), w.device_memory_used);
  }
  m.Family("tessera_worker_device_memory_limit_bytes", "gauge",
           "GPU memory a worker may use (0 for cpu workers).");
  for (const auto& w : s.workers) {
    m.Sample("tessera_worker_device_memory_limit_bytes", WorkerLabels(w), w.device_memory_limit);
  }
  m.Family("tessera_worker_spilled_bytes", "gauge",
           "Bytes of results a worker holds spilled to its local directory.");
  for (const auto& w : s.workers) {
    m.Sample("tessera_worker_spilled_bytes", WorkerLabels(w), w.spilled_bytes);
  }
  m.Family("tessera_worker_paused", "gauge",
           "1 while a worker is above its memory pause mark and takes no new tasks.");
  for (const auto& w : s.workers) {
    m.Sample("tessera_worker_paused", WorkerLabels(w), w.paused ? 1 : 0);
  }
  m.Family("tessera_worker_tasks", "gauge",
           "Tasks on a worker: executing (running on a thread), processing (assigned, not "
           "finished) and in_memory (results it holds).");
  for (const auto& w : s.workers) {
    m.Sample("tessera_worker_tasks", WorkerLabels(w) + "," + Label("state", "executing"),
             w.tasks_executing);
    m.Sample("tessera_worker_tasks", WorkerLabels(w) + "," + Label("state", "processing"),
             w.tasks_processing);
    m.Sample("tessera_worker_tasks", WorkerLabels(w) + "," + Label("state", "in_memory"),
             w.tasks_in_memory);
  }

  m.Family("tessera_tasks", "gauge", "Tasks the scheduler tracks, by state.");
  for (int i = 0; i < kNumTaskStatuses; ++i) {
    m.Sample("tessera_tasks",
             Label("state", std::string(TaskStatusName(static_cast<TaskStatus>(i)))), s.tasks[i]);
  }
  m.Family("tessera_tasks_completed_total", "counter", "Task results accepted from workers.");
  m.Sample("tessera_tasks_completed_total", "", s.counters.tasks_completed);
  m.Family("tessera_tasks_erred_total", "counter",
           "Tasks that erred (failed on a worker, or needed one that did).");
  m.Sample("tessera_tasks_erred_total", "", s.counters.tasks_erred);
  m.Family("tessera_tasks_recomputed_total", "counter",
           "Results lost with a worker that died and computed again from their lineage.");
  m.Sample("tessera_tasks_recomputed_total", "", s.counters.tasks_recomputed);
  m.Family("tessera_workers_lost_total", "counter",
           "Workers removed without retirement (connection lost or silent past --worker-timeout).");
  m.Sample("tessera_workers_lost_total", "", s.counters.workers_lost);
  m.Family("tessera_workers_retired_total", "counter", "Workers closed by a graceful retirement.");
  m.Sample("tessera_workers_retired_total", "", s.counters.workers_retired);
  m.Family("tessera_keys_moved_total", "counter",
           "Results copied off retiring workers to other workers.");
  m.Sample("tessera_keys_moved_total", "", s.counters.keys_moved);
  m.Family("tessera_tasks_stolen_total", "counter",
           "Queued tasks given back by workers that paused for memory, and run elsewhere.");
  m.Sample("tessera_tasks_stolen_total", "", s.counters.tasks_stolen);
  m.Family("tessera_transfer_bytes_total", "counter",
           "Bytes workers fetched from other workers to run tasks.");
  m.Sample("tessera_transfer_bytes_total", "", s.transfer_bytes);
  m.Family("tessera_clients", "gauge", "Connected client sessions.");
  m.Sample("tessera_clients", "", s.clients);
  m.Family("tessera_scheduler_uptime_seconds", "gauge", "Seconds since the scheduler started.");
  m.Sample("tessera_scheduler_uptime_seconds", "", std::max(0.0, s.taken - s.started));

  m.Family("tessera_scheduler_event_seconds", "histogram",
           "Time the scheduler takes to handle one message from a worker (task results or a "
           "heartbeat), waiting for its lock included.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < latency.buckets.size(); ++i) {
    cumulative += latency.buckets[i];
    char le[32];
    if (i < LatencyHistogram::kBounds.size()) {
      std::snprintf(le, sizeof le, "%g", LatencyHistogram::kBounds[i]);
    } else {
      std::snprintf(le, sizeof le, "+Inf");
    }
    m.Sample("tessera_scheduler_event_seconds_bucket", Label("le", le),
             static_cast<double>(cumulative));
  }
  m.Sample("tessera_scheduler_event_seconds_sum", "", latency.sum);
  m.Sample("tessera_scheduler_event_seconds_count", "", static_cast<double>(latency.count));
  return m.Take();
}

}  // namespace tessera::scheduler
