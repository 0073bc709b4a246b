#include "graph/expr.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace tessera::graph {
namespace {

using Kind = IndexItem::Kind;

NodePtr Ones(const Shape& shape, const ChunkSpec& chunks = ChunkSpec(),
             DType dtype = DType::kFloat64) {
  auto n = Full(shape, 1.0, dtype, chunks);
  EXPECT_TRUE(n.ok()) << n.status();
  return *n;
}

NodePtr Rand(const Shape& shape, const ChunkSpec& chunks = ChunkSpec(), uint64_t seed = 42,
             DType dtype = DType::kFloat64) {
  auto n = Random(shape, RandomDist::kUniform, 0, 1, seed, dtype, chunks);
  EXPECT_TRUE(n.ok()) << n.status();
  return *n;
}

// Asserts that `s` is an InvalidArgument error whose message contains `text`.
template <typename T>
void ExpectError(const absl::StatusOr<T>& s, const std::string& text) {
  ASSERT_FALSE(s.ok()) << "expected an error containing: " << text;
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.status().message(), text))
      << "message: " << s.status().message() << "\nexpected: " << text;
}

TEST(ExprNames, OpNames) {
  EXPECT_EQ(UnaryOpName(UnaryOp::kExp), "exp");
  EXPECT_EQ(UnaryOpName(UnaryOp::kArcsin), "arcsin");
  EXPECT_EQ(BinaryOpName(BinaryOp::kAdd), "add");
  EXPECT_EQ(BinaryOpName(BinaryOp::kNotEqual), "not_equal");
  EXPECT_EQ(ReduceOpName(ReduceOp::kSum), "sum");
  EXPECT_EQ(ReduceOpName(ReduceOp::kMean), "mean");
}

TEST(ExprCreation, FullShapeDTypeChunks) {
  auto x = Full({10, 7}, 3.5, DType::kFloat32, ChunkSpec({4, 5}));
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ((*x)->kind, OpKind::kFull);
  EXPECT_EQ((*x)->dtype, DType::kFloat32);
  EXPECT_EQ((*x)->shape, (Shape{10, 7}));
  EXPECT_EQ((*x)->chunks, (Chunks{{4, 4, 2}, {5, 2}}));
  EXPECT_EQ((*x)->value, 3.5);
}

TEST(ExprCreation, FullCastsValueToIntegerDType) {
  auto x = Full({3}, 2.7, DType::kInt64, ChunkSpec());
  ASSERT_TRUE(x.ok());
  EXPECT_EQ((*x)->value, 2.0);
  ExpectError(Full({3}, std::nan(""), DType::kInt32, ChunkSpec()), "cannot convert");
}

TEST(ExprCreation, DaskAutoChunks) {
  auto ones = Full({200000, 200000}, 1, DType::kFloat64, ChunkSpec());
  ASSERT_TRUE(ones.ok()) << ones.status();
  EXPECT_EQ((*ones)->chunks[0].size(), 50u);
  EXPECT_EQ((*ones)->chunks[0][0], 4000);
  EXPECT_EQ((*ones)->chunks[1][0], 4000);
  auto r = Random({50000, 50000}, RandomDist::kUniform, 0, 1, 1, DType::kFloat64, ChunkSpec());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->chunks[0][0], 3125);
  EXPECT_EQ((*r)->chunks[1][0], 3125);
  EXPECT_EQ((*r)->chunks[0].size(), 16u);
}

TEST(ExprCreation, ScalarAndZeroDim) {
  NodePtr s = Scalar(2.5, true);
  EXPECT_EQ(s->kind, OpKind::kScalar);
  EXPECT_EQ(s->dtype, DType::kFloat64);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_TRUE(s->chunks.empty());
  EXPECT_EQ(Scalar(3, false)->dtype, DType::kInt64);
  auto z = Full({}, 1, DType::kFloat64, ChunkSpec());
  ASSERT_TRUE(z.ok());
  EXPECT_TRUE((*z)->chunks.empty());
}

TEST(ExprCreation, CreationErrors) {
  ExpectError(Full({3, -1}, 1, DType::kFloat64, ChunkSpec()), "negative extent -1");
  ExpectError(Full({10}, 1, DType::kFloat64, ChunkSpec(0)), "chunk size 0");
  ExpectError(Full({10}, 1, DType::kFloat64, ChunkSpec(-3)), "negative chunk size -3");
  ExpectError(Full({1, 1, 1, 1, 1, 1, 1, 1, 1}, 1, DType::kFloat64, ChunkSpec()), "9 dimensions");
  ExpectError(Full({int64_t{1} << 40, int64_t{1} << 40}, 1, DType::kFloat64, ChunkSpec()), "int64");
  ExpectError(Random({3}, RandomDist::kNormal, 0, 1, 1, DType::kInt64, ChunkSpec()), "int64");
  ExpectError(Random({3}, RandomDist::kUniform, 0, 1, 1, DType::kBool, ChunkSpec()), "bool");
  ExpectError(Random({3}, RandomDist::kUniform, 5, 5, 1, DType::kInt64, ChunkSpec()),
              "low >= high");
  ExpectError(Random({3}, RandomDist::kUniform, 0.5, 5, 1, DType::kInt64, ChunkSpec()), "integers");
  ExpectError(Random({3}, RandomDist::kUniform, 0, 3e9, 1, DType::kInt32, ChunkSpec()),
              "do not fit int32");
  ExpectError(Random({3}, RandomDist::kNormal, 0, -1, 1, DType::kFloat64, ChunkSpec()), "scale -1");
  auto randint = Random({3}, RandomDist::kUniform, -10, 10, 1, DType::kInt32, ChunkSpec());
  ASSERT_TRUE(randint.ok()) << randint.status();
  EXPECT_EQ((*randint)->dtype, DType::kInt32);
  ExpectError(Source("", {3}, DType::kFloat64, {{3}}), "empty name");
  ExpectError(Source("s", {3}, DType::kFloat64, {{2}}), "add up to 2");
}

TEST(ExprCreation, ArangeLength) {
  auto a = Arange(0, 10, 3, DType::kInt64, ChunkSpec(2));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->shape, (Shape{4}));
  EXPECT_EQ((*a)->chunks, (Chunks{{2, 2}}));
  auto b = Arange(5, 0, 1, DType::kFloat64, ChunkSpec());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->shape, (Shape{0}));
  EXPECT_EQ((*b)->chunks, (Chunks{{0}}));
  auto c = Arange(10, 0, -2.5, DType::kFloat64, ChunkSpec());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->shape, (Shape{4}));
  auto d = Arange(0, 1, 0.1, DType::kFloat64, ChunkSpec());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->shape, (Shape{10}));
  ExpectError(Arange(0, 10, 0, DType::kFloat64, ChunkSpec()), "step 0");
}

TEST(ExprUnary, DTypeRules) {
  auto f32 = Ones({4}, ChunkSpec(), DType::kFloat32);
  auto i32 = Ones({4}, ChunkSpec(), DType::kInt32);
  auto i64 = Ones({4}, ChunkSpec(), DType::kInt64);
  auto b = Ones({4}, ChunkSpec(), DType::kBool);
  for (UnaryOp op : {UnaryOp::kExp, UnaryOp::kLog, UnaryOp::kSqrt, UnaryOp::kSin, UnaryOp::kArcsin,
                     UnaryOp::kTanh}) {
    EXPECT_EQ((*Unary(op, f32))->dtype, DType::kFloat32) << UnaryOpName(op);
    EXPECT_EQ((*Unary(op, i32))->dtype, DType::kFloat64) << UnaryOpName(op);
    EXPECT_EQ((*Unary(op, i64))->dtype, DType::kFloat64) << UnaryOpName(op);
    EXPECT_EQ((*Unary(op, b))->dtype, DType::kFloat64) << UnaryOpName(op);
  }
  EXPECT_EQ((*Unary(UnaryOp::kNegative, i32))->dtype, DType::kInt32);
  EXPECT_EQ((*Unary(UnaryOp::kAbs, i64))->dtype, DType::kInt64);
  EXPECT_EQ((*Unary(UnaryOp::kIsnan, f32))->dtype, DType::kBool);
  EXPECT_EQ((*Unary(UnaryOp::kIsfinite, i64))->dtype, DType::kBool);
  EXPECT_EQ((*Unary(UnaryOp::kAstype, f32, DType::kInt32))->dtype, DType::kInt32);
  ExpectError(Unary(UnaryOp::kAstype, f32), "astype");
  ExpectError(Unary(UnaryOp::kNegative, b), "boolean negative");
}

TEST(ExprUnary, KeepsShapeAndChunks) {
  auto x = Ones({10, 20}, ChunkSpec({3, 7}));
  auto y = Unary(UnaryOp::kExp, x);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ((*y)->shape, x->shape);
  EXPECT_EQ((*y)->chunks, x->chunks);
  EXPECT_EQ((*y)->inputs.size(), 1u);
}

TEST(ExprBinary, Broadcasting) {
  auto a = Ones({3, 4}, ChunkSpec({2, 3}));
  auto b = Ones({4}, ChunkSpec(2));
  auto c = Binary(BinaryOp::kAdd, a, b);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->shape, (Shape{3, 4}));
  EXPECT_EQ((*c)->chunks, (Chunks{{2, 1}, {3, 1}}));
  // The second operand supplies chunks where the first is broadcast.
  auto d = Binary(BinaryOp::kMultiply, Ones({1, 4}, ChunkSpec(1)), Ones({6, 1}, ChunkSpec(4)));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->shape, (Shape{6, 4}));
  EXPECT_EQ((*d)->chunks, (Chunks{{4, 2}, {1, 1, 1, 1}}));
  auto e = Binary(BinaryOp::kAdd, Ones({5, 1, 3}, ChunkSpec(2)), Ones({1, 0, 1}, ChunkSpec(1)));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->shape, (Shape{5, 0, 3}));
  EXPECT_EQ((*e)->chunks, (Chunks{{2, 2, 1}, {0}, {2, 1}}));
}

TEST(ExprBinary, BroadcastError) {
  auto s = Binary(BinaryOp::kAdd, Ones({3, 4}), Ones({5}));
  ExpectError(s, "operands could not be broadcast together with shapes (3, 4) (5,)");
}

TEST(ExprBinary, DTypeRules) {
  auto f32 = Ones({2}, ChunkSpec(), DType::kFloat32);
  auto f64 = Ones({2}, ChunkSpec(), DType::kFloat64);
  auto i32 = Ones({2}, ChunkSpec(), DType::kInt32);
  auto i64 = Ones({2}, ChunkSpec(), DType::kInt64);
  auto b = Ones({2}, ChunkSpec(), DType::kBool);
  EXPECT_EQ((*Binary(BinaryOp::kAdd, f32, f64))->dtype, DType::kFloat64);
  EXPECT_EQ((*Binary(BinaryOp::kAdd, f32, i32))->dtype, DType::kFloat64);
  EXPECT_EQ((*Binary(BinaryOp::kAdd, i32, i64))->dtype, DType::kInt64);
  EXPECT_EQ((*Binary(BinaryOp::kAdd, b, b))->dtype, DType::kBool);
  EXPECT_EQ((*Binary(BinaryOp::kDivide, i64, i64))->dtype, DType::kFloat64);
  EXPECT_EQ((*Binary(BinaryOp::kDivide, f32, f32))->dtype, DType::kFloat32);
  EXPECT_EQ((*Binary(BinaryOp::kFloorDivide, i32, i32))->dtype, DType::kInt32);
  EXPECT_EQ((*Binary(BinaryOp::kLess, f32, i64))->dtype, DType::kBool);
  EXPECT_EQ((*Binary(BinaryOp::kEqual, b, b))->dtype, DType::kBool);
  EXPECT_EQ((*Binary(BinaryOp::kHypot, i32, i32))->dtype, DType::kFloat64);
  // Weak Python scalars.
  EXPECT_EQ((*Binary(BinaryOp::kAdd, f32, Scalar(1.5, true)))->dtype, DType::kFloat32);
  EXPECT_EQ((*Binary(BinaryOp::kAdd, i32, Scalar(1.5, true)))->dtype, DType::kFloat64);
  EXPECT_EQ((*Binary(BinaryOp::kMultiply, Scalar(2, false), i32))->dtype, DType::kInt32);
  EXPECT_EQ((*Binary(BinaryOp::kAdd, b, Scalar(1, false)))->dtype, DType::kInt64);
  EXPECT_EQ((*Binary(BinaryOp::kDivide, i32, Scalar(2, false)))->dtype, DType::kFloat64);
  auto ss = Binary(BinaryOp::kAdd, Scalar(1, false), Scalar(2, false));
  ASSERT_TRUE(ss.ok());
  EXPECT_EQ((*ss)->dtype, DType::kInt64);
  EXPECT_TRUE((*ss)->shape.empty());
  ExpectError(Binary(BinaryOp::kSubtract, b, b), "boolean subtract");
  ExpectError(Binary(BinaryOp::kAdd, i32, Scalar(3e9, false)),
              "Python integer 3000000000 out of bounds for int32");
  EXPECT_TRUE(Binary(BinaryOp::kAdd, i64, Scalar(3e9, false)).ok());
  EXPECT_TRUE(Binary(BinaryOp::kAdd, i32, Scalar(3e9, true)).ok());
}

TEST(ExprBinary, ScalarKeepsArrayShapeAndChunks) {
  auto x = Ones({10, 10}, ChunkSpec(4));
  auto y = Binary(BinaryOp::kAdd, Scalar(1, true), x);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ((*y)->shape, x->shape);
  EXPECT_EQ((*y)->chunks, x->chunks);
}

TEST(ExprSlice, BasicSlicesFollowInputChunks) {
  auto x = Ones({10, 20}, ChunkSpec({4, 5}));
  auto y = Slice(x, {IndexItem::Slice(1, 9), IndexItem::Slice(std::nullopt, std::nullopt, 3)});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ((*y)->shape, (Shape{8, 7}));
  // Axis 0: elements 1..8 over blocks [0,4) [4,8) [8,10) -> 3, 4, 1.
  // Axis 1: 0,3,...,18 over blocks of 5 -> {0,3}, {6,9}, {12}, {15,18}.
  EXPECT_EQ((*y)->chunks, (Chunks{{3, 4, 1}, {2, 2, 1, 2}}));
  ASSERT_EQ((*y)->index.size(), 2u);
  EXPECT_EQ((*y)->index[0].start, 1);
  EXPECT_EQ((*y)->index[0].length, 8);
  EXPECT_EQ((*y)->index[1].step, 3);
  EXPECT_EQ((*y)->index[1].length, 7);
}

TEST(ExprSlice, NegativeStepReversesBlocks) {
  auto x = Ones({10}, ChunkSpec(4));
  auto y = Slice(x, {IndexItem::Slice(std::nullopt, std::nullopt, -1)});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ((*y)->shape, (Shape{10}));
  EXPECT_EQ((*y)->chunks, (Chunks{{2, 4, 4}}));
  EXPECT_EQ((*y)->index[0].start, 9);
  EXPECT_EQ((*y)->index[0].step, -1);
  auto z = Slice(x, {IndexItem::Slice(8, 1, -3)});  // 8, 5, 2
  ASSERT_TRUE(z.ok());
  EXPECT_EQ((*z)->shape, (Shape{3}));
  EXPECT_EQ((*z)->chunks, (Chunks{{1, 1, 1}}));
  auto w = Slice(x, {IndexItem::Slice(-2, -9, -2)});  // 8, 6, 4, 2
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->shape, (Shape{4}));
  EXPECT_EQ((*w)->chunks, (Chunks{{1, 2, 1}}));
}

TEST(ExprSlice, PythonBoundsClamping) {
  auto x = Ones({5}, ChunkSpec(2));
  auto a = Slice(x, {IndexItem::Slice(-100, 100)});
  EXPECT_EQ((*a)->shape, (Shape{5}));
  auto b = Slice(x, {IndexItem::Slice(4, 2)});
  EXPECT_EQ((*b)->shape, (Shape{0}));
  EXPECT_EQ((*b)->chunks, (Chunks{{0}}));
  auto c = Slice(x, {IndexItem::Slice(100, -100, -1)});
  EXPECT_EQ((*c)->shape, (Shape{5}));
  EXPECT_EQ((*c)->index[0].start, 4);
  auto d = Slice(x, {IndexItem::Slice(std::nullopt, std::nullopt, INT64_MAX)});
  EXPECT_EQ((*d)->shape, (Shape{1}));
  auto e = Slice(x, {IndexItem::Slice(std::nullopt, std::nullopt, INT64_MIN)});
  EXPECT_EQ((*e)->shape, (Shape{1}));
  EXPECT_EQ((*e)->index[0].start, 4);
  EXPECT_EQ((*e)->index[0].step, 1);  // one element: the step is canonical
  EXPECT_EQ(Token(*e), Token(*Slice(x, {IndexItem::Slice(4, 5)})));
}

TEST(ExprSlice, IntegersNewAxisEllipsis) {
  auto x = Ones({6, 7, 8}, ChunkSpec({2, 3, 4}));
  auto y = Slice(x, {IndexItem::Integer(-1), IndexItem::NewAxis(), IndexItem::Ellipsis(),
                     IndexItem::Integer(2)});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ((*y)->shape, (Shape{1, 7}));
  EXPECT_EQ((*y)->chunks, (Chunks{{1}, {3, 3, 1}}));
  ASSERT_EQ((*y)->index.size(), 4u);
  EXPECT_EQ((*y)->index[0].kind, AxisIndex::Kind::kInteger);
  EXPECT_EQ((*y)->index[0].start, 5);
  EXPECT_EQ((*y)->index[1].kind, AxisIndex::Kind::kNewAxis);
  EXPECT_EQ((*y)->index[2].kind, AxisIndex::Kind::kSlice);
  EXPECT_EQ((*y)->index[3].start, 2);
  // Missing trailing axes are full slices.
  auto z = Slice(x, {IndexItem::Integer(0)});
  EXPECT_EQ((*z)->shape, (Shape{7, 8}));
  EXPECT_EQ((*z)->index.size(), 3u);
  // Indexing to 0-d.
  auto s = Slice(x, {IndexItem::Integer(0), IndexItem::Integer(0), IndexItem::Integer(0)});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE((*s)->shape.empty());
  EXPECT_TRUE((*s)->chunks.empty());
}

TEST(ExprSlice, Errors) {
  auto x = Ones({5, 4});
  ExpectError(Slice(x, {IndexItem::Integer(7)}), "index 7 is out of bounds for axis 0 with size 5");
  ExpectError(Slice(x, {IndexItem::Slice(), IndexItem::Integer(-5)}),
              "index -5 is out of bounds for axis 1 with size 4");
  ExpectError(Slice(x, {IndexItem::Slice(std::nullopt, std::nullopt, 0)}),
              "slice step cannot be zero");
  ExpectError(Slice(x, {IndexItem::Integer(0), IndexItem::Integer(0), IndexItem::Integer(0)}),
              "too many indices for array: array is 2-dimensional, but 3 were indexed");
  ExpectError(Slice(x, {IndexItem::Ellipsis(), IndexItem::Ellipsis()}), "single ellipsis");
}

TEST(ExprReduce, ShapesChunksDTypes) {
  auto x = Ones({10000, 20000, 10}, ChunkSpec({1000, 1000, 5}));
  auto r = Reduce(ReduceOp::kSum, x, {1, 2}, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->shape, (Shape{10000}));
  EXPECT_EQ((*r)->chunks, (Chunks{std::vector<int64_t>(10, 1000)}));
  EXPECT_EQ((*r)->axes, (std::vector<int>{1, 2}));
  auto k = Reduce(ReduceOp::kMax, x, {-1, 0}, true);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ((*k)->shape, (Shape{1, 20000, 1}));
  EXPECT_EQ((*k)->chunks[0], (std::vector<int64_t>{1}));
  EXPECT_EQ((*k)->chunks[2], (std::vector<int64_t>{1}));
  EXPECT_EQ((*k)->axes, (std::vector<int>{0, 2}));
  auto all = Reduce(ReduceOp::kMean, x, {}, false);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE((*all)->shape.empty());
  EXPECT_TRUE((*all)->chunks.empty());
  EXPECT_EQ((*all)->dtype, DType::kFloat64);

  auto i32 = Ones({4}, ChunkSpec(), DType::kInt32);
  auto f32 = Ones({4}, ChunkSpec(), DType::kFloat32);
  auto b = Ones({4}, ChunkSpec(), DType::kBool);
  EXPECT_EQ((*Reduce(ReduceOp::kSum, i32, {}, false))->dtype, DType::kInt64);
  EXPECT_EQ((*Reduce(ReduceOp::kSum, b, {}, false))->dtype, DType::kInt64);
  EXPECT_EQ((*Reduce(ReduceOp::kProd, f32, {}, false))->dtype, DType::kFloat32);
  EXPECT_EQ((*Reduce(ReduceOp::kMin, i32, {}, false))->dtype, DType::kInt32);
  EXPECT_EQ((*Reduce(ReduceOp::kMax, b, {}, false))->dtype, DType::kBool);
  // As NumPy: the mean of float32 stays float32 (accumulated in double), of integers float64.
  EXPECT_EQ((*Reduce(ReduceOp::kMean, f32, {}, false))->dtype, DType::kFloat32);
  EXPECT_EQ((*Reduce(ReduceOp::kMean, i32, {}, false))->dtype, DType::kFloat64);
}

TEST(ExprReduce, Errors) {
  auto x = Ones({3, 4});
  ExpectError(Reduce(ReduceOp::kSum, x, {3}, false),
              "axis 3 is out of bounds for array of dimension 2");
  ExpectError(Reduce(ReduceOp::kSum, x, {-3}, false),
              "axis -3 is out of bounds for array of dimension 2");
  ExpectError(Reduce(ReduceOp::kSum, x, {1, -1}, false), "duplicate");
  ExpectError(Reduce(ReduceOp::kSum, x, {}, false, 1), "split_every");
  auto empty = Ones({0, 4});
  ExpectError(Reduce(ReduceOp::kMin, empty, {0}, false),
              "zero-size array to reduction operation min which has no identity");
  ExpectError(Reduce(ReduceOp::kMax, empty, {}, false),
              "zero-size array to reduction operation max which has no identity");
  EXPECT_TRUE(Reduce(ReduceOp::kMin, empty, {1}, false).ok());
  EXPECT_TRUE(Reduce(ReduceOp::kSum, empty, {}, false).ok());
}

TEST(ExprCreation, Linspace) {
  auto x = Linspace(0, 1, 11, true, DType::kFloat64, ChunkSpec(4));
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ((*x)->kind, OpKind::kLinspace);
  EXPECT_EQ((*x)->shape, Shape{11});
  EXPECT_EQ((*x)->chunks, (Chunks{{4, 4, 3}}));
  EXPECT_EQ((*x)->step, 0.1);
  EXPECT_EQ((*x)->stop, 1.0);
  auto open = Linspace(0, 1, 10, false, DType::kFloat32, ChunkSpec());
  ASSERT_TRUE(open.ok());
  EXPECT_EQ((*open)->step, 0.1);
  EXPECT_EQ((*open)->dtype, DType::kFloat32);
  EXPECT_NE(Token(*Linspace(0, 1, 10, true, DType::kFloat64, ChunkSpec())), Token(*open));
  EXPECT_NE(Token(*Linspace(0, 1, 10, true, DType::kFloat64, ChunkSpec())),
            Token(*Linspace(0, 1, 10, false, DType::kFloat64, ChunkSpec())));
  EXPECT_TRUE(std::isnan((*Linspace(2, 3, 1, true, DType::kFloat64, ChunkSpec()))->step));
  EXPECT_EQ((*Linspace(2, 3, 0, true, DType::kFloat64, ChunkSpec()))->shape, Shape{0});
  ExpectError(Linspace(0, 1, -1, true, DType::kFloat64, ChunkSpec()),
              "linspace: number of samples, -1, must be non-negative");
  ExpectError(Linspace(0, 1, 10, true, DType::kFloat64, ChunkSpec(0)), "chunk size 0");
}

TEST(ExprReduce, AnyAllAreBool) {
  auto x = Rand({6, 8}, ChunkSpec({4, 3}));
  for (ReduceOp op : {ReduceOp::kAny, ReduceOp::kAll}) {
    auto r = Reduce(op, x, {1}, true);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)->dtype, DType::kBool);
    EXPECT_EQ((*r)->shape, (Shape{6, 1}));
    EXPECT_EQ((*r)->chunks, (Chunks{{4, 2}, {1}}));
    EXPECT_EQ((*Reduce(op, Ones({3}, ChunkSpec(), DType::kInt32), {}, false))->dtype, DType::kBool);
    // Empty reductions have an identity (false / true), unlike min and max.
    EXPECT_TRUE(Reduce(op, Ones({0, 4}), {}, false).ok());
    ExpectError(Reduce(op, x, {2}, false), "axis 2 is out of bounds for array of dimension 2");
    ExpectError(Reduce(op, x, {0, -2}, false), "duplicate value in 'axis': -2");
  }
  EXPECT_EQ(ReduceOpName(ReduceOp::kAny), "any");
  EXPECT_EQ(ReduceOpName(ReduceOp::kAll), "all");
  EXPECT_NE(Token(*Reduce(ReduceOp::kAny, x, {}, false)),
            Token(*Reduce(ReduceOp::kAll, x, {}, false)));
}

TEST(ExprTranspose, PermutesShapeAndChunks) {
  auto x = Ones({6, 7, 8}, ChunkSpec({4, 3, 5}));
  auto t = Transpose(x, {2, 0, 1});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->kind, OpKind::kTranspose);
  EXPECT_EQ((*t)->shape, (Shape{8, 6, 7}));
  EXPECT_EQ((*t)->chunks, (Chunks{{5, 3}, {4, 2}, {3, 3, 1}}));
  EXPECT_EQ((*t)->axes, (std::vector<int>{2, 0, 1}));
  auto rev = Transpose(x);  // no axes: reversed, as x.T
  ASSERT_TRUE(rev.ok());
  EXPECT_EQ((*rev)->axes, (std::vector<int>{2, 1, 0}));
  EXPECT_EQ((*rev)->shape, (Shape{8, 7, 6}));
  auto neg = Transpose(x, {-1, 0, -2});  // negative axes count from the end
  ASSERT_TRUE(neg.ok());
  EXPECT_EQ((*neg)->axes, (std::vector<int>{2, 0, 1}));
  EXPECT_EQ(Token(*neg), Token(*t));
  EXPECT_NE(Token(*rev), Token(*t));
  auto zero_d = Transpose(Ones({}));
  ASSERT_TRUE(zero_d.ok());
  EXPECT_EQ((*zero_d)->shape, Shape{});
  EXPECT_EQ((*Transpose(Ones({3}, ChunkSpec({1}), DType::kInt32)))->dtype, DType::kInt32);
}

TEST(ExprTranspose, Errors) {
  auto x = Ones({3, 4});
  ExpectError(Transpose(x, {0}), "axes (0) don't match array of dimension 2");
  ExpectError(Transpose(x, {0, 1, 2}), "axes (0, 1, 2) don't match array of dimension 2");
  ExpectError(Transpose(x, {0, 2}), "axis 2 is out of bounds for array of dimension 2");
  ExpectError(Transpose(x, {-3, 0}), "axis -3 is out of bounds for array of dimension 2");
  ExpectError(Transpose(x, {1, 1}), "repeated axis 1");
  ExpectError(Transpose(x, {1, -1}), "repeated axis -1");
  ExpectError(Transpose(nullptr), "null");
}

TEST(ExprKeys, KeyFor) {
  EXPECT_EQ(KeyFor("x", {1, 2, 3}), "x/1,2,3");
  EXPECT_EQ(KeyFor("sum-abc", {}), "sum-abc/");
  EXPECT_EQ(KeyFor("y", {0}), "y/0");
}

TEST(ExprToken, StableAndContentBased) {
  auto a = Rand({100, 100}, ChunkSpec(10), 7);
  auto b = Rand({100, 100}, ChunkSpec(10), 7);
  const std::string ta = Token(a);
  EXPECT_EQ(ta.size(), 16u);
  EXPECT_EQ(ta.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(ta, Token(b));  // separately built, same content
  EXPECT_EQ(ta, Token(a));
  EXPECT_NE(ta, Token(Rand({100, 100}, ChunkSpec(10), 8)));  // seed
  EXPECT_NE(ta, Token(Rand({100, 100}, ChunkSpec(20), 7)));  // chunks
  EXPECT_NE(ta, Token(Rand({100, 101}, ChunkSpec(10), 7)));  // shape
  auto ea = *Unary(UnaryOp::kExp, a);
  auto la = *Unary(UnaryOp::kLog, a);
  EXPECT_NE(Token(ea), Token(la));
  EXPECT_EQ(Token(ea), Token(*Unary(UnaryOp::kExp, b)));
  auto s1 = *Binary(BinaryOp::kAdd, a, Scalar(1, true));
  auto s2 = *Binary(BinaryOp::kAdd, a, Scalar(2, true));
  auto s3 = *Binary(BinaryOp::kAdd, Scalar(1, true), a);
  EXPECT_NE(Token(s1), Token(s2));
  EXPECT_NE(Token(s1), Token(s3));  // operand order matters
  EXPECT_NE(Token(*Binary(BinaryOp::kDivide, a, Scalar(0.0, true))),
            Token(*Binary(BinaryOp::kDivide, a, Scalar(-0.0, true))));
  EXPECT_NE(Token(*Binary(BinaryOp::kAdd, a, Scalar(1, true))),
            Token(*Binary(BinaryOp::kAdd, a, Scalar(1, false))));
  EXPECT_NE(Token(*Reduce(ReduceOp::kSum, a, {0}, false)),
            Token(*Reduce(ReduceOp::kSum, a, {1}, false)));
  EXPECT_NE(Token(*Reduce(ReduceOp::kSum, a, {0}, false)),
            Token(*Reduce(ReduceOp::kSum, a, {0}, true)));
}

TEST(ExprToken, KnownValueIsProcessIndependent) {
  // A fixed expression hashes to a fixed value: the hash must not depend on pointers, process
  // seeds or library versions (absl::Hash would), since keys name data across processes.
  auto x = *Full({4}, 1, DType::kFloat64, ChunkSpec(2));
  EXPECT_EQ(Token(x), "e2dcabfb6ac16e7b");
}

TEST(ExprToken, SharedSubgraphsAreHashedOnce) {
  // A chain where each node uses the previous one twice: 2^60 paths, linear with memoisation.
  NodePtr x = Ones({4});
  for (int i = 0; i < 60; ++i) x = *Binary(BinaryOp::kAdd, x, x);
  EXPECT_EQ(Token(x).size(), 16u);
}

}  // namespace
}  // namespace tessera::graph
