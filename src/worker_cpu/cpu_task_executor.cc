#include "worker_cpu/cpu_task_executor.h"

#include "worker_cpu/executor.h"

namespace tessera::cpu {

absl::StatusOr<ChunkBuffer> CpuTaskExecutor::Execute(const graph::TaskSpec& task,
                                                     const graph::ChunkProgram* program,
                                                     const std::vector<ChunkPtr>& deps) {
  return ExecuteTask(task, program, deps);
}

}  // namespace tessera::cpu
