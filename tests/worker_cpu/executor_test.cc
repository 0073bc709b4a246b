// Tests of the CPU executor against a naive per-element evaluator written here, independently of
// graph::Lower: programs and task specs are built by hand.
#include "worker_cpu/executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "common/philox.h"
#include "worker_cpu/kernels.h"

namespace tessera::cpu {
namespace {

using graph::BinaryOp;
using graph::ChunkProgram;
using graph::InputChunk;
using graph::ProgramInput;
using graph::ProgramNode;
using graph::RandomDist;
using graph::ReduceOp;
using graph::TaskKind;
using graph::TaskSpec;
using graph::UnaryOp;
using Kind = graph::ProgramNode::Kind;

// ---- Program builders -----------------------------------------------------------------------

ProgramNode Full(double v, DType dtype = DType::kFloat64) {
  ProgramNode n;
  n.kind = Kind::kFull;
  n.value = v;
  n.dtype = dtype;
  return n;
}

ProgramNode Scalar(double v, DType dtype = DType::kFloat64) {
  ProgramNode n = Full(v, dtype);
  n.kind = Kind::kScalar;
  return n;
}

graph::IndexMap Map(std::vector<int64_t> offset, std::vector<int64_t> step, std::vector<int> axis) {
  graph::IndexMap m;
  m.offset = std::move(offset);
  m.step = std::move(step);
  m.out_axis = std::move(axis);
  return m;
}

// The identity map of an n-d leaf onto an n-d output.
graph::IndexMap Identity(int n) {
  graph::IndexMap m;
  for (int a = 0; a < n; ++a) {
    m.offset.push_back(0);
    m.step.push_back(1);
    m.out_axis.push_back(a);
  }
  return m;
}

ProgramNode Random(Shape shape, graph::IndexMap map, RandomDist dist = RandomDist::kUniform,
                   DType dtype = DType::kFloat64, uint64_t seed = 1234, double a = 0,
                   double b = 1) {
  ProgramNode n;
  n.kind = Kind::kRandom;
  n.leaf_shape = std::move(shape);
  n.map = std::move(map);
  n.dist = dist;
  n.dtype = dtype;
  n.seed = seed;
  n.param_a = a;
  n.param_b = b;
  return n;
}

ProgramNode Arange(int64_t length, double start, double step, graph::IndexMap map,
                   DType dtype = DType::kFloat64) {
  ProgramNode n;
  n.kind = Kind::kArange;
  n.leaf_shape = {length};
  n.start = start;
  n.step = step;
  n.map = std::move(map);
  n.dtype = dtype;
  return n;
}

ProgramNode Input(int input, Shape shape, graph::IndexMap map, DType dtype) {
  ProgramNode n;
  n.kind = Kind::kInput;
  n.input = input;
  n.leaf_shape = std::move(shape);
  n.map = std::move(map);
  n.dtype = dtype;
  return n;
}

ProgramNode Unary(UnaryOp op, int arg, DType dtype = DType::kFloat64) {
  ProgramNode n;
  n.kind = Kind::kUnary;
  n.unary = op;
  n.arg0 = arg;
  n.dtype = dtype;
  return n;
}

ProgramNode Binary(BinaryOp op, int a, int b, DType dtype = DType::kFloat64) {
  ProgramNode n;
  n.kind = Kind::kBinary;
  n.binary = op;
  n.arg0 = a;
  n.arg1 = b;
  n.dtype = dtype;
  return n;
}

TaskSpec ChunkTask(std::vector<int64_t> lo, std::vector<int64_t> hi) {
  TaskSpec t;
  t.key = "test-chunk";
  t.kind = TaskKind::kChunk;
  t.program = 0;
  t.lo = std::move(lo);
  t.hi = std::move(hi);
  return t;
}

ChunkBuffer Eval(const ChunkProgram& p, std::vector<int64_t> lo, std::vector<int64_t> hi) {
  absl::StatusOr<ChunkBuffer> r = ExecuteTask(ChunkTask(std::move(lo), std::move(hi)), &p, {});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : ChunkBuffer{};
}

// ---- The naive reference: one element at a time, straight from the definitions --------------

double RoundTo(DType d, double v) {
  switch (d) {
    case DType::kFloat64:
      return v;
    case DType::kFloat32:
      return static_cast<float>(v);
    case DType::kInt64:
      return static_cast<double>(static_cast<int64_t>(v));
    case DType::kInt32:
      return static_cast<double>(static_cast<int32_t>(static_cast<int64_t>(v)));
    case DType::kBool:
      return v != 0;
  }
  return v;
}

// Leaf coordinates -> flat C-order index in `shape`.
int64_t LeafFlat(const ProgramNode& n, const Shape& shape, const std::vector<int64_t>& out) {
  int64_t flat = 0;
  for (size_t a = 0; a < shape.size(); ++a) {
    const int64_t c =
        n.map.offset[a] + (n.map.out_axis[a] < 0 ? 0 : n.map.step[a] * out[n.map.out_axis[a]]);
    flat = flat * shape[a] + c;
  }
  return flat;
}

struct NaiveInputs {
  std::vector<std::vector<double>> dense;  // whole input arrays, C order
};

double NaiveValue(const ChunkProgram& p, const std::vector<int64_t>& out,
                  const NaiveInputs* inputs = nullptr) {
  std::vector<double> v(p.nodes.size());
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const ProgramNode& n = p.nodes[i];
    double x = 0;
    switch (n.kind) {
      case Kind::kFull:
      case Kind::kScalar:
        x = n.value;
        break;
      case Kind::kArange:
        x = n.start + n.step * static_cast<double>(LeafFlat(n, n.leaf_shape, out));
        break;
      case Kind::kLinspace:
        x = graph::LinspaceValue(n, LeafFlat(n, n.leaf_shape, out));
        break;
      case Kind::kRandom: {
        const philox::Block b = philox::ElementBlock(n.seed, LeafFlat(n, n.leaf_shape, out));
        if (n.dist == RandomDist::kNormal) {
          x = n.param_a + n.param_b * philox::NormalDouble(b);
        } else if (n.dtype == DType::kFloat64) {
          x = n.param_a + (n.param_b - n.param_a) * philox::UniformDouble(b);
        } else if (n.dtype == DType::kFloat32) {
          x = n.param_a + (n.param_b - n.param_a) * static_cast<double>(philox::UniformFloat(b));
        } else {
          x = static_cast<double>(
              philox::RandInt(b, static_cast<int64_t>(n.param_a), static_cast<int64_t>(n.param_b)));
        }
        break;
      }
      case Kind::kInput:
        x = inputs->dense[n.input][LeafFlat(n, p.inputs[n.input].shape, out)];
        break;
      case Kind::kUnary: {
        const double a = v[n.arg0];
        switch (n.unary) {
          case UnaryOp::kNegative:
            x = -a;
            break;
          case UnaryOp::kExp:
            x = std::exp(a);
            break;
          case UnaryOp::kSqrt:
            x = std::sqrt(a);
            break;
          case UnaryOp::kSin:
            x = std::sin(a);
            break;
          case UnaryOp::kAstype:
            x = a;
            break;
          default:
            ADD_FAILURE() << "naive evaluator lacks unary op " << static_cast<int>(n.unary);
        }
        break;
      }
      case Kind::kBinary: {
        const double a = v[n.arg0], b = v[n.arg1];
        switch (n.binary) {
          case BinaryOp::kAdd:
            x = a + b;
            break;
          case BinaryOp::kSubtract:
            x = a - b;
            break;
          case BinaryOp::kMultiply:
            x = a * b;
            break;
          case BinaryOp::kDivide:
            x = a / b;
            break;
          case BinaryOp::kLess:
            x = a < b;
            break;
          default:
            ADD_FAILURE() << "naive evaluator lacks binary op " << static_cast<int>(n.binary);
        }
        break;
      }
      case Kind::kWhere:
        x = v[n.arg0] != 0 ? v[n.arg1] : v[n.arg2];
        break;
    }
    v[i] = RoundTo(n.dtype, x);
  }
  return v.back();
}

// Every element of the region, naively, in C order.
std::vector<double> NaiveRegion(const ChunkProgram& p, const std::vector<int64_t>& lo,
                                const std::vector<int64_t>& hi,
                                const NaiveInputs* inputs = nullptr) {
  std::vector<double> out;
  std::vector<int64_t> c = lo;
  int64_t total = 1;
  for (size_t k = 0; k < lo.size(); ++k) total *= hi[k] - lo[k];
  for (int64_t e = 0; e < total; ++e) {
    out.push_back(NaiveValue(p, c, inputs));
    for (int k = static_cast<int>(lo.size()) - 1; k >= 0; --k) {
      if (++c[k] < hi[k]) break;
      c[k] = lo[k];
    }
  }
  return out;
}

std::vector<double> AsDoubles(const ChunkBuffer& b) {
  std::vector<double> v(b.num_elements());
  for (int64_t i = 0; i < b.num_elements(); ++i) v[i] = b.GetAsDouble(i);
  return v;
}

// Bitwise equality of doubles (NaN == NaN).
void ExpectSameBits(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(std::memcmp(&got[i], &want[i], sizeof(double)), 0)
        << "element " << i << ": got " << got[i] << ", want " << want[i];
  }
}

// ---- Leaves and maps -------------------------------------------------------------------------

TEST(ExecutorTest, RandomArangeFullWithReversedMaps) {
  // out[i, j] = random[6 - i, j] * arange[8 - j] + 0.5 over a (7, 9) output.
  ChunkProgram p;
  p.ndim = 2;
  p.nodes.push_back(Random({7, 9}, Map({6, 0}, {-1, 1}, {0, 1})));
  p.nodes.push_back(Arange(9, 1.5, 0.25, Map({8}, {-1}, {1})));
  p.nodes.push_back(Binary(BinaryOp::kMultiply, 0, 1));
  p.nodes.push_back(Full(0.5));
  p.nodes.push_back(Binary(BinaryOp::kAdd, 2, 3));
  const ChunkBuffer got = Eval(p, {1, 2}, {7, 9});
  EXPECT_EQ(got.shape, (Shape{6, 7}));
  EXPECT_EQ(got.dtype, DType::kFloat64);
  ExpectSameBits(AsDoubles(got), NaiveRegion(p, {1, 2}, {7, 9}));
  // Spot check one element by hand: out[1, 2] = random[5, 2] * (1.5 + 0.25 * 6) + 0.5.
  const double r = philox::UniformDouble(philox::ElementBlock(1234, 5 * 9 + 2));
  EXPECT_EQ(got.data<double>()[0], r * 3.0 + 0.5);
}

TEST(ExecutorTest, BroadcastStepZeroAndIntegerIndex) {
  // out[i, j] = random[3, 2] (axis 0 an integer index, axis 1 broadcast with step 0), and an
  // output axis (0) that the arange ignores.
  ChunkProgram p;
  p.ndim = 2;
  p.nodes.push_back(Random({5, 4}, Map({3, 2}, {0, 0}, {-1, 1})));
  p.nodes.push_back(Arange(2000, 0, 1, Map({0}, {1}, {1})));
  p.nodes.push_back(Binary(BinaryOp::kAdd, 0, 1));
  const ChunkBuffer got = Eval(p, {0, 0}, {3, 2000});
  const double r = philox::UniformDouble(philox::ElementBlock(1234, 3 * 4 + 2));
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 2000; ++j) ASSERT_EQ(got.data<double>()[i * 2000 + j], r + j);
  }
}

TEST(ExecutorTest, ZeroDimensionalProgram) {
  ChunkProgram p;
  p.ndim = 0;
  p.nodes.push_back(Random({10}, Map({7}, {1}, {-1}), RandomDist::kNormal));
  const ChunkBuffer got = Eval(p, {}, {});
  ASSERT_EQ(got.num_elements(), 1);
  EXPECT_EQ(got.data<double>()[0], philox::NormalDouble(philox::ElementBlock(1234, 7)));
}

TEST(ExecutorTest, ScalarRootIsMaterialised) {
  ChunkProgram p;
  p.ndim = 1;
  p.nodes.push_back(Scalar(3.0, DType::kInt32));
  const ChunkBuffer got = Eval(p, {0}, {5});
  ASSERT_EQ(got.dtype, DType::kInt32);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got.data<int32_t>()[i], 3);
}

// Evaluating a region whole or in pieces gives the same bytes: random numbers depend only on the
// global index.
TEST(ExecutorTest, RandomIsBitIdenticalAcrossChunkings) {
  for (DType dtype : {DType::kFloat64, DType::kFloat32}) {
    for (RandomDist dist : {RandomDist::kUniform, RandomDist::kNormal}) {
      ChunkProgram p;
      p.ndim = 2;
      p.nodes.push_back(Random({37, 3001}, Identity(2), dist, dtype, 99, -2, 5));
      p.nodes.push_back(Unary(UnaryOp::kSqrt, 0, dtype));
      p.nodes.push_back(Binary(BinaryOp::kAdd, 0, 1, dtype));
      const ChunkBuffer whole = Eval(p, {0, 0}, {37, 3001});
      ChunkBuffer pieces = ChunkBuffer::Zeros(dtype, {37, 3001});
      const int64_t rows[] = {0, 5, 20, 37}, cols[] = {0, 1, 1500, 3001};
      for (int a = 0; a < 3; ++a) {
        for (int b = 0; b < 3; ++b) {
          const ChunkBuffer part = Eval(p, {rows[a], cols[b]}, {rows[a + 1], cols[b + 1]});
          const int64_t w = cols[b + 1] - cols[b];
          for (int64_t i = rows[a]; i < rows[a + 1]; ++i) {
            std::memcpy(pieces.bytes.data() + (i * 3001 + cols[b]) * ItemSize(dtype),
                        part.bytes.data() + (i - rows[a]) * w * ItemSize(dtype),
                        w * ItemSize(dtype));
          }
        }
      }
      EXPECT_EQ(whole.bytes, pieces.bytes) << DTypeName(dtype);
      ExpectSameBits(AsDoubles(whole), NaiveRegion(p, {0, 0}, {37, 3001}));
    }
  }
}

// Long rows with negative, large and zero strides along the last axis, at every SIMD level the
// CPU has (the hand-vectorised Philox must give the scalar recipe's bits).
TEST(ExecutorTest, RandomSimdStridesMatchScalarRecipe) {
  ChunkProgram p;
  p.ndim = 2;
  // out[i, j] = rnd[39 - j, 1999 - i] (transposed and reversed: stride -2000 along j) +
  //             rnd[i, 1999 - j] (stride -1) + rnd[i, 7] (stride 0).
  p.nodes.push_back(Random({40, 2000}, Map({39, 1999}, {-1, -1}, {1, 0}), RandomDist::kUniform,
                           DType::kFloat64, 0xfeedfacecafebeefull, -1, 2));
  p.nodes.push_back(Random({2000, 2000}, Map({0, 1999}, {1, -1}, {0, 1})));
  p.nodes.push_back(Random({2000, 2000}, Map({0, 7}, {1, 0}, {0, 1})));
  p.nodes.push_back(Binary(BinaryOp::kAdd, 0, 1));
  p.nodes.push_back(Binary(BinaryOp::kAdd, 3, 2));
  const std::vector<double> want = NaiveRegion(p, {3, 0}, {40, 40});
  for (int level = 2; level >= 0; --level) {
    const int got_level = detail::SetSimdLevelForTesting(level);
    SCOPED_TRACE(testing::Message() << "SIMD level " << got_level);
    // Region columns 0..40 of rows 3..40, and column offsets that leave odd tails.
    ExpectSameBits(AsDoubles(Eval(p, {3, 0}, {40, 40})), want);
    // 37 rows of 37 in one block: 1369 indexed elements, a tail of 1 past the last vector of 8
    // or of 4 (UniformF64's padded vector).
    ExpectSameBits(AsDoubles(Eval(p, {3, 0}, {40, 37})), NaiveRegion(p, {3, 0}, {40, 37}));
    ChunkProgram q;
    q.ndim = 1;
    q.nodes.push_back(Random({3000}, Map({2999}, {-1}, {0})));
    ExpectSameBits(AsDoubles(Eval(q, {1}, {2998})), NaiveRegion(q, {1}, {2998}));
  }
  detail::SetSimdLevelForTesting(2);
}

// Short rows (the last axis split in chunks of 5, as B3's (1000, 1000, 5)) are packed several to
// a block; values, stores and every reduction layout must be unaffected.
TEST(ExecutorTest, ShortRowsPackedIntoBlocks) {
  ChunkProgram p;
  p.ndim = 3;
  p.nodes.push_back(Random({30, 400, 10}, Identity(3), RandomDist::kUniform, DType::kFloat64, 3));
  p.nodes.push_back(Random({30, 400, 10}, Map({29, 0, 9}, {-1, 1, -1}, {0, 1, 2}),
                           RandomDist::kNormal, DType::kFloat64, 4));
  p.nodes.push_back(Arange(400, 0.5, 2, Map({0}, {1}, {1})));
  p.nodes.push_back(Binary(BinaryOp::kAdd, 0, 1));
  p.nodes.push_back(Binary(BinaryOp::kMultiply, 3, 2));
  const std::vector<int64_t> lo = {2, 1, 5}, hi = {29, 400, 10};  // region (27, 399, 5)
  const std::vector<double> values = NaiveRegion(p, lo, hi);
  ExpectSameBits(AsDoubles(Eval(p, lo, hi)), values);
  const Shape region = {27, 399, 5};
  for (const std::vector<int>& axes :
       std::vector<std::vector<int>>{{0, 1, 2}, {1, 2}, {2}, {0}, {1}, {0, 1}}) {
    ChunkProgram q = p;
    q.has_reduce = true;
    q.reduce.op = ReduceOp::kSum;
    q.reduce.axes = axes;
    const ChunkBuffer got = Eval(q, lo, hi);
    Shape pshape = region;
    for (int a : axes) pshape[a] = 1;
    ASSERT_EQ(got.shape, pshape);
    std::vector<long double> want(got.num_elements(), 0);
    for (int64_t i = 0; i < region[0]; ++i) {
      for (int64_t j = 0; j < region[1]; ++j) {
        for (int64_t k = 0; k < region[2]; ++k) {
          const int64_t pi = pshape[0] == 1 ? 0 : i, pj = pshape[1] == 1 ? 0 : j,
                        pk = pshape[2] == 1 ? 0 : k;
          want[(pi * pshape[1] + pj) * pshape[2] + pk] +=
              values[(i * region[1] + j) * region[2] + k];
        }
      }
    }
    for (int64_t e = 0; e < got.num_elements(); ++e) {
      ASSERT_NEAR(got.data<double>()[e], static_cast<double>(want[e]),
                  1e-12 * (1 + std::fabs(static_cast<double>(want[e]))))
          << "axes size " << axes.size() << " element " << e;
    }
  }
}

// ---- Typed tests over dtypes -----------------------------------------------------------------

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::kFloat64;
};
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::kFloat32;
};
template <>
struct DTypeOf<int64_t> {
  static constexpr DType value = DType::kInt64;
};
template <>
struct DTypeOf<int32_t> {
  static constexpr DType value = DType::kInt32;
};

template <typename T>
class TypedExecutorTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<double, float, int64_t, int32_t>;
TYPED_TEST_SUITE(TypedExecutorTest, ElementTypes);

TYPED_TEST(TypedExecutorTest, UniformRandomMatchesRecipe) {
  constexpr DType kD = DTypeOf<TypeParam>::value;
  ChunkProgram p;
  p.ndim = 1;
  p.nodes.push_back(Random({5000}, Identity(1), RandomDist::kUniform, kD, 7, -3, 11));
  const ChunkBuffer got = Eval(p, {100}, {4100});
  ASSERT_EQ(got.dtype, kD);
  for (int64_t i = 0; i < 4000; ++i) {
    const philox::Block b = philox::ElementBlock(7, 100 + i);
    TypeParam want;
    if constexpr (std::is_same_v<TypeParam, double>) {
      want = -3 + 14 * philox::UniformDouble(b);
    } else if constexpr (std::is_same_v<TypeParam, float>) {
      want = static_cast<float>(-3 + 14 * static_cast<double>(philox::UniformFloat(b)));
    } else {
      want = static_cast<TypeParam>(philox::RandInt(b, -3, 11));
    }
    ASSERT_EQ(got.data<TypeParam>()[i], want) << i;
    ASSERT_GE(got.data<TypeParam>()[i], TypeParam(-3));
    ASSERT_LT(got.data<TypeParam>()[i], TypeParam(11));
  }
}

TYPED_TEST(TypedExecutorTest, SumOverAxisSubsetsMatchesNaiveLoop) {
  constexpr DType kD = DTypeOf<TypeParam>::value;
  // Values: random uniform in [-50, 50) cast to the dtype (exact small integers for ints).
  ChunkProgram base;
  base.ndim = 3;
  base.nodes.push_back(Random({9, 1300, 6}, Map({8, 0, 0}, {-1, 1, 1}, {0, 2, 1}),
                              RandomDist::kUniform, DType::kFloat64, 5, -50, 50));
  base.nodes.push_back(Unary(UnaryOp::kAstype, 0, kD));
  const std::vector<int64_t> lo = {1, 0, 3}, hi = {9, 5, 1300};  // output (9, 6, 1300)
  const std::vector<double> values = NaiveRegion(base, lo, hi);
  const Shape region = {8, 5, 1297};
  for (const std::vector<int>& axes :
       std::vector<std::vector<int>>{{0, 1, 2}, {0}, {1}, {2}, {0, 2}, {1, 2}}) {
    ChunkProgram p = base;
    p.has_reduce = true;
    p.reduce.op = ReduceOp::kSum;
    p.reduce.axes = axes;
    const ChunkBuffer got = Eval(p, lo, hi);
    Shape pshape = region;
    for (int a : axes) pshape[a] = 1;
    ASSERT_EQ(got.shape, pshape);
    ASSERT_EQ(got.dtype, graph::PartialDType(ReduceOp::kSum, kD));
    std::vector<long double> want(got.num_elements(), 0);
    for (int64_t i = 0; i < region[0]; ++i) {
      for (int64_t j = 0; j < region[1]; ++j) {
        for (int64_t k = 0; k < region[2]; ++k) {
          const int64_t pi = pshape[0] == 1 ? 0 : i, pj = pshape[1] == 1 ? 0 : j,
                        pk = pshape[2] == 1 ? 0 : k;
          want[(pi * pshape[1] + pj) * pshape[2] + pk] +=
              values[(i * region[1] + j) * region[2] + k];
        }
      }
    }
    for (int64_t e = 0; e < got.num_elements(); ++e) {
      if constexpr (std::is_integral_v<TypeParam>) {
        ASSERT_EQ(got.data<int64_t>()[e], static_cast<int64_t>(want[e]));
      } else {
        const double tol = std::is_same_v<TypeParam, float> ? 1e-6 : 1e-12;
        ASSERT_NEAR(got.GetAsDouble(e), static_cast<double>(want[e]),
                    tol * (1 + std::fabs(static_cast<double>(want[e]))));
      }
    }
  }
}

TYPED_TEST(TypedExecutorTest, MinMaxProdMatchNaiveLoop) {
  constexpr DType kD = DTypeOf<TypeParam>::value;
  ChunkProgram base;
  base.ndim = 2;
  base.nodes.push_back(
      Random({40, 2100}, Identity(2), RandomDist::kUniform, DType::kFloat64, 8, 1, 3));
  base.nodes.push_back(Unary(UnaryOp::kAstype, 0, kD));
  const std::vector<double> values = NaiveRegion(base, {0, 0}, {40, 2100});
  for (ReduceOp op : {ReduceOp::kMin, ReduceOp::kMax, ReduceOp::kProd}) {
    for (int axis : {0, 1}) {
      ChunkProgram p = base;
      p.has_reduce = true;
      p.reduce.op = op;
      p.reduce.axes = {axis};
      const ChunkBuffer got = Eval(p, {0, 0}, {40, 2100});
      ASSERT_EQ(got.dtype, graph::PartialDType(op, kD));
      const int64_t outer = axis == 0 ? 2100 : 40, inner = axis == 0 ? 40 : 2100;
      ASSERT_EQ(got.num_elements(), outer);
      for (int64_t o = 0; o < outer; ++o) {
        double m = op == ReduceOp::kMin ? INFINITY : (op == ReduceOp::kMax ? -INFINITY : 1.0);
        for (int64_t r = 0; r < inner; ++r) {
          const double v = axis == 0 ? values[r * 2100 + o] : values[o * 2100 + r];
          if (op == ReduceOp::kMin) m = std::min(m, v);
          if (op == ReduceOp::kMax) m = std::max(m, v);
          if (op == ReduceOp::kProd) m *= (axis == 0 ? v : 1.0);
        }
        if (op == ReduceOp::kProd && axis == 1) continue;  // 2^2100 overflows; checked below
        if (op == ReduceOp::kProd && !std::is_integral_v<TypeParam>) {
          ASSERT_NEAR(got.GetAsDouble(o), m, 1e-5 * m) << o;
        } else {
          ASSERT_EQ(got.GetAsDouble(o), m) << o;
        }
      }
    }
  }
}

// ---- Reductions ------------------------------------------------------------------------------

TEST(ExecutorTest, MinMaxPropagateNaN) {
  // sqrt(arange - 5) is NaN for the first five elements of each row.
  ChunkProgram p;
  p.ndim = 2;
  p.nodes.push_back(Arange(3000, 0, 1, Map({0}, {1}, {1})));
  p.nodes.push_back(Scalar(5));
  p.nodes.push_back(Binary(BinaryOp::kSubtract, 0, 1));
  p.nodes.push_back(Unary(UnaryOp::kSqrt, 2));
  for (ReduceOp op : {ReduceOp::kMin, ReduceOp::kMax}) {
    p.has_reduce = true;
    p.reduce.op = op;
    p.reduce.axes = {1};
    ChunkBuffer got = Eval(p, {0, 0}, {2, 3000});
    EXPECT_TRUE(std::isnan(got.data<double>()[0]));
    EXPECT_TRUE(std::isnan(got.data<double>()[1]));
    got = Eval(p, {0, 5}, {2, 3000});
    EXPECT_EQ(got.data<double>()[0], op == ReduceOp::kMin ? 0.0 : std::sqrt(2994.0));
  }
}

TEST(ExecutorTest, EmptyReductions) {
  ChunkProgram p;
  p.ndim = 2;
  p.nodes.push_back(Random({10, 10}, Identity(2)));
  p.has_reduce = true;
  p.reduce.axes = {1};
  // sum over an empty axis is 0; min has no identity (NumPy raises) unless the result is empty.
  p.reduce.op = ReduceOp::kSum;
  ChunkBuffer got = Eval(p, {0, 4}, {3, 4});
  EXPECT_EQ(AsDoubles(got), (std::vector<double>{0, 0, 0}));
  p.reduce.op = ReduceOp::kProd;
  EXPECT_EQ(AsDoubles(Eval(p, {0, 4}, {3, 4})), (std::vector<double>{1, 1, 1}));
  p.reduce.op = ReduceOp::kMin;
  EXPECT_EQ(ExecuteTask(ChunkTask({0, 4}, {3, 4}), &p, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  got = Eval(p, {2, 4}, {2, 4});
  EXPECT_EQ(got.shape, (Shape{0, 1}));
}

TEST(ExecutorTest, FloatSumIsAccurate) {
  // 4e6 uniforms in [0, 1): the compensated pairwise sum matches a long double sum to 1e-14.
  ChunkProgram p;
  p.ndim = 2;
  p.nodes.push_back(Random({2000, 2000}, Identity(2)));
  p.has_reduce = true;
  p.reduce.op = ReduceOp::kSum;
  p.reduce.axes = {0, 1};
  const ChunkBuffer got = Eval(p, {0, 0}, {2000, 2000});
  long double want = 0;
  for (int64_t i = 0; i < 4'000'000; ++i) {
    want += philox::UniformDouble(philox::ElementBlock(1234, i));
  }
  EXPECT_NEAR(got.data<double>()[0], static_cast<double>(want), 1e-14 * static_cast<double>(want));
  // Mean's partial is the float64 sum.
  p.reduce.op = ReduceOp::kMean;
  const ChunkBuffer mean = Eval(p, {0, 0}, {2000, 2000});
  EXPECT_EQ(mean.dtype, DType::kFloat64);
  EXPECT_EQ(mean.data<double>()[0], got.data<double>()[0]);
}

TEST(ExecutorTest, Int64SumIsExact) {
  // Values near 2^50: their sum exceeds 2^53, where a double sum would round.
  ChunkProgram p;
  p.ndim = 1;
  p.nodes.push_back(Arange(100000, 1125899906842624.0, 3, Identity(1), DType::kInt64));
  p.has_reduce = true;
  p.reduce.op = ReduceOp::kSum;
  p.reduce.axes = {0};
  const ChunkBuffer got = Eval(p, {0}, {100000});
  ASSERT_EQ(got.dtype, DType::kInt64);
  int64_t want = 0;
  for (int64_t i = 0; i < 100000; ++i) want += 1125899906842624 + 3 * i;
  EXPECT_EQ(got.data<int64_t>()[0], want);
}

TEST(ExecutorTest, BoolSumCountsTrue) {
  ChunkProgram p;
  p.ndim = 1;
  p.nodes.push_back(Random({10000}, Identity(1)));
  p.nodes.push_back(Scalar(0.25));
  p.nodes.push_back(Binary(BinaryOp::kLess, 0, 1, DType::kBool));
  p.has_reduce = true;
  p.reduce.op = ReduceOp::kSum;
  p.reduce.axes = {0};
  const ChunkBuffer got = Eval(p, {0}, {10000});
  ASSERT_EQ(got.dtype, DType::kInt64);
  int64_t want = 0;
  for (int64_t i = 0; i < 10000; ++i)
    want += philox::UniformDouble(philox::ElementBlock(1234, i)) < 0.25;
  EXPECT_EQ(got.data<int64_t>()[0], want);
}

// ---- NumPy op semantics ----------------------------------------------------------------------

// Evaluates op(a[i], b[i]) for the given operand lists through a 1-D program over inputs.
std::vector<double> EvalBinary(BinaryOp op, DType in_dtype, DType out_dtype,
                               const std::vector<double>& a, const std::vector<double>& b) {
  ChunkProgram p;
  p.ndim = 1;
  const int64_t n = static_cast<int64_t>(a.size());
  for (int k = 0; k < 2; ++k) {
    ProgramInput in;
    in.name = k == 0 ? "a" : "b";
    in.shape = {n};
    in.dtype = DType::kFloat64;
    in.chunks = {{n}};
    p.inputs.push_back(in);
    p.nodes.push_back(Input(k, {n}, Identity(1), DType::kFloat64));
  }
  p.nodes.push_back(Unary(UnaryOp::kAstype, 0, in_dtype));
  p.nodes.push_back(Unary(UnaryOp::kAstype, 1, in_dtype));
  p.nodes.push_back(Binary(op, 2, 3, out_dtype));
  TaskSpec t = ChunkTask({0}, {n});
  std::vector<ChunkPtr> deps;
  for (int k = 0; k < 2; ++k) {
    auto c = std::make_shared<ChunkBuffer>(ChunkBuffer::Zeros(DType::kFloat64, {n}));
    std::memcpy(c->bytes.data(), (k == 0 ? a : b).data(), n * sizeof(double));
    deps.push_back(c);
    t.deps.push_back(k == 0 ? "a/0" : "b/0");
    t.input_chunks.push_back(InputChunk{k, {0}, {n}});
  }
  absl::StatusOr<ChunkBuffer> r = ExecuteTask(t, &p, deps);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? AsDoubles(*r) : std::vector<double>{};
}

TEST(ExecutorTest, FloorDivideAndModFollowPython) {
  const std::vector<double> a = {7, -7, 7, -7, 7.5, -7.5, 0, 5};
  const std::vector<double> b = {2, 2, -2, -2, 2, 2, 3, 0};
  EXPECT_EQ(EvalBinary(BinaryOp::kFloorDivide, DType::kInt64, DType::kInt64, a, b),
            (std::vector<double>{3, -4, -4, 3, 3, -4, 0, 0}));  // ints: x // 0 == 0
  EXPECT_EQ(EvalBinary(BinaryOp::kMod, DType::kInt64, DType::kInt64, a, b),
            (std::vector<double>{1, 1, -1, -1, 1, 1, 0, 0}));
  const std::vector<double> fd =
      EvalBinary(BinaryOp::kFloorDivide, DType::kFloat64, DType::kFloat64, a, b);
  EXPECT_EQ(std::vector<double>(fd.begin(), fd.end() - 1),
            (std::vector<double>{3, -4, -4, 3, 3, -4, 0}));
  EXPECT_EQ(fd.back(), INFINITY);
  const std::vector<double> md = EvalBinary(BinaryOp::kMod, DType::kFloat64, DType::kFloat64, a, b);
  EXPECT_EQ(std::vector<double>(md.begin(), md.end() - 1),
            (std::vector<double>{1, 1, -1, -1, 1.5, 0.5, 0}));
  EXPECT_TRUE(std::isnan(md.back()));
}

TEST(ExecutorTest, ComparisonsAndCasts) {
  const std::vector<double> a = {1, 2, NAN, -2.7, 2.5, 1e10};
  const std::vector<double> b = {2, 2, 1, -2.7, 0, 0};
  EXPECT_EQ(EvalBinary(BinaryOp::kLess, DType::kFloat64, DType::kBool, a, b),
            (std::vector<double>{1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(EvalBinary(BinaryOp::kNotEqual, DType::kFloat64, DType::kBool, a, b),
            (std::vector<double>{1, 0, 1, 0, 1, 1}));
  // Casting the operands first: int32 truncates (-2.7 -> -2; 1e10 wraps as NumPy's int64 ->
  // int32 does), float32 rounds, bool is x != 0 (NaN is True).
  const std::vector<double> ia =
      EvalBinary(BinaryOp::kAdd, DType::kInt32, DType::kInt32, {-2.7, 2.9, 1e10}, {0, 0, 0});
  EXPECT_EQ(ia, (std::vector<double>{
                    -2, 2,
                    static_cast<double>(static_cast<int32_t>(int64_t{10000000000} & 0xffffffff))}));
  EXPECT_EQ(EvalBinary(BinaryOp::kAdd, DType::kFloat32, DType::kFloat32, {0.1}, {0.2}),
            (std::vector<double>{static_cast<float>(0.1f + 0.2f)}));
  EXPECT_EQ(EvalBinary(BinaryOp::kAdd, DType::kBool, DType::kBool, {NAN, 0, 0.5}, {0, 0, 0}),
            (std::vector<double>{1, 0, 1}));
  EXPECT_EQ(
      EvalBinary(BinaryOp::kMaximum, DType::kFloat64, DType::kFloat64, {1, NAN}, {NAN, 1}).size(),
      2u);
}

TEST(ExecutorTest, UnaryOpsFollowNumPy) {
  ChunkProgram p;
  p.ndim = 1;
  p.nodes.push_back(Arange(8, -1.5, 0.5, Identity(1)));  // -1.5 -1 -0.5 0 0.5 1 1.5 2
  p.nodes.push_back(Unary(UnaryOp::kRound, 0));
  p.nodes.push_back(Unary(UnaryOp::kSign, 0));
  p.nodes.push_back(Binary(BinaryOp::kAdd, 1, 2));
  // round half to even: -2 -1 -0 0 0 1 2 2; sign: -1 -1 -1 0 1 1 1 1
  EXPECT_EQ(AsDoubles(Eval(p, {0}, {8})), (std::vector<double>{-3, -2, -1, 0, 1, 2, 3, 3}));
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A block kernel over `x`, kBlockSize elements at a time.
std::vector<double> BlockApply(void (*kernel)(double*, const double*, int64_t),
                               const std::vector<double>& x) {
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); i += detail::kBlockSize) {
    const int64_t n = std::min<int64_t>(detail::kBlockSize, static_cast<int64_t>(x.size() - i));
    kernel(out.data() + i, x.data() + i, n);
  }
  return out;
}

// The block exp (kernels.cc) is within 1 ulp of libm's, within 0.55 ulp of the exact value
// (expl), exact at the special values, and gives the same bits at every SIMD level.
TEST(ExecutorTest, ExpIsWithinOneUlpOfLibmAtEverySimdLevel) {
  std::vector<double> x;
  for (int i = 0; i < 300000; ++i) {
    const double u = philox::UniformDouble(philox::ElementBlock(77, i));
    x.push_back(i % 3 == 0 ? 2 * u - 1 : (i % 3 == 1 ? 1460 * u - 745 : 0.1 * u - 0.05));
  }
  for (double v : {0.0,    -0.0,  1.0,    -1.0,   1e-300, -1e-300, 1e-17,  511.99, -511.99, 512.0,
                   -512.0, 700.0, -700.0, 709.78, 709.79, -745.1,  -745.2, kInf,   -kInf,   kNaN}) {
    x.push_back(v);
  }
  std::vector<double> got;
  for (int level = 2; level >= 0; --level) {
    const int got_level = detail::SetSimdLevelForTesting(level);
    SCOPED_TRACE(testing::Message() << "SIMD level " << got_level);
    const std::vector<double> out =
        BlockApply([](double* o, const double* in, int64_t n) {
          detail::UnaryBlock(UnaryOp::kExp, o, in, n);
        }, x);
    if (got.empty()) {
      got = out;
    } else {
      ExpectSameBits(out, got);
    }
  }
  detail::SetSimdLevelForTesting(2);
  int64_t differing = 0;
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp(x[i]);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got[i])) << x[i];
      continue;
    }
    int64_t a, b;
    std::memcpy(&a, &got[i], 8);
    std::memcpy(&b, &want, 8);
    ASSERT_LE(std::llabs(a - b), 1) << "exp(" << x[i] << ") = " << got[i] << ", libm " << want;
    differing += a != b;
    if (std::isfinite(want) && want >= std::numeric_limits<double>::min()) {
      const long double exact = std::exp(static_cast<long double>(x[i]));
      const double ulp = std::nextafter(static_cast<double>(exact), kInf) -
                         static_cast<double>(exact);
      const double err = static_cast<double>(std::fabs((got[i] - exact) / ulp));
      worst = std::max(worst, err);
      ASSERT_LT(err, 0.55) << "exp(" << x[i] << ") = " << got[i] << ", exact " << exact;
    }
  }
  EXPECT_GT(worst, 0.4);                                       // the check measures something
  EXPECT_LT(differing, static_cast<int64_t>(x.size() / 50));  // mostly the same bits as libm
  EXPECT_EQ(got[got.size() - 20], 1.0);                       // exp(0)
  EXPECT_EQ(got[got.size() - 3], kInf);
  EXPECT_EQ(got[got.size() - 2], 0.0);
}

int64_t UlpDistance(double a, double b) {
  int64_t ia, ib;
  std::memcpy(&ia, &a, 8);
  std::memcpy(&ib, &b, 8);
  if (ia < 0) ia = INT64_MIN - ia;  // monotonic in the value, +0 and -0 adjacent
  if (ib < 0) ib = INT64_MIN - ib;
  return ia > ib ? ia - ib : ib - ia;
}

// The block arcsin / arccos (kernels.cc) are within 1 ulp of libm's over [-1, 1], NaN outside,
// exact at the special values, and give the same bits at every SIMD level.
TEST(ExecutorTest, ArcsinArccosWithinOneUlpOfLibmAtEverySimdLevel) {
  std::vector<double> x;
  for (int i = 0; i <= 400000; ++i) x.push_back(-1.0 + i / 200000.0);  // dense sweep
  for (int i = 0; i < 100000; ++i) {
    x.push_back(2 * philox::UniformDouble(philox::ElementBlock(78, i)) - 1);
  }
  for (double c : {1.0, -1.0, 0.5, -0.5, 0.975, -0.975}) {  // ulp by ulp around the breakpoints
    double lo = c, hi = c;
    for (int k = 0; k < 3000; ++k) {
      lo = std::nextafter(lo, -2.0);
      hi = std::nextafter(hi, 2.0);
      x.push_back(lo);
      x.push_back(hi);
    }
  }
  for (int e = -1074; e <= -1; ++e) {  // tiny and subnormal magnitudes
    x.push_back(std::ldexp(1.0, e));
    x.push_back(-std::ldexp(1.37, e));
  }
  // From index 10 on, outside [-1, 1].
  std::vector<double> specials;
  for (double v :
       {0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.4901161193847656e-8, 7.450580596923828e-9, 4.9e-324,
        3.337610787760802e-308, 1.0000000000000002, -1.0000000000000002, 2.0, kInf, -kInf, kNaN}) {
    specials.push_back(v);
  }
  x.insert(x.end(), specials.begin(), specials.end());
  for (int acos = 0; acos < 2; ++acos) {
    SCOPED_TRACE(acos ? "arccos" : "arcsin");
    auto kernel = acos ? detail::ArccosBlock : detail::ArcsinBlock;
    std::vector<double> first;
    for (int level = 2; level >= 0; --level) {
      const int got_level = detail::SetSimdLevelForTesting(level);
      SCOPED_TRACE(testing::Message() << "SIMD level " << got_level);
      const std::vector<double> got = BlockApply(kernel, x);
      if (first.empty()) {
        first = got;
      } else {
        ExpectSameBits(got, first);
      }
    }
    // A block of inputs all in [+0, 1] takes the kernels' shorter loop (no sign or NaN
    // handling): an element gets the same bits there as in a block with negatives (`x`).
    std::vector<double> unit, unit_want;
    for (size_t i = 0; i < x.size(); ++i) {
      uint64_t bits;
      std::memcpy(&bits, &x[i], sizeof bits);
      if (bits <= 0x3ff0000000000000ull) {
        unit.push_back(x[i]);
        unit_want.push_back(first[i]);
      }
    }
    ASSERT_GT(unit.size(), x.size() / 3);
    for (int level = 2; level >= 0; --level) {
      SCOPED_TRACE(testing::Message() << "unit interval, SIMD level "
                                      << detail::SetSimdLevelForTesting(level));
      ExpectSameBits(BlockApply(kernel, unit), unit_want);
    }
    detail::SetSimdLevelForTesting(2);
    int64_t differing = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = acos ? std::acos(x[i]) : std::asin(x[i]);
      if (std::isnan(want)) {
        ASSERT_TRUE(std::isnan(first[i])) << x[i];
        continue;
      }
      ASSERT_EQ(std::signbit(first[i]), std::signbit(want)) << x[i];
      const int64_t d = UlpDistance(first[i], want);
      ASSERT_LE(d, 1) << std::hexfloat << "(" << x[i] << ") = " << first[i] << ", libm " << want;
      differing += d != 0;
    }
    EXPECT_LT(differing, static_cast<int64_t>(x.size() / 10));  // mostly libm's bits
    const double* sp = first.data() + (x.size() - specials.size());
    if (acos) {
      EXPECT_EQ(sp[0], std::acos(0.0));
      EXPECT_EQ(sp[2], 0.0);
      EXPECT_FALSE(std::signbit(sp[2]));
      EXPECT_EQ(sp[3], std::acos(-1.0));
    } else {
      EXPECT_TRUE(sp[0] == 0 && !std::signbit(sp[0]));
      EXPECT_TRUE(sp[1] == 0 && std::signbit(sp[1]));  // asin(-0) = -0
      EXPECT_EQ(sp[2], std::asin(1.0));
      EXPECT_EQ(sp[3], -std::asin(1.0));
      EXPECT_EQ(sp[8], 4.9e-324);
    }
    for (size_t k = 10; k < specials.size(); ++k) EXPECT_TRUE(std::isnan(sp[k])) << specials[k];
    // Outside [-1, 1] (NaN aside), glibc's bits: its positive quiet NaN.
    for (size_t k = 10; k + 1 < specials.size(); ++k) {
      const double want = acos ? std::acos(specials[k]) : std::asin(specials[k]);
      EXPECT_EQ(std::memcmp(&sp[k], &want, sizeof(double)), 0) << specials[k];
    }
  }
}

// A NaN input comes back as itself, quieted, at every SIMD level (as libm's asin / acos do), not
// with a payload that depends on how a variant was compiled.
TEST(ExecutorTest, ArcsinArccosPassNaNPayloadsOn) {
  const std::vector<uint64_t> nans = {0x7ff8000000000000ull, 0x7ff90a0ab0056284ull,
                                      0xfff9973f22355fa4ull, 0x7ff0000000000001ull,
                                      0xfff4000000abcdefull};
  std::vector<double> x;  // 40 elements: the vector loops see them, not only the scalar tails
  for (int rep = 0; rep < 8; ++rep) {
    for (uint64_t b : nans) {
      double v;
      std::memcpy(&v, &b, 8);
      x.push_back(v);
    }
  }
  for (int acos = 0; acos < 2; ++acos) {
    for (int level = 2; level >= 0; --level) {
      const int got_level = detail::SetSimdLevelForTesting(level);
      const std::vector<double> got =
          BlockApply(acos ? detail::ArccosBlock : detail::ArcsinBlock, x);
      for (size_t i = 0; i < x.size(); ++i) {
        uint64_t b;
        std::memcpy(&b, &got[i], 8);
        const uint64_t in = nans[i % nans.size()];
        EXPECT_EQ(b, in | 0x0008000000000000ull)
            << std::hex << in << (acos ? " arccos" : " arcsin") << " level " << got_level;
      }
    }
  }
  detail::SetSimdLevelForTesting(2);
}

// Float64 arcsin / arccos nodes go through the block kernels (B3's arcsin(x) + arccos(y)), float32
// ones through libm as before.
TEST(ExecutorTest, ArcsinArccosNodes) {
  ChunkProgram p;
  p.ndim = 2;
  p.nodes.push_back(Random({9, 700}, Identity(2), RandomDist::kUniform, DType::kFloat64, 5));
  p.nodes.push_back(Unary(UnaryOp::kArcsin, 0));
  p.nodes.push_back(Random({9, 700}, Identity(2), RandomDist::kUniform, DType::kFloat64, 6, -1, 1));
  p.nodes.push_back(Unary(UnaryOp::kArccos, 2));
  p.nodes.push_back(Binary(BinaryOp::kAdd, 1, 3));
  const std::vector<int64_t> lo = {1, 3}, hi = {9, 700};
  const std::vector<double> got = AsDoubles(Eval(p, lo, hi));
  ChunkProgram leaves;  // the random values alone
  leaves.ndim = 2;
  leaves.nodes = {p.nodes[0]};
  const std::vector<double> x = NaiveRegion(leaves, lo, hi);
  leaves.nodes = {p.nodes[2]};
  const std::vector<double> y = NaiveRegion(leaves, lo, hi);
  const std::vector<double> as = BlockApply(detail::ArcsinBlock, x);
  const std::vector<double> ac = BlockApply(detail::ArccosBlock, y);
  ASSERT_EQ(got.size(), x.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], as[i] + ac[i]) << i;
    ASSERT_LE(UlpDistance(as[i], std::asin(x[i])), 1);
    ASSERT_LE(UlpDistance(ac[i], std::acos(y[i])), 1);
  }
  // float32 nodes: libm's value rounded to float.
  ChunkProgram q;
  q.ndim = 1;
  q.nodes.push_back(Random({500}, Identity(1), RandomDist::kUniform, DType::kFloat32, 7, -1, 1));
  q.nodes.push_back(Unary(UnaryOp::kArcsin, 0, DType::kFloat32));
  q.nodes.push_back(Unary(UnaryOp::kArccos, 0, DType::kFloat32));
  q.nodes.push_back(Binary(BinaryOp::kAdd, 1, 2, DType::kFloat32));
  const std::vector<double> got32 = AsDoubles(Eval(q, {0}, {500}));
  q.nodes.resize(1);
  const std::vector<double> z = NaiveRegion(q, {0}, {500});
  for (size_t i = 0; i < z.size(); ++i) {
    const float a = static_cast<float>(std::asin(z[i])), b = static_cast<float>(std::acos(z[i]));
    ASSERT_EQ(got32[i], static_cast<double>(a + b)) << i;
  }
}

// ---- Inputs ----------------------------------------------------------------------------------

// A (10, 12) input of the given dtype, values i * 12 + j, chunked 4 x 5.
struct ChunkedInput {
  ProgramInput input;
  std::vector<InputChunk> chunks;
  std::vector<ChunkPtr> buffers;
  std::vector<std::string> keys;
  NaiveInputs dense;
};

ChunkedInput MakeInput(DType dtype) {
  ChunkedInput ci;
  ci.input.name = "x";
  ci.input.shape = {10, 12};
  ci.input.dtype = dtype;
  ci.input.chunks = {{4, 4, 2}, {5, 5, 2}};
  ci.dense.dense.emplace_back();
  for (int64_t i = 0; i < 120; ++i) ci.dense.dense[0].push_back(static_cast<double>(i));
  const int64_t r0[] = {0, 4, 8, 10}, c0[] = {0, 5, 10, 12};
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) {
      auto buf = std::make_shared<ChunkBuffer>(
          ChunkBuffer::Zeros(dtype, {r0[a + 1] - r0[a], c0[b + 1] - c0[b]}));
      int64_t e = 0;
      for (int64_t i = r0[a]; i < r0[a + 1]; ++i) {
        for (int64_t j = c0[b]; j < c0[b + 1]; ++j, ++e) {
          const double v = static_cast<double>(i * 12 + j);
          switch (dtype) {
            case DType::kFloat64:
              buf->mutable_data<double>()[e] = v;
              break;
            case DType::kFloat32:
              buf->mutable_data<float>()[e] = static_cast<float>(v);
              break;
            case DType::kInt64:
              buf->mutable_data<int64_t>()[e] = static_cast<int64_t>(v);
              break;
            case DType::kInt32:
              buf->mutable_data<int32_t>()[e] = static_cast<int32_t>(v);
              break;
            case DType::kBool:
              buf->mutable_data<uint8_t>()[e] = 1;
              break;
          }
        }
      }
      ci.buffers.push_back(buf);
      ci.chunks.push_back(InputChunk{0, {r0[a], c0[b]}, buf->shape});
      ci.keys.push_back("x/" + std::to_string(a) + "," + std::to_string(b));
    }
  }
  return ci;
}

TYPED_TEST(TypedExecutorTest, InputWindowsWithReversedMaps) {
  constexpr DType kD = DTypeOf<TypeParam>::value;
  const ChunkedInput ci = MakeInput(kD);
  // out = x[::-1, ::-1] * x (rows 2..9, cols 1..11 of the output), reading several chunks.
  ChunkProgram p;
  p.ndim = 2;
  p.inputs.push_back(ci.input);
  p.nodes.push_back(Input(0, {10, 12}, Map({9, 11}, {-1, -1}, {0, 1}), kD));
  p.nodes.push_back(Input(0, {10, 12}, Identity(2), kD));
  p.nodes.push_back(Binary(BinaryOp::kMultiply, 0, 1, kD));
  TaskSpec t = ChunkTask({2, 1}, {9, 11});
  t.deps = ci.keys;
  t.input_chunks = ci.chunks;
  absl::StatusOr<ChunkBuffer> got = ExecuteTask(t, &p, ci.buffers);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->shape, (Shape{7, 10}));
  ExpectSameBits(AsDoubles(*got), NaiveRegion(p, {2, 1}, {9, 11}, &ci.dense));

  // Short rows (3 elements) packed into one block read the window through an index array.
  TaskSpec ts = ChunkTask({0, 4}, {10, 7});
  ts.deps = ci.keys;
  ts.input_chunks = ci.chunks;
  got = ExecuteTask(ts, &p, ci.buffers);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameBits(AsDoubles(*got), NaiveRegion(p, {0, 4}, {10, 7}, &ci.dense));

  // Only the chunks that are read need to be given: a transposed read of x[0:4, 0:5].
  ChunkProgram q;
  q.ndim = 2;
  q.inputs.push_back(ci.input);
  q.nodes.push_back(Input(0, {10, 12}, Map({0, 0}, {1, 1}, {1, 0}), kD));
  TaskSpec tq = ChunkTask({0, 0}, {5, 4});
  tq.deps = {ci.keys[0]};
  tq.input_chunks = {ci.chunks[0]};
  got = ExecuteTask(tq, &q, {ci.buffers[0]});
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameBits(AsDoubles(*got), NaiveRegion(q, {0, 0}, {5, 4}, &ci.dense));
}

// ---- Combine and finalize --------------------------------------------------------------------

ChunkPtr Partial(DType dtype, Shape shape, const std::vector<double>& v) {
  auto b = std::make_shared<ChunkBuffer>(ChunkBuffer::Zeros(dtype, std::move(shape)));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (dtype) {
      case DType::kFloat64:
        b->mutable_data<double>()[i] = v[i];
        break;
      case DType::kFloat32:
        b->mutable_data<float>()[i] = static_cast<float>(v[i]);
        break;
      case DType::kInt64:
        b->mutable_data<int64_t>()[i] = static_cast<int64_t>(v[i]);
        break;
      case DType::kInt32:
        b->mutable_data<int32_t>()[i] = static_cast<int32_t>(v[i]);
        break;
      case DType::kBool:
        b->mutable_data<uint8_t>()[i] = v[i] != 0;
        break;
    }
  }
  return b;
}

TaskSpec CombineTask(ReduceOp op, size_t n) {
  TaskSpec t;
  t.key = "test-combine";
  t.kind = TaskKind::kCombine;
  t.combine_op = op;
  for (size_t i = 0; i < n; ++i) t.deps.push_back("p/" + std::to_string(i));
  return t;
}

TEST(ExecutorTest, CombineInOrder) {
  const std::vector<ChunkPtr> parts = {Partial(DType::kFloat64, {1, 3}, {1e16, 2, NAN}),
                                       Partial(DType::kFloat64, {1, 3}, {1, -3, 1}),
                                       Partial(DType::kFloat64, {1, 3}, {-1e16, 7, 2})};
  absl::StatusOr<ChunkBuffer> sum = ExecuteTask(CombineTask(ReduceOp::kSum, 3), nullptr, parts);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sum->shape, (Shape{1, 3}));
  EXPECT_EQ(sum->data<double>()[0], 1.0);  // compensated: a plain sum gives 0
  EXPECT_EQ(sum->data<double>()[1], 6.0);
  EXPECT_TRUE(std::isnan(sum->data<double>()[2]));
  absl::StatusOr<ChunkBuffer> mean = ExecuteTask(CombineTask(ReduceOp::kMean, 3), nullptr, parts);
  ASSERT_TRUE(mean.ok());
  EXPECT_EQ(mean->data<double>()[0], 1.0);  // mean combines partial sums
  absl::StatusOr<ChunkBuffer> mx = ExecuteTask(CombineTask(ReduceOp::kMax, 3), nullptr, parts);
  ASSERT_TRUE(mx.ok());
  EXPECT_EQ(mx->data<double>()[0], 1e16);
  EXPECT_EQ(mx->data<double>()[1], 7.0);
  EXPECT_TRUE(std::isnan(mx->data<double>()[2]));
  absl::StatusOr<ChunkBuffer> mn = ExecuteTask(CombineTask(ReduceOp::kMin, 3), nullptr, parts);
  ASSERT_TRUE(mn.ok());
  EXPECT_EQ(mn->data<double>()[1], -3.0);
  absl::StatusOr<ChunkBuffer> pr =
      ExecuteTask(CombineTask(ReduceOp::kProd, 2), nullptr, {parts[1], parts[2]});
  ASSERT_TRUE(pr.ok());
  EXPECT_EQ(pr->data<double>()[1], -21.0);

  // int64 partials combine exactly, beyond 2^53.
  const std::vector<ChunkPtr> ints = {Partial(DType::kInt64, {2}, {0, 5}),
                                      Partial(DType::kInt64, {2}, {0, -7})};
  const_cast<ChunkBuffer&>(*ints[0]).mutable_data<int64_t>()[0] = (int64_t{1} << 60) + 1;
  const_cast<ChunkBuffer&>(*ints[1]).mutable_data<int64_t>()[0] = 3;
  absl::StatusOr<ChunkBuffer> isum = ExecuteTask(CombineTask(ReduceOp::kSum, 2), nullptr, ints);
  ASSERT_TRUE(isum.ok());
  EXPECT_EQ(isum->data<int64_t>()[0], (int64_t{1} << 60) + 4);
  EXPECT_EQ(isum->data<int64_t>()[1], -2);
}

TEST(ExecutorTest, AnyAllOverRowsColumnsAndPartials) {
  // x < 0.001 over 300 x 400 uniforms: a few trues, in some rows and columns only.
  ChunkProgram p;
  p.ndim = 2;
  p.nodes.push_back(Random({300, 400}, Identity(2)));
  p.nodes.push_back(Scalar(0.001));
  p.nodes.push_back(Binary(BinaryOp::kLess, 0, 1, DType::kBool));
  p.has_reduce = true;
  std::vector<double> x(300 * 400);
  for (int64_t i = 0; i < 300 * 400; ++i) {
    x[i] = philox::UniformDouble(philox::ElementBlock(1234, static_cast<uint64_t>(i)));
  }
  for (ReduceOp op : {ReduceOp::kAny, ReduceOp::kAll}) {
    p.reduce.op = op;
    for (int axis : {0, 1}) {  // the contiguous (per row) and the elementwise paths
      p.reduce.axes = {axis};
      const ChunkBuffer got = Eval(p, {0, 0}, {300, 400});
      ASSERT_EQ(got.dtype, DType::kBool);
      int64_t trues = 0;
      for (int64_t o = 0; o < (axis == 0 ? 400 : 300); ++o) {
        bool want = op == ReduceOp::kAll;
        for (int64_t r = 0; r < (axis == 0 ? 300 : 400); ++r) {
          const bool v = (axis == 0 ? x[r * 400 + o] : x[o * 400 + r]) < 0.001;
          want = op == ReduceOp::kAny ? (want || v) : (want && v);
        }
        ASSERT_EQ(got.data<uint8_t>()[o] != 0, want) << "op " << static_cast<int>(op) << " " << o;
        trues += want;
      }
      if (op == ReduceOp::kAny) {
        EXPECT_GT(trues, 0);
        EXPECT_LT(trues, axis == 0 ? 400 : 300);
      }
    }
    // An empty region: any is false, all is true.
    p.reduce.axes = {1};
    EXPECT_EQ(AsDoubles(Eval(p, {0, 7}, {2, 7})),
              (std::vector<double>(2, op == ReduceOp::kAll ? 1.0 : 0.0)));
  }
  // NaN is true: all(sqrt(arange(10) - 5)) is true, any of zeros is false.
  ChunkProgram q;
  q.ndim = 1;
  q.nodes.push_back(Arange(10, -5, 1, Identity(1)));
  q.nodes.push_back(Unary(UnaryOp::kSqrt, 0));
  q.has_reduce = true;
  q.reduce.axes = {0};
  q.reduce.op = ReduceOp::kAll;
  EXPECT_EQ(AsDoubles(Eval(q, {0}, {5})), (std::vector<double>{1}));
  EXPECT_EQ(AsDoubles(Eval(q, {0}, {10})), (std::vector<double>{0}));  // sqrt(0) is 0
  q.nodes = {Full(0)};
  q.reduce.op = ReduceOp::kAny;
  EXPECT_EQ(AsDoubles(Eval(q, {0}, {10})), (std::vector<double>{0}));
  // Combine ors / ands bool partials.
  const std::vector<ChunkPtr> parts = {Partial(DType::kBool, {3}, {0, 1, 1}),
                                       Partial(DType::kBool, {3}, {0, 0, 1})};
  absl::StatusOr<ChunkBuffer> any = ExecuteTask(CombineTask(ReduceOp::kAny, 2), nullptr, parts);
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(any->dtype, DType::kBool);
  EXPECT_EQ(AsDoubles(*any), (std::vector<double>{0, 1, 1}));
  absl::StatusOr<ChunkBuffer> all = ExecuteTask(CombineTask(ReduceOp::kAll, 2), nullptr, parts);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(AsDoubles(*all), (std::vector<double>{0, 0, 1}));
}

TEST(ExecutorTest, LinspaceLeaf) {
  // numpy.linspace(0, 1, 11) read backwards from element 9: 0.9, 0.8, ..., with 3 * 0.1 and
  // 7 * 0.1 rounded as NumPy rounds them; then as int64 (floor) and with a zero step.
  ProgramNode n;
  n.kind = Kind::kLinspace;
  n.start = 0;
  n.step = 0.1;
  n.value = 1;
  n.param_a = 10;
  n.param_b = 1;
  n.leaf_shape = {11};
  n.map = Map({10}, {-1}, {0});
  ChunkProgram p;
  p.ndim = 1;
  p.nodes = {n};
  EXPECT_EQ(AsDoubles(Eval(p, {0}, {11})),
            (std::vector<double>{1.0, 0.9, 0.8, 0.7000000000000001, 0.6000000000000001, 0.5, 0.4,
                                 0.30000000000000004, 0.2, 0.1, 0.0}));
  p.nodes[0].start = -1;  // linspace(-1, 1, 11, dtype=int64): floor(-0.8) is -1
  p.nodes[0].step = 0.2;
  p.nodes[0].param_b = 2;
  p.nodes[0].dtype = DType::kInt64;
  p.nodes[0].map = Identity(1);
  EXPECT_EQ(AsDoubles(Eval(p, {0}, {11})),
            (std::vector<double>{-1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 1}));
  p.nodes[0] = n;
  p.nodes[0].start = 2;
  p.nodes[0].step = 0;
  p.nodes[0].value = 2;
  p.nodes[0].param_b = 0;
  EXPECT_EQ(AsDoubles(Eval(p, {3}, {6})), (std::vector<double>{2, 2, 2}));
  // A linspace leaf is 1-D.
  p.nodes[0].leaf_shape = {11, 1};
  p.nodes[0].map = Map({0, 0}, {1, 0}, {0, -1});
  EXPECT_EQ(ExecuteTask(ChunkTask({0}, {4}), &p, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ExecutorTest, FinalizeMean) {
  // mean of full(2.5) over (10, 10) as one chunk task with finalize.
  ChunkProgram p;
  p.ndim = 2;
  p.nodes.push_back(Full(2.5));
  p.has_reduce = true;
  p.reduce.op = ReduceOp::kMean;
  p.reduce.axes = {0, 1};
  TaskSpec t = ChunkTask({0, 0}, {10, 10});
  t.finalize.enabled = true;
  t.finalize.divide_by = 100;
  t.finalize.out_shape = {};
  t.finalize.out_dtype = DType::kFloat64;
  absl::StatusOr<ChunkBuffer> r = ExecuteTask(t, &p, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->shape, Shape{});
  EXPECT_EQ(r->data<double>()[0], 2.5);

  // Combine of two partial sums, finalized to float32 with keepdims (1, 1).
  TaskSpec c = CombineTask(ReduceOp::kMean, 2);
  c.finalize.enabled = true;
  c.finalize.divide_by = 4;
  c.finalize.out_shape = {1, 1};
  c.finalize.out_dtype = DType::kFloat32;
  r = ExecuteTask(c, nullptr,
                  {Partial(DType::kFloat64, {1, 1}, {3}), Partial(DType::kFloat64, {1, 1}, {7})});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dtype, DType::kFloat32);
  EXPECT_EQ(r->shape, (Shape{1, 1}));
  EXPECT_EQ(r->data<float>()[0], 2.5f);

  // A shape that does not hold the elements is an error.
  c.finalize.out_shape = {2};
  r = ExecuteTask(c, nullptr,
                  {Partial(DType::kFloat64, {1, 1}, {3}), Partial(DType::kFloat64, {1, 1}, {7})});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- Errors ----------------------------------------------------------------------------------

TEST(ExecutorErrorTest, MismatchedDependency) {
  const ChunkedInput ci = MakeInput(DType::kFloat64);
  ChunkProgram p;
  p.ndim = 2;
  p.inputs.push_back(ci.input);
  p.nodes.push_back(Input(0, {10, 12}, Identity(2), DType::kFloat64));
  TaskSpec t = ChunkTask({0, 0}, {4, 5});
  t.deps = {ci.keys[0]};
  t.input_chunks = {ci.chunks[0]};
  // Wrong shape.
  absl::StatusOr<ChunkBuffer> r = ExecuteTask(
      t, &p, {std::make_shared<ChunkBuffer>(ChunkBuffer::Zeros(DType::kFloat64, {4, 4}))});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("test-chunk"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("x/0,0"), std::string::npos) << r.status();
  // Wrong dtype.
  r = ExecuteTask(t, &p,
                  {std::make_shared<ChunkBuffer>(ChunkBuffer::Zeros(DType::kFloat32, {4, 5}))});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  // Missing dependency.
  r = ExecuteTask(t, &p, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  // Chunks that do not cover the read.
  t.hi = {5, 5};
  r = ExecuteTask(t, &p, {ci.buffers[0]});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("cover"), std::string::npos) << r.status();
  // An InputChunk outside the input.
  t.hi = {4, 5};
  t.input_chunks[0].lo = {8, 0};
  r = ExecuteTask(t, &p, {ci.buffers[0]});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ExecutorErrorTest, RegionOutOfBounds) {
  ChunkProgram p;
  p.ndim = 2;
  p.nodes.push_back(Random({10, 10}, Identity(2)));
  for (auto [lo, hi] : std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
           {{0, 0}, {11, 10}},  // beyond the leaf
           {{-1, 0}, {5, 5}},   // negative
           {{5, 5}, {4, 6}},    // hi < lo
           {{0}, {5}},          // wrong rank
       }) {
    absl::StatusOr<ChunkBuffer> r = ExecuteTask(ChunkTask(lo, hi), &p, {});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
  // An empty region is fine.
  EXPECT_EQ(Eval(p, {3, 3}, {3, 10}).num_elements(), 0);
}

TEST(ExecutorErrorTest, MalformedPrograms) {
  ChunkProgram p;
  p.ndim = 1;
  const TaskSpec t = ChunkTask({0}, {4});
  EXPECT_EQ(ExecuteTask(t, &p, {}).status().code(),
            absl::StatusCode::kInvalidArgument);  // no nodes
  EXPECT_EQ(ExecuteTask(t, nullptr, {}).status().code(), absl::StatusCode::kInvalidArgument);
  p.nodes.push_back(Full(1));
  p.nodes.push_back(Unary(UnaryOp::kExp, 1));  // not an earlier node
  EXPECT_EQ(ExecuteTask(t, &p, {}).status().code(), absl::StatusCode::kInvalidArgument);
  p.nodes[1] = Binary(BinaryOp::kAdd, 0, -1);
  EXPECT_EQ(ExecuteTask(t, &p, {}).status().code(), absl::StatusCode::kInvalidArgument);
  p.nodes[1] = Random({4}, Map({0}, {1}, {3}));  // out_axis beyond ndim
  EXPECT_EQ(ExecuteTask(t, &p, {}).status().code(), absl::StatusCode::kInvalidArgument);
  p.nodes[1] = Random({4}, Map({0, 0}, {1}, {0}));  // map sizes
  EXPECT_EQ(ExecuteTask(t, &p, {}).status().code(), absl::StatusCode::kInvalidArgument);
  p.nodes[1] = Input(2, {4}, Identity(1), DType::kFloat64);  // no such input
  EXPECT_EQ(ExecuteTask(t, &p, {}).status().code(), absl::StatusCode::kInvalidArgument);
  p.nodes[1] = Unary(UnaryOp::kExp, 0);
  p.has_reduce = true;
  p.reduce.axes = {1};  // axis beyond ndim
  EXPECT_EQ(ExecuteTask(t, &p, {}).status().code(), absl::StatusCode::kInvalidArgument);
  p.reduce.axes = {0};
  EXPECT_TRUE(ExecuteTask(t, &p, {}).ok());
  // Combine of partials that disagree.
  EXPECT_EQ(
      ExecuteTask(CombineTask(ReduceOp::kSum, 2), nullptr,
                  {Partial(DType::kFloat64, {2}, {1, 2}), Partial(DType::kFloat64, {3}, {1, 2, 3})})
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ExecuteTask(CombineTask(ReduceOp::kSum, 0), nullptr, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::cpu
