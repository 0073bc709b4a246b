// The `scheduler` binary: dask-scheduler's counterpart.
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <tuple>

#include <dlfcn.h>

#include <CLI/CLI.hpp>

#include "common/address.h"
#include "common/log.h"
#include "common/process.h"
#include "graph/rpc/limits.h"
#include "scheduler/scheduler_service.h"

namespace {

// The malloc this process runs on: tcmalloc when the build linked it in (TESSERA_TCMALLOC) and it
// did replace glibc's, which `malloc` resolving to tcmalloc's own entry point shows.
const char* Allocator() {
  void* tc_malloc = dlsym(RTLD_DEFAULT, "tc_malloc");
  return tc_malloc != nullptr && tc_malloc == dlsym(RTLD_DEFAULT, "malloc") ? "tcmalloc"
                                                                              : "glibc malloc";
}

}  // namespace

int main(int argc, char** argv) {
  tessera::scheduler::ServerOptions options;
  CLI::App app{"Tessera scheduler: lowers array expressions into chunk tasks and assigns them "
               "to workers."};
  app.set_version_flag("--version", std::string("tessera 0.1.0 (allocator: ") + Allocator() + ")");
  app.add_option("--host", options.host, "Interface to listen on")->capture_default_str();
  app.add_option("--port", options.port, "gRPC port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--worker-timeout", options.worker_timeout_seconds,
                 "Seconds of silence after which a worker is removed")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--allowed-failures", options.allowed_failures,
                 "Workers that may die while running a task before it is marked erred")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  std::string min_workers, max_workers;
  app.add_option("--min-workers", min_workers,
                 "Adaptive recommendation's lower bound: N (cpu workers) or cpu=N,cuda=M");
  app.add_option("--max-workers", max_workers,
                 "Adaptive recommendation's upper bound: N (cpu workers) or cpu=N,cuda=M "
                 "(default: unbounded)");
  app.add_option("--adapt-target", options.adaptive.target_seconds,
                 "Recommend enough workers to finish the queued work in this many seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--adapt-interval", options.adapt_interval_seconds,
                 "Seconds between two evaluations of the recommendation")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--adapt-wait-count", options.adaptive.wait_count,
                 "Evaluations a lower recommendation must hold before it is adopted")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  std::string dashboard_address = ":8787";
  app.add_option("--dashboard-address", dashboard_address,
                 "HTTP dashboard (/status, /api/v1/..., /metrics, /health): [HOST]:PORT, PORT, "
                 "or 'none' to turn it off; port 0 picks a free port; HOST defaults to --host")
      ->capture_default_str();
  std::string log_level;
  app.add_option("--log-level", log_level,
                 "debug, info, warning or error (default: $TESSERA_LOG_LEVEL, else info)")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every bad flag exits 2 with CLI11's one-line reason (CLI11's
    // own codes, 105 for an out-of-range value, would tell scripts nothing more).
    return app.exit(e) == 0 ? 0 : 2;
  }
  {
    std::map<std::string, int64_t> min, max;
    for (auto [flag, text, out] : {std::tuple{"--min-workers", &min_workers, &min},
                                   std::tuple{"--max-workers", &max_workers, &max}}) {
      if (text->empty()) continue;
      auto parsed = tessera::scheduler::ParseKindCounts(flag, *text, "cpu");
      if (!parsed.ok()) {
        std::fprintf(stderr, "error: %s\n", std::string(parsed.status().message()).c_str());
        return 2;
      }
      *out = *parsed;
    }
    auto bounds = tessera::scheduler::MakeBounds(min, max);
    if (!bounds.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(bounds.status().message()).c_str());
      return 2;
    }
    options.adaptive.bounds = *bounds;
  }
  tessera::SetLogComponent("scheduler");
  if (!log_level.empty()) tessera::SetLogLevel(*tessera::ParseLogLevel(log_level));
  if (dashboard_address != "none") {
    auto dash = tessera::ParseDashboardAddress(dashboard_address);
    if (!dash.ok()) {
      std::fprintf(stderr, "error: --dashboard-address: %s\n",
                   std::string(dash.status().message()).c_str());
      return 2;
    }
    options.dashboard_host = dash->host;
    options.dashboard_port = dash->port;
    // The default port may be taken by another scheduler on this machine: like dask, use another.
    options.dashboard_any_port_if_taken = dashboard_address == ":8787";
  }

  // Lowering recurses along a submitted graph on the RPC threads: their stacks must not depend
  // on the `ulimit -s` this process was started under.
  tessera::EnsureThreadStackSize(tessera::wire::kLoweringThreadStackBytes);
  tessera::DisableMutexDeadlockDetection();
  // Signals are taken by one thread with sigwait, so shutdown runs outside a signal handler.
  const sigset_t signals = tessera::BlockTerminationSignals();

  auto server = tessera::scheduler::SchedulerServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  const std::string shown =
      options.host == "0.0.0.0" || options.host == "::" ? tessera::LocalIpForDisplay() : options.host;
  TESSERA_LOG(kInfo, "Scheduler at ", tessera::Address{shown, (*server)->port()}.ToString());
  std::printf("Scheduler at %s\n", tessera::Address{shown, (*server)->port()}.ToString().c_str());
  if ((*server)->dashboard_port() > 0) {
    const std::string host = options.dashboard_host.empty() ? options.host : options.dashboard_host;
    const std::string dash_shown =
        host == "0.0.0.0" || host == "::" ? tessera::LocalIpForDisplay() : host;
    const std::string url = "http://" +
                            tessera::Address{dash_shown, (*server)->dashboard_port()}.HostPort() +
                            "/status";
    TESSERA_LOG(kInfo, "Dashboard at ", url);
    std::printf("Dashboard at %s\n", url.c_str());
  }
  std::fflush(stdout);

  std::thread waiter([&] {
    TESSERA_LOG(kInfo, "received ", tessera::WaitForTerminationSignal(signals), ", shutting down");
    (*server)->Shutdown();
  });
  // Only the signal thread shuts the server down, so it has finished when Wait returns.
  (*server)->Wait();
  waiter.join();
  TESSERA_LOG(kInfo, "scheduler stopped");
  return 0;
}
