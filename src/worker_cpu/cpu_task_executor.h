// The CPU executor behind the worker runtime's TaskExecutor interface.
#pragma once

#include "worker/worker.h"

namespace tessera::cpu {

/// Runs tasks with cpu::ExecuteTask on the calling thread. Thread-safe.
class CpuTaskExecutor final : public worker::TaskExecutor {
 public:
  std::string kind() const override { return "cpu"; }
  absl::StatusOr<ChunkBuffer> Execute(const graph::TaskSpec& task,
                                      const graph::ChunkProgram* program,
                                      const std::vector<ChunkPtr>& deps) override;
};

}  // namespace tessera::cpu
