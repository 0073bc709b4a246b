#include "common/shape.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"

namespace tessera {
namespace {

void ExpectError(const absl::StatusOr<Chunks>& s, const std::string& text) {
  ASSERT_FALSE(s.ok()) << "expected an error containing: " << text;
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.status().message(), text))
      << "message: " << s.status().message() << "\nexpected: " << text;
}

TEST(NormalizeChunks, AutoMatchesDask) {
  // dask: da.ones((200000, 200000)).chunks -> 4000 x 4000 (128 MiB of float64).
  auto c = NormalizeChunks(ChunkSpec(), {200000, 200000}, DType::kFloat64);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)[0], std::vector<int64_t>(50, 4000));
  EXPECT_EQ((*c)[1], std::vector<int64_t>(50, 4000));
  // dask: da.random.random((50000, 50000)).chunks -> 3125 x 3125.
  auto r = NormalizeChunks(ChunkSpec(), {50000, 50000}, DType::kFloat64);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0], std::vector<int64_t>(16, 3125));
  // Small arrays are one chunk.
  auto s = NormalizeChunks(ChunkSpec(), {100, 7}, DType::kFloat32);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, (Chunks{{100}, {7}}));
  // float32 doubles the element budget of float64.
  auto f = NormalizeChunks(ChunkSpec(), {200000, 200000}, DType::kFloat32);
  ASSERT_TRUE(f.ok());
  EXPECT_GT((*f)[0][0], 4000);
  // A smaller target gives smaller chunks.
  auto t = NormalizeChunks(ChunkSpec(), {200000, 200000}, DType::kFloat64, 32 << 20);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)[0][0], 2000);
}

TEST(NormalizeChunks, AutoOnOneAxisWithOthersFixed) {
  auto c = NormalizeChunks(ChunkSpec::PerAxis(std::vector<int64_t>{kAutoChunk, -1}),
                           {1000000, 1000}, DType::kFloat64);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)[1], (std::vector<int64_t>{1000}));
  // 128 MiB / (8 B * 1000) = 16777 rows, rounded to a factor of 10^6 within a factor of two.
  const int64_t rows = (*c)[0][0];
  EXPECT_EQ(1000000 % rows, 0);
  EXPECT_LE(rows * 1000 * 8, int64_t{128} << 20);
  EXPECT_GE(rows * 1000 * 8, int64_t{64} << 20);
}

TEST(NormalizeChunks, IntegerAndWholeAxis) {
  auto c = NormalizeChunks(ChunkSpec(3), {10, 6}, DType::kFloat64);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, (Chunks{{3, 3, 3, 1}, {3, 3}}));
  auto w = NormalizeChunks(ChunkSpec(-1), {10, 6}, DType::kFloat64);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, (Chunks{{10}, {6}}));
  auto p = NormalizeChunks(ChunkSpec({4, -1}), {10, 6}, DType::kFloat64);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, (Chunks{{4, 4, 2}, {6}}));
  // A chunk larger than the extent is the whole extent.
  auto big = NormalizeChunks(ChunkSpec(1000), {10}, DType::kFloat64);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(*big, (Chunks{{10}}));
}

TEST(NormalizeChunks, ExplicitTuples) {
  auto c = NormalizeChunks(ChunkSpec::Explicit({{5, 5}, {3, 7}}), {10, 10}, DType::kFloat64);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, (Chunks{{5, 5}, {3, 7}}));
  // Explicit on one axis, a size on another.
  auto m = NormalizeChunks(
      ChunkSpec::PerAxis(std::vector<ChunkSpec::Axis>{std::vector<int64_t>{1, 2, 3}, int64_t{4}}),
      {6, 9}, DType::kFloat64);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, (Chunks{{1, 2, 3}, {4, 4, 1}}));
}

TEST(NormalizeChunks, ZeroExtentsAndZeroDim) {
  auto z = NormalizeChunks(ChunkSpec(5), {0, 4}, DType::kFloat64);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_EQ(*z, (Chunks{{0}, {4}}));
  auto a = NormalizeChunks(ChunkSpec(), {0}, DType::kFloat64);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(ShapeOfChunks(*a), (Shape{0}));
  auto s = NormalizeChunks(ChunkSpec(), {}, DType::kFloat64);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->empty());
  EXPECT_EQ(TotalBlocks(*s), 1);
}

TEST(NormalizeChunks, Errors) {
  ExpectError(NormalizeChunks(ChunkSpec(0), {10}, DType::kFloat64), "chunk size 0");
  ExpectError(NormalizeChunks(ChunkSpec(-2), {10}, DType::kFloat64), "negative chunk size -2");
  ExpectError(NormalizeChunks(ChunkSpec({5, 0}), {10, 10}, DType::kFloat64), "chunk size 0");
  ExpectError(NormalizeChunks(ChunkSpec::Explicit({{5, 0, 5}}), {10}, DType::kFloat64),
              "zero chunk size");
  ExpectError(NormalizeChunks(ChunkSpec::Explicit({{5, -1, 6}}), {10}, DType::kFloat64),
              "negative chunk size -1");
  ExpectError(NormalizeChunks(ChunkSpec::Explicit({{5, 4}}), {10}, DType::kFloat64),
              "add up to 9, not to the extent 10");
  ExpectError(NormalizeChunks(ChunkSpec({5, 5, 5}), {10, 10}, DType::kFloat64),
              "chunks have 3 dimensions");
  ExpectError(
      NormalizeChunks(ChunkSpec(1), {1000, 1000}, DType::kFloat64, kDefaultChunkBytes, 1000),
      "chunks of up to (1, 1) give 1000 x 1000 blocks for shape (1000, 1000), more than the 1000 "
      "allowed; choose larger chunks");
  // The message names block sizes and counts, not the chunk tuples (here 250000 entries each).
  auto huge = NormalizeChunks(ChunkSpec(), {1000000000, 1000000000}, DType::kFloat64);
  ASSERT_FALSE(huge.ok());
  EXPECT_LT(huge.status().message().size(), 200u) << huge.status().message();
  EXPECT_TRUE(
      NormalizeChunks(ChunkSpec(100), {1000, 1000}, DType::kFloat64, kDefaultChunkBytes, 100).ok());
}

TEST(Shape, ValidateShape) {
  EXPECT_TRUE(ValidateShape({}, DType::kFloat64).ok());
  EXPECT_TRUE(ValidateShape({0, 5}, DType::kFloat64).ok());
  EXPECT_FALSE(ValidateShape({-1}, DType::kFloat64).ok());
  EXPECT_FALSE(ValidateShape(Shape(9, 1), DType::kFloat64).ok());
  EXPECT_TRUE(ValidateShape(Shape(8, 1), DType::kFloat64).ok());
  EXPECT_FALSE(ValidateShape({int64_t{1} << 32, int64_t{1} << 32}, DType::kBool).ok());
  // Fits in elements but not in bytes.
  EXPECT_TRUE(ValidateShape({int64_t{1} << 61}, DType::kBool).ok());
  EXPECT_FALSE(ValidateShape({int64_t{1} << 61}, DType::kFloat64).ok());
}

TEST(Shape, GridHelpers) {
  const Chunks c = {{3, 3, 1}, {5}};
  EXPECT_EQ(NumBlocks(c), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(TotalBlocks(c), 3);
  EXPECT_EQ(BlockOffsets(c), (std::vector<std::vector<int64_t>>{{0, 3, 6}, {0}}));
  EXPECT_EQ(ShapeOfChunks(c), (Shape{7, 5}));
  EXPECT_EQ(MaxChunkShape(c), (Shape{3, 5}));
  EXPECT_EQ(RegularBlocks(10, 4), (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(RegularBlocks(8, 4), (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(RegularBlocks(0, 4), (std::vector<int64_t>{0}));
  EXPECT_EQ(NumElements({}), 1);
  EXPECT_EQ(NumElements({3, 0}), 0);
}

TEST(Shape, ToString) {
  EXPECT_EQ(ShapeToString({50000, 50000}), "(50000, 50000)");
  EXPECT_EQ(ShapeToString({5}), "(5,)");
  EXPECT_EQ(ShapeToString({}), "()");
  EXPECT_EQ(ChunksToString({{1000, 1000}, {5, 5}}), "((1000, 1000), (5, 5))");
  EXPECT_EQ(ChunksToString({{4, 2}}), "((4, 2),)");
}

TEST(Bytes, ParseBytes) {
  EXPECT_EQ(*ParseBytes("4GiB"), int64_t{4} << 30);
  EXPECT_EQ(*ParseBytes("512MB"), 512000000);
  EXPECT_EQ(*ParseBytes("1.5 GB"), 1500000000);
  EXPECT_EQ(*ParseBytes("1000000"), 1000000);
  EXPECT_EQ(*ParseBytes("128 MiB"), int64_t{128} << 20);
  EXPECT_EQ(*ParseBytes("2kB"), 2000);
  EXPECT_EQ(*ParseBytes("10 B"), 10);
  EXPECT_FALSE(ParseBytes("").ok());
  EXPECT_FALSE(ParseBytes("GB").ok());
  EXPECT_FALSE(ParseBytes("5 parsecs").ok());
  EXPECT_FALSE(ParseBytes("1e30 TB").ok());
}

TEST(Bytes, FormatBytes) {
  EXPECT_EQ(FormatBytes(100), "100 B");
  EXPECT_EQ(FormatBytes(int64_t{4} << 30), "4.00 GiB");
  EXPECT_EQ(FormatBytes(int64_t{128} << 20), "128.00 MiB");
  // As dask: switch units at 90% of the next one.
  EXPECT_EQ(FormatBytes(1000), "0.98 kiB");
  EXPECT_EQ(FormatBytes(int64_t{320000000000}), "298.02 GiB");
}

}  // namespace
}  // namespace tessera
