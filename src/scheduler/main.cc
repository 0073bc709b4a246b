// The `scheduler` binary: dask-scheduler's counterpart.
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>

#include "common/address.h"
#include "common/log.h"
#include "common/process.h"
#include "scheduler/scheduler_service.h"

int main(int argc, char** argv) {
  tessera::scheduler::ServerOptions options;
  CLI::App app{"Tessera scheduler: lowers array expressions into chunk tasks and assigns them "
               "to workers."};
  app.set_version_flag("--version", "tessera 0.1.0");
  app.add_option("--host", options.host, "Interface to listen on")->capture_default_str();
  app.add_option("--port", options.port, "gRPC port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--worker-timeout", options.worker_timeout_seconds,
                 "Seconds of silence after which a worker is removed")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  tessera::SetLogComponent("scheduler");

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
