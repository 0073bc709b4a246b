// The dashboard's data without a network: `since` parsing, the task stream's bounds, the JSON
// documents and the Prometheus text.
#include "scheduler/dashboard.h"

#include <gtest/gtest.h>

#include "scheduler/metrics.h"

namespace tessera::scheduler {
namespace {

Snapshot TwoWorkers() {
  Snapshot s;
  s.id = "scheduler-1";
  s.started = 100;
  s.taken = 110;
  WorkerSnapshot a;
  a.id = 1;
  a.name = "a \"quoted\"";
  a.kind = "cpu";
  a.nthreads = 4;
  a.memory_used = 10;
  a.memory_limit = 100;
  a.tasks_executing = 2;
  a.tasks_processing = 5;
  a.last_seen = 109.5;
  WorkerSnapshot b = a;
  b.id = 2;
  b.name = "b";
  b.kind = "cuda";
  b.nthreads = 1;
  s.workers = {a, b};
  GroupView g;
  g.name = "sum-1";
  g.total = 10;
  g.states[static_cast<int>(TaskStatus::kMemory)] = 3;
  g.states[static_cast<int>(TaskStatus::kProcessing)] = 2;
  g.forgotten = 4;
  s.groups = {g};
  s.tasks[static_cast<int>(TaskStatus::kProcessing)] = 2;
  s.counters.tasks_completed = 7;
  s.counters.tasks_erred = 1;
  s.transfer_bytes = 4096;
  return s;
}

TEST(ParseSince, AcceptsSecondsAndMilliseconds) {
  EXPECT_DOUBLE_EQ(*ParseSince("1732240000.5"), 1732240000.5);
  EXPECT_DOUBLE_EQ(*ParseSince("1732240000500ms"), 1732240000.5);
  EXPECT_DOUBLE_EQ(*ParseSince("0"), 0);
  EXPECT_DOUBLE_EQ(*ParseSince("1e3"), 1000);
}

TEST(ParseSince, RejectsWhatIsNotATime) {
  for (const char* bad :
       {"", "ms", "abc", "12abc", "-5", "nan", "inf", " 1", "0x10", "1.2.3", "1e999"}) {
    auto r = ParseSince(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(std::string("'") + bad + "'"), std::string::npos)
        << r.status();
  }
}

TaskEvent Event(const std::string& key, double stop) {
  return TaskEvent{key, "g", "w", 0, stop - 1, stop, "memory", 8};
}

TEST(TaskStream, SinceReturnsNewerEventsOldestFirstAndTruncatesToTheNewest) {
  TaskStream stream(/*capacity=*/100, /*max_age_seconds=*/1000);
  stream.Append({Event("a", 10), Event("b", 20), Event("c", 30)}, 30);
  bool truncated = true;
  auto got = stream.Since(15, 10, &truncated);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, "b");
  EXPECT_EQ(got[1].key, "c");
  EXPECT_FALSE(truncated);
  got = stream.Since(0, 1, &truncated);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "c");
  EXPECT_TRUE(truncated);
}

TEST(TaskStream, IsBoundedInCountAndAge) {
  TaskStream stream(/*capacity=*/3, /*max_age_seconds=*/60);
  for (int i = 0; i < 10; ++i) stream.Append({Event(std::to_string(i), 100 + i)}, 100 + i);
  EXPECT_EQ(stream.size(), 3u);
  stream.Append({Event("late", 200)}, 200);  // everything else is older than a minute now
  EXPECT_EQ(stream.size(), 1u);
}

TEST(DashboardJson, InfoSumsTheWorkers) {
  const auto j = InfoJson(TwoWorkers());
  EXPECT_EQ(j["workers"], 2);
  EXPECT_EQ(j["threads"], 5);
  EXPECT_EQ(j["memory_used"], 20);
  EXPECT_EQ(j["workers_by_kind"]["cuda"], 1);
  EXPECT_EQ(j["tasks"]["processing"], 2);
  EXPECT_EQ(j["tasks_completed_total"], 7);
  EXPECT_EQ(j["transfer_bytes_total"], 4096);
  EXPECT_DOUBLE_EQ(j["uptime_seconds"].get<double>(), 10);
}

TEST(DashboardJson, WorkersHaveEveryDocumentedField) {
  const auto j = WorkersJson(TwoWorkers());
  ASSERT_EQ(j["workers"].size(), 2u);
  const auto& w = j["workers"][0];
  for (const char* field :
       {"id", "name", "address", "kind", "device", "nthreads", "memory_used", "memory_limit",
        "device_memory_used", "device_memory_limit", "spilled_bytes", "paused",
        "tasks_executing", "tasks_ready", "tasks_processing", "tasks_in_memory", "last_seen",
        "last_seen_ago"}) {
    EXPECT_TRUE(w.contains(field)) << field;
  }
  EXPECT_EQ(w["name"], "a \"quoted\"");
  EXPECT_EQ(w["tasks_ready"], 3);  // processing - executing
  EXPECT_DOUBLE_EQ(w["last_seen_ago"].get<double>(), 0.5);
}

TEST(DashboardJson, GroupsCountDoneAsInMemoryReleasedOrForgotten) {
  const auto j = TasksJson(TwoWorkers());
  ASSERT_EQ(j["groups"].size(), 1u);
  const auto& g = j["groups"][0];
  EXPECT_EQ(g["name"], "sum-1");
  EXPECT_EQ(g["done"], 7);
  EXPECT_EQ(g["states"]["processing"], 2);
  EXPECT_EQ(g["total"], 10);
}

TEST(DashboardJson, DumpSurvivesInvalidUtf8) {
  Snapshot s = TwoWorkers();
  s.workers[0].name = std::string("bad\xff");
  EXPECT_NE(Dump(WorkersJson(s)).find("bad\xef\xbf\xbd"), std::string::npos);
}

TEST(Metrics, RendersEveryFamilyWithEscapedLabels) {
  LatencyHistogram h;
  h.Observe(5e-6);
  h.Observe(3e-3);
  h.Observe(5);
  const std::string text = RenderMetrics(TwoWorkers(), h.Read());
  for (const char* line :
       {"# TYPE tessera_workers gauge\n", "tessera_workers{kind=\"cpu\"} 1\n",
        "tessera_workers{kind=\"cuda\"} 1\n",
        "tessera_worker_threads{worker=\"a \\\"quoted\\\"\",kind=\"cpu\"} 4\n",
        "tessera_tasks{state=\"processing\"} 2\n", "# TYPE tessera_tasks_completed_total counter\n",
        "tessera_tasks_completed_total 7\n", "tessera_tasks_erred_total 1\n",
        "tessera_transfer_bytes_total 4096\n", "# TYPE tessera_scheduler_event_seconds histogram\n",
        "tessera_scheduler_event_seconds_bucket{le=\"1e-05\"} 1\n",
        "tessera_scheduler_event_seconds_bucket{le=\"0.0025\"} 1\n",
        "tessera_scheduler_event_seconds_bucket{le=\"0.005\"} 2\n",
        "tessera_scheduler_event_seconds_bucket{le=\"1\"} 2\n",
        "tessera_scheduler_event_seconds_bucket{le=\"+Inf\"} 3\n",
        "tessera_scheduler_event_seconds_count 3\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
  }
  EXPECT_EQ(EscapeLabel("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
}

TEST(DashboardJson, ScalingHasTheRecommendationAndTheTimeline) {
  Snapshot s = TwoWorkers();
  s.desired_workers = {{KindLoad{"cpu", 1, 4, 12.5}, 3}};
  s.scale_events = 2;
  auto points = std::make_shared<std::vector<WorkerCountPoint>>();
  points->push_back(WorkerCountPoint{100, {{"cpu", 1}}, {{"cpu", 1}}});
  points->push_back(WorkerCountPoint{101, {{"cpu", 1}}, {{"cpu", 3}}});
  s.worker_counts = points;
  const nlohmann::json j = ScalingJson(s);
  EXPECT_EQ(j["desired_workers"]["cpu"]["desired"], 3);
  EXPECT_EQ(j["desired_workers"]["cpu"]["workers"], 1);
  EXPECT_DOUBLE_EQ(j["desired_workers"]["cpu"]["seconds_of_work"].get<double>(), 12.5);
  EXPECT_EQ(j["scale_events_total"], 2);
  ASSERT_EQ(j["history"].size(), 2u);
  EXPECT_EQ(j["history"][1]["desired"]["cpu"], 3);
  EXPECT_EQ(InfoJson(s)["desired_workers"]["cpu"]["desired"], 3);
  const std::string text = RenderMetrics(s, LatencyHistogram().Read());
  EXPECT_NE(text.find("tessera_desired_workers{kind=\"cpu\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tessera_scale_events_total 2\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace tessera::scheduler
