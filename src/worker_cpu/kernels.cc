#include "worker_cpu/kernels.h"

#include "common/element_ops.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "common/element_ops.h"
#include "common/philox.h"

// Run-time dispatched variants of the hot loops (see kernels.h). target_clones needs GCC's ifunc
// support on x86-64; elsewhere the loops are compiled once for the target.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define TESSERA_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define TESSERA_CLONES
#endif

namespace tessera::cpu::detail {
namespace {

using graph::BinaryOp;
using graph::UnaryOp;

// NumPy's floor division, remainder (the sign of the divisor) and NaN-propagating maximum /
// minimum: the definitions the CUDA kernels use too.
using element::FloorDivide;
using element::Maximum;
using element::Minimum;
using element::Remainder;
inline double Sign(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : (x == 0 ? 0.0 : x)); }

struct Vec {
  const double* __restrict p;
  double operator[](int64_t i) const { return p[i]; }
};
struct Sca {
  double v;
  double operator[](int64_t) const { return v; }
};

template <typename A, typename B, typename F>
inline void Loop2(double* __restrict out, A a, B b, int64_t n, F f) {
#pragma GCC ivdep
  for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
}

template <typename A, typename B>
inline void Binary(BinaryOp op, bool integer, double* __restrict out, A a, B b, int64_t n) {
  switch (op) {
    case BinaryOp::kAdd:
      return Loop2(out, a, b, n, [](double x, double y) { return x + y; });
    case BinaryOp::kSubtract:
      return Loop2(out, a, b, n, [](double x, double y) { return x - y; });
    case BinaryOp::kMultiply:
      return Loop2(out, a, b, n, [](double x, double y) { return x * y; });
    case BinaryOp::kDivide:
      return Loop2(out, a, b, n, [](double x, double y) { return x / y; });
    case BinaryOp::kFloorDivide:
      if (integer) {
        return Loop2(out, a, b, n,
                     [](double x, double y) { return y == 0 ? 0.0 : FloorDivide(x, y); });
      }
      return Loop2(out, a, b, n, [](double x, double y) { return FloorDivide(x, y); });
    case BinaryOp::kMod:
      if (integer) {
        return Loop2(out, a, b, n,
                     [](double x, double y) { return y == 0 ? 0.0 : Remainder(x, y); });
      }
      return Loop2(out, a, b, n, [](double x, double y) { return Remainder(x, y); });
    case BinaryOp::kPower:
      return Loop2(out, a, b, n, [](double x, double y) { return std::pow(x, y); });
    case BinaryOp::kMaximum:
      return Loop2(out, a, b, n, Maximum);
    case BinaryOp::kMinimum:
      return Loop2(out, a, b, n, Minimum);
    case BinaryOp::kArctan2:
      return Loop2(out, a, b, n, [](double x, double y) { return std::atan2(x, y); });
    case BinaryOp::kHypot:
      return Loop2(out, a, b, n, [](double x, double y) { return std::hypot(x, y); });
    case BinaryOp::kLess:
      return Loop2(out, a, b, n, [](double x, double y) { return x < y ? 1.0 : 0.0; });
    case BinaryOp::kLessEqual:
      return Loop2(out, a, b, n, [](double x, double y) { return x <= y ? 1.0 : 0.0; });
    case BinaryOp::kGreater:
      return Loop2(out, a, b, n, [](double x, double y) { return x > y ? 1.0 : 0.0; });
    case BinaryOp::kGreaterEqual:
      return Loop2(out, a, b, n, [](double x, double y) { return x >= y ? 1.0 : 0.0; });
    case BinaryOp::kEqual:
      return Loop2(out, a, b, n, [](double x, double y) { return x == y ? 1.0 : 0.0; });
    case BinaryOp::kNotEqual:
      return Loop2(out, a, b, n, [](double x, double y) { return x != y ? 1.0 : 0.0; });
  }
  // Unknown op values are rejected by the executor's validation; fill NaN defensively.
  for (int64_t i = 0; i < n; ++i) out[i] = std::numeric_limits<double>::quiet_NaN();
}

// Loop1 is always inlined so that each target_clones variant of UnaryBlock gets its own copy,
// vectorised for that variant's ISA (as a separate function it was compiled once, for baseline
// x86-64). Binary and Loop2 stay out of line as they were: inlined into BinaryBlock's variants,
// GCC orders the operands of add and multiply differently, which changes which payload a
// NaN + NaN result keeps.
template <typename F>
__attribute__((always_inline)) inline void Loop1(double* __restrict out, const double* __restrict x,
                                                 int64_t n, F f) {
#pragma GCC ivdep
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i]);
}

}  // namespace

TESSERA_CLONES void FillBlock(double* __restrict out, double v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = v;
}

namespace {

// Philox4x32-10 for many counters at once with explicit SIMD: GCC's auto-vectorisation of the
// scalar Philox (common/philox.h) uses 64x64-bit multiplies and shuffles and runs at ~5 ns per
// element; 32x32->64 multiplies on 64-bit lanes (pmuludq) bring it near 1 ns. Each 64-bit lane
// holds one element's 32-bit words zero-extended, so the results are bit-identical to the scalar
// code (checked by the executor tests against philox::ElementBlock).
#if defined(__x86_64__) && defined(__GNUC__)
#define TESSERA_HAVE_X86_SIMD 1

constexpr double kTwo52 = 4503599627370496.0;  // 2^52

// GCC 12 warns inside its own AVX-512 shift intrinsics (_mm512_undefined_epi32): a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// The key of each of Philox's ten rounds: (seed low, seed high) bumped by the Weyl constants.
struct RoundKeys {
  explicit RoundKeys(uint64_t seed) {
    uint32_t a = static_cast<uint32_t>(seed), b = static_cast<uint32_t>(seed >> 32);
    for (int r = 0; r < 10; ++r, a += philox::kWeyl0, b += philox::kWeyl1) {
      k0[r] = a;
      k1[r] = b;
    }
  }
  uint32_t k0[10], k1[10];
};

// Uniform float64 in [a, a + width) for n elements (n a multiple of 8), AVX-512.
// The high 32 bits of each 64-bit lane are left as garbage between rounds: pmuludq reads only the
// low 32 bits of c0 / c2, and c1 / c3 only feed XORs whose low 32 bits are the Philox words, so
// the per-round masks are not needed (c0 is masked once at the end; c1 is shifted up, dropping
// its high half). The three-way XORs are one vpternlogq each, the first round (c2 = c3 = 0) is
// specialised, the high words are moved down by shuffles (Hi32), and four vectors go through the
// rounds in lockstep (UniformF64Vec512).
// The words, and so the doubles, are those of the scalar recipe.
struct PhiloxKeys512 {
  __m512i k0[10], k1[10];
};

// The high 32 bits of each lane moved to the low half (the low half going to the high half, where
// it is garbage). A shuffle rather than a shift: 512-bit shifts share port 0 with pmuludq, while
// vpshufd runs on port 5.
__attribute__((target("avx512f"), always_inline)) inline __m512i Hi32(__m512i v) {
  return _mm512_shuffle_epi32(v, _MM_PERM_CDAB);
}

// kN vectors of 8 counters in lockstep: a round's multiply, shuffle and XOR take about 7 cycles
// from one round to the next, and one vector's round is 6 uops for the two 512-bit ports, so
// fewer than three independent vectors leave the ports idle while a round's latency runs out.
template <int kN>
__attribute__((target("avx512f,avx512dq"), always_inline)) inline void UniformF64Vec512(
    const __m512i (&idx)[kN], const PhiloxKeys512& keys, __m512i m0, __m512i m1, __m512d scale,
    __m512d va, __m512d vw, bool unit, __m512d (&out)[kN]) {
  __m512i c0[kN], c1[kN], c2[kN], c3[kN];
  // Round 0: c2 = c3 = 0, so p1 = 0.
#pragma GCC unroll 8
  for (int j = 0; j < kN; ++j) {
    const __m512i p0 = _mm512_mul_epu32(idx[j], m0);
    c0[j] = _mm512_xor_si512(Hi32(idx[j]), keys.k0[0]);
    c2[j] = _mm512_xor_si512(Hi32(p0), keys.k1[0]);
    c1[j] = _mm512_setzero_si512();
    c3[j] = p0;
  }
#pragma GCC unroll 10
  for (int r = 1; r < 10; ++r) {
#pragma GCC unroll 8
    for (int j = 0; j < kN; ++j) {
      const __m512i p0 = _mm512_mul_epu32(c0[j], m0);
      const __m512i p1 = _mm512_mul_epu32(c2[j], m1);
      c0[j] = _mm512_ternarylogic_epi64(Hi32(p1), c1[j], keys.k0[r], 0x96);
      c2[j] = _mm512_ternarylogic_epi64(Hi32(p0), c3[j], keys.k1[r], 0x96);
      c1[j] = p1;
      c3[j] = p0;
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < kN; ++j) {
    // W = (x1 << 32) | x0 (one vpternlogq: A | (B & C)); u = (W >> 11) * 2^-53, exact via
    // int64 -> double (W >> 11 < 2^53).
    const __m512i hi = _mm512_slli_epi64(c1[j], 32);
    const __m512i w = _mm512_srli_epi64(
        _mm512_ternarylogic_epi64(hi, c0[j], _mm512_set1_epi64(0xffffffffll), 0xF8), 11);
    const __m512d u = _mm512_mul_pd(_mm512_cvtepi64_pd(w), scale);
    // [0, 1): a + width * u is 0 + 1 * u, exactly u (u >= +0).
    out[j] = unit ? u : _mm512_add_pd(va, _mm512_mul_pd(vw, u));
  }
}

// Counters from index[] or, with kAffine, first + i * stride computed in registers.
template <bool kAffine>
__attribute__((target("avx512f,avx512dq"), always_inline)) inline void UniformF64Avx512Impl(
    double* __restrict out, uint64_t seed, const int64_t* __restrict index, int64_t first,
    int64_t stride, int64_t n, double a, double width) {
  const __m512i m0 = _mm512_set1_epi64(philox::kMul0), m1 = _mm512_set1_epi64(philox::kMul1);
  const RoundKeys rk(seed);
  PhiloxKeys512 keys;
  for (int r = 0; r < 10; ++r) {
    keys.k0[r] = _mm512_set1_epi64(rk.k0[r]);
    keys.k1[r] = _mm512_set1_epi64(rk.k1[r]);
  }
  const __m512d scale = _mm512_set1_pd(0x1.0p-53), va = _mm512_set1_pd(a),
                vw = _mm512_set1_pd(width);
  const bool unit = a == 0 && width == 1;
  // Wrapping int64 arithmetic, as the index arithmetic it replaces.
  const auto at = [&](int64_t k) {
    return static_cast<int64_t>(static_cast<uint64_t>(first) +
                                static_cast<uint64_t>(k) * static_cast<uint64_t>(stride));
  };
  __m512i ctr = _mm512_set_epi64(at(7), at(6), at(5), at(4), at(3), at(2), at(1), at(0));
  const __m512i step8 = _mm512_set1_epi64(at(8) - at(0));
  constexpr int kLanes = 4;  // vectors in flight (see UniformF64Vec512)
  int64_t i = 0;
  for (; i + 8 * kLanes <= n; i += 8 * kLanes) {
    __m512i c[kLanes];
    __m512d u[kLanes];
    for (int j = 0; j < kLanes; ++j) {
      if constexpr (kAffine) {
        c[j] = ctr;
        ctr = _mm512_add_epi64(ctr, step8);
      } else {
        c[j] = _mm512_loadu_si512(index + i + 8 * j);
      }
    }
    UniformF64Vec512<kLanes>(c, keys, m0, m1, scale, va, vw, unit, u);
    for (int j = 0; j < kLanes; ++j) _mm512_storeu_pd(out + i + 8 * j, u[j]);
  }
  for (; i < n; i += 8) {
    __m512i c[1];
    __m512d u[1];
    if constexpr (kAffine) {
      c[0] = ctr;
      ctr = _mm512_add_epi64(ctr, step8);
    } else {
      c[0] = _mm512_loadu_si512(index + i);
    }
    UniformF64Vec512<1>(c, keys, m0, m1, scale, va, vw, unit, u);
    _mm512_storeu_pd(out + i, u[0]);
  }
}

__attribute__((target("avx512f,avx512dq"))) void UniformF64Avx512(double* __restrict out,
                                                                  uint64_t seed,
                                                                  const int64_t* __restrict index,
                                                                  int64_t n, double a,
                                                                  double width) {
  UniformF64Avx512Impl<false>(out, seed, index, 0, 0, n, a, width);
}

__attribute__((target("avx512f,avx512dq"))) void UniformF64Avx512Affine(double* __restrict out,
                                                                        uint64_t seed,
                                                                        int64_t first,
                                                                        int64_t stride, int64_t n,
                                                                        double a, double width) {
  UniformF64Avx512Impl<true>(out, seed, nullptr, first, stride, n, a, width);
}

#pragma GCC diagnostic pop

struct PhiloxKeys256 {
  __m256i k0[10], k1[10];
};

// The same with AVX2 (n a multiple of 4), kN vectors of 4 counters in lockstep, for the reason
// given at UniformF64Vec512 (here a round's multiply, shift and two XORs take about 8 cycles from
// one round to the next). The high halves of the lanes are left as garbage between rounds as
// there, and masked once at the end. AVX2 has no int64 -> double conversion: the 53-bit value is
// split into x1 and (x0 >> 11), each converted exactly through the 2^52 trick.
template <int kN>
__attribute__((target("avx2"), always_inline)) inline void UniformF64Avx2Lanes(
    double* __restrict out, const int64_t* __restrict index, const PhiloxKeys256& keys, double a,
    double width) {
  const __m256i mask = _mm256_set1_epi64x(0xffffffffll);
  const __m256i m0 = _mm256_set1_epi64x(philox::kMul0), m1 = _mm256_set1_epi64x(philox::kMul1);
  __m256i c0[kN], c1[kN], c2[kN], c3[kN];
#pragma GCC unroll 4
  for (int j = 0; j < kN; ++j) {
    const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(index + 4 * j));
    c0[j] = idx;
    c1[j] = _mm256_srli_epi64(idx, 32);
    c2[j] = _mm256_setzero_si256();
    c3[j] = _mm256_setzero_si256();
  }
#pragma GCC unroll 10
  for (int r = 0; r < 10; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < kN; ++j) {
      const __m256i p0 = _mm256_mul_epu32(c0[j], m0);
      const __m256i p1 = _mm256_mul_epu32(c2[j], m1);
      c0[j] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[j]), keys.k0[r]);
      c2[j] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[j]), keys.k1[r]);
      c1[j] = p1;
      c3[j] = p0;
    }
  }
  const __m256i magic_bits = _mm256_set1_epi64x(0x4330000000000000ll);
  const __m256d magic = _mm256_set1_pd(kTwo52), two21 = _mm256_set1_pd(2097152.0);
  const __m256d scale = _mm256_set1_pd(0x1.0p-53), va = _mm256_set1_pd(a),
                vw = _mm256_set1_pd(width);
#pragma GCC unroll 4
  for (int j = 0; j < kN; ++j) {
    // W >> 11 = x1 * 2^21 + (x0 >> 11): both parts and the sum are exact in double.
    const __m256i x1 = _mm256_and_si256(c1[j], mask);
    const __m256i x0 = _mm256_and_si256(c0[j], mask);
    const __m256d hi = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(x1, magic_bits)), magic);
    const __m256d lo = _mm256_sub_pd(
        _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(x0, 11), magic_bits)), magic);
    const __m256d u = _mm256_mul_pd(_mm256_add_pd(_mm256_mul_pd(hi, two21), lo), scale);
    _mm256_storeu_pd(out + 4 * j, _mm256_add_pd(va, _mm256_mul_pd(vw, u)));
  }
}

__attribute__((target("avx2"))) void UniformF64Avx2(double* __restrict out, uint64_t seed,
                                                    const int64_t* __restrict index, int64_t n,
                                                    double a, double width) {
  const RoundKeys rk(seed);
  PhiloxKeys256 keys;
  for (int r = 0; r < 10; ++r) {
    keys.k0[r] = _mm256_set1_epi64x(rk.k0[r]);
    keys.k1[r] = _mm256_set1_epi64x(rk.k1[r]);
  }
  constexpr int kLanes = 3;
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    UniformF64Avx2Lanes<kLanes>(out + i, index + i, keys, a, width);
  }
  for (; i < n; i += 4) UniformF64Avx2Lanes<1>(out + i, index + i, keys, a, width);
}

enum class Simd { kNone, kAvx2, kAvx512 };

Simd DetectSimd() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) {
    return Simd::kAvx512;
  }
  // Every AVX2 CPU made has FMA too; the AVX2 kernels use both.
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Simd::kAvx2;
  return Simd::kNone;
}

// Function-local statics: initialised on first use, thread-safely, whatever the order of static
// initialisation across translation units.
Simd DetectedSimd() {
  static const Simd detected = DetectSimd();
  return detected;
}
std::atomic<int> g_simd_cap{2};  // lowered by SetSimdLevelForTesting

Simd ActiveSimd() {
  return static_cast<Simd>(
      std::min(static_cast<int>(DetectedSimd()), g_simd_cap.load(std::memory_order_relaxed)));
}
#endif

// Element i = a + width * UniformDouble(ElementBlock(seed, index[i])).
void UniformF64(double* __restrict out, uint64_t seed, const int64_t* __restrict index, int64_t n,
                double a, double width) {
  int64_t done = 0;
#ifdef TESSERA_HAVE_X86_SIMD
  const Simd simd = ActiveSimd();
  if (simd == Simd::kAvx512) {
    done = n - n % 8;
    UniformF64Avx512(out, seed, index, done, a, width);
  } else if (simd == Simd::kAvx2) {
    done = n - n % 4;
    UniformF64Avx2(out, seed, index, done, a, width);
  }
  if (simd != Simd::kNone && done < n) {
    // The last few elements as one padded vector: the scalar recipe (the same bits) costs about
    // 40 ns an element, 1.5 % of B3's blocks (409 rows of 5, so n % 8 == 5).
    int64_t idx[8];
    double vals[8];
    const int64_t lanes = simd == Simd::kAvx512 ? 8 : 4;
    for (int64_t i = 0; i < lanes; ++i) idx[i] = index[std::min(done + i, n - 1)];
    if (simd == Simd::kAvx512) {
      UniformF64Avx512(vals, seed, idx, 8, a, width);
    } else {
      UniformF64Avx2(vals, seed, idx, 4, a, width);
    }
    std::copy(vals, vals + (n - done), out + done);
    return;
  }
#endif
  for (int64_t i = done; i < n; ++i) {
    const philox::Block blk = philox::ElementBlock(seed, static_cast<uint64_t>(index[i]));
    out[i] = a + width * philox::UniformDouble(blk);
  }
}

}  // namespace

int SetSimdLevelForTesting(int level) {
#ifdef TESSERA_HAVE_X86_SIMD
  g_simd_cap.store(std::min(std::max(level, 0), 2));
  return static_cast<int>(ActiveSimd());
#else
  return 0;
#endif
}

void RandomBlockAffine(double* __restrict out, graph::RandomDist dist, DType dtype, uint64_t seed,
                       double a, double b, int64_t first, int64_t stride, int64_t n,
                       int64_t* __restrict index) {
#ifdef TESSERA_HAVE_X86_SIMD
  if (dist == graph::RandomDist::kUniform && dtype == DType::kFloat64 &&
      ActiveSimd() == Simd::kAvx512) {
    const int64_t done = n - n % 8;
    UniformF64Avx512Affine(out, seed, first, stride, done, a, b - a);
    if (done == n) return;
    // The last few as one padded vector from where they start (wrapping, as the index
    // arithmetic): the same bits as the scalar recipe, without filling n indices for them.
    double vals[8];
    const int64_t tail_first = static_cast<int64_t>(
        static_cast<uint64_t>(first) + static_cast<uint64_t>(done) * static_cast<uint64_t>(stride));
    UniformF64Avx512Affine(vals, seed, tail_first, stride, 8, a, b - a);
    std::copy(vals, vals + (n - done), out + done);
    return;
  }
#endif
  AffineIndex(index, first, stride, n);
  RandomBlock(out, dist, dtype, seed, a, b, index, n);
}

void RandomBlock(double* __restrict out, graph::RandomDist dist, DType dtype, uint64_t seed,
                 double a, double b, const int64_t* __restrict index, int64_t n) {
  auto block = [&](int64_t i) {
    return philox::ElementBlock(seed, static_cast<uint64_t>(index[i]));
  };
  if (dist == graph::RandomDist::kNormal) {
    for (int64_t i = 0; i < n; ++i) out[i] = a + b * philox::NormalDouble(block(i));
    return;
  }
  switch (dtype) {
    case DType::kFloat64:
      UniformF64(out, seed, index, n, a, b - a);
      return;
    case DType::kFloat32: {
      const double width = b - a;
      for (int64_t i = 0; i < n; ++i) {
        out[i] = a + width * static_cast<double>(philox::UniformFloat(block(i)));
      }
      return;
    }
    case DType::kInt64:
    case DType::kInt32:
    case DType::kBool: {
      // randint(low, high): the executor has checked low < high.
      const int64_t lo = ToInt64(a), hi = ToInt64(b);
      for (int64_t i = 0; i < n; ++i)
        out[i] = static_cast<double>(philox::RandInt(block(i), lo, hi));
      return;
    }
  }
}

TESSERA_CLONES void AffineIndex(int64_t* __restrict index, int64_t first, int64_t stride,
                                int64_t n) {
  for (int64_t i = 0; i < n; ++i) index[i] = first + i * stride;
}

TESSERA_CLONES void AffineIndexRows(int64_t* __restrict index, const int64_t* __restrict first,
                                    int64_t rows, int64_t seg, int64_t stride) {
  if (seg < 8 && rows > 1) {
    // Short rows: 8 values per row, one vector store, the excess overwritten by the next row
    // (the caller leaves 8 elements of room past rows * seg). The offsets i * stride are computed
    // once: with the multiply inside, GCC left this loop scalar (eight adds and stores per row,
    // 7 % of B3's chunk program, whose rows have 5 elements).
    alignas(64) int64_t offset[8];
    for (int64_t i = 0; i < 8; ++i) offset[i] = i * stride;
    for (int64_t r = 0; r < rows; ++r) {
      int64_t* __restrict out = index + r * seg;
      const int64_t f = first[r];
      for (int64_t i = 0; i < 8; ++i) out[i] = f + offset[i];
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    int64_t* __restrict out = index + r * seg;
    const int64_t f = first[r];
    for (int64_t i = 0; i < seg; ++i) out[i] = f + i * stride;
  }
}

TESSERA_CLONES void ArangeIndexed(double* __restrict out, double start, double step,
                                  const int64_t* __restrict index, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = start + step * static_cast<double>(index[i]);
}

TESSERA_CLONES void GatherIndexed(double* __restrict out, const double* __restrict src,
                                  const int64_t* __restrict index, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = src[index[i]];
}

TESSERA_CLONES void GatherBlock(double* __restrict out, const double* __restrict src, int64_t first,
                                int64_t stride, int64_t n) {
  const double* p = src + first;
  if (stride == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = p[i];
  } else if (stride == -1) {
    for (int64_t i = 0; i < n; ++i) out[i] = p[-i];
  } else if (stride == 0) {
    const double v = *p;
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = p[i * stride];
  }
}

namespace {

// exp for whole blocks: libm's exp is a scalar call (~5 ns); this one vectorises and gives the
// same bits on every ISA variant, because it is only IEEE adds, multiplies, fused multiply-adds
// (explicit: std::fma / vfmadd, exactly rounded everywhere; nothing is contracted implicitly,
// -ffp-contract=off) and integer operations. The structure of ARM's optimized-routines exp with
// a 16-entry table, which AVX-512 holds in registers (two vpermt2pd lookups, no gathers):
// x = k ln2/16 + r, |r| <= ln2/32 (+ rounding), exp(x) = 2^(k/16) * exp(r), 2^(j/16) from the
// table with a tail correction, exp(r) - 1 by its degree-7 Taylor polynomial (truncation
// < 2^-59 relative), the result scale + scale * p in one rounding. Error < 0.55 ulp (0.54 the
// largest measured against expl over 4 M points), so within 1 ulp of libm's (mostly the same
// bits; tested). |x| >= 512 and NaN go to libm.
constexpr int kExpTableBits = 4;
constexpr int kExpN = 1 << kExpTableBits;

struct ExpTable {
  double tail[kExpN];   // tail of 2^(j/N), relative: 2^(j/N) = bits[j] * (1 + tail[j])
  uint64_t bits[kExpN];  // bits of 2^(j/N) rounded, less (j << (52 - kExpTableBits))
};

uint64_t AsBits(double v) {
  uint64_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}
double AsDouble(uint64_t u) {
  double v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

ExpTable MakeExpTable() {
  ExpTable t;
  for (int j = 0; j < kExpN; ++j) {
    const long double v = exp2l(static_cast<long double>(j) / kExpN);
    const double hi = static_cast<double>(v);
    t.tail[j] = static_cast<double>((v - hi) / hi);
    t.bits[j] = AsBits(hi) - (static_cast<uint64_t>(j) << (52 - kExpTableBits));
  }
  return t;
}

const ExpTable& GetExpTable() {
  static const ExpTable table = MakeExpTable();
  return table;
}

constexpr double kExpInvLn2N = 0x1.71547652b82fep+4;  // N / ln2, rounded
// ln2 / N rounded, and the rest rounded (from 100 digits of ln2): a long double ln2 (64 bits)
// would leave an error of 2^-64 relative, which k (up to 11 818) makes 0.25 ulp of the result.
constexpr double kExpLn2HiN = 0x1.62e42fefa39efp-5;
constexpr double kExpLn2LoN = 0x1.abc9e3b39803fp-60;
constexpr double kExpShift = 0x1.8p52;  // kd + shift puts round(kd) in the low significand bits
// 1/2! .. 1/7!, each rounded.
constexpr double kExpC[6] = {0.5,
                             1.0 / 6,
                             1.0 / 24,
                             1.0 / 120,
                             1.0 / 720,
                             1.0 / 5040};

// The scalar recipe; ExpAvx512 does the same operations in the same order.
inline double ExpCore(double v, const ExpTable& t) {
  double kd = std::fma(v, kExpInvLn2N, kExpShift);
  const uint64_t ki = AsBits(kd);
  kd -= kExpShift;
  const double r = std::fma(-kd, kExpLn2LoN, std::fma(-kd, kExpLn2HiN, v));
  const uint64_t j = ki % kExpN;
  const double scale = AsDouble(t.bits[j] + (ki << (52 - kExpTableBits)));
  double q = kExpC[5];
  for (int c = 4; c >= 0; --c) q = std::fma(q, r, kExpC[c]);
  const double p = std::fma(r * r, q, r + t.tail[j]);
  return std::fma(scale, p, scale);
}

TESSERA_CLONES void ExpLoop(double* __restrict out, const double* __restrict x, int64_t n) {
  const ExpTable& t = GetExpTable();
  int64_t special = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    special += std::fabs(v) < 512.0 ? 0 : 1;  // also counts NaN
    out[i] = ExpCore(v, t);
  }
  if (special != 0) {
    for (int64_t i = 0; i < n; ++i) {
      if (!(std::fabs(x[i]) < 512.0)) out[i] = std::exp(x[i]);
    }
  }
}

#ifdef TESSERA_HAVE_X86_SIMD
// GCC 12 warns inside its own shift intrinsics (_mm512_undefined_*): false positives.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
// ExpCore with explicit AVX-512 (n a multiple of 8): the table in four registers, looked up by
// vpermt2pd / vpermt2q on the low 4 bits of ki (no gathers). The same operations in the same
// order as ExpCore, so the same bits; |x| >= 512 and NaN are patched by the caller as in
// ExpLoop; returns whether there are any.
__attribute__((target("avx512f,avx512dq"))) bool ExpAvx512(double* __restrict out,
                                                           const double* __restrict x, int64_t n,
                                                           const ExpTable& t) {
  const __m512d inv_ln2n = _mm512_set1_pd(kExpInvLn2N);
  const __m512d shift = _mm512_set1_pd(kExpShift);
  const __m512d neg_ln2hi = _mm512_set1_pd(-kExpLn2HiN), neg_ln2lo = _mm512_set1_pd(-kExpLn2LoN);
  __m512d c[6];
  for (int k = 0; k < 6; ++k) c[k] = _mm512_set1_pd(kExpC[k]);
  const __m512d tail_lo = _mm512_loadu_pd(t.tail), tail_hi = _mm512_loadu_pd(t.tail + 8);
  const __m512i bits_lo = _mm512_loadu_si512(t.bits), bits_hi = _mm512_loadu_si512(t.bits + 8);
  const __m512d limit = _mm512_set1_pd(512.0);
  __mmask8 special = 0;
  for (int64_t i = 0; i < n; i += 8) {
    const __m512d v = _mm512_loadu_pd(x + i);
    special |= _mm512_cmp_pd_mask(_mm512_abs_pd(v), limit, _CMP_NLT_UQ);  // also NaN
    __m512d kd = _mm512_fmadd_pd(v, inv_ln2n, shift);
    const __m512i ki = _mm512_castpd_si512(kd);
    kd = _mm512_sub_pd(kd, shift);
    // -kd * c + a is fma(-kd, c, a) exactly: negating c instead of kd changes no bits.
    const __m512d r =
        _mm512_fmadd_pd(kd, neg_ln2lo, _mm512_fmadd_pd(kd, neg_ln2hi, v));
    const __m512d tail = _mm512_permutex2var_pd(tail_lo, ki, tail_hi);
    const __m512i hi = _mm512_permutex2var_epi64(bits_lo, ki, bits_hi);
    const __m512d scale =
        _mm512_castsi512_pd(_mm512_add_epi64(hi, _mm512_slli_epi64(ki, 52 - kExpTableBits)));
    __m512d q = c[5];
    for (int k = 4; k >= 0; --k) q = _mm512_fmadd_pd(q, r, c[k]);
    const __m512d p = _mm512_fmadd_pd(_mm512_mul_pd(r, r), q, _mm512_add_pd(r, tail));
    _mm512_storeu_pd(out + i, _mm512_fmadd_pd(scale, p, scale));
  }
  return special != 0;
}
#pragma GCC diagnostic pop
#endif

void ExpBlock(double* __restrict out, const double* __restrict x, int64_t n) {
#ifdef TESSERA_HAVE_X86_SIMD
  if (ActiveSimd() == Simd::kAvx512 && n >= 8) {
    const int64_t done = n - n % 8;
    const bool special = ExpAvx512(out, x, done, GetExpTable());
    if (done < n) ExpLoop(out + done, x + done, n - done);
    // ExpLoop's patch for |x| >= 512 and NaN over the vector part.
    for (int64_t i = 0; special && i < done; ++i) {
      if (!(std::fabs(x[i]) < 512.0)) out[i] = std::exp(x[i]);
    }
    return;
  }
#endif
  ExpLoop(out, x, n);
}

// asin / acos for whole blocks: libm's are scalar calls (~16 ns each); these vectorise. Only IEEE
// adds, multiplies, sqrt, explicit fused multiply-adds (std::fma, exactly rounded on
// every ISA; nothing is contracted implicitly: -ffp-contract=off) and bit masks, written once and
// compiled for baseline x86-64 (which GCC leaves scalar, but branch-free; its fma is libm's),
// AVX2 + FMA and AVX-512 (dispatched like the Philox kernels), so every variant gives the same
// bits. Algorithm (the classic fdlibm structure):
//   |x| <= 1/2:  asin(x) = x + x R(x^2),  acos(x) = pi/2 - (x + x R(x^2)),
//   |x| >  1/2:  with t = (1 - |x|) / 2 (exact) and s = sqrt(t), asin(|x|) = pi/2 - 2 asin(s) and
//                acos(|x|) = 2 asin(s), acos(-|x|) = pi - 2 asin(s), asin(s) = s + s R(t).
// R(t) = t P(t), P a degree-13 polynomial interpolating (asin(sqrt t) - sqrt t) / t^1.5 at the
// Chebyshev nodes of [0, 1/4] (error < 2^-58). For |x| > 1/2, sqrt(t) = w + c with w = s truncated
// to 21 bits and c = (s - w) + (t - s^2) / (2 s), and pi/2, pi/4 are split into a double and a
// tail, so that rounding s costs no accuracy (SplitSqrt: no divide, the divider being the loop's
// bottleneck with the sqrt). Products feeding an add are fused with it: fewer operations, and a
// little closer to glibc (of 2e7 points in [0, 1), asin differs by 1 ulp at 7.18 % against
// 7.27 % unfused, acos at 5.12 % against 5.16 %). (fdlibm takes a shorter formula without the split
// for |x| >= 0.975; the split one is as accurate there, within 1 ulp of glibc over 2e7 points of
// [0.975, 1] including the 1e7 doubles below 1, and one formula fewer is ~10 % faster.)
// Measured over dense sweeps and random points: at most 1 ulp from glibc, NaN outside [-1, 1],
// asin(-0) = -0.
// A block whose inputs all lie in [+0, 1] (B3's uniform randoms) takes a loop without the sign,
// negative-branch and NaN handling, ~15 % faster; on that domain it does the same operations as
// the general loop, so an element's bits do not depend on its block's other elements.
constexpr double kPio2Hi = 0x1.921fb54442d18p+0;   // pi/2 rounded down
constexpr double kPio2Lo = 0x1.1a62633145c07p-54;  // pi/2 - kPio2Hi
constexpr double kPio4Hi = 0x1.921fb54442d18p-1;   // kPio2Hi / 2
constexpr double kAsinP[14] = {0x1.5555555555555p-3,  0x1.3333333333388p-4, 0x1.6db6db6dac1e0p-5,
                               0x1.f1c71c7a52ba3p-6,  0x1.6e8ba123e494cp-6, 0x1.1c4efce23019fp-6,
                               0x1.c990ad3d8fdcap-7,  0x1.7b027ee1dd585p-7, 0x1.3b49de7121487p-7,
                               0x1.31622469ce5adp-7,  0x1.8f193743418ffp-9, 0x1.406192d124629p-6,
                               -0x1.3b416bb7d9257p-6, 0x1.e529c6fce9bb4p-6};

// R(t) = asin(y) / y - 1 for t = y^2 in [0, 1/4], by Horner's rule with fused multiply-adds.
inline double AsinR(double t) {
  double p = kAsinP[13];
  for (int k = 12; k >= 0; --k) p = std::fma(p, t, kAsinP[k]);
  return t * p;
}

// cond ? a : b through bit masks. A plain ?: lets GCC move the divide and sqrt feeding one side
// under a branch, and under -ftrapping-math it will not speculate them back for AVX2 blends, so
// the loop would not vectorise below AVX-512.
inline double Select(bool cond, double a, double b) {
  const uint64_t m = uint64_t{0} - static_cast<uint64_t>(cond);
  return AsDouble((AsBits(a) & m) | (AsBits(b) & ~m));
}

// sqrt(t) = w + c to about 2^-58 relative, for s = sqrt(t) rounded: w is s with the low 32 bits
// of its significand cleared (so s - w is exact) and c = (s - w) + d, d = (t - s^2) / (2 s) being
// the rounding error of s (|d| <= 2^-53 s). t - s^2 is exact as one fused multiply-add (the
// residual of a correctly rounded square root is a double), and 1 / (2 s) is needed to a few bits
// only: it is taken from s's bits with one integer subtract (within 5.1 %). A divide here would
// cost as much as the sqrt, the two sharing the divider, which bounds the loop. For t == 0 the
// residual is 0 and the reciprocal finite (2^1021), so c = 0.
inline void SplitSqrt(double t, double s, double& w, double& c) {
  w = AsDouble(AsBits(s) & 0xffffffff00000000ull);
  const double half_recip = AsDouble(0x7fce623822fc16e6ull - AsBits(s));
  c = std::fma(std::fma(-s, s, t), half_recip, s - w);
}

template <bool kAcos, bool kUnit>
__attribute__((always_inline)) inline void AsinAcosLoop(double* __restrict out,
                                                        const double* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double a = kUnit ? v : std::fabs(v);
    const bool small = a <= 0.5;  // false for NaN
    const double tl = (1.0 - a) * 0.5;
    const double r = AsinR(Select(small, v * v, tl));
    const double s = std::sqrt(tl);  // NaN for |x| > 1
    double w, c;
    SplitSqrt(tl, s, w, c);
    double res;
    if constexpr (kAcos) {
      const double small_res = kPio2Hi - (v - std::fma(-v, r, kPio2Lo));
      const double pos_res = 2 * (w + std::fma(s, r, c));
      if constexpr (kUnit) {
        res = Select(small, small_res, pos_res);
      } else {
        // pi - 2 w is exact: 2 w has 21 significant bits, none below 2^-51 as s >= 2^-27.
        const double neg_res = (2 * kPio2Hi - 2 * w) - 2 * (std::fma(s, r, c) - kPio2Lo);
        res = Select(small, small_res, Select(v < 0, neg_res, pos_res));
      }
    } else {
      const double small_res = std::fma(a, r, a);
      const double large_res =
          kPio4Hi - (std::fma(2 * s, r, 2 * c - kPio2Lo) - (kPio4Hi - 2 * w));
      res = Select(small, small_res, large_res);
      if constexpr (!kUnit) res = std::copysign(res, v);  // a no-op on [+0, 1]
    }
    if constexpr (kUnit) {
      out[i] = res;
    } else {
      // A NaN input gives itself, quieted, and |x| > 1 a positive quiet NaN, as glibc's do: left
      // to the arithmetic, which of two NaN operands an operation passes on would depend on how
      // each variant was compiled (and baseline's fma is libm's).
      const double domain = Select(a > 1, AsDouble(0x7ff8000000000000ull), res);
      out[i] = Select(v != v, v + v, domain);
    }
  }
}

// Whether every x[i] is in [+0, 1]: as unsigned integers the bits of those doubles are at most
// 1.0's, and those of anything else (negative, -0, NaN, > 1) are above.
__attribute__((always_inline)) inline bool AllInUnitInterval(const double* __restrict x,
                                                             int64_t n) {
  uint64_t most = 0;
  for (int64_t i = 0; i < n; ++i) most = std::max(most, AsBits(x[i]));
  return most <= AsBits(1.0);
}

// The check and the loop it picks, compiled once per SIMD level below (so is the check).
template <bool kAcos>
__attribute__((always_inline)) inline void AsinAcosAny(double* __restrict out,
                                                       const double* __restrict x, int64_t n) {
  if (AllInUnitInterval(x, n)) {
    AsinAcosLoop<kAcos, true>(out, x, n);
  } else {
    AsinAcosLoop<kAcos, false>(out, x, n);
  }
}

template <bool kAcos>
void AsinAcosDefault(double* __restrict out, const double* __restrict x, int64_t n) {
  AsinAcosAny<kAcos>(out, x, n);
}

#ifdef TESSERA_HAVE_X86_SIMD
template <bool kAcos>
__attribute__((target("avx2,fma"))) void AsinAcosAvx2(double* __restrict out,
                                                      const double* __restrict x, int64_t n) {
  AsinAcosAny<kAcos>(out, x, n);
}

// AsinAcosLoop<kAcos, true> (inputs in [+0, 1]) written out for AVX-512, the same operations in
// the same order (so the same bits), on kN vectors in lockstep: compiled from the loop, one
// vector's Horner chain (14 dependent fused multiply-adds) and sqrt leave the ports idle, and four
// interleaved vectors run the block 10-14 % faster (B3's chunks; a block alone). n a multiple of
// 8 * kN.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 on _mm512_undefined_pd
template <bool kAcos, int kN>
__attribute__((target("avx512f,avx512dq"), always_inline)) inline void AsinAcosUnitVec512(
    double* __restrict out, const double* __restrict x, int64_t n) {
  const __m512d half = _mm512_set1_pd(0.5), one = _mm512_set1_pd(1.0);
  const __m512i high = _mm512_set1_epi64(static_cast<int64_t>(0xffffffff00000000ull));
  const __m512i recip = _mm512_set1_epi64(0x7fce623822fc16e6ll);  // SplitSqrt's
  const __m512d pio2_hi = _mm512_set1_pd(kPio2Hi), pio2_lo = _mm512_set1_pd(kPio2Lo),
                pio4_hi = _mm512_set1_pd(kPio4Hi);
  for (int64_t i = 0; i < n; i += 8 * kN) {
    __m512d v[kN], tl[kN], t[kN], p[kN];
    __mmask8 small[kN];
#pragma GCC unroll 4
    for (int j = 0; j < kN; ++j) {
      v[j] = _mm512_loadu_pd(x + i + 8 * j);
      small[j] = _mm512_cmp_pd_mask(v[j], half, _CMP_LE_OQ);
      tl[j] = _mm512_mul_pd(_mm512_sub_pd(one, v[j]), half);
      t[j] = _mm512_mask_mul_pd(tl[j], small[j], v[j], v[j]);  // small ? v * v : tl
      p[j] = _mm512_set1_pd(kAsinP[13]);
    }
#pragma GCC unroll 13
    for (int k = 12; k >= 0; --k) {
      const __m512d ck = _mm512_set1_pd(kAsinP[k]);
#pragma GCC unroll 4
      for (int j = 0; j < kN; ++j) p[j] = _mm512_fmadd_pd(p[j], t[j], ck);
    }
#pragma GCC unroll 4
    for (int j = 0; j < kN; ++j) {
      const __m512d r = _mm512_mul_pd(t[j], p[j]);
      const __m512d s = _mm512_sqrt_pd(tl[j]);
      const __m512d w = _mm512_castsi512_pd(_mm512_and_si512(_mm512_castpd_si512(s), high));
      const __m512d half_recip =
          _mm512_castsi512_pd(_mm512_sub_epi64(recip, _mm512_castpd_si512(s)));
      const __m512d c =
          _mm512_fmadd_pd(_mm512_fnmadd_pd(s, s, tl[j]), half_recip, _mm512_sub_pd(s, w));
      __m512d small_res, large_res;
      if constexpr (kAcos) {
        small_res = _mm512_sub_pd(pio2_hi, _mm512_sub_pd(v[j], _mm512_fnmadd_pd(v[j], r, pio2_lo)));
        const __m512d sum = _mm512_add_pd(w, _mm512_fmadd_pd(s, r, c));
        large_res = _mm512_add_pd(sum, sum);
      } else {
        small_res = _mm512_fmadd_pd(v[j], r, v[j]);
        const __m512d lo = _mm512_sub_pd(_mm512_add_pd(c, c), pio2_lo);
        const __m512d hi = _mm512_sub_pd(pio4_hi, _mm512_add_pd(w, w));
        large_res = _mm512_sub_pd(
            pio4_hi, _mm512_sub_pd(_mm512_fmadd_pd(_mm512_add_pd(s, s), r, lo), hi));
      }
      _mm512_storeu_pd(out + i + 8 * j, _mm512_mask_blend_pd(small[j], large_res, small_res));
    }
  }
}
#pragma GCC diagnostic pop

template <bool kAcos>
__attribute__((target("avx512f,avx512dq"))) void AsinAcosAvx512(double* __restrict out,
                                                                const double* __restrict x,
                                                                int64_t n) {
  if (!AllInUnitInterval(x, n)) return AsinAcosLoop<kAcos, false>(out, x, n);
  constexpr int kN = 4;
  const int64_t done = n - n % (8 * kN);
  AsinAcosUnitVec512<kAcos, kN>(out, x, done);
  if (done == n) return;
  // The rest as one padded pass (the same operations per element, so the same bits): through the
  // loop, its last n % 8 elements would be scalar (B3's blocks leave 29 elements past 2016).
  alignas(64) double in[8 * kN], vals[8 * kN];
  std::fill(std::copy(x + done, x + n, in), in + 8 * kN, 0.0);
  AsinAcosUnitVec512<kAcos, kN>(vals, in, 8 * kN);
  std::copy(vals, vals + (n - done), out + done);
}
#endif

template <bool kAcos>
void AsinAcosBlock(double* __restrict out, const double* __restrict x, int64_t n) {
#ifdef TESSERA_HAVE_X86_SIMD
  switch (ActiveSimd()) {
    case Simd::kAvx512:
      return AsinAcosAvx512<kAcos>(out, x, n);
    case Simd::kAvx2:
      return AsinAcosAvx2<kAcos>(out, x, n);
    case Simd::kNone:
      break;
  }
#endif
  AsinAcosDefault<kAcos>(out, x, n);
}

}  // namespace

void ArcsinBlock(double* out, const double* x, int64_t n) { AsinAcosBlock<false>(out, x, n); }
void ArccosBlock(double* out, const double* x, int64_t n) { AsinAcosBlock<true>(out, x, n); }

TESSERA_CLONES void UnaryBlock(UnaryOp op, double* __restrict out, const double* __restrict x,
                               int64_t n) {
  switch (op) {
    case UnaryOp::kNegative:
      return Loop1(out, x, n, [](double v) { return -v; });
    case UnaryOp::kAbs:
      return Loop1(out, x, n, [](double v) { return std::fabs(v); });
    case UnaryOp::kSqrt:
      return Loop1(out, x, n, [](double v) { return std::sqrt(v); });
    case UnaryOp::kSquare:
      return Loop1(out, x, n, [](double v) { return v * v; });
    case UnaryOp::kExp:
      return ExpBlock(out, x, n);
    case UnaryOp::kExpm1:
      return Loop1(out, x, n, [](double v) { return std::expm1(v); });
    case UnaryOp::kLog:
      return Loop1(out, x, n, [](double v) { return std::log(v); });
    case UnaryOp::kLog1p:
      return Loop1(out, x, n, [](double v) { return std::log1p(v); });
    case UnaryOp::kLog2:
      return Loop1(out, x, n, [](double v) { return std::log2(v); });
    case UnaryOp::kLog10:
      return Loop1(out, x, n, [](double v) { return std::log10(v); });
    case UnaryOp::kSin:
      return Loop1(out, x, n, [](double v) { return std::sin(v); });
    case UnaryOp::kCos:
      return Loop1(out, x, n, [](double v) { return std::cos(v); });
    case UnaryOp::kTan:
      return Loop1(out, x, n, [](double v) { return std::tan(v); });
    case UnaryOp::kArcsin:
      return Loop1(out, x, n, [](double v) { return std::asin(v); });
    case UnaryOp::kArccos:
      return Loop1(out, x, n, [](double v) { return std::acos(v); });
    case UnaryOp::kArctan:
      return Loop1(out, x, n, [](double v) { return std::atan(v); });
    case UnaryOp::kSinh:
      return Loop1(out, x, n, [](double v) { return std::sinh(v); });
    case UnaryOp::kCosh:
      return Loop1(out, x, n, [](double v) { return std::cosh(v); });
    case UnaryOp::kTanh:
      return Loop1(out, x, n, [](double v) { return std::tanh(v); });
    case UnaryOp::kFloor:
      return Loop1(out, x, n, [](double v) { return std::floor(v); });
    case UnaryOp::kCeil:
      return Loop1(out, x, n, [](double v) { return std::ceil(v); });
    // NumPy rounds half to even: nearbyint in the default rounding mode.
    case UnaryOp::kRound:
      return Loop1(out, x, n, [](double v) { return std::nearbyint(v); });
    case UnaryOp::kSign:
      return Loop1(out, x, n, Sign);
    case UnaryOp::kIsnan:
      return Loop1(out, x, n, [](double v) { return v != v ? 1.0 : 0.0; });
    case UnaryOp::kIsfinite:
      return Loop1(out, x, n, [](double v) { return v - v == 0 ? 1.0 : 0.0; });
    // The cast itself is the node's rounding to its dtype (RoundBlock).
    case UnaryOp::kAstype:
      return Loop1(out, x, n, [](double v) { return v; });
  }
  for (int64_t i = 0; i < n; ++i) out[i] = std::numeric_limits<double>::quiet_NaN();
}

TESSERA_CLONES void BinaryBlock(BinaryOp op, bool integer, double* __restrict out, const double* a,
                                double av, const double* b, double bv, int64_t n) {
  if (a != nullptr && b != nullptr) return Binary(op, integer, out, Vec{a}, Vec{b}, n);
  if (a != nullptr) return Binary(op, integer, out, Vec{a}, Sca{bv}, n);
  if (b != nullptr) return Binary(op, integer, out, Sca{av}, Vec{b}, n);
  return Binary(op, integer, out, Sca{av}, Sca{bv}, n);
}

double RoundValue(DType dtype, double v) { return element::RoundValue(dtype, v); }

TESSERA_CLONES void RoundBlock(DType dtype, double* __restrict x, int64_t n) {
  switch (dtype) {
    case DType::kFloat64:
      return;
    case DType::kFloat32:
      for (int64_t i = 0; i < n; ++i) x[i] = static_cast<double>(static_cast<float>(x[i]));
      return;
    case DType::kInt64:
      for (int64_t i = 0; i < n; ++i) x[i] = static_cast<double>(ToInt64(x[i]));
      return;
    case DType::kInt32:
      for (int64_t i = 0; i < n; ++i) x[i] = static_cast<double>(ToInt32(x[i]));
      return;
    case DType::kBool:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] != 0 ? 1.0 : 0.0;
      return;
  }
}

namespace {
// Runs of at most 128 with 8 independent accumulators (vectorisable), as NumPy's pairwise_sum.
TESSERA_CLONES double SumUpTo128(const double* __restrict x, int64_t n) {
  if (n < 8) {
    double r = 0;
    for (int64_t i = 0; i < n; ++i) r += x[i];
    return r;
  }
  double r[8];
  for (int j = 0; j < 8; ++j) r[j] = x[j];
  int64_t i = 8;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) r[j] += x[i + j];
  }
  double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
  for (; i < n; ++i) res += x[i];
  return res;
}
}  // namespace

double PairwiseSum(const double* x, int64_t n) {
  if (n <= 128) return SumUpTo128(x, n);
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return PairwiseSum(x, n2) + PairwiseSum(x + n2, n - n2);
}

namespace {
// SumUpTo128 over f(a[i], b[i]), the values computed as Binary computes them.
template <typename A, typename B, typename F>
__attribute__((always_inline)) inline double SumRunOf(A a, B b, int64_t n, F f) {
  if (n < 8) {
    double r = 0;
    for (int64_t i = 0; i < n; ++i) r += f(a[i], b[i]);
    return r;
  }
  double r[8];
  for (int j = 0; j < 8; ++j) r[j] = f(a[j], b[j]);
  int64_t i = 8;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) r[j] += f(a[i + j], b[i + j]);
  }
  double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
  for (; i < n; ++i) res += f(a[i], b[i]);
  return res;
}

template <typename A, typename B>
__attribute__((always_inline)) inline double SumRunOp(BinaryOp op, A a, B b, int64_t n) {
  switch (op) {
    case BinaryOp::kAdd:
      return SumRunOf(a, b, n, [](double x, double y) { return x + y; });
    case BinaryOp::kSubtract:
      return SumRunOf(a, b, n, [](double x, double y) { return x - y; });
    case BinaryOp::kMultiply:
      return SumRunOf(a, b, n, [](double x, double y) { return x * y; });
    default:  // kDivide (PairwiseSumBinary admits no other op)
      return SumRunOf(a, b, n, [](double x, double y) { return x / y; });
  }
}

// One run (n <= 128) of PairwiseSumBinary.
TESSERA_CLONES double SumRunBinary(BinaryOp op, const double* a, double av, const double* b,
                                   double bv, int64_t n) {
  if (a != nullptr && b != nullptr) return SumRunOp(op, Vec{a}, Vec{b}, n);
  if (a != nullptr) return SumRunOp(op, Vec{a}, Sca{bv}, n);
  if (b != nullptr) return SumRunOp(op, Sca{av}, Vec{b}, n);
  return SumRunOp(op, Sca{av}, Sca{bv}, n);
}

double PairwiseSumBinaryRec(BinaryOp op, const double* a, double av, const double* b, double bv,
                            int64_t n) {
  if (n <= 128) return SumRunBinary(op, a, av, b, bv, n);
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return PairwiseSumBinaryRec(op, a, av, b, bv, n2) +
         PairwiseSumBinaryRec(op, a != nullptr ? a + n2 : nullptr, av,
                              b != nullptr ? b + n2 : nullptr, bv, n - n2);
}
}  // namespace

bool PairwiseSumBinary(BinaryOp op, const double* a, double av, const double* b, double bv,
                       int64_t n, double* sum) {
  if (op != BinaryOp::kAdd && op != BinaryOp::kSubtract && op != BinaryOp::kMultiply &&
      op != BinaryOp::kDivide) {
    return false;
  }
  *sum = PairwiseSumBinaryRec(op, a, av, b, bv, n);
  return true;
}

TESSERA_CLONES int64_t IntSum(const double* __restrict x, int64_t n) {
  uint64_t r = 0;  // wraps as NumPy's int64 sum does
  for (int64_t i = 0; i < n; ++i) r += static_cast<uint64_t>(ToInt64(x[i]));
  return static_cast<int64_t>(r);
}

TESSERA_CLONES void NeumaierAccumulate(double* __restrict s, double* __restrict c,
                                       const double* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) NeumaierAdd(s[i], c[i], x[i]);
}

TESSERA_CLONES void IntAccumulate(int64_t* __restrict acc, const double* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    acc[i] =
        static_cast<int64_t>(static_cast<uint64_t>(acc[i]) + static_cast<uint64_t>(ToInt64(x[i])));
  }
}

TESSERA_CLONES void ProdAccumulate(double* __restrict acc, const double* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] *= x[i];
}

void IntProdAccumulate(int64_t* __restrict acc, const double* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    acc[i] =
        static_cast<int64_t>(static_cast<uint64_t>(acc[i]) * static_cast<uint64_t>(ToInt64(x[i])));
  }
}

TESSERA_CLONES void MinAccumulate(double* __restrict acc, const double* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] = Minimum(acc[i], x[i]);
}

TESSERA_CLONES void MaxAccumulate(double* __restrict acc, const double* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] = Maximum(acc[i], x[i]);
}

double BlockProd(const double* x, int64_t n) {
  double r = 1;
  for (int64_t i = 0; i < n; ++i) r *= x[i];
  return r;
}

double BlockMin(const double* x, int64_t n) {
  double r = std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) r = Minimum(r, x[i]);
  return r;
}

double BlockMax(const double* x, int64_t n) {
  double r = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) r = Maximum(r, x[i]);
  return r;
}

}  // namespace tessera::cpu::detail
