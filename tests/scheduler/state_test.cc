// The scheduler's state machine, driven directly: no network, no threads, no clock.
#include "scheduler/state.h"

#include <gtest/gtest.h>

#include <deque>
#include <set>

namespace tessera::scheduler {
namespace {

using graph::TaskGraph;
using graph::TaskKind;
using graph::TaskSpec;

// A tree reduction: `leaves` chunk tasks with no inputs, combined by one combine task.
TaskGraph TreeGraph(const std::string& name, int leaves, int64_t leaf_bytes = 8) {
  TaskGraph g;
  g.programs.emplace_back();
  g.programs[0].ndim = 1;
  TaskSpec root;
  root.key = name + "/combine";
  root.kind = TaskKind::kCombine;
  for (int i = 0; i < leaves; ++i) {
    TaskSpec t;
    t.key = name + "/" + std::to_string(i);
    t.kind = TaskKind::kChunk;
    t.program = 0;
    t.est_bytes = leaf_bytes;
    g.tasks.push_back(t);
    root.deps.push_back(t.key);
  }
  g.tasks.push_back(root);
  g.output_name = name;
  g.output_keys = {root.key};
  return g;
}

WorkerSpec Spec(const std::string& name, int threads = 1, int64_t memory = int64_t{1} << 30) {
  WorkerSpec s;
  s.name = name;
  s.address = name + ":1";
  s.nthreads = threads;
  s.memory_limit = memory;
  return s;
}

ChunkPtr Scalar(double v) {
  auto c = std::make_shared<ChunkBuffer>(ChunkBuffer::Zeros(DType::kFloat64, {}));
  c->mutable_data<double>()[0] = v;
  return c;
}

// Runs every assigned task of `w` to completion with an inline result.
int FinishAll(SchedulerState& s, WorkerId w) {
  auto cmds = s.TakeCommands(w);
  for (const auto& a : cmds.tasks) s.TaskFinished(w, TaskResult{a.spec->key, 8, Scalar(1), 0.001});
  return static_cast<int>(cmds.tasks.size());
}

// The counts the dashboard shows: per group and in total, kept exact through every transition
// and after the tasks are forgotten.
TEST(SchedulerState, GroupCountsFollowEveryTransition) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(Spec("a", 1));
  TaskGraph g = TreeGraph("sum", 6);
  for (auto& t : g.tasks) t.group = t.kind == TaskKind::kChunk ? "leaf-1" : "combine-1";
  auto r = s.Submit("c1", std::move(g));
  ASSERT_TRUE(r.ok()) << r.status();
  auto find = [&](const std::string& name) {
    for (const GroupView& v : s.Groups()) {
      if (v.name == name) return v;
    }
    ADD_FAILURE() << "no group " << name;
    return GroupView{};
  };
  auto at = [](const GroupView& v, TaskStatus st) { return v.states[static_cast<int>(st)]; };
  GroupView leaves = find("leaf-1");
  EXPECT_EQ(leaves.total, 6);
  // One thread, saturation 2: three leaves are assigned, three stay queued.
  EXPECT_EQ(at(leaves, TaskStatus::kProcessing), 3);
  EXPECT_EQ(at(leaves, TaskStatus::kQueued), 3);
  EXPECT_EQ(at(find("combine-1"), TaskStatus::kWaiting), 1);
  EXPECT_EQ(s.TaskCounts()[static_cast<int>(TaskStatus::kProcessing)], 3);
  ASSERT_EQ(s.Groups().front().name, "leaf-1");  // first seen first
  int rounds = 0;
  while (!s.GetProgress(r->computation).finished && rounds++ < 100) FinishAll(s, w);
  leaves = find("leaf-1");
  EXPECT_EQ(leaves.completed, 6);
  EXPECT_EQ(at(leaves, TaskStatus::kReleased), 6);
  EXPECT_EQ(leaves.nbytes, 6 * 8);
  EXPECT_NEAR(leaves.compute_seconds, 0.006, 1e-9);
  EXPECT_EQ(at(find("combine-1"), TaskStatus::kMemory), 1);
  EXPECT_EQ(s.counters().tasks_completed, 7);
  EXPECT_EQ(s.GroupOf("sum/0"), "leaf-1");
  EXPECT_EQ(s.GroupOf("nope"), "");
  // Forgotten tasks leave the live counts but the finished group stays visible.
  s.Release("c1", {"sum/combine"});
  leaves = find("leaf-1");
  EXPECT_EQ(leaves.forgotten, 6);
  for (int64_t n : leaves.states) EXPECT_EQ(n, 0);
  for (int64_t n : s.TaskCounts()) EXPECT_EQ(n, 0);
}

TEST(SchedulerState, ErredTasksAreCountedAndFinishedGroupsAreBounded) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(Spec("a", 1));
  TaskGraph g = TreeGraph("bad", 1);
  auto r = s.Submit("c1", std::move(g));
  ASSERT_TRUE(r.ok());
  auto cmds = s.TakeCommands(w);
  ASSERT_EQ(cmds.tasks.size(), 1u);
  s.TaskFailed(w, cmds.tasks[0].spec->key, "boom");
  EXPECT_EQ(s.counters().tasks_erred, 2);  // the leaf and the combine that needed it
  EXPECT_EQ(s.TaskCounts()[static_cast<int>(TaskStatus::kErred)], 2);
  s.Release("c1", {"bad/combine"});
  for (size_t i = 0; i < SchedulerState::kMaxFinishedGroups + 10; ++i) {
    TaskGraph one = TreeGraph("g" + std::to_string(i), 1);
    for (auto& t : one.tasks) t.group = "group-" + std::to_string(i);
    auto ri = s.Submit("c1", std::move(one));
    ASSERT_TRUE(ri.ok());
    while (!s.GetProgress(ri->computation).finished) FinishAll(s, w);
    s.Release("c1", {ri->keys[0]});
  }
  EXPECT_LE(s.Groups().size(), SchedulerState::kMaxFinishedGroups);
  EXPECT_EQ(s.Groups().back().name,
            "group-" + std::to_string(SchedulerState::kMaxFinishedGroups + 9));
}

TEST(SchedulerState, RunsATreeToCompletion) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(Spec("a", 2));
  auto r = s.Submit("c1", TreeGraph("sum", 10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->num_tasks, 11);
  int rounds = 0, ran = 0;
  while (!s.GetProgress(r->computation).finished && rounds++ < 100) ran += FinishAll(s, w);
  EXPECT_EQ(ran, 11);
  const Progress p = s.GetProgress(r->computation);
  EXPECT_TRUE(p.finished);
  EXPECT_EQ(p.done, 11);
  EXPECT_EQ(p.total, 11);
  // The leaves were released as soon as the combine finished (their lineage stays, so a lost
  // root could be recomputed); the wanted root stays in memory.
  EXPECT_EQ(s.NumInMemory(), 1);
  EXPECT_EQ(s.StatusOf("sum/combine"), TaskStatus::kMemory);
  EXPECT_EQ(s.StatusOf("sum/0"), TaskStatus::kReleased);
  // Releasing the root forgets the whole lineage.
  s.Release("c1", {"sum/combine"});
  EXPECT_EQ(s.NumTasks(), 0);
}

TEST(SchedulerState, BoundsTasksPerWorkerBySaturation) {
  SchedulerState s(StateOptions{2.0});
  const WorkerId w = s.AddWorker(Spec("a", 2));
  ASSERT_TRUE(s.Submit("c1", TreeGraph("sum", 100)).ok());
  // 2 threads * 2 + 1 = 5 tasks in flight; the rest stay queued on the scheduler.
  EXPECT_EQ(s.TakeCommands(w).tasks.size(), 5u);
  EXPECT_EQ(s.Workers()[0].processing, 5);
}

TEST(SchedulerState, ShortTasksGetALargerWindowOnceTheirDurationIsKnown) {
  SchedulerState s(StateOptions{.saturation = 2.0, .short_task_window = 0.004,
                                .max_saturation = 256});
  const WorkerId w = s.AddWorker(Spec("a", 1));
  auto grouped = [](const std::string& name, int leaves) {
    TaskGraph g = TreeGraph(name, leaves);
    for (auto& t : g.tasks) t.group = name + "-group";
    return g;
  };
  ASSERT_TRUE(s.Submit("c1", grouped("short", 1000)).ok());
  // Nothing measured yet: 1 thread * 2 + 1 tasks in flight.
  auto cmds = s.TakeCommands(w);
  ASSERT_EQ(cmds.tasks.size(), 3u);
  // 0.1 ms tasks: a 4 ms window holds 40 of them per thread (+1).
  for (const auto& a : cmds.tasks) {
    s.TaskFinished(w, TaskResult{a.spec->key, 8, Scalar(1), 0.0001});
  }
  cmds = s.TakeCommands(w);
  EXPECT_EQ(s.Workers()[0].processing, 41);
  // Tasks of another group measured at 1 s each stay at the base limit.
  ASSERT_TRUE(s.Submit("c2", grouped("long", 1000)).ok());
  for (int round = 0; round < 100 && !s.GetProgress(1).finished; ++round) {
    for (const auto& a : cmds.tasks) {
      s.TaskFinished(w, TaskResult{a.spec->key, 8, Scalar(1), 0.0001});
    }
    cmds = s.TakeCommands(w);
    // Long tasks come after the short ones in the queue; drop any handed out meanwhile.
    std::erase_if(cmds.tasks, [&](const Assignment& a) {
      if (a.spec->key.rfind("long", 0) != 0) return false;
      s.TaskFinished(w, TaskResult{a.spec->key, 8, Scalar(1), 1.0});
      return true;
    });
  }
  ASSERT_TRUE(s.GetProgress(1).finished);
  cmds = s.TakeCommands(w);
  for (const auto& a : cmds.tasks) s.TaskFinished(w, TaskResult{a.spec->key, 8, Scalar(1), 1.0});
  s.TakeCommands(w);
  EXPECT_EQ(s.Workers()[0].processing, 3) << "1 s tasks are not queued deeper than the base";
}

TEST(SchedulerState, SpreadsWorkOverWorkers) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 1));
  const WorkerId b = s.AddWorker(Spec("b", 1));
  ASSERT_TRUE(s.Submit("c1", TreeGraph("sum", 6)).ok());
  EXPECT_EQ(s.TakeCommands(a).tasks.size(), 3u);
  EXPECT_EQ(s.TakeCommands(b).tasks.size(), 3u);
}

TEST(SchedulerState, SendsEachProgramOncePerWorker) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(Spec("a", 8));
  ASSERT_TRUE(s.Submit("c1", TreeGraph("sum", 10)).ok());
  auto cmds = s.TakeCommands(w);
  EXPECT_EQ(cmds.programs.size(), 1u);
  EXPECT_EQ(cmds.tasks.size(), 10u);
  for (const auto& a : cmds.tasks) EXPECT_EQ(a.program_id, cmds.programs[0]->id);
}

TEST(SchedulerState, CombineGetsInlineInputs) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(Spec("a", 4));
  ASSERT_TRUE(s.Submit("c1", TreeGraph("sum", 3)).ok());
  FinishAll(s, w);
  auto cmds = s.TakeCommands(w);
  ASSERT_EQ(cmds.tasks.size(), 1u);
  ASSERT_EQ(cmds.tasks[0].inputs.size(), 3u);
  for (const auto& in : cmds.tasks[0].inputs) {
    ASSERT_NE(in.inline_data, nullptr);
    EXPECT_EQ(in.inline_data->data<double>()[0], 1.0);
  }
}

TEST(SchedulerState, LargeResultsStayOnTheWorkerAndAreLocated) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 4));
  ASSERT_TRUE(s.Submit("c1", TreeGraph("sum", 1)).ok());
  auto cmds = s.TakeCommands(a);
  s.TaskFinished(a, TaskResult{cmds.tasks[0].spec->key, 1 << 20, nullptr, 0.1});
  const KeyLocation loc = s.Locate("sum/0");
  EXPECT_EQ(loc.status, TaskStatus::kMemory);
  EXPECT_EQ(loc.holders, std::vector<std::string>{"a:1"});
  auto next = s.TakeCommands(a);
  ASSERT_EQ(next.tasks.size(), 1u);
  EXPECT_EQ(next.tasks[0].inputs[0].holders, AssignedInput::Holders{"a:1"});
  EXPECT_EQ(next.tasks[0].inputs[0].inline_data, nullptr);
}

TEST(SchedulerState, PrefersTheWorkerHoldingTheInput) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 4));
  ASSERT_TRUE(s.Submit("c1", TreeGraph("sum", 1)).ok());
  auto cmds = s.TakeCommands(a);
  const WorkerId b = s.AddWorker(Spec("b", 4));
  s.TaskFinished(a, TaskResult{cmds.tasks[0].spec->key, 100 << 20, nullptr, 0.1});
  EXPECT_EQ(s.TakeCommands(a).tasks.size(), 1u);
  EXPECT_EQ(s.TakeCommands(b).tasks.size(), 0u);
}

TEST(SchedulerState, ErrorsPropagateToDependentsAndTheComputation) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(Spec("a", 4));
  auto r = s.Submit("c1", TreeGraph("sum", 3));
  auto cmds = s.TakeCommands(w);
  s.TaskFailed(w, cmds.tasks[1].spec->key, "boom: division by zero");
  const Progress p = s.GetProgress(r->computation);
  EXPECT_TRUE(p.erred);
  EXPECT_EQ(p.error, "boom: division by zero");
  EXPECT_EQ(p.erred_key, cmds.tasks[1].spec->key);
  EXPECT_EQ(s.StatusOf("sum/combine"), TaskStatus::kErred);
  // The other tasks still finish without trouble.
  s.TaskFinished(w, TaskResult{cmds.tasks[0].spec->key, 8, Scalar(1), 0});
  EXPECT_TRUE(s.GetProgress(r->computation).erred);
}

TEST(SchedulerState, WorkerLossReschedulesItsTasks) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 1));
  auto r = s.Submit("c1", TreeGraph("sum", 2));
  EXPECT_EQ(s.TakeCommands(a).tasks.size(), 2u);
  const WorkerId b = s.AddWorker(Spec("b", 1));
  EXPECT_EQ(s.TakeCommands(b).tasks.size(), 0u);
  s.RemoveWorker(a);
  EXPECT_EQ(s.TakeCommands(b).tasks.size(), 2u);
  // A late result from the removed worker is ignored.
  s.TaskFinished(a, TaskResult{"sum/0", 8, Scalar(1), 0});
  EXPECT_EQ(s.StatusOf("sum/0"), TaskStatus::kProcessing);
  (void)r;
}

TEST(SchedulerState, LostResultsAreRecomputedFromLineage) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 4));
  auto r = s.Submit("c1", TreeGraph("sum", 2));
  auto cmds = s.TakeCommands(a);
  // Leaf 0 finishes with a large result held only by worker a; leaf 1 is still running.
  s.TaskFinished(a, TaskResult{"sum/0", 1 << 20, nullptr, 0});
  const WorkerId b = s.AddWorker(Spec("b", 4));
  s.RemoveWorker(a);
  auto again = s.TakeCommands(b);
  std::vector<std::string> keys;
  for (const auto& t : again.tasks) keys.push_back(t.spec->key);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"sum/0", "sum/1"}));
  for (const auto& t : again.tasks) s.TaskFinished(b, TaskResult{t.spec->key, 8, Scalar(1), 0});
  FinishAll(s, b);
  EXPECT_TRUE(s.GetProgress(r->computation).finished);
}

TEST(SchedulerState, SharedKeysAreComputedOnce) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(Spec("a", 16));
  auto r1 = s.Submit("c1", TreeGraph("sum", 4));
  auto r2 = s.Submit("c2", TreeGraph("sum", 4));
  ASSERT_TRUE(r1.ok() && r2.ok());
  auto cmds = s.TakeCommands(w);
  EXPECT_EQ(cmds.tasks.size(), 4u);
  EXPECT_EQ(s.NumTasks(), 5);
  for (const auto& a : cmds.tasks) s.TaskFinished(w, TaskResult{a.spec->key, 8, Scalar(1), 0});
  EXPECT_EQ(FinishAll(s, w), 1);
  EXPECT_TRUE(s.GetProgress(r1->computation).finished);
  EXPECT_TRUE(s.GetProgress(r2->computation).finished);
  // One client releasing does not take the result from the other.
  s.Release("c1", {"sum/combine"});
  EXPECT_EQ(s.StatusOf("sum/combine"), TaskStatus::kMemory);
  s.RemoveClient("c2");
  EXPECT_FALSE(s.StatusOf("sum/combine").has_value());
  EXPECT_EQ(s.NumTasks(), 0);
}

TEST(SchedulerState, ReleasingWhileRunningForgetsEverything) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(Spec("a", 16));
  ASSERT_TRUE(s.Submit("c1", TreeGraph("sum", 4)).ok());
  auto cmds = s.TakeCommands(w);
  s.RemoveClient("c1");
  for (const auto& a : cmds.tasks) s.TaskFinished(w, TaskResult{a.spec->key, 8, Scalar(1), 0});
  EXPECT_EQ(s.NumTasks(), 0);
  EXPECT_TRUE(s.TakeCommands(w).tasks.empty());
}

TEST(SchedulerState, FinishedTasksAreFoundByTheirAssignmentsHandle) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(Spec("a", 16));
  auto sub = s.Submit("c1", TreeGraph("sum", 3));
  ASSERT_TRUE(sub.ok());
  auto cmds = s.TakeCommands(w);
  ASSERT_EQ(cmds.tasks.size(), 3u);
  std::set<uint64_t> handles;
  for (const auto& a : cmds.tasks) handles.insert(a.handle);
  EXPECT_EQ(handles.size(), 3u);
  EXPECT_EQ(handles.count(0), 0u);
  // The handle decides, not the key: a result under a key the scheduler does not know still
  // finishes the task whose handle it carries.
  for (const auto& a : cmds.tasks) {
    s.TaskFinished(w, TaskResult{"no-such-key", 8, Scalar(1), 0.001, a.handle});
  }
  EXPECT_EQ(s.StatusOf("sum/0"), TaskStatus::kMemory);
  EXPECT_EQ(s.StatusOf("sum/2"), TaskStatus::kMemory);
  EXPECT_EQ(FinishAll(s, w), 1);  // the combine, ready once its three inputs were in
  EXPECT_TRUE(s.GetProgress(sub->computation).finished);
}

TEST(SchedulerState, AHandleOfAForgottenTaskFindsNothingOnceItsSlotIsReused) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(Spec("a", 16));
  ASSERT_TRUE(s.Submit("c1", TreeGraph("old", 1)).ok());
  auto first = s.TakeCommands(w);
  ASSERT_EQ(first.tasks.size(), 1u);
  const uint64_t stale = first.tasks[0].handle;
  s.RemoveClient("c1");
  s.TaskFinished(w, TaskResult{"old/0", 8, Scalar(1), 0});  // forgotten now, its slot freed
  EXPECT_EQ(s.NumTasks(), 0);
  auto sub = s.Submit("c2", TreeGraph("new", 1));
  ASSERT_TRUE(sub.ok());
  auto second = s.TakeCommands(w);
  ASSERT_EQ(second.tasks.size(), 1u);
  // Same slot, next generation.
  EXPECT_EQ(second.tasks[0].handle & 0xffffffffu, stale & 0xffffffffu);
  EXPECT_NE(second.tasks[0].handle, stale);
  // A late duplicate of the old result must not finish the new task in that slot.
  s.TaskFinished(w, TaskResult{"old/0", 8, Scalar(1), 0, stale});
  EXPECT_EQ(s.StatusOf("new/0"), TaskStatus::kProcessing);
  s.TaskFinished(w, TaskResult{"new/0", 8, Scalar(1), 0, second.tasks[0].handle});
  EXPECT_EQ(s.StatusOf("new/0"), TaskStatus::kMemory);
}

TEST(SchedulerState, DeferredFreeingKeepsForgottenTasksForTheCaller) {
  SchedulerState s(StateOptions{.defer_freeing = true});
  const WorkerId w = s.AddWorker(Spec("a", 16));
  ASSERT_TRUE(s.Submit("c1", TreeGraph("sum", 4)).ok());
  EXPECT_EQ(FinishAll(s, w), 4);
  EXPECT_EQ(FinishAll(s, w), 1);
  EXPECT_EQ(s.TakeForgotten().size(), 0u);  // all five still wanted or lineage
  s.RemoveClient("c1");
  EXPECT_EQ(s.NumTasks(), 0);
  EXPECT_EQ(s.TakeForgotten().size(), 5u);  // handed over, not freed
  EXPECT_EQ(s.TakeForgotten().size(), 0u);
}

TEST(SchedulerState, RefusesChunksLargerThanAnyWorker) {
  SchedulerState s;
  s.AddWorker(Spec("a", 1, 1000));
  auto r = s.Submit("c1", TreeGraph("sum", 2, 5000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("smaller chunks"), std::string::npos);
  EXPECT_EQ(s.NumTasks(), 0);
}

TEST(SchedulerState, RefusesUnknownDependencies) {
  SchedulerState s;
  TaskGraph g = TreeGraph("sum", 2);
  g.tasks[0].deps.push_back("nowhere/0");
  auto r = s.Submit("c1", g);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nowhere/0"), std::string::npos);
  g = TreeGraph("sum", 2);
  g.external_deps.push_back("persisted/0");
  EXPECT_EQ(s.Submit("c1", g).status().code(), absl::StatusCode::kNotFound);
}

// The dep positions a parsed call graph comes with stand for key lookups among its earlier
// tasks: a position of a later task (a dependency cycle, or a forward reference) finds nothing.
TEST(SchedulerState, DepPositionsFindOnlyEarlierTasksOfTheGraph) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(Spec("a", 16));
  TaskGraph g = TreeGraph("sum", 2);  // sum/0, sum/1, then the combine reading both
  g.dep_positions = {0, 1};
  auto ok = s.Submit("c1", g);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(FinishAll(s, w), 2);
  EXPECT_EQ(FinishAll(s, w), 1);
  EXPECT_TRUE(s.GetProgress(ok->computation).finished);
  TaskGraph forward = TreeGraph("fwd", 2);
  forward.tasks[0].deps.push_back("fwd/1");  // a later task of the same graph
  forward.dep_positions = {1, 0, 1};
  auto r = s.Submit("c1", forward);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("depends on unknown key 'fwd/1'"), std::string::npos)
      << r.status();
}

TEST(SchedulerState, WorkOnAPersistedKeyWaitsWhileItIsRecomputed) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 4));
  TaskGraph persisted;
  persisted.programs.emplace_back();
  TaskSpec leaf;
  leaf.key = "x/0";
  leaf.program = 0;
  persisted.tasks.push_back(leaf);
  persisted.output_keys = {"x/0"};
  ASSERT_TRUE(s.Submit("c1", persisted).ok());
  s.TakeCommands(a);
  s.TaskFinished(a, TaskResult{"x/0", 1 << 20, nullptr, 0});
  const WorkerId b = s.AddWorker(Spec("b", 4));
  s.RemoveWorker(a);  // x/0 is lost and recomputed on b
  EXPECT_EQ(s.StatusOf("x/0"), TaskStatus::kProcessing);

  TaskGraph reader;
  TaskSpec sum;
  sum.key = "sum/0";
  sum.kind = TaskKind::kCombine;
  sum.deps = {"x/0"};
  reader.tasks.push_back(sum);
  reader.external_deps = {"x/0"};
  reader.output_keys = {"sum/0"};
  auto r = s.Submit("c1", reader);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(s.StatusOf("sum/0"), TaskStatus::kWaiting);
  auto cmds = s.TakeCommands(b);
  ASSERT_EQ(cmds.tasks.size(), 1u);
  EXPECT_EQ(cmds.tasks[0].spec->key, "x/0");
  s.TaskFinished(b, TaskResult{"x/0", 1 << 20, nullptr, 0});
  EXPECT_EQ(FinishAll(s, b), 1);
  EXPECT_TRUE(s.GetProgress(r->computation).finished);
}

TEST(SchedulerState, QueuesUntilAWorkerArrives) {
  SchedulerState s;
  auto r = s.Submit("c1", TreeGraph("sum", 3));
  ASSERT_TRUE(r.ok());
  const WorkerId w = s.AddWorker(Spec("late", 8));
  EXPECT_EQ(s.TakeCommands(w).tasks.size(), 3u);
}

// A worker above its memory pause mark gets no task; when every worker is paused, tasks stay
// queued on the scheduler and go out as soon as a heartbeat says one has resumed.
TEST(SchedulerState, PausedWorkersGetNoTasksUntilTheyResume) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 1));
  const WorkerId b = s.AddWorker(Spec("b", 1));
  WorkerMetrics paused;
  paused.paused = true;
  s.UpdateMetrics(a, paused);
  auto r = s.Submit("c1", TreeGraph("sum", 2));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(s.TakeCommands(a).tasks.size(), 0u);
  EXPECT_EQ(s.TakeCommands(b).tasks.size(), 2u);  // both leaves: the unpaused worker takes all

  s.UpdateMetrics(b, paused);
  auto r2 = s.Submit("c1", TreeGraph("other", 3));
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_FALSE(s.HasCommands(a));
  EXPECT_FALSE(s.HasCommands(b));

  s.UpdateMetrics(a, WorkerMetrics{});  // resumed: the queue drains to it
  EXPECT_EQ(s.TakeCommands(a).tasks.size(), 3u);
  // and paused `b` is asked to give back the two leaves it holds, which `a` could run.
  const WorkerCommands to_b = s.TakeCommands(b);
  EXPECT_TRUE(to_b.tasks.empty());
  EXPECT_EQ(to_b.steals.size(), 2u);
}

// A worker that pauses for memory gives back the tasks it has not started, as Dask's work
// stealing moves queued tasks: the scheduler asks for every task another worker could run,
// places those the worker gives back elsewhere, and lets the one it had started finish there.
TEST(SchedulerState, APausedWorkersQueuedTasksMoveToAnotherWorker) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 1));
  auto r = s.Submit("c1", TreeGraph("sum", 3));
  ASSERT_TRUE(r.ok()) << r.status();
  const WorkerCommands first = s.TakeCommands(a);
  ASSERT_EQ(first.tasks.size(), 3u);  // one thread, saturation 2: all three leaves
  const WorkerId b = s.AddWorker(Spec("b", 1));
  EXPECT_FALSE(s.HasCommands(b));

  WorkerMetrics paused;
  paused.paused = true;
  s.UpdateMetrics(a, paused);
  const WorkerCommands steal = s.TakeCommands(a);
  ASSERT_EQ(steal.steals.size(), 3u);
  EXPECT_TRUE(steal.tasks.empty());
  s.UpdateMetrics(a, paused);  // still paused: not asked again
  EXPECT_FALSE(s.HasCommands(a));

  // `a` had started the first leaf; it gives back the other two.
  const std::string started = first.tasks[0].spec->key;
  s.TaskStolen(a, first.tasks[1].spec->key);
  s.TaskStolen(a, first.tasks[2].spec->key);
  s.TaskStolen(a, "sum/7");  // no such task: ignored
  const WorkerCommands moved = s.TakeCommands(b);
  ASSERT_EQ(moved.tasks.size(), 2u);
  std::set<std::string> keys;
  for (const auto& t : moved.tasks) keys.insert(t.spec->key);
  EXPECT_EQ(keys, (std::set<std::string>{first.tasks[1].spec->key, first.tasks[2].spec->key}));
  EXPECT_EQ(s.counters().tasks_stolen, 2);

  s.TaskFinished(a, TaskResult{started, 8, Scalar(1), 0.001});
  s.TaskStolen(a, started);  // too late, it finished: ignored
  for (const auto& t : moved.tasks) s.TaskFinished(b, TaskResult{t.spec->key, 8, Scalar(1), 0.001});
  EXPECT_FALSE(s.HasCommands(a));  // paused: the combine goes to b
  EXPECT_EQ(FinishAll(s, b), 1);
  EXPECT_TRUE(s.GetProgress(r->computation).finished);
  EXPECT_EQ(s.counters().tasks_stolen, 2);
}

// With no other worker able to take them, a paused worker keeps its tasks (it starts them as its
// memory allows) until one that can arrives.
TEST(SchedulerState, APausedWorkerKeepsItsTasksWhenNoOtherCanTakeThem) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 1));
  const WorkerId b = s.AddWorker(Spec("b", 1));
  WorkerMetrics paused;
  paused.paused = true;
  s.UpdateMetrics(b, paused);
  auto r = s.Submit("c1", TreeGraph("sum", 3));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(s.TakeCommands(a).tasks.size(), 3u);
  s.UpdateMetrics(a, paused);  // the other worker is paused too
  EXPECT_FALSE(s.HasCommands(a));
  EXPECT_EQ(s.counters().tasks_stolen, 0);

  // A worker that joins, or one that resumes, can take them: `a` is asked then, once.
  const WorkerId c = s.AddWorker(Spec("c", 1));
  EXPECT_EQ(s.TakeCommands(a).steals.size(), 3u);
  EXPECT_FALSE(s.HasCommands(c));
  s.UpdateMetrics(b, WorkerMetrics{});
  EXPECT_FALSE(s.HasCommands(a));
}

TEST(SchedulerState, ManyTasksScheduleQuickly) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(Spec("a", 64));
  auto r = s.Submit("c1", TreeGraph("sum", 100000));
  ASSERT_TRUE(r.ok());
  int64_t ran = 0;
  for (int i = 0; i < 10000 && !s.GetProgress(r->computation).finished; ++i) ran += FinishAll(s, w);
  EXPECT_EQ(ran, 100001);
  EXPECT_TRUE(s.GetProgress(r->computation).finished);
}

// ---- function calls (kCall) ----

call::Signature Sig(const std::string& name, std::vector<call::Type> params,
                    call::Type returns = call::Type::kNumber) {
  return call::Signature{name, std::move(params), false, returns};
}

WorkerSpec CallWorker(const std::string& name, std::vector<call::Signature> fns) {
  WorkerSpec s = Spec(name);
  s.functions = std::move(fns);
  return s;
}

TaskSpec Call(const std::string& key, const std::string& fn, std::vector<graph::CallArg> args,
              std::vector<std::string> deps = {}) {
  TaskSpec t;
  t.key = key;
  t.kind = TaskKind::kCall;
  t.function = fn;
  t.group = fn;
  t.call_args = std::move(args);
  t.deps = std::move(deps);
  return t;
}

graph::CallArg Lit(call::Value v) {
  graph::CallArg a;
  a.literal = std::move(v);
  return a;
}
graph::CallArg Ref(int dep) {
  graph::CallArg a;
  a.kind = graph::CallArg::Kind::kRef;
  a.dep = dep;
  return a;
}

TaskGraph Calls(std::vector<TaskSpec> tasks, std::vector<std::string> outputs) {
  TaskGraph g;
  g.tasks = std::move(tasks);
  g.output_keys = std::move(outputs);
  return g;
}

TEST(SchedulerState, CallsRunInDependencyOrder) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(CallWorker("a", {Sig("inc", {call::Type::kNumber}),
                                                  Sig("add", {call::Type::kNumber, call::Type::kNumber})}));
  auto r = s.Submit("c", Calls({Call("x", "inc", {Lit(call::Value::Int(1))}),
                                Call("y", "inc", {Lit(call::Value::Int(2))}),
                                Call("z", "add", {Ref(0), Ref(1)}, {"x", "y"})},
                               {"z"}));
  ASSERT_TRUE(r.ok()) << r.status();
  auto cmds = s.TakeCommands(w);
  ASSERT_EQ(cmds.tasks.size(), 2u);  // z waits for x and y
  for (const auto& a : cmds.tasks) s.TaskFinished(w, TaskResult{a.spec->key, 8, Scalar(1), 0.001});
  cmds = s.TakeCommands(w);
  ASSERT_EQ(cmds.tasks.size(), 1u);
  EXPECT_EQ(cmds.tasks[0].spec->key, "z");
  EXPECT_EQ(cmds.tasks[0].spec->function, "add");
  ASSERT_EQ(cmds.tasks[0].inputs.size(), 2u);
  EXPECT_NE(cmds.tasks[0].inputs[0].inline_data, nullptr);  // x's value travels inline
  s.TaskFinished(w, TaskResult{"z", 8, Scalar(3), 0.001});
  EXPECT_TRUE(s.GetProgress(r->computation).finished);
  // x and y were released once z had them.
  EXPECT_EQ(s.StatusOf("x"), TaskStatus::kReleased);
}

TEST(SchedulerState, CallsAreCheckedAgainstTheWorkersFunctions) {
  SchedulerState s;
  s.AddWorker(CallWorker("a", {Sig("inc", {call::Type::kNumber}),
                               Sig("sum", {call::Type::kList})}));
  auto r = s.Submit("c", Calls({Call("x", "nope", {})}, {"x"}));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "no worker offers a function named 'nope' (offered: inc, sum)");
  r = s.Submit("c", Calls({Call("x", "inc", {Lit(call::Value::String("a"))})}, {"x"}));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "inc expects inc(number) -> number; given (string)");
  // A reference's type is its producer's return type (inc: number), so sum(inc(1)) is refused.
  r = s.Submit("c", Calls({Call("x", "inc", {Lit(call::Value::Int(1))}),
                           Call("y", "sum", {Ref(0)}, {"x"})},
                          {"y"}));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "sum expects sum(list) -> number; given (number)");
  EXPECT_EQ(s.NumTasks(), 0);  // nothing was added
}

TEST(SchedulerState, CallsGoOnlyToWorkersOfferingTheFunction) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(CallWorker("a", {Sig("inc", {call::Type::kNumber})}));
  const WorkerId b = s.AddWorker(CallWorker("b", {Sig("inc", {call::Type::kNumber}),
                                                  Sig("special", {})}));
  std::vector<TaskSpec> tasks;
  std::vector<std::string> keys;
  for (int i = 0; i < 3; ++i) {
    tasks.push_back(Call("s" + std::to_string(i), "special", {}));
    keys.push_back(tasks.back().key);
  }
  ASSERT_TRUE(s.Submit("c", Calls(tasks, keys)).ok());
  EXPECT_EQ(s.TakeCommands(a).tasks.size(), 0u);
  EXPECT_EQ(s.TakeCommands(b).tasks.size(), 3u);
  // When b leaves, nobody offers `special` any more.
  s.RemoveWorker(b);
  auto r = s.Submit("c", Calls({Call("t", "special", {})}, {"t"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

TEST(SchedulerState, RetriesRerunAFailedCall) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(CallWorker("a", {Sig("flaky", {})}));
  TaskSpec t = Call("f", "flaky", {});
  t.retries = 1;
  auto r = s.Submit("c", Calls({t}, {"f"}));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(s.TakeCommands(w).tasks.size(), 1u);
  s.TaskFailed(w, "f", "boom 1");
  EXPECT_EQ(s.StatusOf("f"), TaskStatus::kProcessing);  // requeued and assigned again
  ASSERT_EQ(s.TakeCommands(w).tasks.size(), 1u);
  s.TaskFailed(w, "f", "boom 2");
  EXPECT_EQ(s.StatusOf("f"), TaskStatus::kErred);
  EXPECT_EQ(s.GetProgress(r->computation).error, "boom 2");
}

TEST(SchedulerState, ReleasingOutputsOneByOneEndsTheComputationOnce) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(CallWorker("a", {Sig("inc", {call::Type::kNumber})}));
  std::vector<TaskSpec> tasks;
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    std::string key = "k";
    key += std::to_string(i);  // (GCC 12's -Wrestrict misfires on "k" + std::to_string(i))
    tasks.push_back(Call(key, "inc", {Lit(call::Value::Int(i))}));
    keys.push_back(tasks.back().key);
  }
  ASSERT_TRUE(s.Submit("c", Calls(tasks, keys)).ok());
  while (FinishAll(s, w) > 0) {
  }
  for (const auto& k : keys) s.Release("c", {k});
  EXPECT_EQ(s.NumTasks(), 0);
}

TEST(SchedulerState, CancellingAQueuedCallForgetsIt) {
  SchedulerState s({.saturation = 0});  // one task at a time per thread
  const WorkerId w = s.AddWorker(CallWorker("a", {Sig("sleep", {call::Type::kNumber})}));
  ASSERT_TRUE(s.Submit("c", Calls({Call("a", "sleep", {Lit(call::Value::Int(1))}),
                                   Call("b", "sleep", {Lit(call::Value::Int(1))})},
                                  {"a", "b"}))
                  .ok());
  ASSERT_EQ(s.TakeCommands(w).tasks.size(), 1u);
  s.Release("c", {"b"});  // "b" is queued: it never runs
  EXPECT_EQ(s.StatusOf("b"), TaskStatus::kReleased);
  s.TaskFinished(w, TaskResult{"a", 8, Scalar(1), 0.001});
  EXPECT_EQ(s.TakeCommands(w).tasks.size(), 0u);
  // Once the computation's last output is released, its tasks are forgotten.
  s.Release("c", {"a"});
  EXPECT_FALSE(s.StatusOf("b").has_value());
  EXPECT_EQ(s.NumTasks(), 0);
}

TEST(SchedulerState, ACallOnAnErredFutureErrsWithItsError) {
  SchedulerState s;
  const WorkerId w = s.AddWorker(CallWorker("a", {Sig("inc", {call::Type::kNumber})}));
  ASSERT_TRUE(s.Submit("c", Calls({Call("x", "inc", {Lit(call::Value::Int(1))})}, {"x"})).ok());
  ASSERT_EQ(s.TakeCommands(w).tasks.size(), 1u);
  s.TaskFailed(w, "x", "it broke");
  auto r = s.Submit("c", Calls({Call("y", "inc", {Ref(0)}, {"x"})}, {"y"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(s.StatusOf("y"), TaskStatus::kErred);
  const Progress p = s.GetKeysProgress({"y"});
  EXPECT_TRUE(p.erred);
  EXPECT_EQ(p.error, "it broke");
  EXPECT_EQ(p.erred_key, "x");
}

TEST(SchedulerState, PriorityCallsJumpTheQueue) {
  SchedulerState s({.saturation = 0});  // one task at a time
  const WorkerId w = s.AddWorker(CallWorker("a", {Sig("noop", {})}));
  std::vector<TaskSpec> tasks = {Call("a", "noop", {}), Call("b", "noop", {}), Call("c", "noop", {})};
  tasks[2].priority = 1;
  ASSERT_TRUE(s.Submit("c", Calls(tasks, {"a", "b", "c"})).ok());
  auto cmds = s.TakeCommands(w);
  ASSERT_EQ(cmds.tasks.size(), 1u);
  EXPECT_EQ(cmds.tasks[0].spec->key, "c");
  s.TaskFinished(w, TaskResult{"c", 8, Scalar(1), 0.001});
  cmds = s.TakeCommands(w);  // now the group's duration is known: a deeper window
  ASSERT_EQ(cmds.tasks.size(), 2u);
  EXPECT_EQ(cmds.tasks[0].spec->key, "a");
  EXPECT_EQ(cmds.tasks[1].spec->key, "b");
}

// ---- worker kinds: placement by measured duration, out-of-memory retries ----

WorkerSpec KindSpec(const std::string& name, const std::string& kind) {
  WorkerSpec s = Spec(name, 1);
  s.kind = kind;
  return s;
}

WorkerSpec KindCallWorker(const std::string& name, const std::string& kind,
                          std::vector<call::Signature> fns) {
  WorkerSpec s = CallWorker(name, std::move(fns));
  s.kind = kind;
  return s;
}

// `leaves` tasks of group "work" (and their combine, in no group).
TaskGraph WorkGraph(const std::string& name, int leaves) {
  TaskGraph g = TreeGraph(name, leaves);
  for (auto& t : g.tasks) {
    if (t.kind == TaskKind::kChunk) t.group = "work";
  }
  return g;
}

// Runs `computation` on single-threaded workers that take `seconds[i]` per task, in simulated
// time: the task that finishes next reports first, and each report may bring new assignments.
// Returns how many tasks each worker ran.
std::vector<int> Simulate(SchedulerState& s, ComputationId computation,
                          const std::vector<WorkerId>& workers,
                          const std::vector<double>& seconds) {
  struct Sim {
    std::deque<std::string> queue;
    double head_done = 0;  // when the task at the head of the queue finishes
    int ran = 0;
  };
  std::vector<Sim> sims(workers.size());
  double now = 0;
  auto pull = [&] {
    for (size_t i = 0; i < workers.size(); ++i) {
      const bool idle = sims[i].queue.empty();
      for (const auto& a : s.TakeCommands(workers[i]).tasks) sims[i].queue.push_back(a.spec->key);
      if (idle && !sims[i].queue.empty()) sims[i].head_done = now + seconds[i];
    }
  };
  pull();
  for (int step = 0; step < 1'000'000 && !s.GetProgress(computation).finished; ++step) {
    size_t next = workers.size();
    for (size_t i = 0; i < workers.size(); ++i) {
      if (!sims[i].queue.empty() &&
          (next == workers.size() || sims[i].head_done < sims[next].head_done)) {
        next = i;
      }
    }
    if (next == workers.size()) break;  // nothing assigned: stuck
    Sim& w = sims[next];
    now = w.head_done;
    const std::string key = w.queue.front();
    w.queue.pop_front();
    ++w.ran;
    if (!w.queue.empty()) w.head_done = now + seconds[next];
    s.TaskFinished(workers[next], TaskResult{key, 8, Scalar(1), seconds[next]});
    pull();
  }
  std::vector<int> ran;
  for (const Sim& w : sims) ran.push_back(w.ran);
  return ran;
}

TEST(SchedulerState, MostTasksGoToTheFasterKindWhileTheSlowerOneStillWorks) {
  SchedulerState s;
  const WorkerId cpu = s.AddWorker(KindSpec("cpu-0", "cpu"));
  const WorkerId cuda = s.AddWorker(KindSpec("cuda-0", "cuda"));
  // The group runs 50x faster on the GPU. Neither kind has measured it at first: both get tasks
  // and so are measured.
  auto r = s.Submit("c1", WorkGraph("big", 2000));
  ASSERT_TRUE(r.ok()) << r.status();
  const std::vector<int> ran = Simulate(s, r->computation, {cpu, cuda}, {0.05, 0.001});
  ASSERT_TRUE(s.GetProgress(r->computation).finished);
  EXPECT_EQ(ran[0] + ran[1], 2001);
  EXPECT_GT(ran[1], 0.9 * 2001) << "cpu " << ran[0] << ", cuda " << ran[1];
  // Heterogeneous: the CPU worker takes tasks whenever the GPU's queue is full (about 1 in 50).
  EXPECT_GE(ran[0], 10) << "cpu " << ran[0] << ", cuda " << ran[1];
  // With both idle, a few tasks all go to the GPU, where they finish first (by task count alone
  // they would be shared out).
  auto small = s.Submit("c1", WorkGraph("small", 4));
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(s.TakeCommands(cuda).tasks.size(), 4u);
  EXPECT_EQ(s.TakeCommands(cpu).tasks.size(), 0u);
}

TEST(SchedulerState, AKindThatNeverRanAGroupIsGivenSomeOfItsTasks) {
  SchedulerState s;
  const WorkerId cpu = s.AddWorker(KindSpec("cpu-0", "cpu"));
  auto warm = s.Submit("c1", WorkGraph("warm", 20));
  ASSERT_TRUE(warm.ok());
  Simulate(s, warm->computation, {cpu}, {0.001});
  // A GPU worker joins after the CPU has measured the group at 1 ms. Assumed as fast as that
  // (not the 10 ms default), it gets some of a small batch that the CPU alone could take.
  const WorkerId cuda = s.AddWorker(KindSpec("cuda-0", "cuda"));
  auto probe = s.Submit("c1", WorkGraph("probe", 4));
  ASSERT_TRUE(probe.ok());
  EXPECT_EQ(s.Workers()[0].processing + s.Workers()[1].processing, 4);
  EXPECT_GE(s.Workers()[1].processing, 1) << "the GPU worker is never tried";
  Simulate(s, probe->computation, {cpu, cuda}, {0.001, 0.0001});
  auto more = s.Submit("c1", WorkGraph("more", 20));
  ASSERT_TRUE(more.ok());
  Simulate(s, more->computation, {cpu, cuda}, {0.001, 0.0001});
  // Measured 10x faster, it now gets a whole small batch.
  ASSERT_TRUE(s.Submit("c1", WorkGraph("last", 4)).ok());
  EXPECT_EQ(s.TakeCommands(cuda).tasks.size(), 4u);
  EXPECT_EQ(s.TakeCommands(cpu).tasks.size(), 0u);
}

TEST(SchedulerState, WithOnlyCpuWorkersWorkIsSpreadAsBefore) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(KindSpec("a", "cpu"));
  const WorkerId b = s.AddWorker(KindSpec("b", "cpu"));
  auto r = s.Submit("c1", WorkGraph("sum", 200));
  ASSERT_TRUE(r.ok());
  // Before any measurement: alternately, as by queue length.
  EXPECT_EQ(s.Workers()[0].processing, 3);
  EXPECT_EQ(s.Workers()[1].processing, 3);
  const std::vector<int> ran = Simulate(s, r->computation, {a, b}, {0.01, 0.01});
  EXPECT_NEAR(ran[0], 100, 10) << "a " << ran[0] << ", b " << ran[1];
  EXPECT_NEAR(ran[1], 100, 10) << "a " << ran[0] << ", b " << ran[1];
  // Measured: still spread over both idle workers.
  ASSERT_TRUE(s.Submit("c1", WorkGraph("again", 6)).ok());
  EXPECT_EQ(s.TakeCommands(a).tasks.size(), 3u);
  EXPECT_EQ(s.TakeCommands(b).tasks.size(), 3u);
}

TEST(SchedulerState, OutOfMemoryOnAGpuRetriesOnAnotherWorker) {
  SchedulerState s;
  // The GPU worker joins first: on a tie it would be picked again.
  const WorkerId cuda = s.AddWorker(KindCallWorker("cuda-0", "cuda", {Sig("big", {})}));
  const WorkerId cpu = s.AddWorker(KindCallWorker("cpu-0", "cpu", {Sig("big", {})}));
  TaskSpec t = Call("b", "big", {});
  t.retries = 1;
  auto r = s.Submit("c", Calls({t}, {"b"}));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(s.TakeCommands(cuda).tasks.size(), 1u);
  s.TaskFailed(cuda, "b", "out of device memory", absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.StatusOf("b"), TaskStatus::kProcessing);
  EXPECT_EQ(s.TakeCommands(cuda).tasks.size(), 0u);
  auto cmds = s.TakeCommands(cpu);
  ASSERT_EQ(cmds.tasks.size(), 1u);
  EXPECT_EQ(cmds.tasks[0].spec->key, "b");
  // The retry did not use up its retries: an ordinary failure reruns it, on the CPU worker again
  // although the GPU worker is idle.
  s.TaskFailed(cpu, "b", "flaky", absl::StatusCode::kInternal);
  EXPECT_EQ(s.StatusOf("b"), TaskStatus::kProcessing);
  EXPECT_EQ(s.TakeCommands(cuda).tasks.size(), 0u);
  EXPECT_EQ(s.TakeCommands(cpu).tasks.size(), 1u);
  s.TaskFinished(cpu, TaskResult{"b", 8, Scalar(2), 0.5});
  EXPECT_TRUE(s.GetProgress(r->computation).finished);
}

TEST(SchedulerState, OutOfMemoryEverywhereErrs) {
  SchedulerState s;
  const WorkerId cuda = s.AddWorker(KindSpec("cuda-0", "cuda"));
  const WorkerId cpu = s.AddWorker(KindSpec("cpu-0", "cpu"));
  auto r = s.Submit("c1", TreeGraph("sum", 1));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(s.TakeCommands(cuda).tasks.size(), 1u);
  s.TaskFailed(cuda, "sum/0", "out of device memory", absl::StatusCode::kResourceExhausted);
  ASSERT_EQ(s.TakeCommands(cpu).tasks.size(), 1u);
  s.TaskFailed(cpu, "sum/0", "out of host memory", absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.StatusOf("sum/0"), TaskStatus::kErred);
  EXPECT_EQ(s.StatusOf("sum/combine"), TaskStatus::kErred);
  const Progress p = s.GetProgress(r->computation);
  EXPECT_TRUE(p.erred);
  EXPECT_EQ(p.error, "out of host memory");
  EXPECT_EQ(p.erred_key, "sum/0");
}

TEST(SchedulerState, OutOfMemoryErrsWhenTheOtherWorkersLeave) {
  SchedulerState s;
  const WorkerId cuda = s.AddWorker(KindSpec("cuda-0", "cuda"));
  const WorkerId cpu = s.AddWorker(KindSpec("cpu-0", "cpu"));
  auto r = s.Submit("c1", TreeGraph("sum", 1));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(s.TakeCommands(cuda).tasks.size(), 1u);
  s.TaskFailed(cuda, "sum/0", "out of device memory", absl::StatusCode::kResourceExhausted);
  ASSERT_EQ(s.TakeCommands(cpu).tasks.size(), 1u);
  // Only the worker it ran out of memory on is left: waiting for it would block the queue.
  s.RemoveWorker(cpu);
  EXPECT_EQ(s.StatusOf("sum/0"), TaskStatus::kErred);
  EXPECT_EQ(s.GetProgress(r->computation).error, "out of device memory");
}

TEST(SchedulerState, OtherFailuresErrAtOnceWithOtherWorkersPresent) {
  SchedulerState s;
  const WorkerId cuda = s.AddWorker(KindSpec("cuda-0", "cuda"));
  const WorkerId cpu = s.AddWorker(KindSpec("cpu-0", "cpu"));
  auto r = s.Submit("c1", TreeGraph("sum", 2));
  ASSERT_TRUE(r.ok());
  auto cmds = s.TakeCommands(cuda);
  ASSERT_EQ(cmds.tasks.size(), 1u);
  s.TaskFailed(cuda, cmds.tasks[0].spec->key, "bad dtype", absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.StatusOf(cmds.tasks[0].spec->key), TaskStatus::kErred);
  EXPECT_EQ(s.GetProgress(r->computation).error, "bad dtype");
  // The default code (a worker that does not send one) is not an out-of-memory either.
  cmds = s.TakeCommands(cpu);
  ASSERT_EQ(cmds.tasks.size(), 1u);
  s.TaskFailed(cpu, cmds.tasks[0].spec->key, "boom");
  EXPECT_EQ(s.StatusOf(cmds.tasks[0].spec->key), TaskStatus::kErred);
}

// Dask's KilledWorker: a task whose workers keep dying is erred after allowed-failures deaths,
// naming the last worker, instead of taking the whole cluster down one worker at a time.
TEST(SchedulerState, ATaskThatKeepsKillingWorkersErrsAfterAllowedFailures) {
  SchedulerState s(StateOptions{.allowed_failures = 2});
  auto r = s.Submit("c1", TreeGraph("sum", 1));
  ASSERT_TRUE(r.ok()) << r.status();
  for (int death = 1; death <= 3; ++death) {
    const WorkerId w = s.AddWorker(Spec("w" + std::to_string(death)));
    ASSERT_EQ(s.TakeCommands(w).tasks.size(), 1u) << "death " << death;
    EXPECT_EQ(s.StatusOf("sum/0"), TaskStatus::kProcessing);
    s.RemoveWorker(w);
  }
  EXPECT_EQ(s.StatusOf("sum/0"), TaskStatus::kErred);
  const Progress p = s.GetProgress(r->computation);
  EXPECT_TRUE(p.erred);
  EXPECT_NE(p.error.find("was running on 3 workers that died"), std::string::npos) << p.error;
  EXPECT_NE(p.error.find("the last: w3"), std::string::npos) << p.error;
  EXPECT_NE(p.error.find("allowed-failures 2"), std::string::npos) << p.error;
  EXPECT_EQ(s.counters().workers_lost, 3);
}

TEST(SchedulerState, LostResultsAreCountedAsRecomputed) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 4));
  auto r = s.Submit("c1", TreeGraph("sum", 2));
  s.TakeCommands(a);
  s.TaskFinished(a, TaskResult{"sum/0", 1 << 20, nullptr, 0});
  s.AddWorker(Spec("b", 4));
  s.RemoveWorker(a);
  EXPECT_EQ(s.counters().tasks_recomputed, 1);
  (void)r;
}

// Graceful retirement: the results only the retiring worker holds are fetched by another
// worker; it is closed once they are, and removing it then recomputes nothing.
TEST(SchedulerState, RetirementMovesUniqueResultsAndRecomputesNothing) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 4));
  auto r = s.Submit("c1", TreeGraph("x", 3, 1 << 20));
  ASSERT_TRUE(r.ok());
  // Keep the leaves: the client wants them (as a persisted array's chunks).
  TaskGraph g = TreeGraph("x", 3, 1 << 20);
  g.output_keys = {"x/0", "x/1", "x/2"};
  ASSERT_TRUE(s.Submit("c1", g).ok());
  for (const auto& t : s.TakeCommands(a).tasks) {
    s.TaskFinished(a, TaskResult{t.spec->key, 1 << 20, nullptr, 0});
  }
  FinishAll(s, a);  // the combine, with an inline result
  const WorkerId b = s.AddWorker(Spec("b", 4));
  const WorkerId c = s.AddWorker(Spec("c", 4));
  ASSERT_EQ(s.StatusOf("x/combine"), TaskStatus::kMemory);

  ASSERT_TRUE(s.RetireWorker(a).ok());
  EXPECT_TRUE(s.Retirement(a).has_value());
  EXPECT_FALSE(s.Retirement(a)->done);
  auto fb = s.TakeCommands(b).fetches;
  auto fc = s.TakeCommands(c).fetches;
  EXPECT_EQ(fb.size() + fc.size(), 3u) << "spread over both other workers";
  EXPECT_FALSE(fb.empty());
  EXPECT_FALSE(fc.empty());
  for (const auto& f : fb) {
    EXPECT_EQ(f.holders, AssignedInput::Holders{"a:1"});
    s.KeyAcquired(b, f.key);
  }
  EXPECT_FALSE(s.Retirement(a)->done);
  EXPECT_FALSE(s.TakeCommands(a).close);
  // One fetch fails: another worker is asked.
  s.AcquireFailed(c, fc[0].key, "connection refused");
  auto again = s.TakeCommands(b).fetches;
  auto again_c = s.TakeCommands(c).fetches;
  ASSERT_EQ(again.size() + again_c.size(), 1u);
  const WorkerId retry = again.empty() ? c : b;
  s.KeyAcquired(retry, fc[0].key);
  for (size_t i = 1; i < fc.size(); ++i) s.KeyAcquired(c, fc[i].key);
  ASSERT_TRUE(s.Retirement(a)->done);
  EXPECT_EQ(s.Retirement(a)->keys_moved, 3);
  EXPECT_EQ(s.Retirement(a)->bytes_moved, 3 << 20);
  EXPECT_TRUE(s.TakeCommands(a).close);
  s.RemoveWorker(a);
  EXPECT_EQ(s.counters().tasks_recomputed, 0);
  EXPECT_EQ(s.counters().workers_retired, 1);
  EXPECT_EQ(s.counters().keys_moved, 3);
  for (const char* key : {"x/0", "x/1", "x/2"}) {
    EXPECT_EQ(s.StatusOf(key), TaskStatus::kMemory) << key;
    EXPECT_EQ(s.Locate(key).holders.size(), 1u) << key;
  }
}

TEST(SchedulerState, ARetiringWorkerGetsNoNewTasksAndClosesWhenItsTasksFinish) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 1));
  const WorkerId b = s.AddWorker(Spec("b", 1));
  ASSERT_TRUE(s.Submit("c1", TreeGraph("sum", 12)).ok());
  auto on_a = s.TakeCommands(a).tasks;
  ASSERT_FALSE(on_a.empty());
  s.TakeCommands(b);
  ASSERT_TRUE(s.RetireWorker(a).ok());
  // Its running tasks finish there (inline results: nothing to move); nothing new arrives.
  for (const auto& t : on_a) s.TaskFinished(a, TaskResult{t.spec->key, 8, Scalar(1), 0});
  const WorkerCommands cmds = s.TakeCommands(a);
  EXPECT_TRUE(cmds.tasks.empty());
  EXPECT_TRUE(cmds.close);
  EXPECT_TRUE(s.Retirement(a)->done);
}

TEST(SchedulerState, RetiringTheOnlyHolderWithNoOtherWorkerIsRefusedUnlessForced) {
  SchedulerState s;
  const WorkerId a = s.AddWorker(Spec("a", 1));
  TaskGraph g = TreeGraph("x", 1, 1 << 20);
  g.output_keys = {"x/0"};
  ASSERT_TRUE(s.Submit("c1", g).ok());
  for (const auto& t : s.TakeCommands(a).tasks) {
    s.TaskFinished(a, TaskResult{t.spec->key, 1 << 20, nullptr, 0});
  }
  FinishAll(s, a);  // the combine
  const absl::Status st = s.RetireWorker(a);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("holds 1 results that no other worker has"), std::string::npos)
      << st;
  EXPECT_FALSE(s.Retirement(a).has_value());
  EXPECT_EQ(s.RetireWorker(99).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(s.RetireWorker(a, /*force=*/true).ok());
  EXPECT_TRUE(s.Retirement(a)->done);
  EXPECT_TRUE(s.FindWorker("a").has_value());
  EXPECT_TRUE(s.FindWorker("tcp://a:1").has_value());
  EXPECT_FALSE(s.FindWorker("nope").has_value());
}

// The seed's 20000 x 20000 float64 chunk on a small worker: refused at submit with the chunk's
// shape and bytes, and a chunking that fits.
TEST(SchedulerState, AChunkLargerThanEveryWorkerIsRefusedWithAChunkingThatFits) {
  SchedulerState s;
  s.AddWorker(Spec("small", 1, int64_t{1} << 30));
  TaskGraph g;
  g.programs.emplace_back();
  TaskSpec t;
  t.key = "random/0,0";
  t.kind = TaskKind::kChunk;
  t.program = 0;
  t.lo = {0, 0};
  t.hi = {20000, 20000};
  t.est_bytes = int64_t{20000} * 20000 * 8;
  g.tasks.push_back(t);
  g.output_keys = {t.key};
  auto r = s.Submit("c1", g);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string m(r.status().message());
  EXPECT_NE(m.find("chunk of shape (20000, 20000) (2.98 GiB)"), std::string::npos) << m;
  EXPECT_NE(m.find("memory limit (1.00 GiB)"), std::string::npos) << m;
  EXPECT_NE(m.find("chunks=(5000, 5000)"), std::string::npos) << m;
  EXPECT_EQ(s.NumTasks(), 0);
}

TEST(SchedulerState, ATaskGoesOnlyToWorkersWhoseMemoryItFits) {
  SchedulerState s;
  const WorkerId small = s.AddWorker(Spec("small", 4, 64 << 20));
  const WorkerId large = s.AddWorker(Spec("large", 1, int64_t{4} << 30));
  ASSERT_TRUE(s.Submit("c1", TreeGraph("big", 2, 256 << 20)).ok());
  EXPECT_TRUE(s.TakeCommands(small).tasks.empty());
  EXPECT_EQ(s.TakeCommands(large).tasks.size(), 2u);
}

}  // namespace
}  // namespace tessera::scheduler
