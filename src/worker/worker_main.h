// The command line shared by cpu-worker and cuda-worker (dask-worker's flags).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "worker/worker.h"

namespace CLI {
class App;
}  // namespace CLI

namespace tessera::worker {

/// What a worker program adds to the shared command line (cuda-worker's device flags).
struct WorkerMainHooks {
  /// Adds the program's own flags before the command line is parsed.
  std::function<void(CLI::App&)> add_flags;
  /// Runs after the shared flags are parsed and checked: may adjust the options, or return an
  /// exit code to end the program there without starting a worker (cuda-worker's nanny, which
  /// runs one worker process per GPU, or a flag error).
  std::function<std::optional<int>(CLI::App&, WorkerOptions&)> after_parse;
};

/// Parses flags, starts a Worker with the executor from `make_executor`, and runs until SIGINT
/// or SIGTERM. An executor that cannot be made (no device) ends the program with exit code 1
/// and its error on one line. Returns the process exit code.
int WorkerMain(
    int argc, char** argv, const std::string& program, const std::string& description,
    const std::function<absl::StatusOr<std::unique_ptr<TaskExecutor>>()>& make_executor,
    const WorkerMainHooks& hooks = {});

}  // namespace tessera::worker
