// Times the CPU executor on the chunk tasks of the benchmark workloads (BENCHMARKS.md B1-B4),
// one task at a time on this thread, and prints a hash of every result so that a change to the
// executor can be checked for bit-identical output.
//
//   chunk_bench [workload] [max_tasks] [reps]
//
// workload: b1, b2, b3, b4 (small sizes) or B1, B2, B3 (full-size chunks); all by default.
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/expr.h"
#include "graph/lowering.h"
#include "worker_cpu/executor.h"
#include "worker_cpu/kernels.h"

namespace g = tessera::graph;
using tessera::ChunkBuffer;
using tessera::DType;

namespace {

// Thread CPU time: the machine is shared, and preemption by other processes should not count.
double Now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

template <typename T>
T Must(absl::StatusOr<T> v) {
  if (!v.ok()) {
    std::fprintf(stderr, "%s\n", std::string(v.status().message()).c_str());
    std::exit(1);
  }
  return *std::move(v);
}

uint64_t Fnv(const std::vector<uint8_t>& b, uint64_t h) {
  for (uint8_t c : b) h = (h ^ c) * 1099511628211ull;
  return h;
}

g::NodePtr B1(int64_t n) {
  auto x = Must(g::Random({n, n}, g::RandomDist::kUniform, 0, 1, 42, DType::kFloat64, {}));
  return Must(g::Reduce(g::ReduceOp::kMean, Must(g::Unary(g::UnaryOp::kExp, x)), {}, false));
}

g::NodePtr B2(int64_t n) {
  auto x = Must(g::Full({n, n}, 1.0, DType::kFloat64, 10000));
  auto r = Must(g::Slice(x, {g::IndexItem::Slice({}, {}, -1), g::IndexItem::Slice({}, {}, -1)}));
  return Must(
      g::Reduce(g::ReduceOp::kSum, Must(g::Binary(g::BinaryOp::kMultiply, x, r)), {}, false));
}

g::NodePtr B3(int64_t n0) {
  const tessera::ChunkSpec c({1000, 1000, 5});
  auto x = Must(g::Random({n0, 20000, 10}, g::RandomDist::kUniform, 0, 1, 1, DType::kFloat64, c));
  auto y = Must(g::Random({n0, 20000, 10}, g::RandomDist::kUniform, 0, 1, 2, DType::kFloat64, c));
  auto s = Must(g::Binary(g::BinaryOp::kAdd, Must(g::Unary(g::UnaryOp::kArcsin, x)),
                          Must(g::Unary(g::UnaryOp::kArccos, y))));
  return Must(g::Reduce(g::ReduceOp::kSum, s, {1, 2}, false));
}

g::NodePtr B4(int64_t chunk) {
  auto x = Must(g::Random({10'000'000}, g::RandomDist::kUniform, 0, 1, 3, DType::kFloat64,
                          tessera::ChunkSpec(chunk)));
  return Must(g::Reduce(g::ReduceOp::kSum, x, {}, false));
}

void Run(const char* name, const g::NodePtr& root, int max_tasks, int reps) {
  const g::TaskGraph tg = Must(g::Lower(root));
  std::vector<const g::TaskSpec*> chunk_tasks;
  for (const auto& t : tg.tasks) {
    if (t.kind == g::TaskKind::kChunk) chunk_tasks.push_back(&t);
  }
  const int n = std::min<int>(max_tasks, static_cast<int>(chunk_tasks.size()));
  int64_t elems = 0;
  uint64_t h = 1469598103934665603ull;
  double best = 1e30;
  for (int rep = 0; rep < reps; ++rep) {
    const double t0 = Now();
    for (int i = 0; i < n; ++i) {
      const g::TaskSpec& t = *chunk_tasks[i];
      ChunkBuffer out = Must(tessera::cpu::ExecuteTask(t, &tg.programs[t.program], {}));
      if (rep == 0) {
        h = Fnv(out.bytes, h);
        int64_t e = 1;
        for (size_t k = 0; k < t.lo.size(); ++k) e *= t.hi[k] - t.lo[k];
        elems += e;
      }
    }
    const double s = Now() - t0;
    best = std::min(best, s);
  }
  std::printf("%-4s tasks %4d/%-5zu elems %.3e  best %.4f s  %.3f ns/elem  hash %016llx\n", name, n,
              chunk_tasks.size(), static_cast<double>(elems), best, best * 1e9 / elems,
              static_cast<unsigned long long>(h));
}

// Per-element cost of each block kernel on one kBlockSize block (L1-resident).
void Kernels() {
  namespace d = tessera::cpu::detail;
  const int64_t n = d::kBlockSize;
  std::vector<double> a(n), b(n);
  std::vector<int64_t> idx(n);
  d::AffineIndex(idx.data(), 12345, 1, n);
  d::RandomBlock(a.data(), g::RandomDist::kUniform, DType::kFloat64, 7, 0, 1, idx.data(), n);
  volatile double sink = 0;
  auto time = [&](const char* name, auto f) {
    const int iters = 5000;
    double best = 1e30;
    for (int rep = 0; rep < 5; ++rep) {
      const double t0 = Now();
      for (int i = 0; i < iters; ++i) f();
      best = std::min(best, Now() - t0);
    }
    std::printf("%-12s %.3f ns/elem\n", name, best * 1e9 / (iters * static_cast<double>(n)));
  };
  time("affine", [&] { d::AffineIndex(idx.data(), 12345, 1, n); });
  time("philox", [&] {
    d::RandomBlock(b.data(), g::RandomDist::kUniform, DType::kFloat64, 7, 0, 1, idx.data(), n);
  });
  time("exp", [&] { d::UnaryBlock(g::UnaryOp::kExp, b.data(), a.data(), n); });
  time("arcsin", [&] { d::ArcsinBlock(b.data(), a.data(), n); });
  time("arccos", [&] { d::ArccosBlock(b.data(), a.data(), n); });
  time("fill", [&] { d::FillBlock(b.data(), 1.0, n); });
  time("mul", [&] {
    d::BinaryBlock(g::BinaryOp::kMultiply, false, b.data(), a.data(), 0, a.data(), 0, n);
  });
  d::SetSimdLevelForTesting(1);
  time("philox avx2", [&] {
    d::RandomBlock(b.data(), g::RandomDist::kUniform, DType::kFloat64, 7, 0, 1, idx.data(), n);
  });
  time("arcsin avx2", [&] { d::ArcsinBlock(b.data(), a.data(), n); });
  time("exp avx2", [&] { d::UnaryBlock(g::UnaryOp::kExp, b.data(), a.data(), n); });
  d::SetSimdLevelForTesting(2);
  time("pairwise", [&] { sink = sink + d::PairwiseSum(a.data(), n); });
}

// Checks the hand-vectorised kernels against the scalar / auto-vectorised level 0 paths, bit for
// bit, over many inputs. Returns the number of mismatches.
// Hashes BinaryBlock's output for every op and operand kind over bit patterns including NaNs
// with payloads, for comparing builds.
void BinaryHash() {
  namespace d = tessera::cpu::detail;
  const int64_t n = d::kBlockSize;
  std::vector<double> x(2 * n), out(n);
  uint64_t s = 88172645463325252ull;
  for (int64_t i = 0; i < 2 * n; ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    uint64_t u = s;
    if (i % 3 == 0) u |= 0x7ff0000000000001ull;  // a NaN with a payload
    std::memcpy(&x[i], &u, 8);
  }
  {
    std::vector<double> na(64), nb(64), o(64);
    const uint64_t pa = 0x7ff8000000000111ull, pb = 0x7ff8000000000222ull;
    for (int i = 0; i < 64; ++i) {
      std::memcpy(&na[i], &pa, 8);
      std::memcpy(&nb[i], &pb, 8);
    }
    for (int op = 0; op < 4; ++op) {
      for (int64_t len : {int64_t{1}, int64_t{64}}) {
        d::BinaryBlock(static_cast<g::BinaryOp>(op), false, o.data(), na.data(), 0, nb.data(), 0,
                       len);
        uint64_t r;
        std::memcpy(&r, &o[0], 8);
        std::printf("NaN(a=111) op%d NaN(b=222) len %lld -> %016llx\n", op,
                    static_cast<long long>(len), static_cast<unsigned long long>(r));
      }
    }
  }
  for (int op = 0; op <= static_cast<int>(g::UnaryOp::kAstype); ++op) {
    d::UnaryBlock(static_cast<g::UnaryOp>(op), out.data(), x.data(), n);
    std::vector<uint8_t> bytes(n * 8);
    std::memcpy(bytes.data(), out.data(), n * 8);
    std::printf("unary op %2d %016llx\n", op,
                static_cast<unsigned long long>(Fnv(bytes, 1469598103934665603ull)));
  }
  for (int op = 0; op <= static_cast<int>(g::BinaryOp::kNotEqual); ++op) {
    for (int integer = 0; integer < 2; ++integer) {
      uint64_t h = 1469598103934665603ull;
      for (int kind = 0; kind < 4; ++kind) {
        const double* a = (kind & 1) ? nullptr : x.data();
        const double* b = (kind & 2) ? nullptr : x.data() + n;
        d::BinaryBlock(static_cast<g::BinaryOp>(op), integer != 0, out.data(), a, x[3], b, x[6], n);
        std::vector<uint8_t> bytes(n * 8);
        std::memcpy(bytes.data(), out.data(), n * 8);
        h = Fnv(bytes, h);
      }
      std::printf("binary op %2d integer %d %016llx\n", op, integer,
                  static_cast<unsigned long long>(h));
    }
  }
}

int64_t Verify() {
  namespace d = tessera::cpu::detail;
  const int64_t n = 1 << 22;
  std::vector<double> x(n), a(n), b(n);
  std::vector<int64_t> idx(n);
  uint64_t s = 88172645463325252ull;
  auto next = [&] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t u = next();
    double v;
    static const double kSpecial[] = {1.0,
                                      -1.0,
                                      0.5,
                                      -0.5,
                                      0.975,
                                      -0.975,
                                      0.0,
                                      -0.0,
                                      0x1.0000000000001p-1,
                                      0x1.fffffffffffffp-2,
                                      1e-300,
                                      5e-324,
                                      0x1.fffffffffffffp-1,
                                      -0x1.fffffffffffffp-1};
    switch (i % 6) {
      case 4:
        v = (static_cast<double>(u >> 11) * 0x1.0p-53 - 0.5) * 2.1;
        break;
      case 5:
        v = kSpecial[(u >> 3) % (sizeof kSpecial / sizeof kSpecial[0])];
        break;
      case 0:
        std::memcpy(&v, &u, 8);
        break;  // any bit pattern
      case 1:
        v = (static_cast<double>(u >> 11) * 0x1.0p-53 - 0.5) * 1600;
        break;
      case 2:
        v = (static_cast<double>(u >> 11) * 0x1.0p-53 - 0.5) * 1e-6;
        break;
      default:
        v = static_cast<double>(u >> 11) * 0x1.0p-53;
        break;
    }
    x[i] = v;
    idx[i] = static_cast<int64_t>(u >> (i % 3 == 0 ? 1 : 20));
  }
  int64_t bad = 0;
  auto cmp = [&](const char* name) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (std::memcmp(&a[i], &b[i], 8) == 0) continue;
      if (++m <= 3) {
        uint64_t bx, ba, bb;
        std::memcpy(&bx, &x[i], 8);
        std::memcpy(&ba, &a[i], 8);
        std::memcpy(&bb, &b[i], 8);
        std::printf("  %s: x = %016llx: %016llx (SIMD) vs %016llx (level 0)\n", name,
                    static_cast<unsigned long long>(bx), static_cast<unsigned long long>(ba),
                    static_cast<unsigned long long>(bb));
      }
    }
    std::printf("verify %-10s %lld mismatches\n", name, static_cast<long long>(m));
    bad += m;
  };
  // Level 0 (scalar / auto-vectorised) into b, then each SIMD level this CPU has into a.
  auto both = [&](const char* name, auto f) {
    auto run = [&](int level, double* out) {
      d::SetSimdLevelForTesting(level);
      for (int64_t i = 0; i < n; i += d::kBlockSize) {
        f(out + i, i, std::min<int64_t>(d::kBlockSize - (i / d::kBlockSize) % 7, n - i));
      }
    };
    run(0, b.data());
    for (int level : {2, 1}) {
      if (d::SetSimdLevelForTesting(level) != level) continue;
      run(level, a.data());
      cmp((std::string(name) + (level == 2 ? "" : " avx2")).c_str());
    }
    d::SetSimdLevelForTesting(2);
  };
  both("exp", [&](double* o, int64_t i, int64_t m) {
    d::UnaryBlock(g::UnaryOp::kExp, o, x.data() + i, m);
  });
  both("philox", [&](double* o, int64_t i, int64_t m) {
    d::RandomBlock(o, g::RandomDist::kUniform, DType::kFloat64, i * 7919, -3, 5, idx.data() + i, m);
  });
#ifndef CHUNK_BENCH_BASELINE  // kernels that the executor before this series lacks
  both("philox affine", [&](double* o, int64_t i, int64_t m) {
    const int64_t stride = static_cast<int64_t>(i % 5) - 2;  // -2 .. 2
    const int64_t first = (idx[i] >> 2) + 4 * d::kBlockSize;
    if (o >= a.data() && o < a.data() + n) {  // the SIMD level `both` set
      std::vector<int64_t> scratch(m);
      d::RandomBlockAffine(o, g::RandomDist::kUniform, DType::kFloat64, i, -3, 5, first, stride, m,
                           scratch.data());
    } else {
      std::vector<int64_t> ix(m);
      for (int64_t k = 0; k < m; ++k) ix[k] = first + k * stride;
      d::RandomBlock(o, g::RandomDist::kUniform, DType::kFloat64, i, -3, 5, ix.data(), m);
    }
  });
#endif
  both("arcsin", [&](double* o, int64_t i, int64_t m) { d::ArcsinBlock(o, x.data() + i, m); });
  both("arccos", [&](double* o, int64_t i, int64_t m) { d::ArccosBlock(o, x.data() + i, m); });
  both("pairwise", [&](double* o, int64_t i, int64_t m) {
    for (int64_t k = 0; k < 4; ++k) {
      const int64_t len = std::max<int64_t>(0, m - k * 301);
      o[k] = d::PairwiseSum(x.data() + i + (i / 1024) % 64, len);
      for (int64_t j = 4; j < m; ++j) o[j] = 0;
    }
  });
#ifndef CHUNK_BENCH_BASELINE
  // PairwiseSumBinary against BinaryBlock then PairwiseSum, each op and operand kind.
  {
    int64_t m = 0;
    std::vector<double> tmp(d::kBlockSize);
    for (g::BinaryOp op : {g::BinaryOp::kAdd, g::BinaryOp::kSubtract, g::BinaryOp::kMultiply,
                           g::BinaryOp::kDivide}) {
      for (int kind = 0; kind < 3; ++kind) {
        for (int64_t i = 0; i + 2 * d::kBlockSize <= n; i += 3 * d::kBlockSize) {
          const int64_t len = d::kBlockSize - (i / d::kBlockSize) % 301;
          const double* xa = kind == 2 ? nullptr : x.data() + i;
          const double* xb = kind == 1 ? nullptr : x.data() + i + d::kBlockSize;
          const double sa = x[i + 5], sb = x[i + 7];
          d::BinaryBlock(op, false, tmp.data(), xa, sa, xb, sb, len);
          const double want = d::PairwiseSum(tmp.data(), len);
          double got = 0;
          d::PairwiseSumBinary(op, xa, sa, xb, sb, len, &got);
          // A NaN sum's payload may differ: the executor then sums the stored values instead.
          if (got == got && std::memcmp(&want, &got, 8) != 0 && ++m <= 9) {
            std::printf("  sum binary op %d kind %d: %a vs %a\n", static_cast<int>(op), kind, want,
                        got);
          }
        }
      }
    }
    std::printf("verify %-10s %lld mismatches\n", "sum binary", static_cast<long long>(m));
    bad += m;
  }
#endif
  return bad;
}

// Hashes every task's result (chunk, combine, finalised) of assorted expressions: kFull leaves
// in binary and unary nodes and as roots, several dtypes, short and long rows, reversed and
// broadcast maps, stored and reduced roots. For comparing two builds of the executor.
void Programs() {
  using g::BinaryOp;
  using g::UnaryOp;
  auto full = [](tessera::Shape s, double v, DType d, tessera::ChunkSpec c) {
    return Must(g::Full(s, v, d, c));
  };
  auto rnd = [](tessera::Shape s, uint64_t seed, DType d, tessera::ChunkSpec c, double lo = 0,
                double hi = 1) {
    return Must(g::Random(s, g::RandomDist::kUniform, lo, hi, seed, d, c));
  };
  auto bin = [](BinaryOp op, g::NodePtr a, g::NodePtr b) { return Must(g::Binary(op, a, b)); };
  auto un = [](UnaryOp op, g::NodePtr a) { return Must(g::Unary(op, a)); };
  auto red = [](g::ReduceOp op, g::NodePtr a, std::vector<int> axes) {
    return Must(g::Reduce(op, a, axes, false));
  };
  auto rev = [](g::NodePtr a) {
    return Must(g::Slice(a, {g::IndexItem::Slice({}, {}, -1), g::IndexItem::Slice({}, {}, -1)}));
  };
  std::vector<std::pair<std::string, g::NodePtr>> cases;
  const tessera::ChunkSpec c2({700, 1300});
  for (DType d : {DType::kFloat64, DType::kFloat32, DType::kInt64, DType::kInt32, DType::kBool}) {
    const std::string dn(tessera::DTypeName(d));
    auto f = full({1500, 2500}, 3.7, d, c2);
    auto r = rnd({1500, 2500}, 5, DType::kFloat64, c2, -4, 4);
    cases.push_back({"full*rev " + dn, bin(BinaryOp::kMultiply, f, rev(f))});
    cases.push_back({"full+r " + dn, bin(BinaryOp::kAdd, f, r)});
    cases.push_back({"r-full " + dn, bin(BinaryOp::kSubtract, r, f)});
    cases.push_back({"exp(full)*r " + dn, bin(BinaryOp::kMultiply, un(UnaryOp::kExp, f), r)});
    cases.push_back({"full root " + dn, f});
    cases.push_back({"sum full " + dn, red(g::ReduceOp::kSum, f, {})});
    cases.push_back(
        {"sum0 full*full " + dn, red(g::ReduceOp::kSum, bin(BinaryOp::kMultiply, f, f), {0})});
    cases.push_back(
        {"max1 full/r " + dn, red(g::ReduceOp::kMax, bin(BinaryOp::kDivide, f, r), {1})});
    cases.push_back({"floordiv " + dn, bin(BinaryOp::kFloorDivide, r, f)});
    cases.push_back({"pow " + dn, bin(BinaryOp::kPower, f, un(UnaryOp::kAbs, r))});
    auto s1 = g::Scalar(2.0, true);
    cases.push_back({"scalar*full " + dn, bin(BinaryOp::kMultiply, s1, f)});
    cases.push_back({"(full+s)*(r+full) " + dn, bin(BinaryOp::kMultiply, bin(BinaryOp::kAdd, f, s1),
                                                    bin(BinaryOp::kAdd, r, f))});
  }
  const tessera::ChunkSpec c3({30, 70, 5});
  auto x3 = rnd({90, 140, 10}, 1, DType::kFloat64, c3);
  auto y3 = rnd({90, 140, 10}, 2, DType::kFloat64, c3, -1, 1);
  auto f3 = full({90, 140, 10}, 0.25, DType::kFloat64, c3);
  cases.push_back(
      {"b3-like",
       red(g::ReduceOp::kSum,
           bin(BinaryOp::kAdd, un(UnaryOp::kArcsin, x3), un(UnaryOp::kArccos, y3)), {1, 2})});
  cases.push_back({"b3-like sum0", red(g::ReduceOp::kSum, bin(BinaryOp::kMultiply, x3, f3), {0})});
  cases.push_back({"b3-like mean2", red(g::ReduceOp::kMean, bin(BinaryOp::kAdd, x3, y3), {2})});
  cases.push_back({"b3-like store", bin(BinaryOp::kAdd, un(UnaryOp::kArcsin, y3),
                                        bin(BinaryOp::kMultiply, x3, f3))});
  cases.push_back(
      {"exp mean",
       red(g::ReduceOp::kMean,
           un(UnaryOp::kExp, rnd({3000, 2000}, 9, DType::kFloat64, {}, -700, 700)), {})});
  cases.push_back({"b4-like", red(g::ReduceOp::kSum, rnd({100000}, 3, DType::kFloat64, 1000), {})});
  cases.push_back(
      {"f32 rand", red(g::ReduceOp::kSum, rnd({1000, 3000}, 3, DType::kFloat32, 700), {1})});
  {
    auto p1 = rnd({1500, 2500}, 11, DType::kFloat64, c2, -1, 4);
    auto p2 = rnd({1500, 2500}, 12, DType::kFloat64, c2, -1, 4);
    auto nan_sum = bin(BinaryOp::kMultiply, un(UnaryOp::kLog, p1), un(UnaryOp::kSqrt, p2));
    cases.push_back({"nan sum", red(g::ReduceOp::kSum, nan_sum, {})});
    cases.push_back({"nan sum1", red(g::ReduceOp::kSum, nan_sum, {1})});
    cases.push_back({"nan mean0", red(g::ReduceOp::kMean, nan_sum, {0})});
    auto big = rnd({1500, 2500}, 13, DType::kFloat64, c2, 300, 800);
    cases.push_back(
        {"inf-inf sum",
         red(g::ReduceOp::kSum,
             bin(BinaryOp::kSubtract, un(UnaryOp::kExp, big), un(UnaryOp::kExp, rev(big))), {1})});
    cases.push_back({"div sum", red(g::ReduceOp::kSum, bin(BinaryOp::kDivide, p1, p2), {1})});
  }
  for (auto& [name, node] : cases) {
    const g::TaskGraph tg = Must(g::Lower(node));
    std::map<std::string, tessera::ChunkPtr> done;
    uint64_t h = 1469598103934665603ull;
    for (const auto& t : tg.tasks) {
      std::vector<tessera::ChunkPtr> deps;
      for (const auto& k : t.deps) deps.push_back(done.at(k));
      ChunkBuffer out = Must(tessera::cpu::ExecuteTask(
          t, t.kind == g::TaskKind::kChunk ? &tg.programs[t.program] : nullptr, deps));
      h = Fnv(out.bytes, h);
      done[t.key] = std::make_shared<const ChunkBuffer>(std::move(out));
    }
    std::printf("%-28s %016llx\n", name.c_str(), static_cast<unsigned long long>(h));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string w = argc > 1 ? argv[1] : "all";
  const int max_tasks = argc > 2 ? std::atoi(argv[2]) : 4;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 3;
  auto want = [&](const char* k) { return w == "all" || w == k; };
  if (want("b1")) Run("b1", B1(20000), max_tasks, reps);
  if (want("b2")) Run("b2", B2(40000), max_tasks, reps);
  if (want("b3")) Run("b3", B3(2000), max_tasks, reps);
  if (want("b4")) {
    for (int64_t c : {1000, 10000, 100000, 1000000}) Run("b4", B4(c), max_tasks * 1000 / 4, reps);
  }
  if (w == "kernels") Kernels();
  if (w == "programs") Programs();
  if (w == "binary") BinaryHash();
  if (w == "verify") return Verify() == 0 ? 0 : 1;
  if (w == "B1") Run("B1", B1(50000), max_tasks, reps);
  if (w == "B2") Run("B2", B2(200000), max_tasks, reps);
  if (w == "B3") Run("B3", B3(10000), max_tasks, reps);
  return 0;
}
