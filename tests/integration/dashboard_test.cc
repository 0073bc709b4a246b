// The dashboard of a real `scheduler` process with two `cpu-worker`s: its JSON API, its
// Prometheus metrics (parsed as the text exposition format) and its errors, over HTTP.
#include <httplib.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "subprocess.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

using nlohmann::json;
using testing::LocalProcessCluster;

// One sample of the Prometheus text format: name{labels} value.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// A small parser of the text exposition format: HELP/TYPE comments and sample lines. Fails the
// test on anything malformed, including a sample whose family has no TYPE.
struct Metrics {
  std::map<std::string, std::string> types;  // family -> gauge/counter/histogram
  std::vector<Sample> samples;

  static Metrics Parse(const std::string& text) {
    Metrics m;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (line.rfind("# TYPE ", 0) == 0) {
        std::istringstream t(line.substr(7));
        std::string name, type;
        t >> name >> type;
        EXPECT_TRUE(type == "gauge" || type == "counter" || type == "histogram") << line;
        m.types[name] = type;
        continue;
      }
      if (line.rfind("# HELP ", 0) == 0) continue;
      EXPECT_NE(line[0], '#') << "unknown comment: " << line;
      Sample s;
      size_t i = line.find_first_of("{ ");
      s.name = line.substr(0, i);
      if (line[i] == '{') {
        ++i;
        while (line[i] != '}') {
          const size_t eq = line.find('=', i);
          const std::string key = line.substr(i, eq - i);
          EXPECT_EQ(line[eq + 1], '"') << line;
          std::string value;
          size_t j = eq + 2;
          for (; line[j] != '"'; ++j) {
            if (line[j] == '\\') ++j;
            value += line[j];
          }
          s.labels[key] = value;
          i = j + 1;
          if (line[i] == ',') ++i;
        }
        ++i;
      }
      EXPECT_EQ(line[i], ' ') << line;
      s.value = std::stod(line.substr(i + 1));
      std::string family = s.name;
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string f = s.name.substr(0, s.name.size() - std::strlen(suffix));
        if (s.name.size() > std::strlen(suffix) &&
            s.name.compare(f.size(), std::string::npos, suffix) == 0 && m.types.count(f) != 0 &&
            m.types[f] == "histogram") {
          family = f;
        }
      }
      EXPECT_EQ(m.types.count(family), 1u) << "no TYPE for " << s.name;
      m.samples.push_back(std::move(s));
    }
    return m;
  }

  // The value of the one sample with this name and these labels; NaN (and a failure) if none.
  double Get(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    ADD_FAILURE() << "no sample " << name;
    return std::nan("");
  }
};

class DashboardTest : public ::testing::Test {
 protected:
  // As SharedClusterTest: a cluster that did not start fails each test in SetUp (an assertion
  // here would have the tests reported as skipped).
  void SetUp() override {
    ASSERT_TRUE(cluster_->ok()) << "the cluster did not start:\n"
                                << cluster_->scheduler().stdout_text()
                                << cluster_->scheduler().stderr_text();
  }
  static void SetUpTestSuite() {
    cluster_ = new LocalProcessCluster(2, 1, /*dashboard=*/true);
    if (!cluster_->ok()) return;
    client_ = new Client(Client::connect(cluster_->address()));
    // The dashboard's snapshot is up to 100 ms old: wait until it shows both workers.
    for (int i = 0; i < 100; ++i) {
      auto res = Http().Get("/api/v1/info");
      if (res && res->status == 200 && json::parse(res->body)["workers"] == 2) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
  }

  static httplib::Client Http() {
    httplib::Client http("127.0.0.1", cluster_->dashboard_port());
    http.set_read_timeout(10, 0);
    return http;
  }
  static json GetJson(const std::string& path) {
    auto res = Http().Get(path.c_str());
    EXPECT_TRUE(res) << path;
    if (!res) return json();
    EXPECT_EQ(res->status, 200) << path << ": " << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    return json::parse(res->body);  // throws, failing the test, on half-written JSON
  }
  static Metrics GetMetrics() {
    auto res = Http().Get("/metrics");
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
    return Metrics::Parse(res->body);
  }
  // The snapshot is republished every 100 ms: wait until the completed counter reaches `n`.
  static double WaitForCompleted(double n) {
    double got = 0;
    for (int i = 0; i < 100; ++i) {
      got = GetMetrics().Get("tessera_tasks_completed_total");
      if (got >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return got;
  }

  static LocalProcessCluster* cluster_;
  static Client* client_;
};
LocalProcessCluster* DashboardTest::cluster_ = nullptr;
Client* DashboardTest::client_ = nullptr;

TEST_F(DashboardTest, HealthStatusAndErrors) {
  auto http = Http();
  auto health = http.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");

  auto page = http.Get("/status");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<title>Tessera dashboard</title>"), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), std::string::npos) << "the page loads nothing external";
  EXPECT_EQ(page->body.find("https://"), std::string::npos);

  auto missing = http.Get("/api/v1/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, "not found: /api/v1/nope\n");

  for (const char* bad : {"abc", "-1", "nan", "12x", ""}) {
    auto res = http.Get((std::string("/api/v1/task-stream?since=") + bad).c_str());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << bad;
    EXPECT_NE(res->body.find("since="), std::string::npos) << res->body;
  }
}

TEST_F(DashboardTest, WorkersTasksAndTaskStreamAfterAComputation) {
  const double before = GetMetrics().Get("tessera_tasks_completed_total");
  auto x = random::random({400, 400}, {.chunks = 100, .seed = 1});
  const double total = client_->compute(x.sum()).get().scalar<double>();
  EXPECT_NEAR(total, 80000, 1000);
  WaitForCompleted(before + 16);

  const json workers = GetJson("/api/v1/workers");
  ASSERT_EQ(workers["workers"].size(), 2u);
  std::set<std::string> names;
  for (const auto& w : workers["workers"]) {
    names.insert(w["name"].get<std::string>());
    EXPECT_EQ(w["kind"], "cpu");
    EXPECT_EQ(w["nthreads"], 1);
    EXPECT_EQ(w["memory_limit"], int64_t{2} << 30);
    EXPECT_EQ(w["address"].get<std::string>().rfind("tcp://127.0.0.1:", 0), 0u);
    EXPECT_LT(w["last_seen_ago"].get<double>(), 5);
  }
  EXPECT_EQ(names, (std::set<std::string>{"w0", "w1"}));

  const json info = GetJson("/api/v1/info");
  EXPECT_EQ(info["workers"], 2);
  EXPECT_EQ(info["threads"], 2);
  EXPECT_EQ(info["address"], "tcp://" + cluster_->address());
  EXPECT_GE(info["tasks_completed_total"].get<double>(), before + 16);

  // The sum's groups: 16 partial sums and their combines, all done.
  const json tasks = GetJson("/api/v1/tasks");
  bool found_partials = false;
  for (const auto& g : tasks["groups"]) {
    EXPECT_LE(g["done"].get<int64_t>(), g["total"].get<int64_t>());
    if (g["name"].get<std::string>().rfind("sum-partial-", 0) == 0 && g["total"] == 16) {
      found_partials = true;
      EXPECT_EQ(g["done"], 16) << g.dump();
      EXPECT_EQ(g["completed"], 16);
      EXPECT_EQ(g["erred"], 0);
    }
  }
  EXPECT_TRUE(found_partials) << tasks.dump();

  const json stream = GetJson("/api/v1/task-stream?since=0");
  int partials = 0;
  std::set<std::string> keys;  // each task ran once: one event per key
  for (const auto& e : stream["events"]) {
    EXPECT_TRUE(names.count(e["worker"].get<std::string>())) << e.dump();
    const std::string key = e["key"].get<std::string>();
    EXPECT_FALSE(key.empty()) << e.dump();
    EXPECT_TRUE(keys.insert(key).second) << "event for " << key << " twice";
    EXPECT_EQ(e["thread"], 0);  // one thread per worker
    EXPECT_LE(e["start"].get<double>(), e["stop"].get<double>());
    EXPECT_FALSE(e["group"].get<std::string>().empty());
    partials += e["group"].get<std::string>().rfind("sum-partial-", 0) == 0;
  }
  EXPECT_GE(partials, 16);
  // `since` in milliseconds, after everything: nothing.
  const double now_ms = stream["now"].get<double>() * 1000 + 1000;
  const json later = GetJson("/api/v1/task-stream?since=" + std::to_string(now_ms) + "ms");
  EXPECT_TRUE(later["events"].empty()) << later.dump();
}

TEST_F(DashboardTest, MetricsCountersMoveAcrossTwoComputations) {
  Metrics m0 = GetMetrics();
  EXPECT_EQ(m0.types["tessera_tasks_completed_total"], "counter");
  EXPECT_EQ(m0.types["tessera_scheduler_event_seconds"], "histogram");
  EXPECT_EQ(m0.Get("tessera_workers", {{"kind", "cpu"}}), 2);
  EXPECT_EQ(m0.Get("tessera_worker_threads", {{"worker", "w0"}, {"kind", "cpu"}}), 1);
  EXPECT_EQ(m0.Get("tessera_worker_memory_limit_bytes", {{"worker", "w1"}, {"kind", "cpu"}}),
            2.0 * (1 << 30));

  double completed = m0.Get("tessera_tasks_completed_total");
  double events = m0.Get("tessera_scheduler_event_seconds_count");
  for (int round = 0; round < 2; ++round) {
    auto x = ones({300, 300}, {.chunks = 100});
    EXPECT_EQ(client_->compute((x + round).sum()).get().scalar<double>(), 90000.0 * (1 + round));
    const double now = WaitForCompleted(completed + 9);
    EXPECT_GE(now, completed + 9) << "round " << round;
    Metrics m = GetMetrics();
    EXPECT_GT(m.Get("tessera_scheduler_event_seconds_count"), events);
    EXPECT_EQ(m.Get("tessera_tasks_erred_total"), 0);
    // A histogram: cumulative buckets ending in +Inf == count.
    double last = 0;
    for (const auto& s : m.samples) {
      if (s.name != "tessera_scheduler_event_seconds_bucket") continue;
      EXPECT_GE(s.value, last);
      last = s.value;
    }
    EXPECT_EQ(last, m.Get("tessera_scheduler_event_seconds_count"));
    completed = now;
    events = m.Get("tessera_scheduler_event_seconds_count");
  }
}

TEST_F(DashboardTest, TransfersBetweenWorkersAreCounted) {
  const double before = GetMetrics().Get("tessera_transfer_bytes_total");
  // Persisted 1 MB blocks (too big to travel inline) read transposed: blocks (i, j) and (j, i)
  // sit on different workers for some i, j, so workers fetch from each other.
  Array x = client_->persist(random::random({2000, 2000}, {.chunks = 500, .seed = 2}));
  client_->compute((x + x.T()).sum()).get();
  double after = before;
  for (int i = 0; i < 40 && after == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    after = GetMetrics().Get("tessera_transfer_bytes_total");
  }
  EXPECT_GE(after - before, 500.0 * 500 * 8);
}

TEST_F(DashboardTest, JsonIsAlwaysWholeWhileTheClusterChanges) {
  // Four readers, one per JSON endpoint, fetch in a loop while computations run. Computations
  // go on until every endpoint has been read twice while one was in flight, so the check does
  // not depend on how fast this machine runs either side.
  const char* paths[] = {"/api/v1/tasks", "/api/v1/workers", "/api/v1/info", "/api/v1/task-stream"};
  std::atomic<bool> done{false};
  std::atomic<int> fetched[4] = {0, 0, 0, 0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      auto http = Http();
      while (!done.load()) {
        auto res = http.Get(paths[t]);
        ASSERT_TRUE(res) << paths[t] << ": " << httplib::to_string(res.error());
        ASSERT_EQ(res->status, 200) << paths[t] << ": " << res->body;
        EXPECT_NO_THROW(json::parse(res->body)) << paths[t];
        ++fetched[t];
      }
    });
  }
  auto all_fetched = [&](const int (&at_least)[4]) {
    for (int t = 0; t < 4; ++t) {
      if (fetched[t].load() < at_least[t]) return false;
    }
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!all_fetched({1, 1, 1, 1}) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int target[4];
  for (int t = 0; t < 4; ++t) target[t] = fetched[t].load() + 2;
  int computations = 0;
  while (!all_fetched(target) && std::chrono::steady_clock::now() < deadline) {
    auto x = random::random({1000, 1000}, {.chunks = 50, .seed = 3 + computations++});
    EXPECT_NEAR(client_->compute(x.mean()).get().scalar<double>(), 0.5, 0.01);
  }
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_TRUE(all_fetched(target)) << "fetches while computing: " << fetched[0] << " "
                                   << fetched[1] << " " << fetched[2] << " " << fetched[3];
  EXPECT_GE(computations, 1);
}

}  // namespace
}  // namespace tessera
