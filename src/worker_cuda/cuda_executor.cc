#include "worker_cuda/cuda_executor.h"

#include <cuda_runtime_api.h>

#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/shape.h"
#include "common/status.h"
#include "kernels/chunk_kernels.h"
#include "worker_cpu/executor.h"
#include "worker_cpu/task_util.h"

namespace tessera::cuda {
namespace {

using graph::ProgramNode;
using graph::ReduceOp;
using Kind = graph::ProgramNode::Kind;

// The device's node kinds are the program's (chunk_kernels.h cannot include task_graph.h).
static_assert(static_cast<int>(NodeKind::kFull) == static_cast<int>(Kind::kFull));
static_assert(static_cast<int>(NodeKind::kArange) == static_cast<int>(Kind::kArange));
static_assert(static_cast<int>(NodeKind::kRandom) == static_cast<int>(Kind::kRandom));
static_assert(static_cast<int>(NodeKind::kInput) == static_cast<int>(Kind::kInput));
static_assert(static_cast<int>(NodeKind::kScalar) == static_cast<int>(Kind::kScalar));
static_assert(static_cast<int>(NodeKind::kUnary) == static_cast<int>(Kind::kUnary));
static_assert(static_cast<int>(NodeKind::kBinary) == static_cast<int>(Kind::kBinary));
static_assert(static_cast<int>(NodeKind::kLinspace) == static_cast<int>(Kind::kLinspace));
static_assert(static_cast<int>(NodeKind::kWhere) == static_cast<int>(Kind::kWhere));

// A CUDA runtime error as a Status naming the call (libcudf's CUDF_CUDA_TRY, returning instead of
// throwing). Out of memory is RESOURCE_EXHAUSTED, so the scheduler may retry elsewhere.
absl::Status CudaStatus(cudaError_t err, const std::string& what) {
  if (err == cudaSuccess) return absl::OkStatus();
  const std::string message =
      absl::StrCat(what, ": ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

#define TESSERA_CUDA_TRY(call, what) TESSERA_RETURN_IF_ERROR(CudaStatus((call), (what)))

absl::Status KernelToStatus(const KernelStatus& s) {
  if (s.ok()) return absl::OkStatus();
  if (s.code == 1) return absl::ResourceExhaustedError(s.message);
  return absl::InternalError(s.message);
}

// Device memory from the stream-ordered pool, freed on its stream when it goes out of scope.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFreeAsync(ptr_, stream_);
  }
  absl::Status Allocate(size_t bytes, cudaStream_t stream) {
    stream_ = stream;
    return CudaStatus(cudaMallocAsync(&ptr_, bytes > 0 ? bytes : 1, stream),
                      absl::StrCat("cudaMallocAsync(", bytes, " bytes)"));
  }
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

// The calling thread's stream on `device` (one per pool thread: tasks on different threads
// overlap on the device), created on first use.
absl::StatusOr<cudaStream_t> ThreadStream(int device) {
  thread_local int stream_device = -1;
  thread_local cudaStream_t stream = nullptr;
  if (stream_device != device) {
    TESSERA_CUDA_TRY(cudaSetDevice(device), absl::StrCat("cudaSetDevice(", device, ")"));
    TESSERA_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
                     "cudaStreamCreateWithFlags");
    stream_device = device;
  }
  return stream;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CudaTaskExecutor>> CudaTaskExecutor::Create(
    const CudaExecutorOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(std::vector<DeviceInfo> devices, ListDevices());
  if (options.device < 0 || options.device >= static_cast<int>(devices.size())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CUDA device ", options.device, " is not visible (", devices.size(), " visible)"));
  }
  std::unique_ptr<CudaTaskExecutor> e(new CudaTaskExecutor());
  e->device_ = options.device;
  e->info_ = devices[options.device];
  if (cudaSetDevice(options.device) != cudaSuccess || cudaFree(nullptr) != cudaSuccess) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot initialise CUDA device ", options.device, ": ",
        cudaGetErrorString(cudaGetLastError())));
  }
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
    e->info_.free_memory = static_cast<int64_t>(free_bytes);
  }
  e->limit_ = options.device_memory_limit > 0
                  ? options.device_memory_limit
                  : static_cast<int64_t>(0.8 * static_cast<double>(e->info_.total_memory));
  cudaMemPool_t pool = nullptr;
  if (cudaDeviceGetDefaultMemPool(&pool, options.device) == cudaSuccess) {
    // Freed blocks stay in the pool up to the threshold, so tasks do not pay for cudaMalloc.
    uint64_t threshold = options.pool_size > 0 ? static_cast<uint64_t>(options.pool_size)
                                               : std::numeric_limits<uint64_t>::max();
    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
  }
  TESSERA_LOG(kInfo, "CUDA device ", options.device, ": ", e->info_.Describe(), ", ",
              FormatBytes(e->info_.free_memory), " free, device memory limit ",
              FormatBytes(e->limit_));
  return e;
}

bool CudaTaskExecutor::RunsOnDevice(const graph::TaskSpec& task,
                                    const graph::ChunkProgram* program) {
  if (task.kind != graph::TaskKind::kChunk || program == nullptr) return false;
  if (program->nodes.empty() || static_cast<int>(program->nodes.size()) > kMaxNodes) return false;
  if (program->ndim < 0 || program->ndim > kMaxDims) return false;
  if (program->has_reduce && graph::IsArgReduce(program->reduce.op)) return false;
  return true;
}

absl::Status CudaTaskExecutor::Reserve(const std::string& key, int64_t bytes) {
  if (bytes > limit_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "task '", key, "' needs ", FormatBytes(bytes), " of device memory, above the device ",
        "memory limit of ", FormatBytes(limit_), " on ", info_.Describe()));
  }
  absl::MutexLock lock(&mu_);
  auto fits = [this, bytes]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return reserved_ + bytes <= limit_;
  };
  mu_.Await(absl::Condition(&fits));
  reserved_ += bytes;
  return absl::OkStatus();
}

int64_t CudaTaskExecutor::device_memory_used() const {
  absl::MutexLock lock(&mu_);
  return reserved_;
}

void CudaTaskExecutor::Unreserve(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  reserved_ -= bytes;
}

absl::StatusOr<ChunkBuffer> CudaTaskExecutor::Execute(const graph::TaskSpec& task,
                                                      const graph::ChunkProgram* program,
                                                      const std::vector<ChunkPtr>& deps) {
  if (!RunsOnDevice(task, program)) {
    ++host_tasks_;
    return cpu::ExecuteTask(task, program, deps);
  }
  ++device_tasks_;
  try {
    return RunOnDevice(task, *program, deps);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("task '", task.key, "': out of host memory staging the task"));
  }
}

absl::StatusOr<ChunkBuffer> CudaTaskExecutor::RunOnDevice(const graph::TaskSpec& task,
                                                          const graph::ChunkProgram& p,
                                                          const std::vector<ChunkPtr>& deps) {
  // The host checks and plans the task exactly as the CPU executor would (same errors).
  TESSERA_ASSIGN_OR_RETURN(cpu::PreparedChunk prep, cpu::PrepareChunk(task, &p, deps));
  const DType root_dtype = p.nodes.back().dtype;
  const int64_t total = NumElements(prep.region);
  const int64_t num_partials = NumElements(prep.out_shape);

  // The device's form of the program.
  const int n = static_cast<int>(p.nodes.size());
  std::vector<DeviceNode> nodes(n);
  for (int i = 0; i < n; ++i) {
    const ProgramNode& src = p.nodes[i];
    DeviceNode& d = nodes[i];
    d.kind = static_cast<NodeKind>(src.kind);
    d.dtype = src.dtype;
    d.op = src.kind == Kind::kUnary ? static_cast<int8_t>(src.unary)
                                    : static_cast<int8_t>(src.binary);
    d.dist = static_cast<int8_t>(src.dist);
    d.arg0 = src.arg0;
    d.arg1 = src.arg1;
    d.arg2 = src.arg2;
    d.value = (src.kind == Kind::kFull || src.kind == Kind::kScalar) ? prep.scalar[i] : src.value;
    d.start = src.start;
    d.step = src.step;
    d.a = src.param_a;
    d.b = src.param_b;
    d.num = src.leaf_shape.empty() ? 0 : src.leaf_shape[0];
    d.seed = src.seed;
    d.base = prep.leaf[i].base;
    for (size_t k = 0; k < prep.leaf[i].coef.size() && k < static_cast<size_t>(kMaxDims); ++k) {
      d.coef[k] = prep.leaf[i].coef[k];
    }
  }

  // Device memory this task holds at once: nodes, input windows and the result.
  const bool int_acc = p.has_reduce &&
                       (p.reduce.op == ReduceOp::kSum || p.reduce.op == ReduceOp::kProd) &&
                       !IsFloating(root_dtype);
  const int64_t out_bytes =
      p.has_reduce ? num_partials * 8 : total * ItemSize(root_dtype);
  int64_t need = static_cast<int64_t>(nodes.size() * sizeof(DeviceNode)) + out_bytes + (1 << 20);
  for (int64_t size : prep.window_sizes) need += size * 8;
  TESSERA_RETURN_IF_ERROR(Reserve(task.key, need));
  struct Release {
    CudaTaskExecutor* self;
    int64_t bytes;
    ~Release() { self->Unreserve(bytes); }
  } release{this, need};

  TESSERA_ASSIGN_OR_RETURN(cudaStream_t stream, ThreadStream(device_));
  // Buffers are freed on the stream (in reverse order) when they go out of scope; the stream
  // is synchronised before that, on every path that launched work.
  std::vector<std::unique_ptr<DeviceBuffer>> windows;
  for (size_t w = 0; w < prep.window_values.size(); ++w) {
    windows.push_back(std::make_unique<DeviceBuffer>());
    const size_t bytes = static_cast<size_t>(prep.window_sizes[w]) * sizeof(double);
    TESSERA_RETURN_IF_ERROR(windows.back()->Allocate(bytes, stream));
    TESSERA_CUDA_TRY(cudaMemcpyAsync(windows.back()->get(), prep.window_values[w], bytes,
                                     cudaMemcpyHostToDevice, stream),
                     "cudaMemcpyAsync (input window)");
  }
  for (int i = 0; i < n; ++i) {
    if (prep.leaf[i].window >= 0) {
      nodes[i].window = static_cast<const double*>(windows[prep.leaf[i].window]->get());
    }
  }
  DeviceBuffer d_nodes, d_out;
  TESSERA_RETURN_IF_ERROR(d_nodes.Allocate(nodes.size() * sizeof(DeviceNode), stream));
  TESSERA_CUDA_TRY(cudaMemcpyAsync(d_nodes.get(), nodes.data(), nodes.size() * sizeof(DeviceNode),
                                   cudaMemcpyHostToDevice, stream),
                   "cudaMemcpyAsync (program)");
  TESSERA_RETURN_IF_ERROR(d_out.Allocate(static_cast<size_t>(out_bytes), stream));

  DeviceChunkTask t;
  t.ndim = p.ndim;
  t.num_nodes = n;
  t.nodes = static_cast<const DeviceNode*>(d_nodes.get());
  for (int k = 0; k < p.ndim; ++k) {
    t.lo[k] = task.lo[k];
    t.region[k] = prep.region[k];
    t.reduced[k] = prep.reduced[k];
  }
  if (p.has_reduce) t.reduce_op = p.reduce.op;

  ChunkBuffer raw;
  std::vector<double> partials;
  KernelStatus launched;
  if (p.has_reduce) {
    raw = ChunkBuffer::Zeros(graph::PartialDType(p.reduce.op, root_dtype), prep.out_shape);
    const int64_t segment = num_partials > 0 ? total / num_partials : 0;
    launched = Reduce(t, int_acc ? Accumulator::kInt64 : Accumulator::kDouble, num_partials,
                      segment, d_out.get(), stream);
    if (launched.ok() && !int_acc) partials.resize(num_partials);
  } else {
    raw = ChunkBuffer::Zeros(root_dtype, prep.region);
    launched = Materialize(t, root_dtype, d_out.get(), stream);
  }
  absl::Status status = KernelToStatus(launched);
  if (status.ok() && out_bytes > 0) {
    void* host = (p.has_reduce && !int_acc) ? static_cast<void*>(partials.data())
                                            : static_cast<void*>(raw.bytes.data());
    status = CudaStatus(cudaMemcpyAsync(host, d_out.get(), static_cast<size_t>(out_bytes),
                                        cudaMemcpyDeviceToHost, stream),
                        "cudaMemcpyAsync (result)");
  }
  const absl::Status synced = CudaStatus(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  if (status.ok()) status = synced;
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat("task '", task.key, "' on ",
                                                    info_.Describe(), ": ", status.message()));
  }
  if (p.has_reduce && !int_acc) {
    cpu::detail::StoreAs(raw.dtype, partials.data(), num_partials, raw.bytes.data(), 0);
  }
  return cpu::FinishTask(task, &p, std::move(raw));
}

}  // namespace tessera::cuda
