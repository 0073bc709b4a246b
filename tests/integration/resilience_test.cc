// Resilience with real processes on loopback (issue 5): workers killed with SIGKILL in the middle
// of B1, a worker frozen with SIGSTOP (its network as good as cut), a scheduler restarted under
// its workers, a client killed while holding data, graceful retirement, and a chunk too large for
// every worker.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "metrics_util.h"
#include "subprocess.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::Subprocess;

// A free loopback port (bound then released): for a scheduler that must come back on the same
// address.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// A scheduler process; `port` 0 picks one. Its address is host:port once ok().
class Scheduler {
 public:
  explicit Scheduler(std::vector<std::string> extra = {}, int port = 0, bool dashboard = false) {
    std::vector<std::string> args{"--host", "127.0.0.1", "--port", std::to_string(port),
                                  "--dashboard-address", dashboard ? "127.0.0.1:0" : "none"};
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<Subprocess>("scheduler", args);
    const testing::Announcement announced =
        testing::WaitForAnnouncement(*process_, dashboard, 20s);
    address_ = announced.address;
    dashboard_port_ = announced.dashboard_port;
    ok_ = !address_.empty();  // WaitForAnnouncement gives the dashboard's port with it
  }
  bool ok() const { return ok_; }
  const std::string& address() const { return address_; }
  int dashboard_port() const { return dashboard_port_; }
  Subprocess& process() { return *process_; }

  // A counter of its /metrics, e.g. "tessera_tasks_recomputed_total"; -1 when unreadable.
  int64_t Metric(const std::string& name) const {
    return testing::ReadMetric(dashboard_port_, name);
  }

 private:
  std::unique_ptr<Subprocess> process_;
  std::string address_;
  int dashboard_port_ = 0;
  bool ok_ = false;
};

std::unique_ptr<Subprocess> StartWorker(const std::string& scheduler, const std::string& name,
                                        std::vector<std::string> extra = {}) {
  if (extra.empty()) extra = {"--memory-limit", "2GiB"};
  std::vector<std::string> args{"--scheduler", scheduler, "--nthreads", "1", "--name", name};
  args.insert(args.end(), extra.begin(), extra.end());
  auto w = std::make_unique<Subprocess>("cpu-worker", args);
  if (!w->WaitForOutput("registered with scheduler", 20s)) return nullptr;
  return w;
}

// Waits until the scheduler lists `n` workers; returns the seconds it took, or -1.
double WaitForWorkers(Client& client, size_t n, std::chrono::seconds limit = 30s) {
  const auto start = Clock::now();
  while (Clock::now() - start < limit) {
    if (client.scheduler_info().workers.size() == n) {
      return std::chrono::duration<double>(Clock::now() - start).count();
    }
    std::this_thread::sleep_for(20ms);
  }
  return -1;
}

// B1 at 20000 x 20000 in 400 chunks of 1000 x 1000, fixed seed: the tree reduction's fixed
// order makes the answer bit-identical whatever the workers do.
Array B1() {
  auto x = random::random({20000, 20000}, {.chunks = {1000, 1000}, .seed = 42});
  return exp(x).mean();
}

TEST(Resilience, KillingAWorkerInTheMiddleOfB1TenTimesGivesTheSameAnswerEachTime) {
  Scheduler scheduler;
  ASSERT_TRUE(scheduler.ok()) << scheduler.process().stderr_text();
  std::vector<std::unique_ptr<Subprocess>> workers;
  for (int i = 0; i < 3; ++i) {
    workers.push_back(StartWorker(scheduler.address(), std::string("w").append(std::to_string(i))));
    ASSERT_NE(workers.back(), nullptr);
  }
  Client client = Client::connect(scheduler.address());
  const double expected = client.compute(B1()).get().scalar<double>();
  ASSERT_NEAR(expected, std::exp(1.0) - 1, 1e-4);
  int mid_run = 0;
  for (int run = 0; run < 10; ++run) {
    Future f = client.compute(B1());
    // A different moment each time: 50 ms to about 1 s into the run.
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + 100 * run));
    const size_t victim = static_cast<size_t>(run) % workers.size();
    mid_run += f.done() ? 0 : 1;
    workers[victim]->Kill();
    EXPECT_EQ(f.get().scalar<double>(), expected) << "run " << run;
    workers[victim] = StartWorker(scheduler.address(), std::string("w").append(std::to_string(run + 3)));
    ASSERT_NE(workers[victim], nullptr);
  }
  // The point is a kill in the middle: on a very slow machine the last ones may come late.
  EXPECT_GE(mid_run, 8);
  std::printf("%d of 10 kills landed mid-computation\n", mid_run);
}

// A stopped process answers nothing but keeps its connection open, as a worker behind a cut
// network does: the scheduler removes it after --worker-timeout and its work moves on.
TEST(Resilience, AFrozenWorkerIsRemovedWithinTheTimeoutAndItsWorkRescheduled) {
  Scheduler scheduler({"--worker-timeout", "2"});
  ASSERT_TRUE(scheduler.ok()) << scheduler.process().stderr_text();
  auto a = StartWorker(scheduler.address(), "a");
  auto b = StartWorker(scheduler.address(), "b");
  ASSERT_TRUE(a && b);
  Client client = Client::connect(scheduler.address());
  auto x = random::random({8000, 8000}, {.chunks = {500, 500}, .seed = 5});
  const double expected = client.compute(exp(x).sum()).get().scalar<double>();

  Future f = client.compute(exp(x).sum());
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(kill(a->pid(), SIGSTOP), 0);
  const auto stopped = Clock::now();
  const double removed = WaitForWorkers(client, 1, 20s);
  ASSERT_GE(removed, 0) << "the frozen worker was never removed";
  // Timeout 2 s, checked every second.
  EXPECT_LT(removed, 4.0);
  EXPECT_EQ(f.get().scalar<double>(), expected);
  std::printf("frozen worker removed after %.2f s (timeout 2 s)\n",
              std::chrono::duration<double>(Clock::now() - stopped).count());
  EXPECT_TRUE(scheduler.process().WaitForOutput("silent for 2 s", 1s));

  // Thawed, it finds its session gone and registers again.
  ASSERT_EQ(kill(a->pid(), SIGCONT), 0);
  EXPECT_GE(WaitForWorkers(client, 2, 20s), 0) << a->stderr_text();
  EXPECT_EQ(client.compute(exp(x).sum()).get().scalar<double>(), expected);
}

TEST(Resilience, WorkersComeBackToARestartedSchedulerAndClientsGetAClearError) {
  const int port = FreePort();
  auto scheduler = std::make_unique<Scheduler>(std::vector<std::string>{}, port);
  ASSERT_TRUE(scheduler->ok()) << scheduler->process().stderr_text();
  auto a = StartWorker(scheduler->address(), "a");
  auto b = StartWorker(scheduler->address(), "b");
  ASSERT_TRUE(a && b);
  Client client = Client::connect(scheduler->address());
  Array p = client.persist(ones({1000, 1000}, {.chunks = {250, 250}}));
  ASSERT_EQ(client.compute(p.sum()).get().scalar<double>(), 1e6);

  // A computation in flight when the scheduler dies ends with an error, promptly.
  Future in_flight =
      client.compute(random::random({20000, 20000}, {.chunks = {1000, 1000}, .seed = 3}).sum());
  std::this_thread::sleep_for(200ms);
  scheduler->process().Kill();
  const auto died = Clock::now();
  try {
    in_flight.get();
    ADD_FAILURE() << "a computation finished without its scheduler";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), 14) << e.what();  // UNAVAILABLE
  }
  EXPECT_LT(Clock::now() - died, 10s);
  scheduler = std::make_unique<Scheduler>(std::vector<std::string>{}, port);
  ASSERT_TRUE(scheduler->ok()) << scheduler->process().stderr_text();
  const auto restarted = Clock::now();
  Client fresh = Client::connect(scheduler->address());
  const double back = WaitForWorkers(fresh, 2, 20s);
  ASSERT_GE(back, 0) << a->stderr_text();
  EXPECT_LT(back, 10.0);
  std::printf("both workers back %.2f s after the scheduler restarted\n",
              std::chrono::duration<double>(Clock::now() - restarted).count());
  EXPECT_TRUE(a->WaitForOutput("lost the scheduler", 1s)) << a->stderr_text();
  EXPECT_EQ(fresh.compute(ones({100, 100}).sum()).get().scalar<double>(), 1e4);

  // The old client's persisted keys died with the old scheduler: a clear error, not a hang.
  const auto start = Clock::now();
  try {
    client.compute(p.sum()).get();
    ADD_FAILURE() << "a lost key computed";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("is not in the cluster"), std::string::npos) << m;
  }
  EXPECT_LT(Clock::now() - start, 15s);
}

TEST(Resilience, AKilledClientsKeysAreReleased) {
  Scheduler scheduler;
  ASSERT_TRUE(scheduler.ok()) << scheduler.process().stderr_text();
  auto w = StartWorker(scheduler.address(), "a");
  ASSERT_NE(w, nullptr);
  // A CLI client persists 32 MB and then works on something long; it is killed meanwhile.
  Subprocess cli("tessera",
                 {"--scheduler", scheduler.address(), "eval", "--no-progress",
                  "x = da.ones((2000, 2000), chunks=(500, 500)).persist(); "
                  "da.random.random((30000, 30000), chunks=(1000, 1000)).sum()"});
  Client client = Client::connect(scheduler.address());
  const auto deadline = Clock::now() + 30s;
  while (client.scheduler_info().workers[0].tasks_stored < 16) {
    ASSERT_LT(Clock::now(), deadline) << cli.stderr_text();
    std::this_thread::sleep_for(20ms);
  }
  cli.Kill();
  while (client.scheduler_info().workers[0].tasks_stored > 0 ||
         client.scheduler_info().workers[0].memory_used > 0) {
    ASSERT_LT(Clock::now(), deadline) << "the dead client's keys are still held";
    std::this_thread::sleep_for(50ms);
  }
}

TEST(Resilience, RetiringWorkersMovesTheirResultsAndRecomputesNothing) {
  Scheduler scheduler({}, 0, /*dashboard=*/true);
  ASSERT_TRUE(scheduler.ok()) << scheduler.process().stderr_text();
  auto w0 = StartWorker(scheduler.address(), "w0");
  auto w1 = StartWorker(scheduler.address(), "w1");
  auto w2 = StartWorker(scheduler.address(), "w2");
  ASSERT_TRUE(w0 && w1 && w2);
  Client client = Client::connect(scheduler.address());
  auto x = random::random({4000, 1000}, {.chunks = {250, 1000}, .seed = 21});
  Array p = client.persist(x * 2);  // 16 chunks of 2 MB over three workers
  const double expected = client.compute((p + 1).sum()).get().scalar<double>();
  for (const auto& w : client.scheduler_info().workers) EXPECT_GT(w.tasks_stored, 0) << w.name;
  const int64_t completed = scheduler.Metric("tessera_tasks_completed_total");
  ASSERT_GT(completed, 0);

  // A name that is not UTF-8 cannot be a worker's: refused by the client, naming the byte, and
  // nothing is retired.
  auto bad = testing::Run("tessera", {"--scheduler", scheduler.address(), "retire", "w\xff"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("retire_workers: worker 'w\\xff' is not UTF-8 (byte 1 is 0xff)"),
            std::string::npos)
      << bad.err;
  EXPECT_EQ(client.scheduler_info().workers.size(), 3u);

  // `tessera retire`, as an operator would.
  auto r = testing::Run("tessera", {"--scheduler", scheduler.address(), "retire", "w0"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("retired w0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("moved to other workers"), std::string::npos) << r.out;
  EXPECT_EQ(w0->Wait(10s), 0) << "a retired worker exits by itself: " << w0->stderr_text();
  ASSERT_EQ(client.scheduler_info().workers.size(), 2u);
  EXPECT_EQ(scheduler.Metric("tessera_workers_retired_total"), 1);
  EXPECT_GT(scheduler.Metric("tessera_keys_moved_total"), 0);

  // SIGTERM on a worker retires it the same way.
  EXPECT_EQ(w1->Stop(), 0) << w1->stderr_text();
  EXPECT_NE(w1->stderr_text().find("retired"), std::string::npos) << w1->stderr_text();
  ASSERT_EQ(client.scheduler_info().workers.size(), 1u);
  EXPECT_EQ(client.scheduler_info().workers[0].tasks_stored, 16);

  // Nothing was computed again: not one task ran between the persist and now.
  EXPECT_EQ(scheduler.Metric("tessera_tasks_recomputed_total"), 0);
  EXPECT_EQ(scheduler.Metric("tessera_tasks_completed_total"), completed);
  EXPECT_EQ(scheduler.Metric("tessera_workers_lost_total"), 0);
  EXPECT_EQ(client.compute((p + 1).sum()).get().scalar<double>(), expected);

  // Bad input: an unknown worker, and the last holder with nowhere to move its results.
  r = testing::Run("tessera", {"--scheduler", scheduler.address(), "retire", "nosuch"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no worker named 'nosuch' (workers: w2)"), std::string::npos) << r.err;
  r = testing::Run("tessera", {"--scheduler", scheduler.address(), "retire", "w2"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no other worker to move them to"), std::string::npos) << r.err;
  EXPECT_EQ(client.scheduler_info().workers.size(), 1u);
  r = testing::Run("tessera", {"retire", "w2"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("retire needs --scheduler"), std::string::npos) << r.err;
}

// The seed's 20000 x 20000 float64 chunk on a worker with 1 GiB: refused at submit, naming the
// chunk's shape and size and a chunking that fits; nothing is scheduled, the cluster serves on.
TEST(Resilience, AChunkTooLargeForEveryWorkerIsRefusedAtSubmit) {
  Scheduler scheduler;
  ASSERT_TRUE(scheduler.ok()) << scheduler.process().stderr_text();
  auto w = StartWorker(scheduler.address(), "small", {"--memory-limit", "1GiB"});
  ASSERT_NE(w, nullptr);
  Client client = Client::connect(scheduler.address());
  auto x = random::random({20000, 20000}, {.chunks = {20000, 20000}, .seed = 1});
  try {
    client.persist(x);
    ADD_FAILURE() << "a 2.98 GiB chunk was accepted for a 1 GiB worker";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("chunk of shape (20000, 20000) (2.98 GiB)"), std::string::npos) << m;
    EXPECT_NE(m.find("memory limit (1.00 GiB)"), std::string::npos) << m;
    EXPECT_NE(m.find("chunks=(5000, 5000)"), std::string::npos) << m;
  }
  EXPECT_EQ(client.scheduler_info().workers[0].tasks_processing, 0);
  // The fused reduction never holds the chunk: it runs.
  EXPECT_NEAR(client.compute(x.mean()).get().scalar<double>(), 0.5, 1e-3);
}

}  // namespace
}  // namespace tessera
