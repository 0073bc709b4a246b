#include "cli/cluster.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/address.h"
#include "common/device_list.h"
#include "common/log.h"
#include "common/process.h"
#include "common/shape.h"
#include "scheduler/scheduler_service.h"
#include "tessera/tessera.h"

namespace tessera::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string SelfDir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool Executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

// A worker process; it takes SIGINT / SIGTERM itself (they are blocked in this process).
pid_t Spawn(const std::string& program, std::vector<std::string> args) {
  args.insert(args.begin(), program);
  return SpawnProcess(program, args, "tessera cluster: cannot run " + program);
}

// The GPUs `--gpus` names, checked against `cuda-worker --list-devices`.
absl::StatusOr<std::vector<int>> ResolveGpus(const std::string& gpus, const std::string& bin_dir) {
  if (gpus.empty() || gpus == "none") return std::vector<int>{};
  const std::string cuda_worker = bin_dir + "/cuda-worker";
  if (!Executable(cuda_worker)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--gpus ", gpus, ": this build of Tessera has no cuda-worker (", cuda_worker,
        " is missing: it was built without CUDA)"));
  }
  std::string out;
  {
    const std::string command = "'" + cuda_worker + "' --list-devices 2>&1";
    FILE* p = popen(command.c_str(), "r");
    if (p == nullptr) {
      return absl::InternalError(absl::StrCat("cannot run ", cuda_worker, ": ", std::strerror(errno)));
    }
    char buf[512];
    while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
    const int status = pclose(p);
    if (status != 0) {
      while (!out.empty() && out.back() == '\n') out.pop_back();
      return absl::InvalidArgumentError(absl::StrCat("--gpus ", gpus, ": ", out));
    }
  }
  std::vector<int> visible;
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(out, '\n'))) {
    int index = 0;
    const size_t tab = line.find('\t');
    if (tab != std::string::npos && absl::SimpleAtoi(line.substr(0, tab), &index)) {
      visible.push_back(index);
    }
  }
  // cuda-worker numbers the devices it sees 0 to n - 1, as CUDA does.
  for (size_t k = 0; k < visible.size(); ++k) {
    if (visible[k] != static_cast<int>(k)) {
      return absl::InternalError(absl::StrCat("--gpus ", gpus, ": cuda-worker --list-devices ",
                                              "listed device ", visible[k], " at position ", k));
    }
  }
  return ParseDeviceList("--gpus", gpus, static_cast<int>(visible.size()));
}

struct Child {
  pid_t pid = -1;
  std::string kind;
  std::string name;
  int device = -1;
  Clock::time_point started;
  bool retiring = false;
};

// Start backoff per kind: a worker that exits on its own is replaced after 1, 2, 4 ... 30 s, so
// a worker that cannot start is never spawned in a tight loop.
struct Backoff {
  int failures = 0;
  Clock::time_point next{};
};

}  // namespace

int RunCluster(const ClusterOptions& o) {
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t max_workers = o.max_workers > 0 ? o.max_workers : cores;
  if (o.min_workers < 0 || o.max_workers < 0) {
    std::fprintf(stderr, "error: --min-workers and --max-workers must be 0 or more (given %lld, %lld)\n",
                 static_cast<long long>(o.min_workers), static_cast<long long>(o.max_workers));
    return 2;
  }
  if (o.min_workers > max_workers) {
    std::fprintf(stderr, "error: --min-workers %lld is above --max-workers %lld\n",
                 static_cast<long long>(o.min_workers), static_cast<long long>(max_workers));
    return 2;
  }
  const std::string bin_dir = o.bin_dir.empty() ? SelfDir() : o.bin_dir;
  const std::string cpu_worker = bin_dir + "/cpu-worker";
  if (!Executable(cpu_worker)) {
    std::fprintf(stderr, "error: tessera cluster: %s is missing\n", cpu_worker.c_str());
    return 1;
  }
  auto gpus = ResolveGpus(o.gpus, bin_dir);
  if (!gpus.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(gpus.status().message()).c_str());
    return 2;
  }
  // One cuda-worker per GPU, filled first (the adaptive policy prefers the faster kind); CPU
  // workers make up the rest of the bounds.
  const int64_t g = std::min<int64_t>(static_cast<int64_t>(gpus->size()), max_workers);
  scheduler::ServerOptions sopts;
  sopts.host = o.host;
  sopts.port = o.port;
  if (o.dashboard_address != "none") {
    auto dash = ParseDashboardAddress(o.dashboard_address);
    if (!dash.ok()) {
      std::fprintf(stderr, "error: --dashboard-address: %s\n",
                   std::string(dash.status().message()).c_str());
      return 2;
    }
    sopts.dashboard_host = dash->host;
    sopts.dashboard_port = dash->port;
    sopts.dashboard_any_port_if_taken = o.dashboard_address == ":8787";
  }
  sopts.adaptive.target_seconds = o.adapt_target;
  sopts.adaptive.wait_count = o.adapt_wait_count;
  sopts.adaptive.default_threads = o.threads_per_worker;
  sopts.adapt_interval_seconds = o.adapt_interval;
  sopts.adaptive.bounds["cpu"] = {std::max<int64_t>(0, o.min_workers - g),
                                  std::max<int64_t>(0, max_workers - g)};
  if (g > 0) sopts.adaptive.bounds["cuda"] = {std::min(o.min_workers, g), g};
  std::string memory_limit = o.memory_limit;
  if (memory_limit.empty() && max_workers - g > 0) {
    // As LocalCluster: the machine's memory shared by as many workers as may run.
    memory_limit = absl::StrCat(SystemMemoryBytes() / (max_workers - g));
  }

  const sigset_t signals = BlockTerminationSignals();
  auto server = scheduler::SchedulerServer::Start(sopts);
  if (!server.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  const std::string shown = o.host == "0.0.0.0" || o.host == "::" ? LocalIpForDisplay() : o.host;
  const Address address{shown, (*server)->port()};
  const std::string local =
      Address{o.host == "0.0.0.0" ? "127.0.0.1" : (o.host == "::" ? "::1" : o.host),
              (*server)->port()}
          .HostPort();
  std::printf("Scheduler at %s\n", address.ToString().c_str());
  if ((*server)->dashboard_port() > 0) {
    const std::string dash_host = sopts.dashboard_host.empty() ? o.host : sopts.dashboard_host;
    const std::string dash_shown =
        dash_host == "0.0.0.0" || dash_host == "::" ? LocalIpForDisplay() : dash_host;
    std::printf("Dashboard at http://%s/status\n",
                Address{dash_shown, (*server)->dashboard_port()}.HostPort().c_str());
  }
  std::printf("Adaptive: %lld to %lld workers (%lld GPU), %d thread(s) each, target %.3g s\n",
              static_cast<long long>(o.min_workers), static_cast<long long>(max_workers),
              static_cast<long long>(g), o.threads_per_worker, o.adapt_target);
  std::fflush(stdout);

  std::vector<Child> children;
  std::map<std::string, Backoff> backoff;
  int64_t next_cpu = 1;
  // One scale-down at a time, on its own thread (it waits for results to move).
  std::mutex retire_mu;
  std::thread retire_thread;
  std::atomic<bool> retire_busy{false};
  std::vector<std::string> retired_names;  // guarded by retire_mu

  auto spawn = [&](const std::string& kind) -> bool {
    Child c;
    c.kind = kind;
    c.started = Clock::now();
    std::vector<std::string> args = {"--scheduler", local, "--log-level", "warning"};
    if (kind == "cuda") {
      for (int d : *gpus) {
        const bool used = std::any_of(children.begin(), children.end(), [&](const Child& x) {
          return x.kind == "cuda" && x.device == d;
        });
        if (!used) {
          c.device = d;
          break;
        }
      }
      if (c.device < 0) return false;
      c.name = "cluster-gpu" + std::to_string(c.device);
      args.insert(args.end(), {"--device", std::to_string(c.device), "--name", "cluster",
                               "--nthreads", std::to_string(o.threads_per_worker)});
      c.pid = Spawn(bin_dir + "/cuda-worker", args);
    } else {
      c.name = "cpu-" + std::to_string(next_cpu++);
      args.insert(args.end(), {"--name", c.name, "--nthreads", std::to_string(o.threads_per_worker)});
      if (!memory_limit.empty()) args.insert(args.end(), {"--memory-limit", memory_limit});
      c.pid = Spawn(cpu_worker, args);
    }
    if (c.pid < 0) {
      TESSERA_LOG(kError, "cannot start ", c.name, ": ", std::strerror(errno));
      return false;
    }
    children.push_back(c);
    return true;
  };

  std::optional<Client> client;
  const char* stop_signal = nullptr;
  const double tick = std::min(0.25, o.adapt_interval);
  while (true) {
    stop_signal = WaitForTerminationSignal(signals, tick);
    if (stop_signal != nullptr) break;
    // Workers that ended.
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      auto it = std::find_if(children.begin(), children.end(),
                             [&](const Child& c) { return c.pid == pid; });
      if (it == children.end()) continue;
      const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (it->retiring && clean) {
        TESSERA_LOG(kInfo, "stopped ", it->name, " (retired)");
      } else {
        const std::string how = DescribeExit(status);
        Backoff& b = backoff[it->kind];
        if (Since(it->started) > 30) b.failures = 0;  // it ran a while: not a start failure
        const int delay = RestartDelaySeconds(b.failures);
        ++b.failures;
        b.next = Clock::now() + std::chrono::seconds(delay);
        TESSERA_LOG(kWarning, "worker ", it->name, " ended (", how, ") after ",
                    absl::StrFormat("%.1f", Since(it->started)), " s; a replacement may start in ",
                    delay, " s");
      }
      children.erase(it);
    }
    {
      std::lock_guard<std::mutex> lock(retire_mu);
      for (const std::string& name : retired_names) {
        for (Child& c : children) {
          if (c.name == name) c.retiring = true;
        }
      }
      retired_names.clear();
    }
    if (!client.has_value()) {
      try {
        client.emplace(Client::connect(local));
      } catch (const Error& e) {
        TESSERA_LOG(kWarning, "cannot reach this cluster's scheduler: ", e.what());
        continue;
      }
    }
    SchedulerInfo info;
    try {
      info = client->scheduler_info();
    } catch (const Error& e) {
      TESSERA_LOG(kWarning, "scheduler_info: ", e.what());
      continue;
    }
    for (const std::string kind : {"cuda", "cpu"}) {
      auto bounds = sopts.adaptive.bounds.find(kind);
      if (bounds == sopts.adaptive.bounds.end()) continue;
      auto d = info.desired_workers.find(kind);
      const int64_t desired = d != info.desired_workers.end() ? d->second : bounds->second.min;
      const int64_t live = std::count_if(children.begin(), children.end(), [&](const Child& c) {
        return c.kind == kind && !c.retiring;
      });
      if (desired > live && Clock::now() >= backoff[kind].next) {
        std::vector<std::string> started;
        for (int64_t i = live; i < desired; ++i) {
          if (!spawn(kind)) break;
          started.push_back(children.back().name);
        }
        if (!started.empty()) {
          TESSERA_LOG(kInfo, "scale up: ", kind, " workers ", live, " -> ", live + started.size(),
                      " (started ", absl::StrJoin(started, ", "), ")");
        }
      } else if (desired < live && !retire_busy.exchange(true)) {
        if (retire_thread.joinable()) retire_thread.join();
        const int64_t count = live - desired;
        retire_thread = std::thread([&, kind = std::string(kind), count, live] {
          try {
            Client c = Client::connect(local);
            auto retired = c.retire_idle_workers(kind, count, 60);
            std::vector<std::string> names;
            int64_t keys = 0, bytes = 0;
            for (const auto& r : retired) {
              names.push_back(r.name);
              keys += r.keys_moved;
              bytes += r.bytes_moved;
            }
            if (!names.empty()) {
              TESSERA_LOG(kInfo, "scale down: ", kind, " workers ", live, " -> ",
                          live - static_cast<int64_t>(names.size()), " (retired ",
                          absl::StrJoin(names, ", "), "; ", keys, " results, ",
                          FormatBytes(bytes), " moved)");
            }
            std::lock_guard<std::mutex> lock(retire_mu);
            retired_names.insert(retired_names.end(), names.begin(), names.end());
          } catch (const Error& e) {
            TESSERA_LOG(kWarning, "scale down of ", kind, " workers: ", e.what());
          }
          retire_busy = false;
        });
      }
    }
  }

  TESSERA_LOG(kInfo, "received ", stop_signal, ", stopping ", children.size(),
              " worker(s) and the scheduler");
  client.reset();
  // The scheduler first: workers then stop at once instead of moving results around.
  (*server)->Shutdown();
  if (retire_thread.joinable()) retire_thread.join();
  for (const Child& c : children) kill(c.pid, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  for (Child& c : children) {
    int status = 0;
    while (waitpid(c.pid, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  (*server)->Wait();
  TESSERA_LOG(kInfo, "cluster stopped");
  return 0;
}

}  // namespace tessera::cli
