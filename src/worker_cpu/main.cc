// The `cpu-worker` binary: dask-worker's counterpart for CPU execution.
#include "worker/worker_main.h"
#include "worker_cpu/cpu_task_executor.h"

int main(int argc, char** argv) {
  return tessera::worker::WorkerMain(
      argc, argv, "cpu-worker",
      "Tessera CPU worker: runs chunk tasks with vectorised C++ kernels on a thread pool.",
      []() -> absl::StatusOr<std::unique_ptr<tessera::worker::TaskExecutor>> {
        return std::make_unique<tessera::cpu::CpuTaskExecutor>();
      });
}
