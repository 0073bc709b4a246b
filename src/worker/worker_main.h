// The command line shared by cpu-worker and cuda-worker (dask-worker's flags).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "worker/worker.h"

namespace tessera::worker {

/// Parses flags, starts a Worker with the executor from `make_executor`, and runs until SIGINT
/// or SIGTERM. Returns the process exit code.
int WorkerMain(int argc, char** argv, const std::string& program, const std::string& description,
               const std::function<std::unique_ptr<TaskExecutor>()>& make_executor);

}  // namespace tessera::worker
