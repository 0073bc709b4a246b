// The adaptive policy, driven directly: loads in, recommendations out, no clock.
#include "scheduler/adaptive.h"

#include <gtest/gtest.h>

#include "scheduler/state.h"

namespace tessera::scheduler {
namespace {

std::vector<KindLoad> Cpu(double seconds, int64_t workers = 1, int64_t threads = 1) {
  return {KindLoad{"cpu", workers, threads * workers, seconds}};
}

TEST(AdaptivePolicy, RecommendsEnoughWorkersForTheTargetWithinBounds) {
  AdaptivePolicy p(AdaptiveOptions{.target_seconds = 5, .bounds = {{"cpu", {1, 8}}}});
  EXPECT_EQ(p.Update(Cpu(0)).at("cpu"), 1) << "the minimum with no work";
  EXPECT_EQ(p.Update(Cpu(12)).at("cpu"), 3) << "12 s of work / 5 s";
  EXPECT_EQ(p.Update(Cpu(1000)).at("cpu"), 8) << "capped at the maximum";
  // Two threads per worker halve the count.
  AdaptivePolicy q(AdaptiveOptions{.target_seconds = 5});
  EXPECT_EQ(q.Update(Cpu(40, 2, 2)).at("cpu"), 4);
}

TEST(AdaptivePolicy, ScalesUpAtOnceAndDownOnlyAfterTheWaitCount) {
  AdaptivePolicy p(AdaptiveOptions{.target_seconds = 5, .bounds = {{"cpu", {1, 8}}}, .wait_count = 3});
  p.Update(Cpu(0));
  p.TakeEvents();
  EXPECT_EQ(p.Update(Cpu(30)).at("cpu"), 6);
  auto events = p.TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].from, 1);
  EXPECT_EQ(events[0].to, 6);
  // A pause between bursts does not flap.
  EXPECT_EQ(p.Update(Cpu(0)).at("cpu"), 6);
  EXPECT_EQ(p.Update(Cpu(0)).at("cpu"), 6);
  EXPECT_EQ(p.Update(Cpu(30)).at("cpu"), 6);
  EXPECT_TRUE(p.TakeEvents().empty());
  EXPECT_EQ(p.Update(Cpu(0)).at("cpu"), 6);
  EXPECT_EQ(p.Update(Cpu(0)).at("cpu"), 6);
  EXPECT_EQ(p.Update(Cpu(0)).at("cpu"), 1) << "the third lower evaluation in a row";
  events = p.TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].to, 1);
  EXPECT_EQ(p.events_total(), 3) << "the first recommendation (0 -> 1) counts too";
}

// One GPU: the cuda worker is filled first (it is no slower), the CPU workers take what it
// cannot finish within the target.
TEST(AdaptivePolicy, FillsTheFasterKindFirstAndTheOtherWithTheRest) {
  AdaptivePolicy p(AdaptiveOptions{.target_seconds = 5,
                                   .bounds = {{"cuda", {1, 1}}, {"cpu", {0, 8}}}});
  // Nothing measured on cuda yet: as fast as cpu, and preferred on the tie.
  auto d = p.Update({KindLoad{"cpu", 0, 0, 0}});
  EXPECT_EQ(d.at("cuda"), 1);
  EXPECT_EQ(d.at("cpu"), 0);
  // 100 s of cpu work is 2 s on the GPU: one cuda worker covers it.
  d = p.Update({KindLoad{"cpu", 0, 0, 100}, KindLoad{"cuda", 1, 1, 2}});
  EXPECT_EQ(d.at("cuda"), 1);
  EXPECT_EQ(d.at("cpu"), 0);
  // 50 s on the GPU: one cuda worker covers a tenth; the rest, 900 cpu-seconds, wants 180 cpu
  // workers, capped at 8.
  d = p.Update({KindLoad{"cpu", 2, 2, 1000}, KindLoad{"cuda", 1, 1, 50}});
  EXPECT_EQ(d.at("cuda"), 1);
  EXPECT_EQ(d.at("cpu"), 8);
}

TEST(AdaptivePolicy, ParsesBoundsAndNamesBadValues) {
  auto c = ParseKindCounts("--max-workers", "8", "cpu");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->at("cpu"), 8);
  c = ParseKindCounts("--max-workers", "cpu=4,cuda=2", "cpu");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->at("cuda"), 2);
  EXPECT_NE(ParseKindCounts("--min-workers", "-1", "cpu").status().message().find("'-1'"),
            std::string::npos);
  EXPECT_NE(ParseKindCounts("--min-workers", "tpu=1", "cpu").status().message().find("'tpu'"),
            std::string::npos);
  EXPECT_NE(ParseKindCounts("--min-workers", "cpu", "cpu").status().message().find("'cpu'"),
            std::string::npos);
  auto b = MakeBounds({{"cpu", 4}}, {{"cpu", 2}});
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(b.status().message().find("--min-workers 4 is above --max-workers 2"),
            std::string::npos);
}

graph::TaskGraph Leaves(const std::string& name, int n, int64_t bytes) {
  graph::TaskGraph g;
  g.programs.emplace_back();
  for (int i = 0; i < n; ++i) {
    graph::TaskSpec t;
    t.key = name + "/" + std::to_string(i);
    t.group = name;
    t.kind = graph::TaskKind::kChunk;
    t.program = 0;
    t.est_bytes = bytes;
    g.tasks.push_back(t);
    g.output_keys.push_back(t.key);
  }
  return g;
}

WorkerSpec Spec(const std::string& name, int threads = 1) {
  WorkerSpec s;
  s.name = name;
  s.address = name + ":1";
  s.nthreads = threads;
  s.memory_limit = int64_t{1} << 30;
  return s;
}

// The state machine's side: the load it reports, and the workers it would close first.
TEST(SchedulerWorkload, CountsUnfinishedWorkAndPicksIdleWorkersHoldingLeast) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 2));
  ASSERT_TRUE(s.Submit("c", Leaves("g", 100, 1 << 20)).ok());
  auto load = s.Workload();
  ASSERT_EQ(load.size(), 1u);
  EXPECT_EQ(load[0].kind, "cpu");
  EXPECT_EQ(load[0].workers, 1);
  EXPECT_EQ(load[0].threads, 2);
  EXPECT_DOUBLE_EQ(load[0].seconds, 100 * kDefaultTaskSeconds);
  // Run everything on a: then b and c join idle; a holds 100 MiB, b nothing.
  for (int round = 0; round < 100; ++round) {
    for (const auto& t : s.TakeCommands(a).tasks) {
      s.TaskFinished(a, TaskResult{t.spec->key, 1 << 20, nullptr, 0.2});
    }
  }
  EXPECT_DOUBLE_EQ(s.Workload()[0].seconds, 0);
  const WorkerId b = s.AddWorker(Spec("b"));
  EXPECT_EQ(s.WorkersToClose("cpu", 1), std::vector<WorkerId>{b});
  EXPECT_EQ(s.WorkersToClose("cpu", 5), (std::vector<WorkerId>{b, a}));
  EXPECT_TRUE(s.WorkersToClose("cuda", 1).empty());
  ASSERT_TRUE(s.Submit("c", Leaves("h", 10, 8)).ok());
  // "h" has not run yet: the default duration applies.
  EXPECT_DOUBLE_EQ(s.Workload()[0].seconds, 10 * kDefaultTaskSeconds);
  EXPECT_TRUE(s.WorkersToClose("cpu", 2).size() < 2) << "busy workers are not closed";
}

}  // namespace
}  // namespace tessera::scheduler
