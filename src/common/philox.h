// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11; the
// generator of Random123 and cuRAND's Philox) and Tessera's bit recipes for each distribution.
//
// Header-only and free of CUDA includes, so that the CPU executor and the CUDA kernels share one
// definition: a random array element is a pure function of (seed, parameters, global flat index),
// bit-identical at any chunking and on any device. The recipes are documented in docs/random.md.
#pragma once

#include <cmath>
#include <cstdint>

#include "common/hd.h"

namespace tessera::philox {

struct Block {
  uint32_t x[4];
};

inline constexpr uint32_t kMul0 = 0xD2511F53u;
inline constexpr uint32_t kMul1 = 0xCD9E8D57u;
inline constexpr uint32_t kWeyl0 = 0x9E3779B9u;
inline constexpr uint32_t kWeyl1 = 0xBB67AE85u;

/// Philox4x32 with 10 rounds: counter (c0..c3), key (k0, k1).
TESSERA_HD Block Philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                               uint32_t k1) {
#if defined(__CUDACC__) && defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    const uint32_t n0 = hi1 ^ c1 ^ k0;
    const uint32_t n1 = lo1;
    const uint32_t n2 = hi0 ^ c3 ^ k1;
    const uint32_t n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return Block{{c0, c1, c2, c3}};
}

/// The block for element `index` of a random array with `seed`:
/// key = (seed low 32 bits, seed high 32 bits), counter = (index low, index high, 0, 0).
TESSERA_HD Block ElementBlock(uint64_t seed, uint64_t index) {
  return Philox4x32_10(static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), 0u, 0u,
                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

/// 64-bit word from two 32-bit outputs: (hi << 32) | lo.
TESSERA_HD uint64_t Word64(uint32_t lo, uint32_t hi) {
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

/// Uniform float64 in [0, 1): the top 53 bits of the word (x1:x0) times 2^-53.
TESSERA_HD double UniformDouble(const Block& b) {
  return static_cast<double>(Word64(b.x[0], b.x[1]) >> 11) * 0x1.0p-53;
}

/// Uniform float32 in [0, 1): the top 24 bits of x0 times 2^-24.
TESSERA_HD float UniformFloat(const Block& b) {
  return static_cast<float>(b.x[0] >> 8) * 0x1.0p-24f;
}

/// Standard normal by Box-Muller: u1 from (x1:x0), u2 from (x3:x2), both 53-bit uniforms;
/// z = sqrt(-2 log(1 - u1)) * cos(2 pi u2). (1 - u1 lies in (0, 1], so the log is finite.)
TESSERA_HD double NormalDouble(const Block& b) {
  const double u1 = static_cast<double>(Word64(b.x[0], b.x[1]) >> 11) * 0x1.0p-53;
  const double u2 = static_cast<double>(Word64(b.x[2], b.x[3]) >> 11) * 0x1.0p-53;
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(kTwoPi * u2);
}

/// Integer in [low, high) by multiply-shift of the word (x1:x0): low + ((word * range) >> 64),
/// range = high - low (> 0).
TESSERA_HD int64_t RandInt(const Block& b, int64_t low, int64_t high) {
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  const unsigned __int128 prod =
      static_cast<unsigned __int128>(Word64(b.x[0], b.x[1])) * static_cast<unsigned __int128>(range);
  return static_cast<int64_t>(static_cast<uint64_t>(low) + static_cast<uint64_t>(prod >> 64));
}

}  // namespace tessera::philox
