#include "reference_eval.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

namespace tessera::testing {
namespace {

using graph::BinaryOp;
using graph::IndexItem;
using graph::NodePtr;
using graph::RandomDist;
using graph::ReduceOp;
using graph::UnaryOp;

NodePtr Ok(absl::StatusOr<NodePtr> n) {
  EXPECT_TRUE(n.ok()) << n.status();
  return *n;
}

ChunkBuffer Eval(const NodePtr& n, const std::map<std::string, ChunkBuffer>& sources = {}) {
  auto r = EvaluateReference(n, sources);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : ChunkBuffer{};
}

TEST(ReferenceEval, RandomMatchesPinnedValues) {
  // docs/random.md, seed 42: U(0) = 0.46858651833910492, U(1) = 0.32706338120338474.
  NodePtr x = Ok(graph::Random({2}, RandomDist::kUniform, 0, 1, 42, DType::kFloat64, 2));
  const ChunkBuffer b = Eval(x);
  EXPECT_EQ(b.data<double>()[0], 0.46858651833910492);
  EXPECT_EQ(b.data<double>()[1], 0.32706338120338474);
  // The reversed view generates the same elements in place.
  NodePtr r = Ok(graph::Slice(x, {IndexItem::Slice(std::nullopt, std::nullopt, -1)}));
  const ChunkBuffer rb = Eval(r);
  EXPECT_EQ(rb.data<double>()[0], 0.32706338120338474);
  EXPECT_EQ(rb.data<double>()[1], 0.46858651833910492);
  // randint(-10, 10) and normal at seed 42, index 0.
  NodePtr ri = Ok(graph::Random({1}, RandomDist::kUniform, -10, 10, 42, DType::kInt64, 1));
  EXPECT_EQ(Eval(ri).data<int64_t>()[0], -1);
  NodePtr nr = Ok(graph::Random({1}, RandomDist::kNormal, 0, 1, 42, DType::kFloat64, 1));
  EXPECT_NEAR(Eval(nr).data<double>()[0], -0.60765105393351915, 1e-15);
  NodePtr f = Ok(graph::Random({1}, RandomDist::kUniform, 0, 1, 42, DType::kFloat32, 1));
  EXPECT_EQ(Eval(f).data<float>()[0], 0.612959862f);
}

TEST(ReferenceEval, ElementwiseBroadcastAndDTypes) {
  NodePtr a = Ok(graph::Arange(0, 6, 1, DType::kInt64, 3));
  NodePtr col = Ok(graph::Slice(a, {IndexItem::Slice(0, 3), IndexItem::NewAxis()}));  // (3, 1)
  NodePtr m = Ok(graph::Binary(BinaryOp::kMultiply, col, a));                         // (3, 6)
  const ChunkBuffer b = Eval(m);
  ASSERT_EQ(b.shape, (Shape{3, 6}));
  EXPECT_EQ(b.dtype, DType::kInt64);
  EXPECT_EQ(b.data<int64_t>()[6 + 5], 5);
  EXPECT_EQ(b.data<int64_t>()[12 + 4], 8);
  // NumPy's floor division and modulo on negative integers, and division by zero.
  NodePtr neg = Ok(graph::Unary(UnaryOp::kNegative, a));
  const ChunkBuffer fd =
      Eval(Ok(graph::Binary(BinaryOp::kFloorDivide, neg, graph::Scalar(4, false))));
  EXPECT_EQ(fd.data<int64_t>()[1], -1);  // -1 // 4
  EXPECT_EQ(fd.data<int64_t>()[5], -2);  // -5 // 4
  const ChunkBuffer md = Eval(Ok(graph::Binary(BinaryOp::kMod, neg, graph::Scalar(4, false))));
  EXPECT_EQ(md.data<int64_t>()[1], 3);  // -1 % 4
  const ChunkBuffer z = Eval(Ok(graph::Binary(BinaryOp::kFloorDivide, a, graph::Scalar(0, false))));
  EXPECT_EQ(z.data<int64_t>()[3], 0);
  const ChunkBuffer d = Eval(Ok(graph::Binary(BinaryOp::kDivide, a, graph::Scalar(4, false))));
  EXPECT_EQ(d.dtype, DType::kFloat64);
  EXPECT_EQ(d.data<double>()[3], 0.75);
  const ChunkBuffer c = Eval(Ok(graph::Binary(BinaryOp::kLess, a, graph::Scalar(2.5, true))));
  EXPECT_EQ(c.dtype, DType::kBool);
  EXPECT_EQ(c.data<uint8_t>()[2], 1);
  EXPECT_EQ(c.data<uint8_t>()[3], 0);
  const ChunkBuffer r =
      Eval(Ok(graph::Unary(UnaryOp::kRound, Ok(graph::Arange(0.5, 4, 1, DType::kFloat64, 4)))));
  EXPECT_EQ(r.data<double>()[0], 0.0);  // half to even
  EXPECT_EQ(r.data<double>()[1], 2.0);
  EXPECT_EQ(r.data<double>()[2], 2.0);
}

TEST(ReferenceEval, Reductions) {
  NodePtr a = Ok(graph::Arange(1, 7, 1, DType::kInt32, 2));
  NodePtr m = Ok(graph::Slice(Ok(graph::Binary(BinaryOp::kAdd, a, graph::Scalar(0, false))),
                              {IndexItem::NewAxis(), IndexItem::Slice()}));  // (1, 6)
  const ChunkBuffer s = Eval(Ok(graph::Reduce(ReduceOp::kSum, a, {}, false)));
  EXPECT_EQ(s.dtype, DType::kInt64);
  EXPECT_EQ(s.data<int64_t>()[0], 21);
  EXPECT_EQ(Eval(Ok(graph::Reduce(ReduceOp::kProd, a, {}, false))).data<int64_t>()[0], 720);
  EXPECT_EQ(Eval(Ok(graph::Reduce(ReduceOp::kMean, a, {}, false))).data<double>()[0], 3.5);
  EXPECT_EQ(Eval(Ok(graph::Reduce(ReduceOp::kMin, a, {}, false))).data<int32_t>()[0], 1);
  const ChunkBuffer k = Eval(Ok(graph::Reduce(ReduceOp::kMax, m, {1}, true)));
  EXPECT_EQ(k.shape, (Shape{1, 1}));
  EXPECT_EQ(k.data<int32_t>()[0], 6);
  // Sum over one axis of a 2-d array.
  NodePtr ones = Ok(graph::Full({3, 4}, 2, DType::kFloat64, 2));
  const ChunkBuffer rows = Eval(Ok(graph::Reduce(ReduceOp::kSum, ones, {1}, false)));
  EXPECT_EQ(rows.shape, (Shape{3}));
  EXPECT_EQ(rows.data<double>()[2], 8.0);
  // NaN propagates through min.
  NodePtr nan = Ok(graph::Unary(UnaryOp::kLog, Ok(graph::Arange(-1, 3, 1, DType::kFloat64, 4))));
  EXPECT_TRUE(
      std::isnan(Eval(Ok(graph::Reduce(ReduceOp::kMin, nan, {}, false))).data<double>()[0]));
}

TEST(ReferenceEval, SourcesAndErrors) {
  ChunkBuffer buf = ChunkBuffer::Zeros(DType::kInt32, {2, 3});
  for (int i = 0; i < 6; ++i) buf.mutable_data<int32_t>()[i] = i * 10;
  NodePtr src = Ok(graph::Source("s", {2, 3}, DType::kInt32, {{1, 1}, {3}}));
  NodePtr t = Ok(
      graph::Slice(src, {IndexItem::Integer(1), IndexItem::Slice(std::nullopt, std::nullopt, -2)}));
  const ChunkBuffer b = Eval(t, {{"s", buf}});
  ASSERT_EQ(b.shape, (Shape{2}));
  EXPECT_EQ(b.data<int32_t>()[0], 50);
  EXPECT_EQ(b.data<int32_t>()[1], 30);
  EXPECT_FALSE(EvaluateReference(t).ok());  // missing source
  ChunkBuffer wrong = ChunkBuffer::Zeros(DType::kFloat64, {2, 3});
  EXPECT_FALSE(EvaluateReference(t, {{"s", wrong}}).ok());
  EXPECT_FALSE(EvaluateReference(nullptr).ok());
}

}  // namespace
}  // namespace tessera::testing
