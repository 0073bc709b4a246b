// The CUDA worker: its flags and errors everywhere; on a machine with a GPU, the device executor
// against the CPU executor task by task, the device generator against common/philox.h, and a
// real cluster of `scheduler` + `cuda-worker` processes against a CPU cluster. Tests that need a
// device skip themselves (GTEST_SKIP) where none is visible.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/philox.h"
#include "graph/expr.h"
#include "graph/lowering.h"
#include "integration/subprocess.h"
#include "kernels/chunk_kernels.h"
#include "tessera/tessera.h"
#include "worker_cpu/executor.h"
#include "worker_cuda/cuda_executor.h"
#include "worker_cuda/devices.h"

namespace tessera::cuda {
namespace {


using tessera::testing::Subprocess;

bool HaveDevice() { return ListDevices().ok(); }

#define TESSERA_REQUIRE_GPU()                                                   \
  do {                                                                          \
    if (!HaveDevice()) GTEST_SKIP() << "no CUDA device visible: " << ListDevices().status(); \
  } while (0)

// ---------------------------------------------------------------- flags, no GPU needed

TEST(DeviceFlags, DeviceBytes) {
  const int64_t total = int64_t{80} << 30;
  EXPECT_EQ(*ParseDeviceBytes("--device-memory-limit", "0.5", total), int64_t{40} << 30);
  EXPECT_EQ(*ParseDeviceBytes("--device-memory-limit", "1.0", total), total);
  EXPECT_EQ(*ParseDeviceBytes("--device-memory-limit", "24GiB", total), int64_t{24} << 30);
  auto bad = ParseDeviceBytes("--device-memory-limit", "1.5", total);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--device-memory-limit 1.5"), std::string::npos);
  EXPECT_FALSE(ParseDeviceBytes("--pool-size", "lots", total).ok());
  EXPECT_FALSE(ParseDeviceBytes("--pool-size", "0GiB", total).ok());
}

TEST(CudaWorkerBinary, Help) {
  const auto r = tessera::testing::Run("cuda-worker", {"--help"});
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* flag : {"--scheduler", "--device", "--device-memory-limit", "--memory-limit",
                           "--pool-size", "--nthreads", "--max-restarts"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << " missing from:\n" << r.out;
  }
  EXPECT_EQ(r.out.find("--device-process"), std::string::npos) << "internal flag shown";
}

TEST(CudaWorkerBinary, BadFlagsExitTwo) {
  const auto r = tessera::testing::Run("cuda-worker", {"--scheduler", "127.0.0.1:1", "--nthreads", "0"});
  EXPECT_EQ(r.code, 2) << r.err;
  const auto none = tessera::testing::Run("cuda-worker", {});
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("no scheduler address"), std::string::npos) << none.err;
}

TEST(CudaWorkerBinary, NoGpuIsOneLineAndExitOne) {
  if (HaveDevice()) GTEST_SKIP() << "a CUDA device is visible here";
  const auto r = tessera::testing::Run("cuda-worker", {"--scheduler", "127.0.0.1:1"});
  EXPECT_EQ(r.code, 1) << r.err;  // not 128 + SIGABRT / SIGSEGV: no crash, no core dump
  EXPECT_EQ(r.err.rfind("error: cuda-worker: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("CUDA device"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // CUDA_VISIBLE_DEVICES hiding every device reads the same.
  const auto hidden = tessera::testing::Run("cuda-worker", {"127.0.0.1:1"}, {"CUDA_VISIBLE_DEVICES="});
  EXPECT_EQ(hidden.code, 1) << hidden.err;
}

TEST(CudaWorkerBinary, DeviceNotVisibleIsAClearError) {
  TESSERA_REQUIRE_GPU();
  const auto r = tessera::testing::Run("cuda-worker", {"--scheduler", "127.0.0.1:1", "--device", "97"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("device 97 is not visible"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------- the device executor

TEST(CudaKernels, UniformIsPhiloxBitForBit) {
  TESSERA_REQUIRE_GPU();
  const int64_t n = 1 << 20;
  const uint64_t seed = 0x0123456789abcdefULL;
  const int64_t first = (int64_t{1} << 33) - 1000;  // crosses the counter's 32-bit word
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  double* d = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d), n * sizeof(double)), cudaSuccess);
  ASSERT_TRUE(UniformForTesting(seed, first, n, d, nullptr).ok());
  std::vector<double> got(n);
  ASSERT_EQ(cudaMemcpy(got.data(), d, n * sizeof(double), cudaMemcpyDeviceToHost), cudaSuccess);
  cudaFree(d);
  for (int64_t i = 0; i < n; ++i) {
    const double want =
        philox::UniformDouble(philox::ElementBlock(seed, static_cast<uint64_t>(first + i)));
    ASSERT_EQ(std::memcmp(&got[i], &want, 8), 0) << "element " << first + i;
  }
}

// Runs every task of `root`'s lowering on both executors and compares each result: bit for bit
// where `exact`, else within `rtol` (sums re-associate; device transcendentals differ by ulps).
// `on_device`: whether some task of the lowering runs on the device (argmin / argmax run on the
// host by design).
void CompareExecutors(const std::string& what, const graph::NodePtr& root, bool exact,
                      double rtol, bool on_device = true) {
  auto executor = CudaTaskExecutor::Create({});
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto lowered = graph::Lower(root);
  ASSERT_TRUE(lowered.ok()) << lowered.status();
  std::map<std::string, ChunkPtr> store;
  for (const graph::TaskSpec& task : lowered->tasks) {
    std::vector<ChunkPtr> deps;
    for (const std::string& d : task.deps) deps.push_back(store.at(d));
    const graph::ChunkProgram* program =
        task.program >= 0 ? &lowered->programs[task.program] : nullptr;
    auto cpu = cpu::ExecuteTask(task, program, deps);
    auto gpu = (*executor)->Execute(task, program, deps);
    ASSERT_TRUE(cpu.ok()) << what << ": " << cpu.status();
    ASSERT_TRUE(gpu.ok()) << what << ": " << gpu.status();
    ASSERT_EQ(gpu->dtype, cpu->dtype) << what << " " << task.key;
    ASSERT_EQ(gpu->shape, cpu->shape) << what << " " << task.key;
    ASSERT_EQ(gpu->nbytes(), cpu->nbytes()) << what << " " << task.key;
    const bool materialised = program != nullptr && !program->has_reduce;
    if ((exact && materialised) || !IsFloating(cpu->dtype)) {
      EXPECT_EQ(std::memcmp(gpu->bytes.data(), cpu->bytes.data(), cpu->bytes.size()), 0)
          << what << ": task " << task.key << " differs from the CPU's bits";
    } else {
      for (int64_t i = 0; i < cpu->num_elements(); ++i) {
        const double a = gpu->GetAsDouble(i), b = cpu->GetAsDouble(i);
        if (std::isnan(b)) {
          EXPECT_TRUE(std::isnan(a)) << what << " " << task.key << "[" << i << "]";
        } else {
          EXPECT_NEAR(a, b, rtol * std::max(1.0, std::fabs(b)))
              << what << " " << task.key << "[" << i << "]";
        }
      }
    }
    store[task.key] = std::make_shared<const ChunkBuffer>(*std::move(cpu));
  }
  if (on_device) {
    EXPECT_GT((*executor)->device_tasks(), 0) << what;
  } else {
    EXPECT_EQ((*executor)->device_tasks(), 0) << what;
  }
}

TEST(CudaExecutor, MatchesCpuExecutor) {
  TESSERA_REQUIRE_GPU();
  using namespace graph;
  auto must = [](absl::StatusOr<NodePtr> n) {
    EXPECT_TRUE(n.ok()) << n.status();
    return *n;
  };
  auto uniform = [&](double lo, double hi, uint64_t seed, DType dtype, ChunkSpec chunks) {
    return must(Random({300, 200}, RandomDist::kUniform, lo, hi, seed, dtype, chunks));
  };
  const NodePtr x = uniform(0, 1, 42, DType::kFloat64, ChunkSpec({128, 64}));
  const NodePtr y = uniform(-1, 1, 7, DType::kFloat64, ChunkSpec({100, 100}));
  const NodePtr ints = uniform(-50, 50, 3, DType::kInt64, ChunkSpec({128, 64}));
  const NodePtr f32 = uniform(0, 1, 5, DType::kFloat32, ChunkSpec({128, 64}));
  const NodePtr normal =
      must(Random({300, 200}, RandomDist::kNormal, 1, 2, 9, DType::kFloat64, ChunkSpec(64)));
  auto bin = [&](BinaryOp op, NodePtr a, NodePtr b) { return must(Binary(op, a, b)); };
  auto un = [&](UnaryOp op, NodePtr a) { return must(Unary(op, a)); };
  // Exact: generation, + - * /, integer division, comparisons, where, casts, reversed slices.
  CompareExecutors("random", x, true, 0);
  CompareExecutors("random float32", f32, true, 0);
  CompareExecutors("randint", ints, true, 0);
  CompareExecutors("x * y - 1",
                   bin(BinaryOp::kSubtract, bin(BinaryOp::kMultiply, x, y), Scalar(1, true)),
                   true, 0);
  CompareExecutors("randint // 7 % 5",
                   bin(BinaryOp::kMod, bin(BinaryOp::kFloorDivide, ints, Scalar(7, false)),
                       Scalar(5, false)),
                   true, 0);
  CompareExecutors("where(x < y, x, 2)",
                   must(Where(bin(BinaryOp::kLess, x, y), x, Scalar(2, true))), true, 0);
  CompareExecutors("astype int32", must(Unary(UnaryOp::kAstype, bin(BinaryOp::kMultiply, y,
                                                                    Scalar(100, true)),
                                              DType::kInt32)),
                   true, 0);
  CompareExecutors("x[::-1, ::-1] + x",
                   bin(BinaryOp::kAdd,
                       must(graph::Slice(x, {IndexItem::Slice({}, {}, -1), IndexItem::Slice({}, {}, -1)})),
                       x),
                   true, 0);
  CompareExecutors("arange and linspace",
                   bin(BinaryOp::kAdd, must(Arange(0, 200, 1, DType::kFloat64, ChunkSpec(64))),
                       must(Linspace(0, 1, 200, true, DType::kFloat64, ChunkSpec(50)))),
                   true, 0);
  // Transcendentals: the device's math library, within a few ulps.
  CompareExecutors("exp", un(UnaryOp::kExp, x), false, 1e-15);
  CompareExecutors("normal (Box-Muller: log, cos, sqrt)", normal, false, 1e-14);
  CompareExecutors("arcsin + arccos",
                   bin(BinaryOp::kAdd, un(UnaryOp::kArcsin, x), un(UnaryOp::kArccos, y)), false,
                   1e-15);
  // Reductions: re-associated sums within 1e-12; min / max / integer sums / any exact.
  CompareExecutors("sum", must(Reduce(ReduceOp::kSum, x, {}, false)), false, 1e-12);
  CompareExecutors("mean axis 1", must(Reduce(ReduceOp::kMean, x, {1}, false)), false, 1e-12);
  CompareExecutors("sum float32 axis 0", must(Reduce(ReduceOp::kSum, f32, {0}, false)), false,
                   1e-6);
  CompareExecutors("max axis 0", must(Reduce(ReduceOp::kMax, y, {0}, false)), true, 0);
  CompareExecutors("min", must(Reduce(ReduceOp::kMin, y, {}, true)), true, 0);
  CompareExecutors("int sum axis 0", must(Reduce(ReduceOp::kSum, ints, {0}, false)), true, 0);
  CompareExecutors("prod axis 1",
                   must(Reduce(ReduceOp::kProd, bin(BinaryOp::kAdd, x, Scalar(0.5, true)), {1},
                               false)),
                   false, 1e-12);
  CompareExecutors("any", must(Reduce(ReduceOp::kAny, bin(BinaryOp::kGreater, x,
                                                          Scalar(0.999, true)),
                                      {}, false)),
                   true, 0);
  CompareExecutors("argmax (host)", must(ArgReduce(ReduceOp::kArgmax, x, 1)), true, 0,
                   /*on_device=*/false);
}

// Rows of 256 elements or more take the device's row kernels (no per-element division, the
// program in shared memory, a two-pass block reduction); the test above has narrow chunks,
// which take the element-wise path. The same comparisons on wide rows, 1 to 3 axes.
TEST(CudaExecutor, MatchesCpuExecutorOnWideRows) {
  TESSERA_REQUIRE_GPU();
  using namespace graph;
  auto must = [](absl::StatusOr<NodePtr> n) {
    EXPECT_TRUE(n.ok()) << n.status();
    return *n;
  };
  const NodePtr x = must(Random({37, 3000}, RandomDist::kUniform, 0, 1, 4, DType::kFloat64,
                                ChunkSpec({20, 1300})));
  const NodePtr small = must(Random({37, 300}, RandomDist::kUniform, 0, 1, 8, DType::kFloat64,
                                    ChunkSpec({37, 300})));
  const NodePtr ints = must(Random({30, 2000}, RandomDist::kUniform, -1000, 1000, 6,
                                   DType::kInt64, ChunkSpec({16, 1000})));
  const NodePtr f32 = must(Random({4, 5, 700}, RandomDist::kUniform, 0, 1, 2, DType::kFloat32,
                                  ChunkSpec({3, 2, 700})));
  const NodePtr line = must(Random({100000}, RandomDist::kUniform, 0, 1, 5, DType::kFloat64,
                                   ChunkSpec(30000)));
  auto bin = [&](BinaryOp op, NodePtr a, NodePtr b) { return must(Binary(op, a, b)); };
  const NodePtr reversed =
      must(graph::Slice(x, {IndexItem::Slice({}, {}, -1), IndexItem::Slice({}, {}, -1)}));
  CompareExecutors("wide random", x, true, 0);
  CompareExecutors("wide random float32, 3 axes", f32, true, 0);
  CompareExecutors("wide x[::-1, ::-1] * x + 1",
                   bin(BinaryOp::kAdd, bin(BinaryOp::kMultiply, reversed, x), Scalar(1, true)),
                   true, 0);
  CompareExecutors("wide x > 0.5 (bool)", bin(BinaryOp::kGreater, x, Scalar(0.5, true)), true, 0);
  CompareExecutors("wide astype int32",
                   must(Unary(UnaryOp::kAstype, bin(BinaryOp::kMultiply, x, Scalar(1000, true)),
                              DType::kInt32)),
                   true, 0);
  CompareExecutors("wide exp(x).mean()", must(Reduce(ReduceOp::kMean,
                                                     must(Unary(UnaryOp::kExp, x)), {}, false)),
                   false, 1e-12);
  CompareExecutors("1-axis sum", must(Reduce(ReduceOp::kSum, line, {}, false)), false, 1e-12);
  CompareExecutors("wide int sum", must(Reduce(ReduceOp::kSum, ints, {}, false)), true, 0);
  CompareExecutors("wide int prod of (ints % 3 + 1)",
                   must(Reduce(ReduceOp::kProd,
                               bin(BinaryOp::kAdd, bin(BinaryOp::kMod, ints, Scalar(3, false)),
                                   Scalar(1, false)),
                               {}, false)),
                   true, 0);
  CompareExecutors("wide min", must(Reduce(ReduceOp::kMin, x, {}, false)), true, 0);
  CompareExecutors("wide max of float32", must(Reduce(ReduceOp::kMax, f32, {}, false)), true, 0);
  CompareExecutors("wide any", must(Reduce(ReduceOp::kAny, bin(BinaryOp::kGreater, x,
                                                               Scalar(0.9999, true)),
                                           {}, false)),
                   true, 0);
  // Axis reductions: the column axis is the last when it is reduced and long enough, else the
  // longest reduced axis (B3's chunks (1000, 1000, 5) reduced over axes 1 and 2).
  CompareExecutors("wide sum axis 1", must(Reduce(ReduceOp::kSum, x, {1}, false)), false, 1e-12);
  CompareExecutors("wide int sum axis 1", must(Reduce(ReduceOp::kSum, ints, {1}, true)), true, 0);
  const NodePtr cube = must(Random({40, 600, 5}, RandomDist::kUniform, 0, 1, 9, DType::kFloat64,
                                   ChunkSpec({16, 600, 5})));
  CompareExecutors("sum axis (1, 2), a short last axis",
                   must(Reduce(ReduceOp::kSum, must(Unary(UnaryOp::kArcsin, cube)), {1, 2},
                               false)),
                   false, 1e-12);
  CompareExecutors("max axis 1, kept axes on both sides",
                   must(Reduce(ReduceOp::kMax, cube, {1}, false)), true, 0);
  CompareExecutors("mean axis (0, 1) of a reversed cube",
                   must(Reduce(ReduceOp::kMean,
                               must(graph::Slice(cube, {IndexItem::Slice({}, {}, -1),
                                                        IndexItem::Slice({}, {}, -2)})),
                               {0, 1}, false)),
                   false, 1e-12);
  CompareExecutors("wide prod of x + 0.5",
                   must(Reduce(ReduceOp::kProd, bin(BinaryOp::kAdd, small, Scalar(0.5, true)), {},
                               false)),
                   false, 1e-12);
}

TEST(CudaExecutor, TooLargeForTheLimitIsResourceExhausted) {
  TESSERA_REQUIRE_GPU();
  auto executor = CudaTaskExecutor::Create({.device = 0, .device_memory_limit = 1 << 20});
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto x = graph::Random({4096, 4096}, graph::RandomDist::kUniform, 0, 1, 1, DType::kFloat64,
                         ChunkSpec(4096));
  ASSERT_TRUE(x.ok());
  auto lowered = graph::Lower(*x);
  ASSERT_TRUE(lowered.ok());
  const graph::TaskSpec& task = lowered->tasks.at(0);
  auto r = (*executor)->Execute(task, &lowered->programs[task.program], {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_NE(r.status().message().find("device memory limit"), std::string::npos) << r.status();
}

// ---------------------------------------------------------------- a real cluster

TEST(CudaCluster, SchedulerAndCudaWorkerMatchCpuCluster) {
  TESSERA_REQUIRE_GPU();
  Subprocess scheduler("scheduler", {"--host", "127.0.0.1", "--port", "0", "--dashboard-address",
                                     "none"});
  const std::string address =
      tessera::testing::WaitForAnnouncement(scheduler, /*dashboard=*/false,
                                            std::chrono::seconds(20))
          .address;
  ASSERT_FALSE(address.empty()) << scheduler.stderr_text();
  Subprocess worker("cuda-worker", {"--scheduler", address, "--device", "0", "--name", "gpu"});
  ASSERT_TRUE(worker.WaitForOutput("registered with scheduler", std::chrono::seconds(60)))
      << worker.stderr_text();

  Client client = Client::connect(address);
  const auto info = client.scheduler_info();
  ASSERT_EQ(info.workers.size(), 1u);
  EXPECT_EQ(info.workers[0].kind, "cuda");
  EXPECT_EQ(info.workers[0].name, "gpu-gpu0");
  EXPECT_NE(info.workers[0].device.find("sm_"), std::string::npos) << info.workers[0].device;
  EXPECT_GT(info.workers[0].device_memory_limit, 0);
  EXPECT_GE(info.workers[0].device_memory_used, 0);
  EXPECT_LE(info.workers[0].device_memory_used, info.workers[0].device_memory_limit);

  Client local = Client::local({.n_workers = 1, .threads_per_worker = 2});
  const auto x = random::random({2000, 3000}, {.chunks = ChunkSpec({512, 1024}), .seed = 11u});
  // Random arrays: the GPU's equal the CPU's bit for bit.
  const NDArray g = client.compute(x).get();
  const NDArray c = local.compute(x).get();
  ASSERT_EQ(g.bytes().size(), c.bytes().size());
  EXPECT_TRUE(g.bytes() == c.bytes());
  // B1 and B2 in small: within the documented tolerance, and right.
  const double b1 = client.compute(exp(x).mean()).get().scalar<double>();
  EXPECT_NEAR(b1, local.compute(exp(x).mean()).get().scalar<double>(), 1e-12);
  EXPECT_NEAR(b1, std::exp(1.0) - 1, 1e-3);
  const auto ones = tessera::ones({4000, 4000}, {.chunks = ChunkSpec(1000)});
  using tessera::Slice;
  EXPECT_EQ(client.compute((ones * ones[{Slice::Step(-1), Slice::Step(-1)}]).sum())
                .get()
                .scalar<double>(),
            16000000.0);
}

}  // namespace
}  // namespace tessera::cuda
