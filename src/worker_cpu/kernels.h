// Block kernels of the CPU executor: tight loops over up to kBlockSize contiguous doubles, one
// ProgramNode (or one reduction step) at a time. Private to src/worker_cpu.
//
// Every kernel is compiled for baseline x86-64 and, where the compiler supports it, for
// x86-64-v3 (AVX2) and x86-64-v4 (AVX-512) with run-time dispatch (target_clones), so a binary
// built once uses the widest vectors of the machine it runs on. -ffp-contract=off keeps the
// results identical across those variants (no FMA contraction). Two kernels are written by hand
// because auto-vectorisation cannot reach them: Philox for float64 uniforms (AVX-512 / AVX2
// intrinsics, bit-identical to common/philox.h) and exp (a table-driven algorithm in plain C++
// that vectorises with gathers; < 1 ulp from libm and the same bits on every variant). Float64
// arcsin / arccos are likewise vectorised (a polynomial plus sqrt, baseline / AVX2 / AVX-512
// variants chosen at run time): within 1 ulp of glibc and the same bits on every variant.
#pragma once

#include <cstdint>

#include "common/dtype.h"
#include "common/element_ops.h"
#include "graph/expr.h"

namespace tessera::cpu::detail {

/// Elements per block: small enough that a few scratch buffers stay in L1/L2.
inline constexpr int64_t kBlockSize = 1024;

/// out[i] = v.
void FillBlock(double* out, double v, int64_t n);
/// index[i] = first + i * stride.
void AffineIndex(int64_t* index, int64_t first, int64_t stride, int64_t n);
/// index[r * seg + i] = first[r] + i * stride for r < rows, i < seg. May write up to 8 elements
/// past rows * seg.
void AffineIndexRows(int64_t* index, const int64_t* first, int64_t rows, int64_t seg,
                     int64_t stride);
/// out[i] = start + step * index[i].
void ArangeIndexed(double* out, double start, double step, const int64_t* index, int64_t n);
/// Random leaf: element i uses the Philox block of flat index index[i] (docs/random.md). dtype
/// selects the recipe: float32 uniform uses UniformFloat, integer uniform uses RandInt.
void RandomBlock(double* out, graph::RandomDist dist, DType dtype, uint64_t seed, double a,
                 double b, const int64_t* index, int64_t n);
/// RandomBlock for the flat indices first + i * stride (wrapping), i < n; `index` is scratch of n
/// elements, which it may overwrite. AVX-512 float64 uniforms compute the counters in registers.
void RandomBlockAffine(double* out, graph::RandomDist dist, DType dtype, uint64_t seed, double a,
                       double b, int64_t first, int64_t stride, int64_t n, int64_t* index);
/// out[i] = src[index[i]].
void GatherIndexed(double* out, const double* src, const int64_t* index, int64_t n);
/// Caps the SIMD level of the hand-vectorised kernels (0 none, 1 AVX2, 2 AVX-512) at most at
/// what the CPU supports, and returns the level in effect. For tests.
int SetSimdLevelForTesting(int level);
/// out[i] = src[first + i * stride].
void GatherBlock(double* out, const double* src, int64_t first, int64_t stride, int64_t n);
/// out[i] = op(x[i]) in double.
void UnaryBlock(graph::UnaryOp op, double* out, const double* x, int64_t n);
/// out[i] = asin(x[i]) / acos(x[i]) for float64 nodes: vectorised, within 1 ulp of glibc's
/// asin / acos and the same bits at every SIMD level (UnaryBlock keeps libm's, for float32).
void ArcsinBlock(double* out, const double* x, int64_t n);
void ArccosBlock(double* out, const double* x, int64_t n);
/// out[i] = op(a[i], b[i]); a null pointer means the scalar av / bv. `integer` selects NumPy's
/// integer semantics where they differ from float's (x // 0 and x % 0 give 0).
void BinaryBlock(graph::BinaryOp op, bool integer, double* out, const double* a, double av,
                 const double* b, double bv, int64_t n);
/// Rounds each value to `dtype` as NumPy's astype would (float64: no-op).
void RoundBlock(DType dtype, double* x, int64_t n);
/// Rounds one value to `dtype`.
double RoundValue(DType dtype, double v);

/// Pairwise sum of x[0..n) (NumPy's scheme: 8 accumulators for runs of 128, halves above).
double PairwiseSum(const double* x, int64_t n);
/// PairwiseSum of the float64 values op(a[i], b[i]) that BinaryBlock would store (a null
/// pointer means the scalar av / bv), computed without storing them: the same values in the same
/// order, so the same bits unless the sum is NaN (whose payload may differ where two NaNs meet).
/// Only add, subtract, multiply and divide: returns false for other ops.
bool PairwiseSumBinary(graph::BinaryOp op, const double* a, double av, const double* b, double bv,
                       int64_t n, double* sum);
/// Sum of integral values, exactly, in int64.
int64_t IntSum(const double* x, int64_t n);
/// Elementwise compensated (Neumaier) accumulation: (s, c)[i] += x[i].
void NeumaierAccumulate(double* s, double* c, const double* x, int64_t n);
/// Elementwise acc[i] += (int64) x[i].
void IntAccumulate(int64_t* acc, const double* x, int64_t n);
/// Elementwise acc[i] *= x[i]; and the int64 (wrapping) variant.
void ProdAccumulate(double* acc, const double* x, int64_t n);
void IntProdAccumulate(int64_t* acc, const double* x, int64_t n);
/// Elementwise NaN-propagating min / max into acc.
void MinAccumulate(double* acc, const double* x, int64_t n);
void MaxAccumulate(double* acc, const double* x, int64_t n);
/// Block reductions to one value (NaN-propagating for min / max).
double BlockProd(const double* x, int64_t n);
double BlockMin(const double* x, int64_t n);
double BlockMax(const double* x, int64_t n);

/// Scalar compensated add.
inline void NeumaierAdd(double& s, double& c, double x) {
  const double t = s + x;
  const double as = s < 0 ? -s : s;
  const double ax = x < 0 ? -x : x;
  c += as >= ax ? (s - t) + x : (x - t) + s;
  s = t;
}
/// The value of a compensated sum (the compensation is meaningless once s is inf or NaN).
inline double NeumaierResult(double s, double c) { return (s - s == 0) ? s + c : s; }

/// NumPy's float->int64 and float->int32 conversions (common/element_ops.h).
using element::ToInt32;
using element::ToInt64;

}  // namespace tessera::cpu::detail
