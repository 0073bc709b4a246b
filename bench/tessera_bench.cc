// tessera-bench: the workloads of BENCHMARKS.md (B1-B7) through the public client API, one JSON
// record per workload and configuration (JSON lines), every result checked by the driver.
//
//   tessera-bench --quick                                   # embedded cluster, small sizes
//   tessera-bench --scheduler tcp://127.0.0.1:8786 --workload B1,B4 --repeat 5 --out r.jsonl
//   tessera-bench --workload B4 --chunks 1000,100000 --size 1e7
//
// Timed: building the expression, compute() and get() on a client that is already connected
// (the cluster and the connection are not timed), as Dask's `expr.compute()` on a Client. A
// wrong result ends the run with exit status 1; bad flags exit 2. bench/run_bench.py runs this
// against a scheduler and cpu-workers and the same workloads on Dask distributed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <numbers>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tessera/tessera.h>

#include "b5_workloads.h"

namespace tessera::bench {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int64_t kMiB = int64_t{1} << 20;
const std::vector<std::string> kAllWorkloads = {"B1", "B2", "B3", "B4", "B5", "B6", "B7"};

// ---------------------------------------------------------------- flags

struct Flags {
  std::string scheduler;
  int workers = 2;
  int threads = 1;
  std::vector<std::string> workloads;
  std::vector<std::string> sizes;  // "N" (every workload) or "B4=N"
  std::vector<double> chunks;
  bool quick = false;
  int repeat = 3;
  std::string out = "-";
};

// The main size of each workload: B1/B2 the edge n of n x n, B3 the rows of rows x 20000 x 10,
// B4 the elements, B5 the tasks (leaves), B6 MiB moved, B7 MiB of the persisted array.
std::map<std::string, int64_t> DefaultSizes(bool quick) {
  if (quick) {
    return {{"B1", 20000}, {"B2", 40000}, {"B3", 1000}, {"B4", 1000000},
            {"B5", 10000}, {"B6", 128},   {"B7", 512}};
  }
  return {{"B1", 50000},  {"B2", 200000}, {"B3", 10000}, {"B4", 10000000},
          {"B5", 100000}, {"B6", 1024},   {"B7", 4096}};
}

// Parses a whole number written as 20000, 1e7 or 1.5e6. nullopt if it is not one.
std::optional<int64_t> ParseCount(const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used != text.size() || v < 1 || v > 9e15 || v != std::floor(v)) return std::nullopt;
    return static_cast<int64_t>(v);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Applies --size items to `sizes`; returns the error message for a bad one ("" if all good).
std::string ApplySizes(const std::vector<std::string>& items,
                       const std::vector<std::string>& chosen,
                       std::map<std::string, int64_t>& sizes) {
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    std::vector<std::string> ids = chosen;
    std::string value = item;
    if (eq != std::string::npos) {
      std::string id = item.substr(0, eq);
      std::transform(id.begin(), id.end(), id.begin(), ::toupper);
      if (!sizes.count(id)) return "--size " + item + ": no workload " + item.substr(0, eq);
      ids = {id};
      value = item.substr(eq + 1);
    }
    const std::optional<int64_t> n = ParseCount(value);
    if (!n) return "--size " + item + ": '" + value + "' is not a positive whole number";
    for (const auto& id : ids) sizes[id] = *n;
  }
  return "";
}

// ---------------------------------------------------------------- the machine and cluster

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        const size_t start = line.find_first_not_of(' ', colon + 1);
        return start == std::string::npos ? "" : line.substr(start);
      }
    }
  }
  return "unknown";
}

std::string Hostname() {
  char name[256] = {};
  return gethostname(name, sizeof name - 1) == 0 ? name : "unknown";
}

// The fields every record shares: machine, cluster (worker kinds, counts, threads, GPUs).
json Context(Client& client, const Flags& flags) {
  const SchedulerInfo info = client.scheduler_info();
  std::map<std::string, int> kinds;
  std::map<std::string, int> threads;
  json gpus = json::array();
  for (const WorkerInfo& w : info.workers) {
    ++kinds[w.kind];
    threads[w.kind] = std::max(threads[w.kind], w.nthreads);
    // WorkerInfo carries the device's name only; the driver version is not reported.
    if (!w.device.empty()) gpus.push_back({{"name", w.device}, {"driver", nullptr}});
  }
  return {
      {"engine", "tessera"},
      {"machine", Hostname()},
      {"cpu_model", CpuModel()},
      {"cores", std::thread::hardware_concurrency()},
      {"gpus", gpus},
      {"workers", kinds},
      {"threads_per_worker", threads},
      {"cluster",
       flags.scheduler.empty() ? "embedded (Client::local)" : "scheduler " + flags.scheduler},
      {"repeat", flags.repeat},
      {"version", version()},
  };
}

bool HasKind(Client& client, const std::string& kind) {
  for (const WorkerInfo& w : client.scheduler_info().workers) {
    if (w.kind == kind) return true;
  }
  return false;
}

// ---------------------------------------------------------------- measuring

// One timed run: its seconds, the result as JSON and, for a wrong result, why.
struct Run {
  double seconds = 0;
  json result;
  std::string wrong;
};

json Summary(std::vector<double> s) {
  json runs = s;
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  const double median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return {{"min", s.front()}, {"median", median}, {"max", s.back()}, {"runs", runs}};
}

// The machine's CPU time so far from /proc/stat's "cpu" line: {all, stolen}, in clock ticks.
// Steal is time this VM's virtual CPUs were ready but the host ran something else; on a shared
// VM it is what makes one run of a workload twice as slow as the next.
std::pair<int64_t, int64_t> CpuTicks() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  if (cpu != "cpu") return {0, 0};
  int64_t all = 0, steal = 0, v = 0;
  for (int field = 0; field < 8 && (in >> v); ++field) {  // user ... steal
    all += v;
    if (field == 7) steal = v;
  }
  return {all, steal};
}

// Writes records and stops the program on a wrong result. Thread-compatible.
class Reporter {
 public:
  Reporter(std::ostream& out, json context) : out_(out), context_(std::move(context)) {}

  /// Runs `run` `repeat` times and writes one record. Returns false (after writing the record
  /// with ok = false) when a run's result was wrong.
  bool Measure(int repeat, json fields, const std::function<Run()>& run,
               const std::function<json(double median_seconds)>& rate = nullptr) {
    std::vector<double> seconds;
    json last;
    std::string wrong;
    const std::string label =
        fields["workload"].get<std::string>() + " " + fields["configuration"].get<std::string>();
    const auto ticks0 = CpuTicks();
    for (int i = 0; i < repeat && wrong.empty(); ++i) {
      Run r = run();
      seconds.push_back(r.seconds);
      last = r.result;
      wrong = r.wrong;
      std::fprintf(stderr, "  %s: run %d: %.3f s%s%s\n", label.c_str(), i + 1, r.seconds,
                   wrong.empty() ? "" : ": WRONG: ", wrong.c_str());
    }
    json record = context_;
    record.update(fields);
    record["seconds"] = Summary(seconds);
    record["result"] = last;
    record["ok"] = wrong.empty();
    if (!wrong.empty()) record["wrong"] = wrong;
    record["rate"] = rate ? rate(record["seconds"]["median"].get<double>()) : json(nullptr);
    // The machine's 1-minute load average when the runs ended: on a shared machine it tells
    // whose runs had company.
    double load = 0;
    if (getloadavg(&load, 1) == 1) record["load_average"] = load;
    // ... and the share of the machine's CPU time the host took away during them.
    const auto ticks1 = CpuTicks();
    if (ticks1.first > ticks0.first) {
      record["steal_percent"] = 100.0 * static_cast<double>(ticks1.second - ticks0.second) /
                                static_cast<double>(ticks1.first - ticks0.first);
    }
    Write(record);
    return wrong.empty();
  }

  void Write(const json& record) {
    out_ << record.dump() << "\n";
    out_.flush();
  }

 private:
  std::ostream& out_;
  json context_;
};

json Rate(double value, const char* unit) { return {{"value", value}, {"unit", unit}}; }

template <typename F>
Run Timed(F&& f) {
  const auto t0 = Clock::now();
  Run r = f();
  r.seconds = SecondsSince(t0);
  return r;
}

std::string Format(const char* fmt, double a, double b = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, a, b);
  return buf;
}

json ChunkShape(const Array& x) { return x.chunksize(); }

// 1e7 for powers of ten, else the digits: B4's configuration names.
std::string Sci(int64_t v) {
  int exponent = 0;
  int64_t rest = v;
  while (rest >= 10 && rest % 10 == 0) {
    rest /= 10;
    ++exponent;
  }
  return rest == 1 && exponent > 0 ? "1e" + std::to_string(exponent) : std::to_string(v);
}

// ---------------------------------------------------------------- B1-B4

bool RunB1(Client& client, Reporter& rep, int repeat, int64_t n, std::optional<int64_t> chunk) {
  const random::RandomOptions opts{.chunks = chunk ? ChunkSpec(*chunk) : ChunkSpec()};
  const Array shape_of = random::random({n, n}, opts);
  const std::string config = std::to_string(n) + "x" + std::to_string(n);
  // BENCHMARKS.md's 1e-4, or 6 standard deviations of the mean of n^2 values exp(U) (0.492
  // each) where that is wider: below n = 29500 an honest mean misses 1e-4 too often.
  const double bound = std::max(1e-4, 6 * 0.492 / static_cast<double>(n));
  return rep.Measure(
      repeat,
      {{"workload", "B1"},
       {"configuration", config},
       {"size", n},
       {"expression", "da.exp(da.random.random((n, n))).mean()"},
       {"chunk_shape", ChunkShape(shape_of)}},
      [&] {
        return Timed([&] {
          const double y =
              client.compute(exp(random::random({n, n}, opts)).mean()).get().scalar<double>();
          Run r{.result = y};
          if (!(std::abs(y - (std::numbers::e - 1)) < bound)) {
            r.wrong = Format("%.17g is not e - 1 within %.3g", y, bound);
          }
          return r;
        });
      },
      [&](double s) { return Rate(static_cast<double>(n) * n / s, "elements/s"); });
}

bool RunB2(Client& client, Reporter& rep, int repeat, int64_t n, std::optional<int64_t> chunk) {
  const ArrayOptions opts{.chunks = ChunkSpec(chunk.value_or(10000))};
  const std::string config = std::to_string(n) + "x" + std::to_string(n);
  const double expected = static_cast<double>(n) * static_cast<double>(n);
  return rep.Measure(
      repeat,
      {{"workload", "B2"},
       {"configuration", config},
       {"size", n},
       {"expression", "x = da.ones((n, n), chunks=c); (x * x[::-1, ::-1]).sum()"},
       {"chunk_shape", ChunkShape(ones({n, n}, opts))}},
      [&] {
        return Timed([&] {
          const Array x = ones({n, n}, opts);
          const double y = client.compute((x * x[{Slice::Step(-1), Slice::Step(-1)}]).sum())
                               .get()
                               .scalar<double>();
          Run r{.result = y};
          if (y != expected) r.wrong = Format("%.17g is not n^2 = %.17g exactly", y, expected);
          return r;
        });
      },
      [&](double s) { return Rate(expected / s, "elements/s"); });
}

bool RunB3(Client& client, Reporter& rep, int repeat, int64_t rows, std::optional<int64_t> chunk) {
  const int64_t c = chunk.value_or(1000);
  const random::RandomOptions opts{.chunks = ChunkSpec({c, c, 5})};
  const Shape shape{rows, 20000, 10};
  // Each row sums 200000 terms arcsin(U) + arccos(V), U, V uniform on [0, 1): mean pi / 2 each,
  // variance 2 ((pi^2/4 - 2) - (pi/2 - 1)^2). The mean of the rows within 1e-3 relative; each
  // row within the larger of 1e-3 relative and 6 standard deviations (7.6e-4 relative is one).
  const double pi = std::numbers::pi;
  const double row = 200000 * pi / 2;
  const double sigma = std::sqrt(200000 * 2 * ((pi * pi / 4 - 2) - (pi / 2 - 1) * (pi / 2 - 1)));
  const double bound = std::max(1e-3 * row, 6 * sigma);
  return rep.Measure(
      repeat,
      {{"workload", "B3"},
       {"configuration", std::to_string(rows) + "x20000x10"},
       {"size", rows},
       {"expression", "(da.arcsin(x) + da.arccos(y)).sum(axis=(1, 2))"},
       {"chunk_shape", ChunkShape(random::random(shape, opts))}},
      [&] {
        return Timed([&] {
          const Array x = random::random(shape, opts);
          const Array y = random::random(shape, opts);  // another fresh seed
          const std::vector<double> v =
              client.compute((arcsin(x) + arccos(y)).sum({1, 2})).get().to_vector();
          double mean = 0;
          for (double e : v) mean += e;
          mean /= static_cast<double>(v.size());
          Run r{.result = {{"rows", v.size()},
                           {"mean", mean},
                           {"min", *std::min_element(v.begin(), v.end())},
                           {"max", *std::max_element(v.begin(), v.end())}}};
          if (static_cast<int64_t>(v.size()) != rows) {
            r.wrong = Format("%.0f rows, want %.0f", static_cast<double>(v.size()),
                             static_cast<double>(rows));
          } else if (!(std::abs(mean - row) <= 1e-3 * row)) {
            r.wrong = Format("mean of rows %.17g is not %.17g within 1e-3", mean, row);
          } else {
            for (double e : v) {
              if (!(std::abs(e - row) <= bound)) {
                r.wrong = Format("a row is %.17g, not %.17g within the bound", e, row);
                break;
              }
            }
          }
          return r;
        });
      },
      [&](double s) { return Rate(2.0 * rows * 200000 / s, "elements/s"); });
}

bool RunB4(Client& client, Reporter& rep, int repeat, int64_t n,
           const std::vector<int64_t>& chunk_sizes) {
  // The sum of n uniforms: mean n / 2, standard deviation sqrt(n / 12); 6 of them is the bound.
  const double bound = 6 * std::sqrt(static_cast<double>(n) / 12);
  bool ok = true;
  for (int64_t c : chunk_sizes) {
    if (c > n) continue;
    const random::RandomOptions opts{.chunks = ChunkSpec(c)};
    ok = rep.Measure(
             repeat,
             {{"workload", "B4"},
              {"configuration", "n=" + Sci(n) + " chunks=" + Sci(c)},
              {"size", n},
              {"chunk_elements", c},
              {"tasks", (n + c - 1) / c},
              {"expression", "da.random.random(n, chunks=c).sum()"},
              {"chunk_shape", json::array({c})}},
             [&] {
               return Timed([&] {
                 const double y =
                     client.compute(random::random({n}, opts).sum()).get().scalar<double>();
                 Run r{.result = y};
                 if (!(std::abs(y - n / 2.0) <= bound)) {
                   r.wrong = Format("%.17g is not n/2 within %.0f (6 sigma)", y, bound);
                 }
                 return r;
               });
             },
             [&](double s) { return Rate(static_cast<double>(n) / s, "elements/s"); }) &&
         ok;
    if (!ok) return false;
  }
  return ok;
}

// ---------------------------------------------------------------- B5

bool RunB5(Client& client, Reporter& rep, int repeat, int64_t n) {
  for (const char* which : {"noop", "tree"}) {
    const bool noop = std::string(which) == "noop";
    const int64_t tasks = noop ? n : 2 * n - 1;
    const bool ok = rep.Measure(
        repeat,
        {{"workload", "B5"},
         {"configuration", std::string(which) + " n=" + std::to_string(n)},
         {"size", n},
         {"tasks", tasks},
         {"expression", noop ? "client.gather(client.map(noop, range(n)))"
                             : "pairwise tree of add over n inc leaves (delayed)"},
         {"chunk_shape", nullptr},
         {"timing", "submit to results on the client; graph building excluded"}},
        [&] {
          const B5Run r = noop ? RunNoop(client, n) : RunTree(client, n);
          Run out{.seconds = r.seconds, .result = r.result};
          if (!r.ok) {
            out.wrong = noop ? Format("%.0f of %.0f results were None", r.result, n)
                             : Format("%.0f is not n (n + 1) / 2 = %.0f", r.result,
                                      static_cast<double>(n) * (n + 1) / 2);
          }
          return out;
        },
        [&](double s) { return Rate(tasks / s, "tasks/s"); });
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------- B6

// The physical limit for B6: `bytes` from one thread to another over a TCP connection on
// 127.0.0.1, from a filled buffer into a touched one, as the cluster's transfers are. Returns
// the seconds, or -1 if a socket call failed or the bytes arrived altered.
double LoopbackSeconds(const std::vector<uint8_t>& source, std::vector<uint8_t>& sink) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (listener >= 0) close(listener);
    return -1;
  }
  const auto t0 = Clock::now();
  bool sent = false;
  std::thread sender([&] {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (fd >= 0) close(fd);
      return;
    }
    size_t done = 0;
    while (done < source.size()) {
      const ssize_t n =
          send(fd, source.data() + done, std::min<size_t>(source.size() - done, 4 * kMiB), 0);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    sent = done == source.size();
    close(fd);
  });
  size_t got = 0;
  const int fd = accept(listener, nullptr, nullptr);
  while (fd >= 0 && got < sink.size()) {
    const ssize_t n = recv(fd, sink.data() + got, sink.size() - got, 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  sender.join();
  const double seconds = SecondsSince(t0);
  if (fd >= 0) close(fd);
  close(listener);
  const bool same = got == sink.size() && std::memcmp(source.data(), sink.data(), got) == 0;
  return sent && same ? seconds : -1;
}

// The sum of an int64 array fetched to the client: the checksum of the bytes that travelled.
int64_t SumInt64(const NDArray& a) {
  const auto* v = reinterpret_cast<const int64_t*>(a.bytes().data());
  int64_t s = 0;
  for (size_t i = 0; i < a.bytes().size() / sizeof(int64_t); ++i) s += v[i];
  return s;
}

bool RunB6(Client& client, Reporter& rep, const Flags& flags, int64_t mib) {
  const int64_t bytes = mib * kMiB;
  const int64_t n = bytes / 8;
  const double gb = static_cast<double>(bytes) / 1e9;

  std::fprintf(stderr, "B6: loopback TCP copy of %lld MiB (%d runs)\n", static_cast<long long>(mib),
               flags.repeat);
  std::vector<uint8_t> source(static_cast<size_t>(bytes)), sink(static_cast<size_t>(bytes));
  for (size_t i = 0; i < source.size(); ++i) source[i] = static_cast<uint8_t>(i * 131 + 7);
  std::memset(sink.data(), 0, sink.size());
  std::vector<double> loop;
  for (int i = 0; i < flags.repeat; ++i) {
    const double s = LoopbackSeconds(source, sink);
    if (s < 0) {
      std::fprintf(stderr, "B6: the loopback TCP copy failed\n");
      return false;
    }
    loop.push_back(s);
  }
  source = {};
  sink = {};
  const json loopback = Summary(loop);
  const double loopback_gbps = gb / loopback["median"].get<double>();
  rep.Write({{"engine", "loopback-tcp"},
             {"workload", "B6"},
             {"configuration", "loopback TCP " + std::to_string(mib) + " MiB"},
             {"size", mib},
             {"bytes", bytes},
             {"machine", Hostname()},
             {"cpu_model", CpuModel()},
             {"cores", std::thread::hardware_concurrency()},
             {"repeat", flags.repeat},
             {"seconds", loopback},
             {"result", nullptr},
             {"ok", true},
             {"rate", Rate(loopback_gbps, "GB/s")},
             {"timing", "sender thread to receiver thread over 127.0.0.1, this process"}});
  const json b6_fields = {{"workload", "B6"},
                          {"size", mib},
                          {"bytes", bytes},
                          {"chunk_shape", json::array({n})},
                          {"loopback_gbps", loopback_gbps}};
  auto gbps = [&](double s) { return Rate(gb / s, "GB/s"); };

  // Worker to client: one persisted chunk of int64s fetched whole; checked against the sum the
  // cluster computes where the chunk lives.
  {
    const Array x = client.persist(random::randint(0, 1000, {n}, {.chunks = n}));
    const auto expected = client.compute(x.sum()).get().scalar<int64_t>();
    json fields = b6_fields;
    fields.update({{"configuration", "worker to client " + std::to_string(mib) + " MiB"},
                   {"transfer", "worker-to-client"},
                   {"expression", "client.compute(x).result(), x persisted, one chunk"}});
    if (!rep.Measure(
            flags.repeat, fields,
            [&] {
              return Timed([&] {
                const int64_t got = SumInt64(client.compute(x).get());
                Run r{.result = got};
                if (got != expected) {
                  r.wrong = Format("checksum %.0f, the cluster's sum is %.0f",
                                   static_cast<double>(got), static_cast<double>(expected));
                }
                return r;
              });
            },
            gbps)) {
      return false;
    }
  }

  // Worker to worker. The public API has no worker restrictions, so the move is forced by data:
  // x is two persisted chunks of `bytes` each, one per worker (checked with scheduler_info), and
  // (x[:n] * 1001 + x[n:]).sum() is one task that needs both, so one chunk crosses. The same
  // task over x[:n] twice (no transfer) is timed too, so that the transfer can be told apart from
  // the arithmetic. A fresh x for every run: a copy fetched once stays with the fetching worker.
  if (client.scheduler_info().workers.size() < 2) {
    std::fprintf(stderr, "B6: worker to worker needs two workers; skipped\n");
    return true;
  }
  std::vector<double> local_seconds;
  int not_split = 0;
  uint64_t seed = 0x5eed;
  json fields = b6_fields;
  fields.update({{"configuration", "worker to worker " + std::to_string(mib) + " MiB"},
                 {"transfer", "worker-to-worker"},
                 {"expression",
                  "(x[:n] * 1001 + x[n:]).sum(), x[:n] and x[n:] persisted on "
                  "different workers"}});
  auto run_once = [&]() -> Run {
    // With a scheduler address every run gets its own client, whose persisted arrays go when it
    // does; the embedded cluster's client keeps them (a few GiB for three 1 GiB runs).
    std::optional<Client> own;
    if (!flags.scheduler.empty()) own.emplace(Client::connect(flags.scheduler));
    Client& c = own ? *own : client;
    std::optional<Array> x;
    for (int attempt = 0;; ++attempt) {
      std::map<std::string, int64_t> before;
      for (const WorkerInfo& w : c.scheduler_info().workers) before[w.address] = w.memory_used;
      x = c.persist(random::randint(0, 1000, {2 * n}, {.chunks = n, .seed = seed++}));
      // memory_used comes with the workers' heartbeats: wait (up to 5 s) until both chunks show.
      int holders = 0;
      for (const auto deadline = Clock::now() + std::chrono::seconds(5); Clock::now() < deadline;
           std::this_thread::sleep_for(std::chrono::milliseconds(50))) {
        int64_t added = 0;
        holders = 0;
        for (const WorkerInfo& w : c.scheduler_info().workers) {
          added += w.memory_used - before[w.address];
          holders += w.memory_used - before[w.address] >= bytes * 9 / 10;
        }
        if (added >= 2 * bytes * 9 / 10) break;
      }
      if (holders >= 2) break;
      ++not_split;
      if (attempt == 2) {
        return Run{.result = nullptr,
                   .wrong = "the two chunks landed on one worker three times: no transfer"};
      }
    }
    const Array a = (*x)[{Slice(0, n)}];
    const Array b = (*x)[{Slice(n, 2 * n)}];
    const double sa = c.compute(a.sum()).get().scalar<double>();
    const double sb = c.compute(b.sum()).get().scalar<double>();
    const auto l0 = Clock::now();
    const double local = c.compute((a * 1001 + a).sum()).get().scalar<double>();
    local_seconds.push_back(SecondsSince(l0));
    Run r = Timed([&] {
      const double got = c.compute((a * 1001 + b).sum()).get().scalar<double>();
      return Run{.result = got};
    });
    if (local != 1002 * sa) r.wrong = Format("local task: %.17g, want %.17g", local, 1002 * sa);
    if (r.result.get<double>() != 1001 * sa + sb) {
      r.wrong = Format("checksum %.17g, want %.17g", r.result.get<double>(), 1001 * sa + sb);
    }
    return r;
  };
  bool ok = rep.Measure(flags.repeat, fields, run_once, [&](double s) {
    // The transfer alone: the cross-worker task less the same task on one worker.
    json rate = Rate(gb / s, "GB/s");
    rate["note"] = "bytes / whole task seconds (transfer + arithmetic)";
    if (local_seconds.empty()) return rate;
    const double local = Summary(local_seconds)["median"].get<double>();
    rate["local_task_seconds"] = Summary(local_seconds);
    rate["transfer_only_gbps"] = s > local ? json(gb / (s - local)) : json(nullptr);
    return rate;
  });
  if (not_split > 0) std::fprintf(stderr, "B6: %d persists landed on one worker\n", not_split);
  return ok;
}

// ---------------------------------------------------------------- B7

bool RunB7(Client& client, Reporter& rep, int repeat, int64_t mib) {
  if (!HasKind(client, "cuda")) {
    std::fprintf(stderr, "B7: no cuda worker in the cluster; skipped\n");
    return true;
  }
  const int64_t n = mib * kMiB / 8;
  const Array x = client.persist(random::random({n}));
  const double want = 2 * (std::numbers::e - 1) + 1;  // the mean of exp(U) * 2 + 1
  return rep.Measure(
      repeat,
      {{"workload", "B7"},
       {"configuration", std::to_string(mib) + " MiB persisted"},
       {"size", mib},
       {"expression", "(da.exp(x) * 2 + 1).sum(), x persisted"},
       {"chunk_shape", ChunkShape(x)}},
      [&] {
        return Timed([&] {
          const double y = client.compute((exp(x) * 2 + 1).sum()).get().scalar<double>();
          Run r{.result = y};
          if (!(std::abs(y / static_cast<double>(n) - want) < 1e-3)) {
            r.wrong = Format("mean %.17g is not 2 (e - 1) + 1 within 1e-3", y / n);
          }
          return r;
        });
      },
      [&](double s) { return Rate(static_cast<double>(n) * 8 / 1e9 / s, "GB/s read"); });
}

// ---------------------------------------------------------------- main

int Main(int argc, char** argv) {
  Flags flags;
  CLI::App app{
      "tessera-bench: the workloads of BENCHMARKS.md (B1-B7) through the client API, "
      "one JSON record per workload and configuration."};
  app.set_version_flag("--version", "tessera " + version());
  app.add_option("--scheduler", flags.scheduler,
                 "Scheduler address (tcp://host:port); without it, an embedded cluster");
  app.add_option("--workers", flags.workers, "Embedded cluster: worker count")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--threads", flags.threads, "Embedded cluster: threads per worker")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--workload", flags.workloads,
                 "B1 ... B7, repeatable or a comma list (default B1-B6)")
      ->delimiter(',')
      ->transform([](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(), ::toupper);
        return s;
      })
      ->check(CLI::IsMember(kAllWorkloads));
  app.add_option("--size", flags.sizes,
                 "Main size: N for every chosen workload, or ID=N (B1/B2 n of n x n, B3 rows, "
                 "B4 elements, B5 tasks, B6/B7 MiB); 1e7 is accepted")
      ->delimiter(',');
  app.add_option("--chunks", flags.chunks,
                 "Chunk size (elements per axis; B3: the first two axes); for B4 a comma list "
                 "(default 1e3,1e4,1e5,1e6,1e7)")
      ->delimiter(',');
  app.add_flag("--quick", flags.quick,
               "Small sizes: B1 20000^2, B2 40000^2, B3 1000 rows, B4 1e6, B5 1e4, B6 128 MiB");
  app.add_option("--repeat", flags.repeat, "Timed runs per configuration (at least 3)")
      ->capture_default_str()
      ->check(CLI::Range(3, 1000000));
  app.add_option("--out", flags.out, "JSON lines file ('-': stdout)")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // as the other binaries: bad flags exit 2
  }
  if (flags.workloads.empty()) flags.workloads = {"B1", "B2", "B3", "B4", "B5", "B6"};
  std::map<std::string, int64_t> sizes = DefaultSizes(flags.quick);
  if (const std::string bad = ApplySizes(flags.sizes, flags.workloads, sizes); !bad.empty()) {
    std::fprintf(stderr, "error: %s\n", bad.c_str());
    return 2;
  }
  std::vector<int64_t> chunks;
  for (double c : flags.chunks) {
    if (c < 1 || c != std::floor(c) || c > 9e15) {
      std::fprintf(stderr, "error: --chunks %g: not a positive whole number of elements\n", c);
      return 2;
    }
    chunks.push_back(static_cast<int64_t>(c));
  }
  std::optional<int64_t> chunk;
  if (!chunks.empty()) chunk = chunks.front();
  if (chunks.empty()) chunks = {1000, 10000, 100000, 1000000, 10000000};

  std::ofstream file;
  if (flags.out != "-") {
    file.open(flags.out);
    if (!file) {
      std::fprintf(stderr, "error: --out %s: cannot write it\n", flags.out.c_str());
      return 2;
    }
  }
  try {
    Client client =
        flags.scheduler.empty()
            ? Client::local({.n_workers = flags.workers, .threads_per_worker = flags.threads})
            : Client::connect(flags.scheduler);
    Reporter rep(flags.out == "-" ? std::cout : file, Context(client, flags));
    // One untimed computation, so that connections and worker threads are warm.
    client.compute(ones({10}, {.chunks = 5}).sum()).get();
    for (const std::string& w : flags.workloads) {
      std::fprintf(stderr, "%s (size %lld)\n", w.c_str(), static_cast<long long>(sizes[w]));
      bool ok = true;
      if (w == "B1") ok = RunB1(client, rep, flags.repeat, sizes[w], chunk);
      if (w == "B2") ok = RunB2(client, rep, flags.repeat, sizes[w], chunk);
      if (w == "B3") ok = RunB3(client, rep, flags.repeat, sizes[w], chunk);
      if (w == "B4") ok = RunB4(client, rep, flags.repeat, sizes[w], chunks);
      if (w == "B5") ok = RunB5(client, rep, flags.repeat, sizes[w]);
      if (w == "B6") ok = RunB6(client, rep, flags, sizes[w]);
      if (w == "B7") ok = RunB7(client, rep, flags.repeat, sizes[w]);
      if (!ok) {
        std::fprintf(stderr,
                     "%s: WRONG RESULT (see its record); a fast wrong answer is a "
                     "failure\n",
                     w.c_str());
        return 1;
      }
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace tessera::bench

int main(int argc, char** argv) { return tessera::bench::Main(argc, argv); }
