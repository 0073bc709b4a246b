#include "worker/worker_main.h"

#include <dlfcn.h>
#include <malloc.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <CLI/CLI.hpp>

#include "common/log.h"
#include "common/process.h"
#include "common/shape.h"
#include "graph/rpc/wire.h"

namespace tessera::worker {

int WorkerMain(
    int argc, char** argv, const std::string& program, const std::string& description,
    const std::function<absl::StatusOr<std::unique_ptr<TaskExecutor>>()>& make_executor,
    const WorkerMainHooks& hooks) {
  CLI::App app{description, program};
  app.set_version_flag("--version", "tessera 0.1.0");
  std::string positional, scheduler_flag, memory_limit = "auto";
  WorkerOptions options;
  options.nthreads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("scheduler", positional, "Scheduler address (tcp://host:port or host:port)");
  app.add_option("--scheduler", scheduler_flag, "Scheduler address (same as the positional one)");
  app.add_option("--nthreads", options.nthreads, "Threads running tasks (default: cores)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--memory-limit", memory_limit,
                 "Bytes of results this worker may hold: 4GiB, 512MB, 0.5 (of system memory) or "
                 "auto")
      ->capture_default_str();
  std::string local_directory;
  app.add_option("--local-directory", local_directory,
                 "Directory for results spilled to disk; the worker makes its own subdirectory "
                 "there and removes it at exit (default: $TMPDIR, else /tmp)");
  app.add_option("--memory-target", options.memory_target,
                 "Fraction of --memory-limit that held results may fill before the least "
                 "recently used spill to disk")
      ->capture_default_str();
  app.add_option("--memory-pause", options.memory_pause,
                 "Fraction of --memory-limit of process memory above which the worker, after "
                 "spilling, stops starting tasks")
      ->capture_default_str();
  app.add_option("--name", options.name, "Worker name (default: its address)");
  app.add_option("--host", options.host, "Interface the data service listens on (default: all)");
  app.add_option("--worker-port", options.port, "Data service port (default: any free port)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--contact-address", options.contact_host,
                 "Host name or IP that peers use to reach this worker");
  std::string log_level;
  app.add_option("--log-level", log_level,
                 "debug, info, warning or error (default: $TESSERA_LOG_LEVEL, else info)")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
  std::vector<std::string> preload;
  app.add_option("--preload", preload,
                 "Shared library of functions to load (repeatable; see TESSERA_REGISTER_FUNCTION)");
  if (hooks.add_flags) hooks.add_flags(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every bad flag exits 2 with CLI11's one-line reason (CLI11's
    // own codes, 105 for an out-of-range value, would tell scripts nothing more).
    return app.exit(e) == 0 ? 0 : 2;
  }
  SetLogComponent(program);
  if (!log_level.empty()) SetLogLevel(*ParseLogLevel(log_level));
  // Plugins register their functions while they load, before this worker offers its functions
  // to the scheduler. RTLD_GLOBAL: a plugin's functions may use another's symbols.
  for (const std::string& path : preload) {
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      std::fprintf(stderr, "error: --preload %s: %s\n", path.c_str(), dlerror());
      return 1;
    }
    TESSERA_LOG(kInfo, "preloaded ", path);
  }

  if (!positional.empty() && !scheduler_flag.empty() && positional != scheduler_flag) {
    std::fprintf(stderr, "error: two scheduler addresses given: '%s' and '%s'\n",
                 positional.c_str(), scheduler_flag.c_str());
    return 2;
  }
  const std::string scheduler_text = scheduler_flag.empty() ? positional : scheduler_flag;
  if (scheduler_text.empty()) {
    std::fprintf(stderr, "error: no scheduler address (give it as an argument or --scheduler)\n");
    return 2;
  }
  auto address = ParseAddress(scheduler_text, 8786);
  if (!address.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(address.status().message()).c_str());
    return 2;
  }
  options.scheduler = *address;
  const int64_t system_memory = SystemMemoryBytes();
  if (memory_limit == "auto") {
    options.memory_limit = system_memory;
  } else {
    char* end = nullptr;
    const double fraction = std::strtod(memory_limit.c_str(), &end);
    if (end != nullptr && *end == '\0' && fraction > 0 && fraction <= 1 &&
        memory_limit.find('.') != std::string::npos) {
      options.memory_limit = static_cast<int64_t>(fraction * static_cast<double>(system_memory));
    } else {
      auto bytes = ParseBytes(memory_limit);
      if (!bytes.ok()) {
        std::fprintf(stderr, "error: --memory-limit: %s\n",
                     std::string(bytes.status().message()).c_str());
        return 2;
      }
      if (*bytes <= 0) {
        std::fprintf(stderr, "error: --memory-limit %s must be positive\n", memory_limit.c_str());
        return 2;
      }
      options.memory_limit = *bytes;
    }
  }

  // The name travels to the scheduler in a proto string, which must be UTF-8 and is refused
  // past its length: checked here, it is a startup error rather than a registration the
  // scheduler cannot read, retried for ever.
  if (const absl::Status s = wire::ValidateString("--name", options.name); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return 2;
  }

  const double target = options.memory_target, pause = options.memory_pause;
  if (!(target > 0 && target <= 1)) {
    std::fprintf(stderr, "error: --memory-target %g must be a fraction in (0, 1]\n", target);
    return 2;
  }
  if (!(pause > 0 && pause <= 1)) {
    std::fprintf(stderr, "error: --memory-pause %g must be a fraction in (0, 1]\n", pause);
    return 2;
  }
  if (pause < target) {
    std::fprintf(stderr, "error: --memory-pause %g must not be below --memory-target %g\n", pause,
                 target);
    return 2;
  }

  if (hooks.after_parse) {
    if (std::optional<int> code = hooks.after_parse(app, options)) return *code;
  }
  // After the hook: cuda-worker's nanny ends there, and each of its worker processes makes its
  // own directory.
  auto spill_directory = MakeSpillDirectory(local_directory);
  if (!spill_directory.ok()) {
    std::fprintf(stderr, "error: --local-directory: %s\n",
                 std::string(spill_directory.status().message()).c_str());
    return 2;
  }
  options.spill_directory = *spill_directory;
  // The worker removes its directory at Shutdown; until it runs, this does.
  auto remove_directory = [&] {
    std::error_code ec;
    std::filesystem::remove_all(options.spill_directory, ec);
  };

#ifdef __GLIBC__
  // A fixed mmap threshold: buffers of 1 MiB and more (chunks) are mapped and unmapped on their
  // own, so that the process's resident size, which the memory pause watches, falls as soon as a
  // chunk is spilled or released. glibc's default threshold rises to the size of the largest
  // freed buffer, after which chunks come from its arenas and their pages are kept.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  // An arena trimmed on free keeps 2 MiB at its top (glibc's default pad is 128 KiB), so that a
  // transient buffer just below the threshold (a GetData piece's, ~1 MiB) is reused rather than
  // returned and faulted in again for every piece. A larger M_TRIM_THRESHOLD would do it too but
  // holds more: malloc_trim does not shrink the tops of threads' arenas, and the memory pause
  // could then stay above its mark for good.
  mallopt(M_TOP_PAD, 2 << 20);
#endif
  DisableMutexDeadlockDetection();
  const sigset_t signals = BlockTerminationSignals();

  auto executor = make_executor();
  if (!executor.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(executor.status().message()).c_str());
    remove_directory();
    return 1;
  }
  auto worker = Worker::Start(options, std::move(executor).value());
  if (!worker.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(worker.status().message()).c_str());
    remove_directory();
    return 1;
  }
  TESSERA_LOG(kInfo, "Start worker at: tcp://", (*worker)->address(), " (", options.nthreads,
              " threads, memory limit ", FormatBytes(options.memory_limit), ")");
  TESSERA_LOG(kInfo, "spilling to ", options.spill_directory, " above ",
              FormatBytes(static_cast<int64_t>(target * static_cast<double>(options.memory_limit))),
              ", pausing above ",
              FormatBytes(static_cast<int64_t>(pause * static_cast<double>(options.memory_limit))));
  TESSERA_LOG(kInfo, "Waiting to connect to: ", options.scheduler.ToString());
  // Until a termination signal, or until the scheduler retires this worker (`tessera retire`).
  while (true) {
    if (const char* sig = WaitForTerminationSignal(signals, 0.2)) {
      // Graceful, as `tessera retire`: results only this worker holds move to other workers
      // before it goes, so nothing is recomputed. A second signal does not wait.
      TESSERA_LOG(kInfo, "received ", sig,
                  ", retiring: moving this worker's results to other workers");
      std::atomic<bool> finished{false};
      std::thread retire([&] {
        if ((*worker)->Retire(std::chrono::seconds(20))) {
          TESSERA_LOG(kInfo, "retired");
        } else {
          TESSERA_LOG(kWarning, "not retired (no scheduler, or it took over 20 s); stopping");
        }
        finished = true;
      });
      while (!finished) {
        if (WaitForTerminationSignal(signals, 0.05) != nullptr) {
          TESSERA_LOG(kWarning, "second signal: stopping without waiting for the retirement");
          (*worker)->Shutdown();  // ends the session: Retire returns
          break;
        }
      }
      retire.join();
      break;
    }
    if ((*worker)->closed_by_scheduler()) break;
  }
  (*worker)->Shutdown();
  TESSERA_LOG(kInfo, "worker stopped");
  return 0;
}

}  // namespace tessera::worker
