// Differential tests over the op table: each expression is lowered (graph::Lower), its tasks
// sent through the wire format and run by the CPU executor in dependency order, and the
// assembled result compared with the unchunked reference evaluator, at several chunkings and
// for every dtype. Tolerances follow SEMANTICS.md: exact for integer and bool results, min/max
// and argmin/argmax; relative 1e-12 for float64 (sums re-associate), 1e-5 for float32.
// The same expressions also run through the real cluster in tests/integration.
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "graph/expr.h"
#include "graph/lowering.h"
#include "graph/reference_eval.h"
#include "graph/rpc/wire.h"
#include "worker_cpu/executor.h"

namespace tessera::graph {
namespace {

using testing::EvaluateReference;

// Runs every task of the lowered graph in order, through the wire format, and assembles the
// root's blocks into one dense array.
absl::StatusOr<ChunkBuffer> RunLocally(const NodePtr& root) {
  const v1::Graph proto = wire::GraphToProto(root);
  TESSERA_ASSIGN_OR_RETURN(NodePtr rebuilt, wire::GraphFromProto(proto));
  if (Token(rebuilt) != Token(root)) return absl::InternalError("wire round trip changed the graph");
  TESSERA_ASSIGN_OR_RETURN(TaskGraph g, Lower(rebuilt));
  std::vector<ChunkProgram> programs;
  for (size_t i = 0; i < g.programs.size(); ++i) {
    v1::ChunkProgram p;
    wire::ProgramToProto(g.programs[i], static_cast<int64_t>(i), &p);
    TESSERA_ASSIGN_OR_RETURN(ChunkProgram back, wire::ProgramFromProto(p));
    programs.push_back(std::move(back));
  }
  std::map<std::string, ChunkPtr> store;
  for (const TaskSpec& spec : g.tasks) {
    v1::Task t;
    wire::TaskToProto(spec, spec.program, &t);
    TESSERA_ASSIGN_OR_RETURN(TaskSpec task, wire::TaskFromProto(t));
    task.program = spec.program;
    std::vector<ChunkPtr> deps;
    for (const std::string& d : task.deps) {
      auto it = store.find(d);
      if (it == store.end()) return absl::InternalError(absl::StrCat("missing dep ", d));
      deps.push_back(it->second);
    }
    const ChunkProgram* program = task.program >= 0 ? &programs[task.program] : nullptr;
    TESSERA_ASSIGN_OR_RETURN(ChunkBuffer out, cpu::ExecuteTask(task, program, deps));
    store[task.key] = std::make_shared<const ChunkBuffer>(std::move(out));
  }
  ChunkBuffer result = ChunkBuffer::Zeros(g.dtype, g.shape);
  const auto starts = BlockOffsets(g.chunks);
  const std::vector<int64_t> nblocks = NumBlocks(g.chunks);
  const std::vector<int64_t> strides = testing::Strides(g.shape);
  const int64_t item = ItemSize(g.dtype);
  std::vector<int64_t> blk(g.shape.size(), 0);
  for (const std::string& key : g.output_keys) {
    auto it = store.find(key);
    if (it == store.end()) return absl::InternalError(absl::StrCat("missing output ", key));
    const ChunkBuffer& c = *it->second;
    Shape expect;
    for (size_t a = 0; a < blk.size(); ++a) expect.push_back(g.chunks[a][blk[a]]);
    if (c.shape != expect || c.dtype != g.dtype) {
      return absl::InternalError(absl::StrCat("block ", key, " has shape ", ShapeToString(c.shape),
                                              ", expected ", ShapeToString(expect)));
    }
    int64_t i = 0;
    testing::ForEachCoord(c.shape, [&](const std::vector<int64_t>& coord) {
      int64_t flat = 0;
      for (size_t a = 0; a < coord.size(); ++a) flat += (starts[a][blk[a]] + coord[a]) * strides[a];
      std::memcpy(result.bytes.data() + flat * item, c.bytes.data() + i * item,
                  static_cast<size_t>(item));
      ++i;
    });
    for (int a = static_cast<int>(blk.size()) - 1; a >= 0; --a) {
      if (++blk[a] < nblocks[a]) break;
      blk[a] = 0;
    }
  }
  return result;
}

void ExpectMatchesReference(const NodePtr& x, const std::string& what, double rel = -1) {
  SCOPED_TRACE(what);
  absl::StatusOr<ChunkBuffer> want = EvaluateReference(x);
  ASSERT_TRUE(want.ok()) << want.status();
  absl::StatusOr<ChunkBuffer> got = RunLocally(x);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->shape, want->shape);
  ASSERT_EQ(got->dtype, want->dtype);
  if (rel < 0) rel = x->dtype == DType::kFloat32 ? 1e-5 : 1e-12;
  const bool exact = !IsFloating(x->dtype);
  for (int64_t i = 0; i < got->num_elements(); ++i) {
    const double a = got->GetAsDouble(i), b = want->GetAsDouble(i);
    if (std::isnan(b)) {
      ASSERT_TRUE(std::isnan(a)) << "element " << i << ": got " << a << ", want NaN";
      continue;
    }
    if (exact || std::isinf(b)) {
      ASSERT_EQ(a, b) << "element " << i;
    } else {
      ASSERT_NEAR(a, b, rel * std::max(1.0, std::abs(b))) << "element " << i;
    }
  }
}

NodePtr Ok(absl::StatusOr<NodePtr> n) {
  EXPECT_TRUE(n.ok()) << n.status();
  return n.ok() ? *n : Scalar(0, true);
}

NodePtr Ar(const Shape& shape, const ChunkSpec& chunks, DType dtype = DType::kFloat64,
           double start = 0) {
  NodePtr x = Ok(Arange(start, start + static_cast<double>(NumElements(shape)), 1, dtype,
                        ChunkSpec::Explicit({{NumElements(shape)}})));
  x = Ok(Reshape(x, shape));
  return Ok(Rechunk(x, chunks));
}

NodePtr Rand(const Shape& shape, const ChunkSpec& chunks, uint64_t seed,
             DType dtype = DType::kFloat64) {
  return Ok(Random(shape, RandomDist::kUniform, -1, 1, seed, dtype, chunks));
}

const ChunkSpec kChunkings2d[] = {ChunkSpec::Explicit({{12}, {10}}), ChunkSpec{5, 3},
                                  ChunkSpec{2, 7}, ChunkSpec{1, 10}};

TEST(DifferentialTest, WhereWithBroadcastingAndScalars) {
  for (const ChunkSpec& c : kChunkings2d) {
    NodePtr x = Rand({12, 10}, c, 1);
    NodePtr y = Ar({10}, ChunkSpec{4}, DType::kInt32);
    NodePtr cond = Ok(Binary(BinaryOp::kGreater, x, Scalar(0, true)));
    ExpectMatchesReference(Ok(Where(cond, x, y)), "where(x > 0, x, y)");
    ExpectMatchesReference(Ok(Where(cond, x, Scalar(7, false))), "where(x > 0, x, 7)");
    ExpectMatchesReference(Ok(Where(x, Scalar(1, false), Scalar(2.5, true))), "where(x, 1, 2.5)");
    NodePtr f32 = Ok(Unary(UnaryOp::kAstype, x, DType::kFloat32));
    NodePtr w = Ok(Where(cond, f32, Scalar(0.1, true)));
    EXPECT_EQ(w->dtype, DType::kFloat32);
    ExpectMatchesReference(w, "where(c, float32, 0.1)");
    ExpectMatchesReference(Ok(Reduce(ReduceOp::kSum, Ok(Where(cond, x, y)), {0}, false)),
                           "where(...).sum(axis=0)");
  }
}

TEST(DifferentialTest, VarStdWithDdofAndAxes) {
  for (const ChunkSpec& c : kChunkings2d) {
    NodePtr x = Rand({12, 10}, c, 2);
    ExpectMatchesReference(Ok(Var(x, {}, false, 0)), "var()");
    ExpectMatchesReference(Ok(Var(x, {0}, false, 1)), "var(axis=0, ddof=1)");
    ExpectMatchesReference(Ok(Std(x, {1}, true, 0)), "std(axis=1, keepdims)");
    ExpectMatchesReference(Ok(Std(Ar({12, 10}, c, DType::kInt64), {0, 1}, false, 2)),
                           "std(int64, ddof=2)");
    NodePtr f32 = Ok(Unary(UnaryOp::kAstype, x, DType::kFloat32));
    NodePtr v = Ok(Var(f32, {1}, false, 0));
    EXPECT_EQ(v->dtype, DType::kFloat32);
    ExpectMatchesReference(v, "var(float32, axis=1)");
  }
  EXPECT_FALSE(Var(Rand({3}, ChunkSpec{3}, 1), {}, false, -1).ok());
  EXPECT_FALSE(Var(Rand({3}, ChunkSpec{3}, 1), {1}, false, 0).ok());
}

TEST(DifferentialTest, ArgminArgmaxAreExactWithTiesAndNaN) {
  for (const ChunkSpec& c : kChunkings2d) {
    // Integer values with many ties: the first index must win whatever the chunking.
    NodePtr x = Ok(Binary(BinaryOp::kMod, Ar({12, 10}, c, DType::kInt64), Scalar(7, false)));
    for (ReduceOp op : {ReduceOp::kArgmin, ReduceOp::kArgmax}) {
      const std::string name(ReduceOpName(op));
      ExpectMatchesReference(Ok(ArgReduce(op, x, std::nullopt)), name + "()");
      ExpectMatchesReference(Ok(ArgReduce(op, x, 0)), name + "(axis=0)");
      ExpectMatchesReference(Ok(ArgReduce(op, x, -1, true)), name + "(axis=-1, keepdims)");
      NodePtr r = Rand({12, 10}, c, 3, DType::kFloat32);
      ExpectMatchesReference(Ok(ArgReduce(op, r, 1)), name + "(float32, axis=1)");
      // NaN where x == 5: the first NaN is the answer, for argmin and argmax alike.
      NodePtr nan = Ok(Where(Ok(Binary(BinaryOp::kEqual, x, Scalar(5, false))),
                             Scalar(NAN, true), r));
      ExpectMatchesReference(Ok(ArgReduce(op, nan, std::nullopt)), name + "(with NaN)");
      ExpectMatchesReference(Ok(ArgReduce(op, nan, 0)), name + "(with NaN, axis=0)");
    }
  }
  NodePtr e = Ar({0, 3}, ChunkSpec{1, 1});
  EXPECT_FALSE(ArgReduce(ReduceOp::kArgmin, e, 0).ok());
  // An empty result is fine (numpy.argmin(zeros((0, 3)), axis=1) has shape (0,)).
  ExpectMatchesReference(Ok(ArgReduce(ReduceOp::kArgmin, e, 1)), "argmin of (0, 3) axis 1");
  EXPECT_FALSE(ArgReduce(ReduceOp::kArgmax, Ar({3}, ChunkSpec{3}), 1).ok());
}

TEST(DifferentialTest, RechunkOfFusedAndMaterialisedInputs) {
  NodePtr x = Rand({12, 10}, ChunkSpec{5, 3}, 4);
  for (const ChunkSpec& c : kChunkings2d) {
    ExpectMatchesReference(Ok(Rechunk(x, c)), "rechunk of random");
    NodePtr s = Ok(Reduce(ReduceOp::kSum, x, {1}, true));
    NodePtr y = Ok(Binary(BinaryOp::kSubtract, x, s));  // reads a materialised reduction
    ExpectMatchesReference(Ok(Rechunk(y, c)), "rechunk of x - x.sum(axis=1, keepdims)");
  }
  ExpectMatchesReference(Ok(Rechunk(x, ChunkSpec{12, -1})), "rechunk -1");
  EXPECT_FALSE(Rechunk(x, ChunkSpec::Explicit({{5, 5}, {10}})).ok());
}

TEST(DifferentialTest, ConcatenateAndStack) {
  for (const ChunkSpec& c : kChunkings2d) {
    NodePtr a = Rand({12, 10}, c, 5);
    NodePtr b = Ar({12, 4}, ChunkSpec{5, 3}, DType::kInt32);
    NodePtr d = Ar({3, 10}, ChunkSpec{2, 10}, DType::kFloat32);
    ExpectMatchesReference(Ok(Concatenate({a, b}, 1)), "concatenate axis 1 (promote)");
    ExpectMatchesReference(Ok(Concatenate({a, d, a}, 0)), "concatenate axis 0, three");
    ExpectMatchesReference(Ok(Reduce(ReduceOp::kSum, Ok(Concatenate({a, b}, -1)), {0}, false)),
                           "concatenate then sum");
    NodePtr rev = Ok(Slice(Ok(Concatenate({a, d}, 0)),
                           {IndexItem::Slice(std::nullopt, std::nullopt, -2)}));
    ExpectMatchesReference(rev, "concatenate[::-2]");
    ExpectMatchesReference(Ok(Stack({a, a, a}, 0)), "stack axis 0");
    ExpectMatchesReference(Ok(Stack({a, Rand({12, 10}, ChunkSpec{4, 4}, 6)}, 2)), "stack axis 2");
    ExpectMatchesReference(Ok(Stack({a, a}, -1)), "stack axis -1");
  }
  NodePtr a = Rand({4, 3}, ChunkSpec{2, 2}, 5);
  EXPECT_FALSE(Concatenate({a, Rand({4, 2}, ChunkSpec{2, 2}, 5)}, 0).ok());
  EXPECT_FALSE(Concatenate({a, a}, 2).ok());
  EXPECT_FALSE(Stack({a, Rand({4, 2}, ChunkSpec{2, 2}, 5)}, 0).ok());
  EXPECT_FALSE(Concatenate({}, 0).ok());
  ExpectMatchesReference(Ok(Concatenate({Ar({0, 3}, ChunkSpec{1, 1}), a}, 0)),
                         "concatenate with an empty array");
}

TEST(DifferentialTest, ReshapeMergesAndSplitsAxes) {
  const struct {
    Shape from, to;
    ChunkSpec chunks;
  } cases[] = {
      {{24}, {4, 6}, ChunkSpec{5}},
      {{24}, {2, 3, 4}, ChunkSpec{7}},
      {{4, 6}, {24}, ChunkSpec{3, 2}},
      {{4, 6}, {6, 4}, ChunkSpec{1, 6}},
      {{4, 6}, {3, 8}, ChunkSpec{2, 5}},
      {{2, 3, 4}, {6, 4}, ChunkSpec{1, 2, 3}},
      {{2, 3, 4}, {2, 12}, ChunkSpec{2, 1, 1}},
      {{2, 3, 4}, {4, 3, 2}, ChunkSpec{1, 1, 1}},
      {{6, 1, 4}, {1, 24, 1}, ChunkSpec{4, 1, 3}},
      {{1}, {}, ChunkSpec{1}},
      {{}, {1, 1}, ChunkSpec::Explicit({})},
      {{12, 10}, {-1, 4}, ChunkSpec{5, 3}},
  };
  for (const auto& c : cases) {
    NodePtr x = Ar(c.from, c.chunks, DType::kInt64, 1);
    NodePtr r = Ok(Reshape(x, c.to));
    ExpectMatchesReference(r, absl::StrCat("reshape ", ShapeToString(c.from), " -> ",
                                           ShapeToString(c.to)));
    ExpectMatchesReference(Ok(Binary(BinaryOp::kMultiply, r, r)), "reshape then square");
    NodePtr rr = Rand(c.from, c.chunks, 8);
    ExpectMatchesReference(Ok(Reshape(rr, c.to)), "reshape of random");
    ExpectMatchesReference(Ok(Reduce(ReduceOp::kSum, Ok(Reshape(rr, c.to)), {}, false)),
                           "reshape then sum");
  }
  NodePtr x = Ar({4, 6}, ChunkSpec{2, 2});
  EXPECT_FALSE(Reshape(x, {5, 5}).ok());
  EXPECT_FALSE(Reshape(x, {-1, -1}).ok());
  EXPECT_FALSE(Reshape(x, {-2, 12}).ok());
  EXPECT_FALSE(Reshape(x, {-1, 5}).ok());
}

TEST(DifferentialTest, TensordotMatmulDot) {
  for (const ChunkSpec& c : kChunkings2d) {
    NodePtr a = Rand({12, 10}, c, 9);
    NodePtr b = Rand({10, 7}, ChunkSpec{3, 4}, 10);
    NodePtr v = Ar({10}, ChunkSpec{4}, DType::kInt64);
    ExpectMatchesReference(Ok(Matmul(a, b)), "a @ b");
    ExpectMatchesReference(Ok(Matmul(a, v)), "a @ v");
    ExpectMatchesReference(Ok(Matmul(v, b)), "v @ b");
    ExpectMatchesReference(Ok(Matmul(v, v)), "v @ v (int)");
    ExpectMatchesReference(Ok(Dot(a, Scalar(2, false))), "dot with a scalar");
    ExpectMatchesReference(Ok(Tensordot(a, a, {0, 1}, {0, 1})), "tensordot axes 2");
    ExpectMatchesReference(Ok(Tensordot(a, b, {}, {})), "outer product");
    NodePtr t = Rand({2, 12, 10}, ChunkSpec{1, 5, 5}, 11);
    ExpectMatchesReference(Ok(Matmul(t, b)), "batched @ 2-D");
    ExpectMatchesReference(Ok(Dot(t, b)), "dot 3-D . 2-D");
    ExpectMatchesReference(Ok(Dot(Ok(Transpose(b)), Ok(Transpose(t, {0, 2, 1})))),
                           "dot 2-D . 3-D");
    ExpectMatchesReference(Ok(Reduce(ReduceOp::kSum, Ok(Matmul(a, b)), {0}, false)),
                           "(a @ b).sum(axis=0)");
    NodePtr ib = Ar({10, 3}, ChunkSpec{3, 3}, DType::kInt32);
    NodePtr iprod = Ok(Matmul(Ar({4, 10}, ChunkSpec{2, 4}, DType::kInt32), ib));
    EXPECT_EQ(iprod->dtype, DType::kInt32);
    ExpectMatchesReference(iprod, "int32 @ int32");
  }
  NodePtr a = Rand({3, 4}, ChunkSpec{2, 2}, 1);
  EXPECT_FALSE(Matmul(a, a).ok());
  EXPECT_FALSE(Matmul(a, Scalar(1, true)).ok());
  EXPECT_FALSE(Dot(a, a).ok());
  EXPECT_FALSE(Tensordot(a, a, {0}, {1}).ok());
  EXPECT_FALSE(Tensordot(a, a, {0, 0}, {0, 0}).ok());
}

TEST(DifferentialTest, FromBufferEveryDtype) {
  for (DType d : {DType::kFloat64, DType::kFloat32, DType::kInt64, DType::kInt32, DType::kBool}) {
    const Shape shape{7, 5};
    std::string bytes(static_cast<size_t>(35 * ItemSize(d)), '\0');
    ChunkBuffer buf = ChunkBuffer::Zeros(d, shape);
    for (int64_t i = 0; i < 35; ++i) {
      const double v = (i * 37 % 11) - 5 + (IsFloating(d) ? 0.25 : 0);
      switch (d) {
        case DType::kFloat64: buf.mutable_data<double>()[i] = v; break;
        case DType::kFloat32: buf.mutable_data<float>()[i] = static_cast<float>(v); break;
        case DType::kInt64: buf.mutable_data<int64_t>()[i] = static_cast<int64_t>(v); break;
        case DType::kInt32: buf.mutable_data<int32_t>()[i] = static_cast<int32_t>(v); break;
        case DType::kBool: buf.mutable_data<uint8_t>()[i] = v > 0; break;
      }
    }
    std::memcpy(bytes.data(), buf.bytes.data(), bytes.size());
    for (const ChunkSpec& c : {ChunkSpec{7, 5}, ChunkSpec{3, 2}, ChunkSpec{1, 5}}) {
      NodePtr x = Ok(FromBuffer(bytes, shape, d, c));
      absl::StatusOr<ChunkBuffer> got = RunLocally(x);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->bytes, buf.bytes);
      ExpectMatchesReference(Ok(Reduce(ReduceOp::kSum, x, {0}, false)), "from_buffer sum");
    }
  }
  EXPECT_FALSE(FromBuffer(std::string(7, '\0'), {2}, DType::kFloat64, ChunkSpec{1}).ok());
  const int64_t too_many = kMaxFromBufferBytes / 8 + 1;
  absl::StatusOr<NodePtr> big = FromBuffer(std::string(static_cast<size_t>(too_many * 8), '\0'),
                                           {too_many}, DType::kFloat64, ChunkSpec{1 << 20});
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("33554440 bytes"), std::string::npos) << big.status();
}

// Property-style: random expression trees over the elementwise ops, slicing, transpose,
// where, reductions, reshape and concatenation, each evaluated at three chunkings.
class ExprGen {
 public:
  explicit ExprGen(uint32_t seed) : rng_(seed) {}

  NodePtr Leaf(const Shape& shape, const ChunkSpec& chunks) {
    const DType dtypes[] = {DType::kFloat64, DType::kFloat32, DType::kInt64, DType::kInt32,
                            DType::kBool};
    const DType d = dtypes[Pick(5)];
    switch (Pick(3)) {
      case 0:
        return Ok(Random(shape, RandomDist::kUniform, d == DType::kBool ? 0 : -3,
                         d == DType::kBool ? 2 : 5, rng_(), IsFloating(d) ? d : DType::kInt64,
                         chunks));
      case 1:
        return Ar(shape, chunks, d == DType::kBool ? DType::kInt64 : d, Pick(5));
      default:
        return Ok(Full(shape, static_cast<double>(Pick(4)) - 1.5, DType::kFloat64, chunks));
    }
  }

  NodePtr Expr(const Shape& shape, const ChunkSpec& chunks, int depth) {
    if (depth == 0) return Leaf(shape, chunks);
    switch (Pick(6)) {
      case 0: {
        const UnaryOp ops[] = {UnaryOp::kNegative, UnaryOp::kAbs, UnaryOp::kSquare,
                               UnaryOp::kSin, UnaryOp::kFloor, UnaryOp::kSign};
        return Ok(Unary(ops[Pick(6)], Expr(shape, chunks, depth - 1)));
      }
      case 1: {
        const BinaryOp ops[] = {BinaryOp::kAdd, BinaryOp::kMultiply, BinaryOp::kMaximum,
                                BinaryOp::kLess, BinaryOp::kEqual, BinaryOp::kMinimum};
        NodePtr a = Expr(shape, chunks, depth - 1);
        // The right operand broadcasts along the first axis half of the time.
        Shape bs = shape;
        if (!bs.empty() && Pick(2) == 0) bs[0] = 1;
        return Ok(Binary(ops[Pick(6)], a, Expr(bs, chunks, depth - 1)));
      }
      case 2:
        return Ok(Where(Ok(Binary(BinaryOp::kGreater, Expr(shape, chunks, depth - 1),
                                  Scalar(0, false))),
                        Expr(shape, chunks, depth - 1), Scalar(-1, false)));
      case 3: {  // reversed along every axis: generated in place
        std::vector<IndexItem> items;
        for (size_t a = 0; a < shape.size(); ++a) {
          items.push_back(IndexItem::Slice(std::nullopt, std::nullopt, -1));
        }
        return Ok(Slice(Expr(shape, chunks, depth - 1), items));
      }
      case 4:
        if (shape.size() == 2 && shape[0] == shape[1]) {
          return Ok(Transpose(Expr(shape, chunks, depth - 1)));
        }
        return Expr(shape, chunks, depth - 1);
      default: {  // a concatenation of two halves along axis 0
        if (shape.empty() || shape[0] < 2) return Expr(shape, chunks, depth - 1);
        Shape h1 = shape, h2 = shape;
        h1[0] = shape[0] / 2;
        h2[0] = shape[0] - h1[0];
        return Ok(Concatenate({Expr(h1, ChunkSpec{3, 4}, depth - 1),
                               Expr(h2, ChunkSpec{2, 5}, depth - 1)},
                              0));
      }
    }
  }

  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }

 private:
  std::mt19937 rng_;
};

TEST(DifferentialTest, RandomExpressionsAtThreeChunkings) {
  const ChunkSpec chunkings[] = {ChunkSpec{10, 10}, ChunkSpec{3, 4}, ChunkSpec{1, 7}};
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    for (const ChunkSpec& c : chunkings) {
      ExprGen gen(seed);  // the same expression at every chunking
      NodePtr x = gen.Expr({10, 10}, c, 3);
      ExpectMatchesReference(x, absl::StrCat("seed ", seed));
      const ReduceOp ops[] = {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kArgmin, ReduceOp::kAny,
                              ReduceOp::kMean};
      const ReduceOp op = ops[seed % 5];
      NodePtr r = IsArgReduce(op) ? Ok(ArgReduce(op, x, static_cast<int>(seed % 2)))
                                  : Ok(Reduce(op, x, {static_cast<int>(seed % 2)}, false));
      // Sums of large integers compare exactly; float sums within the tolerance.
      ExpectMatchesReference(r, absl::StrCat("seed ", seed, " ", std::string(ReduceOpName(op))));
    }
  }
}

}  // namespace
}  // namespace tessera::graph
