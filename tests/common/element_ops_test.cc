// common/element_ops.h is what the CUDA kernels evaluate; the CPU executor's block kernels
// (worker_cpu/kernels.cc) are separate vectorised loops. These tests hold the two to the same
// bits on the host for every op, dtype rounding and awkward value (NaN, infinities, signed zeros,
// integer division by zero), so a GPU result can differ from the CPU's only by the device's math
// library (docs/cuda.md), never by a different reading of NumPy's semantics.
#include "common/element_ops.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "worker_cpu/kernels.h"

namespace tessera::element {
namespace {

using graph::BinaryOp;
using graph::UnaryOp;

std::vector<double> Values() {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> v = {0.0,   -0.0,  1.0,   -1.0, 0.5,    -0.5,  1.5,  2.5,   -2.5,
                           3.0,   -7.0,  7.0,   0.3,  -0.999, 0.999, 1e-300, 1e300, -1e300,
                           2e9,   -3e9,  4.5e18, 1e19, -1e19, inf,   -inf,  std::nan("")};
  for (int i = 0; i < 40; ++i) v.push_back(std::ldexp(static_cast<double>(i * 7919 % 1000), -5) - 12);
  return v;
}

bool SameBits(double a, double b) {
  if (a != a && b != b) return true;  // any NaN: payloads are not part of NumPy's semantics
  uint64_t x, y;
  std::memcpy(&x, &a, 8);
  std::memcpy(&y, &b, 8);
  return x == y;
}

TEST(ElementOps, UnaryMatchesCpuKernels) {
  const std::vector<double> v = Values();
  std::vector<double> out(v.size());
  for (int op = 0; op <= static_cast<int>(UnaryOp::kAstype); ++op) {
    const auto u = static_cast<UnaryOp>(op);
    cpu::detail::UnaryBlock(u, out.data(), v.data(), static_cast<int64_t>(v.size()));
    for (size_t i = 0; i < v.size(); ++i) {
      const double mine = Unary(u, v[i]);
      if (u == UnaryOp::kExp && !SameBits(mine, out[i])) {
        // The CPU's exp is its own vectorised one, within 1 ulp of libm.
        EXPECT_LE(std::fabs(mine - out[i]), std::fabs(out[i]) * 2.3e-16)
            << "exp(" << v[i] << ")";
        continue;
      }
      EXPECT_TRUE(SameBits(mine, out[i]))
          << "unary op " << op << " of " << v[i] << ": " << mine << " vs CPU " << out[i];
    }
  }
}

TEST(ElementOps, BinaryMatchesCpuKernels) {
  const std::vector<double> v = Values();
  std::vector<double> a, b;
  for (double x : v) {
    for (double y : v) {
      a.push_back(x);
      b.push_back(y);
    }
  }
  std::vector<double> out(a.size());
  for (int op = 0; op <= static_cast<int>(BinaryOp::kNotEqual); ++op) {
    for (bool integer : {false, true}) {
      const auto bop = static_cast<BinaryOp>(op);
      cpu::detail::BinaryBlock(bop, integer, out.data(), a.data(), 0, b.data(), 0,
                               static_cast<int64_t>(a.size()));
      int mismatches = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        const double mine = Binary(bop, integer, a[i], b[i]);
        if (!SameBits(mine, out[i]) && ++mismatches <= 3) {
          ADD_FAILURE() << "binary op " << op << (integer ? " (integer)" : "") << " of " << a[i]
                        << ", " << b[i] << ": " << mine << " vs CPU " << out[i];
        }
      }
      EXPECT_EQ(mismatches, 0) << "binary op " << op;
    }
  }
}

TEST(ElementOps, RoundingMatchesCpuKernels) {
  for (DType d : {DType::kFloat64, DType::kFloat32, DType::kInt64, DType::kInt32, DType::kBool}) {
    for (double x : Values()) {
      EXPECT_TRUE(SameBits(RoundValue(d, x), cpu::detail::RoundValue(d, x)))
          << "dtype " << static_cast<int>(d) << " value " << x;
    }
  }
  EXPECT_EQ(ToInt64(std::nan("")), INT64_MIN);
  EXPECT_EQ(ToInt32(4294967297.0), 1);  // wraps modulo 2^32, as NumPy's astype
  EXPECT_EQ(ToInt32(-1.9), -1);
}

TEST(ElementOps, NumPySemantics) {
  EXPECT_EQ(Binary(BinaryOp::kFloorDivide, false, -7, 2), -4);
  EXPECT_EQ(Binary(BinaryOp::kMod, false, -7, 2), 1);
  EXPECT_EQ(Binary(BinaryOp::kMod, false, 7, -2), -1);
  EXPECT_EQ(Binary(BinaryOp::kFloorDivide, true, 7, 0), 0);  // NumPy's integer x // 0
  EXPECT_TRUE(std::isinf(Binary(BinaryOp::kFloorDivide, false, 7, 0)));
  EXPECT_TRUE(std::isnan(Binary(BinaryOp::kMaximum, false, 1, std::nan(""))));
  EXPECT_EQ(Unary(UnaryOp::kRound, 2.5), 2);  // half to even
  EXPECT_EQ(Unary(UnaryOp::kRound, -0.5), -0.0);
  EXPECT_TRUE(std::signbit(Unary(UnaryOp::kRound, -0.5)));
}

}  // namespace
}  // namespace tessera::element
