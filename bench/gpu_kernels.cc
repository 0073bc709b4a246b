// The CUDA worker's device work, without the network: B1, B2 and B3 of BENCHMARKS.md run task by
// task through the CUDA executor (the code a cuda-worker runs: host planning, program upload,
// the fused Thrust/CUB kernel, the partial's copy back), and B7's element-wise and reduction
// kernels timed with CUDA events against the device-to-device copy bandwidth measured in the
// same run. Every result is checked; a wrong one fails the run (exit 1).
//
//   gpu_kernel_bench [--repeat N] [--threads T]
//
// Prints one JSON object per workload on stdout (min / median / max seconds of N runs).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "graph/expr.h"
#include "graph/lowering.h"
#include "kernels/chunk_kernels.h"
#include "worker_cpu/executor.h"
#include "worker_cuda/cuda_executor.h"
#include "worker_cuda/devices.h"

namespace tessera::cuda {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "gpu_kernel_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) Die(std::string(what) + ": " + v.status().ToString());
  return *std::move(v);
}

void CudaMust(cudaError_t e, const char* what) {
  if (e != cudaSuccess) Die(std::string(what) + ": " + cudaGetErrorString(e));
}

struct Stats {
  double min = 0, median = 0, max = 0;
};

Stats Summarise(std::vector<double> s) {
  std::sort(s.begin(), s.end());
  return {s.front(), s[s.size() / 2], s.back()};
}

void PrintRecord(const std::string& workload, const std::string& shape, int64_t elements,
                 int64_t chunks, const Stats& s, double result, const std::string& extra) {
  std::printf(
      "{\"workload\": \"%s\", \"shape\": \"%s\", \"elements\": %lld, \"tasks\": %lld, "
      "\"seconds\": {\"min\": %.6f, \"median\": %.6f, \"max\": %.6f}, "
      "\"elements_per_second\": %.4g, \"result\": %.17g%s}\n",
      workload.c_str(), shape.c_str(), static_cast<long long>(elements),
      static_cast<long long>(chunks), s.min, s.median, s.max, elements / s.min, result,
      extra.c_str());
  std::fflush(stdout);
}

// Runs `root`'s lowering: the device tasks (those without dependencies) over `threads` host
// threads, each with its own stream, then the combine tasks. Returns the seconds of the whole
// graph and the scalar result.
std::pair<double, double> RunGraph(CudaTaskExecutor& executor, const graph::TaskGraph& g,
                                   int threads) {
  std::map<std::string, ChunkPtr> store;
  std::vector<const graph::TaskSpec*> leaves, rest;
  for (const graph::TaskSpec& t : g.tasks) (t.deps.empty() ? leaves : rest).push_back(&t);
  std::vector<ChunkPtr> leaf_results(leaves.size());
  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::string error;
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      for (size_t k = next++; k < leaves.size() && !failed; k = next++) {
        const graph::TaskSpec& t = *leaves[k];
        const graph::ChunkProgram* p = t.program >= 0 ? &g.programs[t.program] : nullptr;
        auto r = executor.Execute(t, p, {});
        if (!r.ok()) {
          if (!failed.exchange(true)) error = r.status().ToString();
          return;
        }
        leaf_results[k] = std::make_shared<const ChunkBuffer>(*std::move(r));
      }
    });
  }
  for (std::thread& t : pool) t.join();
  if (failed) Die(error);
  for (size_t k = 0; k < leaves.size(); ++k) store[leaves[k]->key] = leaf_results[k];
  for (const graph::TaskSpec* t : rest) {
    std::vector<ChunkPtr> deps;
    for (const std::string& d : t->deps) deps.push_back(store.at(d));
    const graph::ChunkProgram* p = t->program >= 0 ? &g.programs[t->program] : nullptr;
    auto r = executor.Execute(*t, p, deps);
    if (!r.ok()) Die(r.status().ToString());
    store[t->key] = std::make_shared<const ChunkBuffer>(*std::move(r));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const ChunkPtr& out = store.at(g.output_keys.at(0));
  return {seconds, out->GetAsDouble(0)};
}

void GraphWorkload(CudaTaskExecutor& executor, const std::string& name, const std::string& shape,
                   int64_t elements, const graph::NodePtr& root, int repeat, int threads,
                   double lo, double hi) {
  const graph::TaskGraph g = Must(graph::Lower(root), "lowering");
  std::vector<double> seconds;
  double result = 0;
  for (int r = 0; r < repeat; ++r) {
    auto [s, v] = RunGraph(executor, g, threads);
    seconds.push_back(s);
    if (r > 0 && v != result) Die(name + ": runs disagree (" + std::to_string(v) + ")");
    result = v;
  }
  const bool ok = result >= lo && result <= hi;
  PrintRecord(name, shape, elements, static_cast<int64_t>(g.tasks.size()), Summarise(seconds),
              result, std::string(", \"threads\": ") + std::to_string(threads) +
                          ", \"ok\": " + (ok ? "true" : "false"));
  if (!ok) Die(name + ": result " + std::to_string(result) + " is outside its check");
}

// Times `launch` (stream-ordered work on `stream`) with CUDA events, best and median of `repeat`.
template <typename F>
Stats TimeOnDevice(cudaStream_t stream, int repeat, F launch) {
  cudaEvent_t a, b;
  CudaMust(cudaEventCreate(&a), "cudaEventCreate");
  CudaMust(cudaEventCreate(&b), "cudaEventCreate");
  launch();  // warm up
  CudaMust(cudaStreamSynchronize(stream), "warm-up");
  std::vector<double> s;
  for (int r = 0; r < repeat; ++r) {
    CudaMust(cudaEventRecord(a, stream), "cudaEventRecord");
    launch();
    CudaMust(cudaEventRecord(b, stream), "cudaEventRecord");
    CudaMust(cudaEventSynchronize(b), "cudaEventSynchronize");
    float ms = 0;
    CudaMust(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
    s.push_back(ms / 1e3);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return Summarise(s);
}

void KernelCheck(const KernelStatus& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.message);
}

// A program's nodes copied to device memory (cudaFree it).
DeviceNode* Upload(const std::vector<DeviceNode>& program) {
  DeviceNode* d = nullptr;
  CudaMust(cudaMalloc(reinterpret_cast<void**>(&d), program.size() * sizeof(DeviceNode)),
           "cudaMalloc program");
  CudaMust(cudaMemcpy(d, program.data(), program.size() * sizeof(DeviceNode),
                      cudaMemcpyHostToDevice),
           "program upload");
  return d;
}

// A task over the whole (rows, cols) region, reduced over both axes or materialised.
DeviceChunkTask WholeRegion(const DeviceNode* nodes, int num_nodes, int64_t rows, int64_t cols,
                            bool reduce) {
  DeviceChunkTask t;
  t.ndim = 2;
  t.num_nodes = num_nodes;
  t.nodes = nodes;
  t.region[0] = rows;
  t.region[1] = cols;
  t.reduced[0] = t.reduced[1] = reduce;
  t.reduce_op = graph::ReduceOp::kSum;
  return t;
}

// B7: y = exp(x) * 2 + 1 over a 4 GiB float64 array x already on the device, materialised, then
// y.sum(); and the same sum fused (never storing y). Bandwidth counts the bytes each kernel must
// move (read x and write y; read y; read x), against a device-to-device copy of x.
void B7(int repeat) {
  const int64_t rows = 16384, cols = 32768, n = rows * cols;  // 4 GiB of float64
  const size_t bytes = static_cast<size_t>(n) * sizeof(double);
  cudaStream_t stream;
  CudaMust(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  double *x = nullptr, *y = nullptr, *partial = nullptr;
  CudaMust(cudaMalloc(reinterpret_cast<void**>(&x), bytes), "cudaMalloc x");
  CudaMust(cudaMalloc(reinterpret_cast<void**>(&y), bytes), "cudaMalloc y");
  CudaMust(cudaMalloc(reinterpret_cast<void**>(&partial), sizeof(double)), "cudaMalloc");
  KernelCheck(UniformForTesting(42, 0, n, x, stream), "generating x");

  const Stats copy = TimeOnDevice(stream, repeat, [&] {
    CudaMust(cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice, stream), "copy");
  });
  const double copy_gbs = 2.0 * static_cast<double>(bytes) / copy.min / 1e9;
  PrintRecord("copy (device to device)", "(16384, 32768)", n, 1, copy, 0,
              ", \"gb_per_second\": " + std::to_string(copy_gbs));

  auto input_node = [&](const double* window) {
    DeviceNode in;
    in.kind = NodeKind::kInput;
    in.window = window;
    in.coef[0] = cols;
    in.coef[1] = 1;
    return in;
  };
  auto scalar = [](double v) {
    DeviceNode s;
    s.kind = NodeKind::kScalar;
    s.value = v;
    return s;
  };
  auto op = [](NodeKind kind, int8_t code, int a0, int a1) {
    DeviceNode d;
    d.kind = kind;
    d.op = code;
    d.arg0 = a0;
    d.arg1 = a1;
    return d;
  };
  const std::vector<DeviceNode> y_program = {
      input_node(x),
      op(NodeKind::kUnary, static_cast<int8_t>(graph::UnaryOp::kExp), 0, -1),
      scalar(2),
      op(NodeKind::kBinary, static_cast<int8_t>(graph::BinaryOp::kMultiply), 1, 2),
      scalar(1),
      op(NodeKind::kBinary, static_cast<int8_t>(graph::BinaryOp::kAdd), 3, 4)};
  const std::vector<DeviceNode> sum_program = {input_node(y)};
  DeviceNode* d_y_program = Upload(y_program);
  DeviceNode* d_sum_program = Upload(sum_program);
  const DeviceChunkTask elementwise = WholeRegion(d_y_program, 6, rows, cols, false);
  const DeviceChunkTask fused = WholeRegion(d_y_program, 6, rows, cols, true);
  const DeviceChunkTask sum = WholeRegion(d_sum_program, 1, rows, cols, true);

  const Stats ew = TimeOnDevice(stream, repeat, [&] {
    KernelCheck(Materialize(elementwise, DType::kFloat64, y, stream), "y = exp(x) * 2 + 1");
  });
  double total = 0, total_fused = 0;
  const Stats red = TimeOnDevice(stream, repeat, [&] {
    KernelCheck(Reduce(sum, Accumulator::kDouble, 1, n, partial, stream), "y.sum()");
  });
  CudaMust(cudaMemcpy(&total, partial, sizeof(double), cudaMemcpyDeviceToHost), "result");
  const Stats fus = TimeOnDevice(stream, repeat, [&] {
    KernelCheck(Reduce(fused, Accumulator::kDouble, 1, n, partial, stream), "fused sum");
  });
  CudaMust(cudaMemcpy(&total_fused, partial, sizeof(double), cudaMemcpyDeviceToHost), "result");

  // Check: y's first elements against the host, and both sums against each other and against
  // n * (2 (e - 1) + 1) within the statistics of n uniform samples.
  std::vector<double> head(1024), xs(1024);
  CudaMust(cudaMemcpy(head.data(), y, 1024 * sizeof(double), cudaMemcpyDeviceToHost), "y head");
  CudaMust(cudaMemcpy(xs.data(), x, 1024 * sizeof(double), cudaMemcpyDeviceToHost), "x head");
  for (int i = 0; i < 1024; ++i) {
    const double want = std::exp(xs[i]) * 2 + 1;
    if (std::fabs(head[i] - want) > 1e-15 * want) Die("B7: y[" + std::to_string(i) + "] wrong");
  }
  const double expect = static_cast<double>(n) * (2 * (std::exp(1.0) - 1) + 1);
  const bool ok = std::fabs(total - total_fused) <= 1e-12 * total &&
                  std::fabs(total - expect) <= 1e-4 * expect;
  auto gbs = [&](double moved, const Stats& s) { return moved / s.min / 1e9; };
  auto pct = [&](double g) { return std::to_string(100.0 * g / copy_gbs); };
  const double ew_gbs = gbs(2.0 * static_cast<double>(bytes), ew);
  const double red_gbs = gbs(static_cast<double>(bytes), red);
  const double fus_gbs = gbs(static_cast<double>(bytes), fus);
  PrintRecord("B7 elementwise y = exp(x) * 2 + 1", "(16384, 32768)", n, 1, ew, 0,
              ", \"gb_per_second\": " + std::to_string(ew_gbs) + ", \"percent_of_copy\": " +
                  pct(ew_gbs));
  PrintRecord("B7 reduction y.sum()", "(16384, 32768)", n, 1, red, total,
              ", \"gb_per_second\": " + std::to_string(red_gbs) + ", \"percent_of_copy\": " +
                  pct(red_gbs) + ", \"ok\": " + (ok ? "true" : "false"));
  PrintRecord("B7 fused (exp(x) * 2 + 1).sum()", "(16384, 32768)", n, 1, fus, total_fused,
              ", \"gb_per_second\": " + std::to_string(fus_gbs) + ", \"percent_of_copy\": " +
                  pct(fus_gbs) + ", \"ok\": " + (ok ? "true" : "false"));
  cudaFree(x);
  cudaFree(y);
  cudaFree(partial);
  cudaFree(d_y_program);
  cudaFree(d_sum_program);
  cudaStreamDestroy(stream);
  if (!ok) Die("B7: sums " + std::to_string(total) + " / " + std::to_string(total_fused) +
               " against " + std::to_string(expect));
}

// B1 and B2's device work alone: the whole array as one region, the fused generate, transform
// and reduce kernel timed with CUDA events (what the executor adds per task, planning, program
// upload and the partial's copy back, is in the per-task figures above).
void DeviceWork(int repeat) {
  cudaStream_t stream;
  CudaMust(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  double* partial = nullptr;
  CudaMust(cudaMalloc(reinterpret_cast<void**>(&partial), sizeof(double)), "cudaMalloc");
  auto run = [&](const std::string& name, const std::vector<DeviceNode>& program, int64_t rows,
                 int64_t cols, double lo, double hi) {
    DeviceNode* d = Upload(program);
    const DeviceChunkTask t = WholeRegion(d, static_cast<int>(program.size()), rows, cols, true);
    const Stats s = TimeOnDevice(stream, repeat, [&] {
      KernelCheck(Reduce(t, Accumulator::kDouble, 1, rows * cols, partial, stream), name.c_str());
    });
    double sum = 0;
    CudaMust(cudaMemcpy(&sum, partial, sizeof(double), cudaMemcpyDeviceToHost), "result");
    const bool ok = sum >= lo && sum <= hi;
    PrintRecord(name, "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")", rows * cols,
                1, s, sum, std::string(", \"ok\": ") + (ok ? "true" : "false"));
    cudaFree(d);
    if (!ok) Die(name + ": result " + std::to_string(sum) + " is outside its check");
  };
  DeviceNode random;
  random.kind = NodeKind::kRandom;
  random.dist = static_cast<int8_t>(graph::RandomDist::kUniform);
  random.a = 0;
  random.b = 1;
  random.seed = 42;
  random.coef[0] = 50000;
  random.coef[1] = 1;
  DeviceNode exp;
  exp.kind = NodeKind::kUnary;
  exp.op = static_cast<int8_t>(graph::UnaryOp::kExp);
  exp.arg0 = 0;
  const double n1 = 2.5e9;
  run("B1 device work: sum(exp(random)) in one kernel", {random, exp}, 50000, 50000,
      n1 * 1.7182, n1 * 1.7184);
  DeviceNode one;
  one.kind = NodeKind::kFull;
  one.value = 1;
  DeviceNode one_reversed = one;  // x[::-1, ::-1]: the leaf's index runs backwards
  one_reversed.base = int64_t{200000} * 200000 - 1;
  one_reversed.coef[0] = -200000;
  one_reversed.coef[1] = -1;
  DeviceNode times;
  times.kind = NodeKind::kBinary;
  times.op = static_cast<int8_t>(graph::BinaryOp::kMultiply);
  times.arg0 = 0;
  times.arg1 = 1;
  run("B2 device work: sum(x * x[::-1, ::-1]) in one kernel", {one, one_reversed, times}, 200000,
      200000, 4e10, 4e10);
  cudaFree(partial);
  cudaStreamDestroy(stream);
}

int Main(int argc, char** argv) {
  int repeat = 3, threads = 4;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--repeat" && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: gpu_kernel_bench [--repeat N] [--threads T]\n");
      return 2;
    }
  }
  if (repeat < 1 || threads < 1) Die("--repeat and --threads must be at least 1");
  auto devices = ListDevices();
  if (!devices.ok()) Die(devices.status().ToString());
  auto executor = Must(CudaTaskExecutor::Create({}), "CudaTaskExecutor");
  std::fprintf(stderr, "device: %s\n", executor->device().c_str());

  using namespace graph;
  auto must = [](absl::StatusOr<NodePtr> n) { return Must(std::move(n), "expression"); };
  // B1: da.exp(da.random.random((50000, 50000))).mean(), dask's auto chunks.
  {
    const NodePtr x = must(Random({50000, 50000}, RandomDist::kUniform, 0, 1, 42,
                                  DType::kFloat64, ChunkSpec()));
    GraphWorkload(*executor, "B1 exp(random).mean()", "(50000, 50000)", 2'500'000'000,
                  must(Reduce(ReduceOp::kMean, must(Unary(UnaryOp::kExp, x)), {}, false)),
                  repeat, threads, 1.7182, 1.7184);
  }
  // B2: (x * x[::-1, ::-1]).sum() over ones((200000, 200000), chunks=10000).
  {
    const NodePtr x = must(Full({200000, 200000}, 1, DType::kFloat64, ChunkSpec(10000)));
    const NodePtr rev =
        must(Slice(x, {IndexItem::Slice({}, {}, -1), IndexItem::Slice({}, {}, -1)}));
    GraphWorkload(*executor, "B2 (x * x[::-1, ::-1]).sum()", "(200000, 200000)",
                  40'000'000'000, must(Reduce(ReduceOp::kSum, must(Binary(BinaryOp::kMultiply,
                                                                           x, rev)),
                                              {}, false)),
                  repeat, threads, 4e10, 4e10);
  }
  // B3: (arcsin(x) + arccos(y)).sum(axis=(1, 2)).mean() over (10000, 20000, 10).
  {
    auto r = [&](uint64_t seed) {
      return must(Random({10000, 20000, 10}, RandomDist::kUniform, 0, 1, seed, DType::kFloat64,
                         ChunkSpec({1000, 1000, 5})));
    };
    const NodePtr e = must(Binary(BinaryOp::kAdd, must(Unary(UnaryOp::kArcsin, r(1))),
                                  must(Unary(UnaryOp::kArccos, r(2)))));
    GraphWorkload(*executor, "B3 (arcsin(x) + arccos(y)).sum(axis=(1, 2)).mean()",
                  "(10000, 20000, 10)", 2'000'000'000,
                  must(Reduce(ReduceOp::kMean, must(Reduce(ReduceOp::kSum, e, {1, 2}, false)), {},
                              false)),
                  repeat, threads, 314000, 314320);
  }
  DeviceWork(std::max(repeat, 3));
  B7(std::max(repeat, 3));
  return 0;
}

}  // namespace
}  // namespace tessera::cuda

int main(int argc, char** argv) { return tessera::cuda::Main(argc, argv); }
