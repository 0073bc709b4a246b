// The CUDA executor: runs chunk tasks on one GPU (kernels/chunk_kernels.h) behind the worker
// runtime's TaskExecutor interface.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "worker/worker.h"
#include "worker_cuda/devices.h"

namespace tessera::cuda {

struct CudaExecutorOptions {
  int device = 0;  ///< index among the visible devices
  /// Device bytes that running tasks may hold at once; 0 means 0.8 of the device's memory.
  int64_t device_memory_limit = 0;
  /// Bytes the stream-ordered memory pool keeps cached between tasks (its release threshold);
  /// 0 keeps everything freed (fastest; the pool still shrinks on cudaMallocAsync failure).
  int64_t pool_size = 0;
};

/// Runs chunk tasks on its device: generation, element-wise work and fused reductions in one
/// pass per element (Thrust and CUB), on a stream per calling thread, with memory from the
/// device's cudaMallocAsync pool. Combine, contract, literal and argmin / argmax tasks and
/// programs larger than the device evaluator takes (kMaxNodes) run on the host with the CPU
/// executor, with the same results. Errors never end the process: a CUDA error is an INTERNAL
/// Status naming the call, running out of device memory (or a task larger than the device
/// memory limit) is RESOURCE_EXHAUSTED, so the scheduler can send the task elsewhere.
/// Thread-safe.
class CudaTaskExecutor final : public worker::TaskExecutor {
 public:
  /// Selects the device, sizes its memory pool and records its description. Errors: the device
  /// does not exist or cannot be initialised (FAILED_PRECONDITION).
  static absl::StatusOr<std::unique_ptr<CudaTaskExecutor>> Create(
      const CudaExecutorOptions& options);

  std::string kind() const override { return "cuda"; }
  std::string device() const override { return info_.Describe(); }
  int64_t device_memory() const override { return limit_; }
  int64_t device_memory_used() const override;
  absl::StatusOr<ChunkBuffer> Execute(const graph::TaskSpec& task,
                                      const graph::ChunkProgram* program,
                                      const std::vector<ChunkPtr>& deps) override;

  const DeviceInfo& info() const { return info_; }
  /// Tasks that ran on the device, and on the host, since Create.
  int64_t device_tasks() const { return device_tasks_.load(); }
  int64_t host_tasks() const { return host_tasks_.load(); }

 private:
  CudaTaskExecutor() = default;
  /// Whether the device evaluator takes this task (else it runs on the host).
  static bool RunsOnDevice(const graph::TaskSpec& task, const graph::ChunkProgram* program);
  absl::StatusOr<ChunkBuffer> RunOnDevice(const graph::TaskSpec& task,
                                          const graph::ChunkProgram& program,
                                          const std::vector<ChunkPtr>& deps);
  /// Waits until `bytes` fit under the limit alongside the running tasks' reservations.
  absl::Status Reserve(const std::string& key, int64_t bytes);
  void Unreserve(int64_t bytes);

  DeviceInfo info_;
  int device_ = 0;
  int64_t limit_ = 0;
  mutable absl::Mutex mu_;
  int64_t reserved_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int64_t> device_tasks_{0}, host_tasks_{0};
};

}  // namespace tessera::cuda
