// Worker memory end to end: real `scheduler` and `cpu-worker` processes with small memory limits
// hold a persisted array several times larger than their limits by spilling it to their local
// directories, compute on it exactly, and clean up after themselves.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics_util.h"
#include "subprocess.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using testing::LocalProcessCluster;
using testing::Subprocess;

// Files below `dir`, at any depth, and the worker directories (tessera-worker-*) directly in it.
int CountFiles(const fs::path& dir) {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    n += it->is_regular_file(ec) ? 1 : 0;
  }
  return n;
}

int CountWorkerDirectories(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    n += e.path().filename().string().rfind("tessera-worker-", 0) == 0 ? 1 : 0;
  }
  return n;
}

std::string WorkerName(int i) { return std::string("w").append(std::to_string(i)); }

class MemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tessera-memory-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(MemoryTest, AComputationLargerThanTheWorkersMemorySpillsAndIsExact) {
  LocalProcessCluster cluster(/*workers=*/0);
  ASSERT_TRUE(cluster.ok()) << cluster.scheduler().stderr_text();
  constexpr int kWorkers = 2;
  std::vector<std::unique_ptr<Subprocess>> workers;
  for (int i = 0; i < kWorkers; ++i) {
    const fs::path local = dir_ / WorkerName(i);
    workers.push_back(std::make_unique<Subprocess>(
        "cpu-worker", std::vector<std::string>{"--scheduler", cluster.address(), "--nthreads", "2",
                                               "--name", WorkerName(i), "--memory-limit", "64MiB",
                                               "--local-directory", local.string()}));
  }
  for (auto& w : workers) {
    ASSERT_TRUE(w->WaitForOutput("registered with scheduler", std::chrono::seconds(20)))
        << w->stderr_text();
  }
  std::optional<Client> holder(Client::connect(cluster.address()));
  Client& client = *holder;

  // 50e6 float64 = 400 MB in 100 chunks of 4 MB, against 2 x 64 MiB of memory limits. The sum of
  // 0 .. n-1 and all its partial sums are integers below 2^53: exact in float64.
  constexpr int64_t n = 50'000'000;
  const auto start = std::chrono::steady_clock::now();
  Array x = client.persist(arange(0, n, 1, {.chunks = 500'000}));
  const double sum = client.compute(x.sum()).get().scalar<double>();
  EXPECT_EQ(sum, static_cast<double>(n) * static_cast<double>(n - 1) / 2);
  // And once more: the chunks read back from disk were spilled again, byte for byte.
  EXPECT_EQ(client.compute((x * 2).sum()).get().scalar<double>(), 2 * sum);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // The spill shows in scheduler_info (what `tessera info` prints) within a heartbeat or two,
  // and its files are in the workers' own directories.
  int64_t spilled = 0, held = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    spilled = held = 0;
    for (const WorkerInfo& w : client.scheduler_info().workers) {
      spilled += w.spilled_bytes;
      held += w.memory_used;
      EXPECT_LE(w.memory_used, w.memory_limit) << w.name;
    }
    // A heartbeat sent while a chunk was both written and still read by a task counts it in
    // memory and on disk: wait for the next.
    if (spilled > 0 && spilled + held == n * 8) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_GT(spilled, 0);
  EXPECT_EQ(spilled + held, n * 8);  // every chunk of x, in memory or on disk
  int files = 0;
  for (int i = 0; i < kWorkers; ++i) {
    const fs::path local = dir_ / WorkerName(i);
    EXPECT_EQ(CountWorkerDirectories(local), 1) << local;
    files += CountFiles(local);
  }
  EXPECT_GT(files, 0);
  std::cout << "[ info ] 400 MB persisted and summed twice in " << seconds << " s; spilled "
            << spilled << " bytes in " << files << " files, " << held << " bytes in memory\n";

  // `tessera info` shows it: a SPILLED column, and the same figures in --json.
  Subprocess table("tessera", {"--scheduler", cluster.address(), "info"});
  EXPECT_EQ(table.Wait(std::chrono::seconds(20)), 0) << table.stderr_text();
  EXPECT_NE(table.stdout_text().find("SPILLED"), std::string::npos) << table.stdout_text();
  Subprocess json("tessera", {"--scheduler", cluster.address(), "info", "--json"});
  EXPECT_EQ(json.Wait(std::chrono::seconds(20)), 0) << json.stderr_text();
  int64_t shown = 0;
  const nlohmann::json doc = nlohmann::json::parse(json.stdout_text());
  for (const auto& w : doc["workers"]) {
    shown += w["spilled_bytes"].get<int64_t>();
    EXPECT_FALSE(w["paused"].get<bool>()) << json.stdout_text();  // idle again, all spilled
  }
  EXPECT_GT(shown, 0) << json.stdout_text();

  // A clean exit (not the kernel's OOM killer: that would be 128 + 9) removes the spill files.
  // The array is released first: SIGTERM retires a worker, which would move the 400 MB it
  // holds to the other worker (resilience_test covers that), far beyond Stop()'s patience.
  holder.reset();  // its keys are released when its session ends
  Client observer = Client::connect(cluster.address());
  const auto released = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto stored = [&] {
    int64_t n = 0;
    for (const WorkerInfo& w : observer.scheduler_info().workers) n += w.tasks_stored;
    return n;
  };
  while (stored() > 0 && std::chrono::steady_clock::now() < released) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& w : workers) {
    EXPECT_EQ(w->Stop(), 0) << w->stderr_text();
    const std::string& log = w->stderr_text();
    int pauses = 0;
    for (size_t at = log.find("paused: memory"); at != std::string::npos;
         at = log.find("paused: memory", at + 1)) {
      ++pauses;
    }
    std::cout << "[ info ] a worker paused " << pauses << " times\n";
  }
  for (int i = 0; i < kWorkers; ++i) {
    const fs::path local = dir_ / WorkerName(i);
    EXPECT_EQ(CountWorkerDirectories(local), 0) << local;
    EXPECT_EQ(CountFiles(local), 0) << local;
  }
}

// A worker whose limit is below what the process itself needs (about 17 MiB resident) is above
// its pause mark from the start: it says so, and the scheduler gives its work to the other.
TEST_F(MemoryTest, APausedWorkerSaysSoAndIsGivenNoTasks) {
  LocalProcessCluster cluster(/*workers=*/0);
  ASSERT_TRUE(cluster.ok()) << cluster.scheduler().stderr_text();
  Subprocess paused("cpu-worker", {"--scheduler", cluster.address(), "--name", "small",
                                   "--memory-limit", "8MiB", "--local-directory", dir_.string()});
  Subprocess ok("cpu-worker", {"--scheduler", cluster.address(), "--name", "big", "--memory-limit",
                               "1GiB", "--local-directory", dir_.string()});
  ASSERT_TRUE(paused.WaitForOutput("paused: memory", std::chrono::seconds(20)))
      << paused.stderr_text();
  ASSERT_TRUE(ok.WaitForOutput("registered with scheduler", std::chrono::seconds(20)))
      << ok.stderr_text();
  ASSERT_TRUE(paused.WaitForOutput("registered with scheduler", std::chrono::seconds(20)))
      << paused.stderr_text();
  Client client = Client::connect(cluster.address());
  auto worker = [&](const std::string& name) {
    for (const WorkerInfo& w : client.scheduler_info().workers) {
      if (w.name == name) return w;
    }
    return WorkerInfo{};
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!worker("small").paused && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(worker("small").paused);
  EXPECT_FALSE(worker("big").paused);

  // 10 chunks of 1.6 MB, each stored where it was computed: all on the worker not paused.
  constexpr int64_t n = 2'000'000;
  Array x = client.persist(arange(0, n, 1, {.chunks = 200'000}));
  EXPECT_EQ(client.compute(x.sum()).get().scalar<double>(),
            static_cast<double>(n) * static_cast<double>(n - 1) / 2);
  EXPECT_EQ(worker("small").tasks_stored, 0);
  EXPECT_EQ(worker("big").tasks_stored, 10);

  Subprocess table("tessera", {"--scheduler", cluster.address(), "info"});
  EXPECT_EQ(table.Wait(std::chrono::seconds(20)), 0) << table.stderr_text();
  EXPECT_NE(table.stdout_text().find("small (paused)"), std::string::npos) << table.stdout_text();
  EXPECT_EQ(table.stdout_text().find("big (paused)"), std::string::npos) << table.stdout_text();
}

// A worker that pauses for memory gives back the tasks queued behind the one holding the memory,
// and a worker that joins runs them at once (as Dask's work stealing moves a paused worker's
// queued tasks); without that they would wait for the memory to be freed.
TEST_F(MemoryTest, APausedWorkersQueuedTasksRunOnAnotherWorker) {
  LocalProcessCluster cluster(/*workers=*/0, /*threads=*/1, /*dashboard=*/true);
  ASSERT_TRUE(cluster.ok()) << cluster.scheduler().stderr_text();
  Subprocess a("cpu-worker", {"--scheduler", cluster.address(), "--name", "a", "--nthreads", "1",
                              "--memory-limit", "128MiB", "--local-directory", dir_.string(),
                              "--preload", TESSERA_MEMORY_PLUGIN});
  ASSERT_TRUE(a.WaitForOutput("registered with scheduler", std::chrono::seconds(20)))
      << a.stderr_text();
  Client client = Client::connect(cluster.address());
  // a's one thread holds 200 MiB for 8 s, far above its pause mark (0.85 x 128 MiB); the two
  // calls queue behind it on a, the only worker.
  const auto started = std::chrono::steady_clock::now();
  Future hog = client.submit("hold_memory", 200, 8.0);
  std::vector<Future> queued{client.submit("inc", 1), client.submit("inc", 2)};
  EXPECT_FALSE(hog.done()) << "a call that holds for 8 s";
  auto paused = [&] {
    for (const WorkerInfo& w : client.scheduler_info().workers) {
      if (w.name == "a") return w.paused;
    }
    return false;
  };
  const auto deadline = started + std::chrono::seconds(6);
  while (!paused() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(paused()) << a.stderr_text();

  Subprocess b("cpu-worker", {"--scheduler", cluster.address(), "--name", "b", "--nthreads", "1",
                              "--memory-limit", "1GiB", "--local-directory", dir_.string()});
  const std::vector<Value> got = client.gather(queued);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].as_int(), 2);
  EXPECT_EQ(got[1].as_int(), 3);
  EXPECT_LT(waited, 7.5) << "the queued calls waited for the memory to be freed";
  EXPECT_FALSE(hog.done()) << "hold_memory ended before the calls: the test proves nothing";
  EXPECT_EQ(hog.result().as_double(), 200.0);
  EXPECT_TRUE(hog.done());
  EXPECT_EQ(testing::ReadMetric(cluster.dashboard_port(), "tessera_tasks_stolen_total"), 2);
  EXPECT_NE(a.stderr_text().find("gave back 2 queued tasks"), std::string::npos)
      << a.stderr_text();
}

// A worker killed with SIGKILL cannot remove its spill directory; the next worker started on the
// same --local-directory removes it (its lock is free), as Dask's workers purge stale ones.
TEST_F(MemoryTest, AKilledWorkersDirectoryIsRemovedByTheNextWorker) {
  LocalProcessCluster cluster(/*workers=*/0);
  ASSERT_TRUE(cluster.ok()) << cluster.scheduler().stderr_text();
  auto start = [&](const std::string& name) {
    return std::make_unique<Subprocess>(
        "cpu-worker", std::vector<std::string>{"--scheduler", cluster.address(), "--name", name,
                                               "--memory-limit", "1GiB", "--local-directory",
                                               dir_.string()});
  };
  auto first = start("first");
  ASSERT_TRUE(first->WaitForOutput("registered with scheduler", std::chrono::seconds(20)))
      << first->stderr_text();
  EXPECT_EQ(CountWorkerDirectories(dir_), 1);
  first->Kill();
  EXPECT_EQ(CountWorkerDirectories(dir_), 1) << "SIGKILL leaves the directory behind";

  auto second = start("second");
  ASSERT_TRUE(second->WaitForOutput("registered with scheduler", std::chrono::seconds(20)))
      << second->stderr_text();
  EXPECT_EQ(CountWorkerDirectories(dir_), 1) << "only the running worker's";
  EXPECT_NE(second->stderr_text().find("removed the stale spill directory"), std::string::npos)
      << second->stderr_text();
  EXPECT_EQ(second->Stop(), 0) << second->stderr_text();
  EXPECT_EQ(CountWorkerDirectories(dir_), 0);
}

int RunWorker(const std::vector<std::string>& extra, std::string* err) {
  std::vector<std::string> args{"--scheduler", "127.0.0.1:1", "--memory-limit", "64MiB"};
  args.insert(args.end(), extra.begin(), extra.end());
  Subprocess w("cpu-worker", args);
  const int code = w.Wait(std::chrono::seconds(20));
  *err = w.stderr_text();
  return code;
}

TEST_F(MemoryTest, BadMemoryFlagsAreRefusedAtStart) {
  // Below a regular file no directory can be made, even by root.
  const fs::path file = dir_ / "plain-file";
  std::ofstream(file) << "x";
  std::string err;
  const std::string bad_dir = (file / "spill").string();
  EXPECT_EQ(RunWorker({"--local-directory", bad_dir}, &err), 2);
  EXPECT_NE(err.find("--local-directory"), std::string::npos) << err;
  EXPECT_NE(err.find(bad_dir), std::string::npos) << err;

  EXPECT_EQ(RunWorker({"--memory-target", "1.5"}, &err), 2);
  EXPECT_NE(err.find("--memory-target 1.5"), std::string::npos) << err;
  EXPECT_EQ(RunWorker({"--memory-pause", "0"}, &err), 2);
  EXPECT_NE(err.find("--memory-pause 0"), std::string::npos) << err;
  EXPECT_EQ(RunWorker({"--memory-target", "0.7", "--memory-pause", "0.5"}, &err), 2);
  EXPECT_NE(err.find("--memory-pause 0.5 must not be below --memory-target 0.7"), std::string::npos)
      << err;
}

}  // namespace
}  // namespace tessera
