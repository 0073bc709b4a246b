// Philox4x32-10 known-answer vectors and the pinned bit recipes of common/philox.h
// (docs/random.md). A change to any value here changes every random array Tessera generates.
#include "common/philox.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace tessera::philox {
namespace {

void ExpectBlock(const Block& b, uint32_t x0, uint32_t x1, uint32_t x2, uint32_t x3) {
  EXPECT_EQ(b.x[0], x0);
  EXPECT_EQ(b.x[1], x1);
  EXPECT_EQ(b.x[2], x2);
  EXPECT_EQ(b.x[3], x3);
}

uint64_t Bits(double v) {
  uint64_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

uint32_t Bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

// Random123's kat_vectors, "philox4x32 10" lines: counter, key, expected output.
TEST(PhiloxTest, Random123KnownAnswers) {
  ExpectBlock(Philox4x32_10(0, 0, 0, 0, 0, 0), 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
  ExpectBlock(Philox4x32_10(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff),
              0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
  ExpectBlock(Philox4x32_10(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0),
              0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1);
}

TEST(PhiloxTest, ElementBlockLayout) {
  // key = (seed lo, seed hi), counter = (index lo, index hi, 0, 0).
  const uint64_t seed = 0xa4093822299f31d0ull, index = 0x85a308d3243f6a88ull;
  const Block a = ElementBlock(seed, index);
  const Block b = Philox4x32_10(0x243f6a88, 0x85a308d3, 0, 0, 0x299f31d0, 0xa4093822);
  ExpectBlock(a, b.x[0], b.x[1], b.x[2], b.x[3]);
  ExpectBlock(ElementBlock(0, 0), 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
}

// Pinned values. Recipe (docs/random.md), for block b = ElementBlock(seed, index):
//   UniformDouble = ((uint64(b.x1) << 32 | b.x0) >> 11) * 2^-53
//   UniformFloat  = (b.x0 >> 8) * 2^-24
//   NormalDouble  = sqrt(-2 log(1 - u1)) * cos(2 pi u2), u1 from (x1:x0), u2 from (x3:x2)
//   RandInt(lo, hi) = lo + (((x1:x0) * (hi - lo)) >> 64)
// Computed once with this header (glibc 2.36 log/cos for the normal) and pinned bit for bit.
struct Pinned {
  uint64_t seed, index;
  uint32_t x0, x1, x2, x3;
  uint64_t uniform_bits;
  uint64_t normal_bits;
  uint32_t float_bits;
  int64_t randint_pm10;  // RandInt(b, -10, 10)
  int64_t randint_1e6;   // RandInt(b, 0, 1000000)
  int64_t randint_full;  // RandInt(b, INT64_MIN, INT64_MAX)
};

constexpr Pinned kPinned[] = {
    {0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8, 0x3fec2d38b1acc4fd, 0xbff9ffd9aa3bc9b7,
     0x3ecc4fd0, 7, 880520, 7019358705328580820},
    {42, 0, 0x9ceaf053, 0x77f5493b, 0x12bf50ad, 0x5742b3d7, 0x3fddfd524ee73abc, 0xbfe371e09f80c7dc,
     0x3f1ceaf0, -1, 468586, -579476456662699950},
    {42, 1, 0xfcdb2127, 0x53ba6cfd, 0x838f5a6e, 0x744e06fb, 0x3fd4ee9b3f7f36c8, 0xbfeb510d5acb221c,
     0x3f7cdb21, -4, 327063, -3190117547913830106},
    {42, 123456789, 0x5f01aba0, 0xb67f0d70, 0xf25e8d57, 0xfda7c468, 0x3fe6cfe1ae0be035,
     0x3ff93c0a28ade9e7, 0x3ebe0356, 4, 712876, 3926872176371805087},
    {0xdeadbeefcafef00dull, 0x123456789abull, 0x6461fa15, 0x6a754319, 0xb43b6d98, 0x481c3500,
     0x3fda9d50c659187e, 0xbfca3ed44bffa40c, 0x3ec8c3f4, -2, 415851, -1552260720221881836},
};

TEST(PhiloxTest, PinnedDistributionValues) {
  for (const Pinned& p : kPinned) {
    SCOPED_TRACE(testing::Message() << "seed " << p.seed << " index " << p.index);
    const Block b = ElementBlock(p.seed, p.index);
    ExpectBlock(b, p.x0, p.x1, p.x2, p.x3);
    EXPECT_EQ(Bits(UniformDouble(b)), p.uniform_bits);
    EXPECT_EQ(Bits(UniformFloat(b)), p.float_bits);
    EXPECT_EQ(Bits(NormalDouble(b)), p.normal_bits);
    EXPECT_EQ(RandInt(b, -10, 10), p.randint_pm10);
    EXPECT_EQ(RandInt(b, 0, 1000000), p.randint_1e6);
    EXPECT_EQ(RandInt(b, INT64_MIN, INT64_MAX), p.randint_full);
    // The recipes, restated independently.
    const uint64_t w = (uint64_t{p.x1} << 32) | p.x0;
    EXPECT_EQ(UniformDouble(b), static_cast<double>(w >> 11) / 9007199254740992.0);
    EXPECT_EQ(UniformFloat(b), static_cast<float>(p.x0 >> 8) / 16777216.0f);
  }
}

TEST(PhiloxTest, RangesAndMoments) {
  constexpr int kN = 100000;
  double su = 0, sf = 0, sn = 0, sn2 = 0;
  int64_t counts[10] = {};
  for (int i = 0; i < kN; ++i) {
    const Block b = ElementBlock(20261121, i);
    const double u = UniformDouble(b);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    const float f = UniformFloat(b);
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
    const double n = NormalDouble(b);
    ASSERT_TRUE(std::isfinite(n));
    const int64_t r = RandInt(b, -5, 5);
    ASSERT_GE(r, -5);
    ASSERT_LT(r, 5);
    ++counts[r + 5];
    su += u;
    sf += f;
    sn += n;
    sn2 += n * n;
  }
  EXPECT_NEAR(su / kN, 0.5, 0.005);  // sd of the mean ~ 0.0009
  EXPECT_NEAR(sf / kN, 0.5, 0.005);
  const double mean = sn / kN;
  EXPECT_NEAR(mean, 0.0, 0.015);  // sd of the mean ~ 0.0032
  EXPECT_NEAR(std::sqrt(sn2 / kN - mean * mean), 1.0, 0.015);
  for (int64_t c : counts) EXPECT_NEAR(static_cast<double>(c), kN / 10.0, 600.0);
}

TEST(PhiloxTest, ExtremesOfTheRecipes) {
  // All-ones words give the largest values strictly below 1.
  const Block ones{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}};
  EXPECT_EQ(UniformDouble(ones), 1.0 - 0x1.0p-53);
  EXPECT_EQ(UniformFloat(ones), 1.0f - 0x1.0p-24f);
  EXPECT_EQ(RandInt(ones, 0, 10), 9);
  const Block zeros{{0, 0, 0, 0}};
  EXPECT_EQ(UniformDouble(zeros), 0.0);
  EXPECT_EQ(RandInt(zeros, -3, 10), -3);
  EXPECT_EQ(NormalDouble(zeros), 0.0);  // u1 = 0: sqrt(-2 log 1) = 0
  EXPECT_TRUE(std::isfinite(NormalDouble(ones)));
}

}  // namespace
}  // namespace tessera::philox
