// The `cuda-worker` binary: dask-cuda-worker's counterpart. It runs as a nanny that starts one
// worker process per GPU (this same binary with --device-process N), each pinned to its device
// and named <name>-gpu<N>, restarts a worker process that dies (up to --max-restarts times per
// device, with backoff), and stops them all on SIGINT / SIGTERM.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/device_list.h"
#include "common/log.h"
#include "common/process.h"
#include "common/shape.h"
#include "common/status.h"
#include "worker/worker_main.h"
#include "worker_cuda/cuda_executor.h"
#include "worker_cuda/devices.h"

namespace tessera::cuda {
namespace {

struct CudaFlags {
  std::string devices;  // --device: "" = every visible GPU
  std::string device_memory_limit = "0.8";
  std::string pool_size = "0";
  int max_restarts = 5;
  int device_process = -1;  // set in the worker processes the nanny starts
};

// The executor options of one GPU's worker process from the flags; the nanny checks them for
// every chosen GPU before starting any worker process.
absl::StatusOr<CudaExecutorOptions> ExecutorOptionsFor(const CudaFlags& flags,
                                                       const DeviceInfo& device) {
  CudaExecutorOptions options;
  options.device = device.index;
  TESSERA_ASSIGN_OR_RETURN(
      options.device_memory_limit,
      ParseDeviceBytes("--device-memory-limit", flags.device_memory_limit, device.total_memory));
  if (flags.pool_size != "0") {  // 0: keep everything (ParseDeviceBytes wants a positive amount)
    TESSERA_ASSIGN_OR_RETURN(options.pool_size,
                             ParseDeviceBytes("--pool-size", flags.pool_size, device.total_memory));
  }
  return options;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

// argv without the flags the nanny sets itself for each worker process (with their values).
std::vector<std::string> ForwardedArgs(int argc, char** argv) {
  static const char* kDropped[] = {"--device", "--name", "--device-process"};
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    bool drop = false;
    for (const char* flag : kDropped) {
      if (a == flag) {
        drop = true;
        ++i;  // and its value
        break;
      }
      if (a.rfind(std::string(flag) + "=", 0) == 0) {
        drop = true;
        break;
      }
    }
    if (!drop) out.push_back(a);
  }
  return out;
}

// A worker process: this binary again. It takes SIGINT / SIGTERM itself (the nanny blocked them).
pid_t Spawn(const std::vector<std::string>& args) {
  return SpawnProcess("/proc/self/exe", args, "cuda-worker: cannot start a worker process");
}

// Runs one worker process per device until a termination signal; returns the exit code.
int RunNanny(const std::vector<int>& devices, const std::string& base_name,
             const std::vector<std::string>& forwarded, int max_restarts) {
  const sigset_t signals = BlockTerminationSignals();
  struct Child {
    int device = 0;
    int restarts = 0;
    std::chrono::steady_clock::time_point restart_at{};
    pid_t pid = -1;
  };
  std::vector<Child> children;
  auto args_for = [&](int device) {
    std::vector<std::string> args = {"cuda-worker", "--device-process", std::to_string(device),
                                     "--name", base_name + "-gpu" + std::to_string(device)};
    args.insert(args.end(), forwarded.begin(), forwarded.end());
    return args;
  };
  for (int d : devices) {
    Child c;
    c.device = d;
    c.pid = Spawn(args_for(d));
    if (c.pid < 0) {
      TESSERA_LOG(kError, "cannot fork a worker process for GPU ", d, ": ", std::strerror(errno));
    } else {
      TESSERA_LOG(kInfo, "started worker process ", c.pid, " for GPU ", d);
    }
    children.push_back(c);
  }
  int exit_code = 0;
  const char* stop_signal = nullptr;
  while (true) {
    // A termination signal ends the loop; poll every 100 ms for children that died.
    stop_signal = WaitForTerminationSignal(signals, 0.1);
    if (stop_signal != nullptr) break;
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (Child& c : children) {
        if (c.pid != pid) continue;
        c.pid = -1;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
          // Retired by the scheduler (`tessera retire`): it left on purpose.
          TESSERA_LOG(kInfo, "worker process for GPU ", c.device, " retired; not restarted");
          c.pid = -3;
          continue;
        }
        const std::string how = DescribeExit(status);
        if (c.restarts >= max_restarts) {
          TESSERA_LOG(kError, "worker process for GPU ", c.device, " ended (", how,
                      "); not restarted: it already restarted ", c.restarts,
                      " times (--max-restarts)");
          exit_code = 1;
          continue;
        }
        // Backoff: 1 s, 2 s, 4 s ... up to 30 s, so a worker that cannot start is not respawned
        // in a tight loop.
        const int delay = RestartDelaySeconds(c.restarts);
        ++c.restarts;
        c.restart_at = std::chrono::steady_clock::now() + std::chrono::seconds(delay);
        TESSERA_LOG(kWarning, "worker process for GPU ", c.device, " ended (", how,
                    "); restarting in ", delay, " s (restart ", c.restarts, " of ", max_restarts,
                    ")");
        c.pid = -2;  // pending restart
      }
    }
    bool alive = false;
    for (Child& c : children) {
      if (c.pid == -2 && std::chrono::steady_clock::now() >= c.restart_at) {
        c.pid = Spawn(args_for(c.device));
        if (c.pid > 0)
          TESSERA_LOG(kInfo, "restarted worker process ", c.pid, " for GPU ", c.device);
      }
      alive = alive || c.pid > 0 || c.pid == -2;
    }
    if (!alive) {
      bool all_retired = true;
      for (const Child& c : children) all_retired = all_retired && c.pid == -3;
      if (all_retired) {
        TESSERA_LOG(kInfo, "every worker process retired; cuda-worker stops");
        return 0;
      }
      TESSERA_LOG(kError, "no worker process is left; stopping");
      return exit_code != 0 ? exit_code : 1;
    }
  }
  TESSERA_LOG(kInfo, "received ", stop_signal, ", stopping ", children.size(),
              " worker process(es)");
  for (const Child& c : children) {
    if (c.pid > 0) kill(c.pid, SIGTERM);
  }
  // Workers finish their running tasks; give them 30 s before SIGKILL.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (Child& c : children) {
    while (c.pid > 0) {
      int status = 0;
      const pid_t r = waitpid(c.pid, &status, WNOHANG);
      if (r == c.pid || r < 0) {
        c.pid = -1;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, &status, 0);
        c.pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  TESSERA_LOG(kInfo, "cuda-worker stopped");
  return exit_code;
}

}  // namespace
}  // namespace tessera::cuda

int main(int argc, char** argv) {
  using namespace tessera;
  using namespace tessera::cuda;
  // `cuda-worker --list-devices`: the visible GPUs, one per line ("0\tNVIDIA H200 (sm_90, 139.8
  // GiB)"), for people and for `tessera cluster --gpus`; exit 1 with the reason when there is
  // none. Needs no scheduler address, so it is handled before the worker's flags.
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) != "--list-devices") continue;
    auto devices = ListDevices();
    if (!devices.ok()) {
      std::fprintf(stderr, "error: cuda-worker: %s\n",
                   std::string(devices.status().message()).c_str());
      return 1;
    }
    for (const DeviceInfo& d : *devices) std::printf("%d\t%s\n", d.index, d.Describe().c_str());
    return 0;
  }
  CudaFlags flags;
  CudaExecutorOptions executor_options;
  worker::WorkerMainHooks hooks;
  hooks.add_flags = [&](CLI::App& app) {
    app.get_option("--nthreads")
        ->description("Task threads per GPU, each with its own stream (default: 1)");
    app.add_option("--device", flags.devices,
                   "GPUs to run a worker on, as indices among the visible ones: 0,2 (default: "
                   "every visible GPU; honours CUDA_VISIBLE_DEVICES)");
    app.add_option("--device-memory-limit", flags.device_memory_limit,
                   "Device memory that running tasks may hold: a fraction of the GPU's memory "
                   "(0.8) or bytes (24GiB)")
        ->capture_default_str();
    app.add_option("--pool-size", flags.pool_size,
                   "Bytes the device memory pool keeps cached between tasks: a fraction of the "
                   "GPU's memory or bytes; 0 keeps all it has allocated")
        ->capture_default_str();
    app.add_option("--max-restarts", flags.max_restarts,
                   "Times a worker process that dies is restarted, per GPU")
        ->capture_default_str()
        ->check(CLI::Range(0, 1000));
    app.add_option("--device-process", flags.device_process,
                   "Internal: run the worker process of this GPU (the nanny sets it)")
        ->group("");  // hidden
  };
  hooks.after_parse = [&](CLI::App& app, worker::WorkerOptions& options) -> std::optional<int> {
    auto devices = ListDevices();
    if (!devices.ok()) {
      std::fprintf(stderr, "error: cuda-worker: %s\n",
                   std::string(devices.status().message()).c_str());
      return 1;
    }
    const int count = static_cast<int>(devices->size());
    if (flags.device_process >= 0) {
      // A worker process: one GPU, its executor made by WorkerMain below.
      if (flags.device_process >= count) {
        std::fprintf(stderr, "error: cuda-worker: device %d is not visible\n",
                     flags.device_process);
        return 1;
      }
      auto parsed = ExecutorOptionsFor(flags, (*devices)[flags.device_process]);
      if (!parsed.ok()) {
        std::fprintf(stderr, "error: %s\n", std::string(parsed.status().message()).c_str());
        return 2;
      }
      executor_options = *parsed;
      return std::nullopt;
    }
    // The nanny: check everything once here, then start the worker processes.
    auto chosen = ParseDeviceList("--device", flags.devices, count);
    if (!chosen.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(chosen.status().message()).c_str());
      return 2;
    }
    for (int d : *chosen) {
      auto parsed = ExecutorOptionsFor(flags, (*devices)[d]);
      if (!parsed.ok()) {
        std::fprintf(stderr, "error: %s\n", std::string(parsed.status().message()).c_str());
        return 2;
      }
    }
    if (options.port != 0 && chosen->size() > 1) {
      std::fprintf(stderr,
                   "error: --worker-port %d: %zu GPUs need one port each; leave it 0 (any free "
                   "port) or choose one GPU with --device\n",
                   options.port, chosen->size());
      return 2;
    }
    // Tasks on a GPU are few and large: one thread per GPU unless asked (plus the copies that
    // overlap on its stream).
    std::vector<std::string> forwarded = ForwardedArgs(argc, argv);
    if (app.count("--nthreads") == 0) {
      forwarded.push_back("--nthreads");
      forwarded.push_back("1");
    }
    for (int d : *chosen) {
      TESSERA_LOG(kInfo, "GPU ", d, ": ", (*devices)[d].Describe());
    }
    const std::string base = options.name.empty() ? HostName() : options.name;
    return RunNanny(*chosen, base, forwarded, flags.max_restarts);
  };
  return worker::WorkerMain(
      argc, argv, "cuda-worker",
      "Tessera CUDA worker: one worker process per GPU, running chunk tasks on the device with "
      "Thrust and CUB.",
      [&]() -> absl::StatusOr<std::unique_ptr<worker::TaskExecutor>> {
        TESSERA_ASSIGN_OR_RETURN(auto executor, CudaTaskExecutor::Create(executor_options));
        return std::unique_ptr<worker::TaskExecutor>(std::move(executor));
      },
      hooks);
}
