// The Array API's operations beyond creation, ufuncs and plain reductions, as an application
// sees them through tessera.h: what each builds (shape, dtype, chunks) and the errors it throws.
// Values are the lowering's and the executors' tests' business.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "graph/expr.h"
#include "tessera/tessera.h"

namespace {

// As an application writes it: tessera's names unqualified next to the standard library's.
using namespace tessera;  // NOLINT

// The message of the Error that `f` throws (and that it has code 3, INVALID_ARGUMENT).
template <typename F>
std::string ErrorOf(F f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), 3) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(ArrayApiTest, ComparisonsAndRemainderOperators) {
  Array x = ones({4, 6}, {.chunks = ChunkSpec({2, 3})});
  Array y = arange(6, {.dtype = DType::kInt64});
  for (const Array& r : {x<y, x <= 1.0, 2.0> x, x >= y, x == y, 0.0 != x, less(x, y),
                         not_equal(x, y), greater_equal(x, y), equal(x, y)}) {
    EXPECT_EQ(r.dtype(), DType::kBool);
    EXPECT_EQ(r.shape(), (Shape{4, 6}));
  }
  EXPECT_EQ((x == y).node()->binary, graph::BinaryOp::kEqual);
  EXPECT_EQ((1.0 < y).node()->binary, graph::BinaryOp::kLess);
  EXPECT_EQ((x % 3.0).node()->binary, graph::BinaryOp::kMod);
  EXPECT_EQ((7.0 % y).dtype(), DType::kFloat64);
  EXPECT_EQ(floor_divide(y, 2.0).node()->binary, graph::BinaryOp::kFloorDivide);
  EXPECT_EQ(remainder(y, y).dtype(), DType::kInt64);
  EXPECT_EQ(ErrorOf([&] { (void)(x < ones({5})); }),
            "less: operands could not be broadcast together with shapes (4, 6) (5,)");
}

TEST(ArrayApiTest, UnaryAndBinaryUfuncs) {
  Array x = ones({3}, {.dtype = DType::kFloat32});
  struct Case {
    Array r;
    graph::UnaryOp op;
  };
  for (const Case& c :
       {Case{square(x), graph::UnaryOp::kSquare}, Case{expm1(x), graph::UnaryOp::kExpm1},
        Case{log1p(x), graph::UnaryOp::kLog1p}, Case{log2(x), graph::UnaryOp::kLog2},
        Case{log10(x), graph::UnaryOp::kLog10}, Case{sinh(x), graph::UnaryOp::kSinh},
        Case{cosh(x), graph::UnaryOp::kCosh}, Case{tanh(x), graph::UnaryOp::kTanh},
        Case{floor(x), graph::UnaryOp::kFloor}, Case{ceil(x), graph::UnaryOp::kCeil},
        Case{round(x), graph::UnaryOp::kRound}, Case{sign(x), graph::UnaryOp::kSign},
        Case{isnan(x), graph::UnaryOp::kIsnan}, Case{isfinite(x), graph::UnaryOp::kIsfinite}}) {
    EXPECT_EQ(c.r.node()->unary, c.op);
  }
  EXPECT_EQ(isnan(x).dtype(), DType::kBool);
  EXPECT_EQ(tanh(x).dtype(), DType::kFloat32);
  EXPECT_EQ(arctan2(x, 1.0).node()->binary, graph::BinaryOp::kArctan2);
  EXPECT_EQ(hypot(2.0, x).node()->binary, graph::BinaryOp::kHypot);
  EXPECT_EQ(maximum(x, 0.0).dtype(), DType::kFloat32);  // a Python float is weak
  EXPECT_EQ(power(2.0, x).node()->binary, graph::BinaryOp::kPower);
  EXPECT_EQ(mod(x, x).node()->binary, graph::BinaryOp::kMod);
}

TEST(ArrayApiTest, Where) {
  Array x = ones({4, 6}, {.chunks = 2});
  Array w = where(x > 0.5, x, 0.0);
  EXPECT_EQ(w.node()->kind, graph::OpKind::kWhere);
  EXPECT_EQ(w.shape(), (Shape{4, 6}));
  EXPECT_EQ(w.chunks(), (Chunks{{2, 2}, {2, 2, 2}}));
  EXPECT_EQ(where(x > 0.5, 1.0, x.astype(DType::kInt32)).dtype(), DType::kFloat64);
  EXPECT_EQ(where(x > 0.5, 1.0, 2.0).shape(), (Shape{4, 6}));
  EXPECT_EQ(where(x > 0.5, x, arange(6)).dtype(), DType::kFloat64);
  EXPECT_EQ(ErrorOf([&] { where(x > 0.5, x, ones({5})); }),
            "where: operands could not be broadcast together with shapes (4, 6) (4, 6) (5,)");
}

TEST(ArrayApiTest, VarStdArgminArgmax) {
  Array x = ones({4, 6}, {.chunks = 2});
  EXPECT_EQ(x.var().shape(), Shape{});
  EXPECT_EQ(x.std({.axis = {1}, .keepdims = true, .ddof = 1}).shape(), (Shape{4, 1}));
  EXPECT_EQ(tessera::std(x, {.axis = {0}}).shape(), (Shape{6}));
  EXPECT_EQ(var(arange(10)).dtype(), DType::kFloat64);
  Array d = x.var({.axis = {1}, .ddof = 1});
  EXPECT_EQ(d.node()->inputs[1]->value, 5.0);  // divides by N - ddof
  EXPECT_EQ(ErrorOf([&] { x.var({.ddof = -1}); }), "var: ddof -1 must be >= 0");
  EXPECT_EQ(ErrorOf([&] { x.std({.axis = {2}}); }),
            "std: axis 2 is out of bounds for array of dimension 2 (shape (4, 6))");

  EXPECT_EQ(x.argmin().shape(), Shape{});
  EXPECT_EQ(x.argmin().dtype(), DType::kInt64);
  EXPECT_EQ(x.argmax(1).shape(), (Shape{4}));
  EXPECT_EQ(argmax(x, -1, /*keepdims=*/true).shape(), (Shape{4, 1}));
  EXPECT_EQ(argmin(x, 0).node()->reduce, graph::ReduceOp::kArgmin);
  EXPECT_EQ(ErrorOf([&] { x.argmax(2); }),
            "argmax: axis 2 is out of bounds for array of dimension 2");
}

TEST(ArrayApiTest, RechunkReshapeConcatenateStack) {
  Array x = ones({10, 6}, {.chunks = ChunkSpec({5, 3})});
  EXPECT_EQ(x.rechunk(4).chunks(), (Chunks{{4, 4, 2}, {4, 2}}));
  EXPECT_EQ(rechunk(x, -1).chunks(), (Chunks{{10}, {6}}));
  EXPECT_EQ(x.rechunk(ChunkSpec::Explicit({{3, 7}, {6}})).chunks(), (Chunks{{3, 7}, {6}}));
  const std::string bad = ErrorOf([&] { x.rechunk(ChunkSpec::Explicit({{3, 3}, {6}})); });
  EXPECT_EQ(bad.rfind("rechunk of an array of shape (10, 6): ", 0), 0u) << bad;

  EXPECT_EQ(x.reshape({60}).shape(), (Shape{60}));
  EXPECT_EQ(reshape(x, {-1, 3}).shape(), (Shape{20, 3}));
  EXPECT_EQ(ErrorOf([&] {
              x.reshape({7, 7});
            }),
            "cannot reshape array of shape (10, 6) (size 60) into shape (7, 7)");

  Array y = zeros({3, 6}, {.dtype = DType::kInt32});
  Array c = concatenate({x, y});
  EXPECT_EQ(c.shape(), (Shape{13, 6}));
  EXPECT_EQ(c.dtype(), DType::kFloat64);
  EXPECT_EQ(c.chunks()[0], (std::vector<int64_t>{5, 5, 3}));
  EXPECT_EQ(concatenate({x, x}, -1).shape(), (Shape{10, 12}));
  EXPECT_EQ(ErrorOf([&] {
              concatenate({x, y}, 1);
            }),
            "concatenate: along dimension 0, array 0 has size 10 and array 1 has size 3 (shapes "
            "(10, 6) and (3, 6))");
  EXPECT_EQ(ErrorOf([&] { concatenate({}); }), "need at least one array to concatenate");
  EXPECT_EQ(stack({x, x, x}, 2).shape(), (Shape{10, 6, 3}));
  EXPECT_EQ(ErrorOf([&] {
              stack({x, y});
            }),
            "stack: all input arrays must have the same shape: array 0 has shape (10, 6), array 1 has "
            "shape (3, 6)");
}

TEST(ArrayApiTest, MatmulDotTensordot) {
  Array a = ones({4, 6}, {.chunks = ChunkSpec({2, 3})});
  Array b = ones({6, 5}, {.chunks = ChunkSpec({3, 5})});
  for (const Array& r : {matmul(a, b), dot(a, b), a.dot(b), tensordot(a, b, 1),
                         tensordot(a, b, {{1}, {0}}), tensordot(a, b, {{-1}, {-2}})}) {
    EXPECT_EQ(r.shape(), (Shape{4, 5}));
    EXPECT_EQ(r.chunks(), (Chunks{{2, 2}, {5}}));
  }
  EXPECT_EQ(matmul(a, ones({6})).shape(), (Shape{4}));
  EXPECT_EQ(tensordot(ones({2, 3, 4}), ones({3, 4, 5})).shape(), (Shape{2, 5}));
  EXPECT_EQ(tensordot(a, a, 0).shape(), (Shape{4, 6, 4, 6}));
  EXPECT_EQ(ErrorOf([&] { matmul(a, a); }),
            "matmul: Input operand 1 has a mismatch in its core dimension 0, with gufunc "
            "signature (n?,k),(k,m?)->(n?,m?) (size 4 is different from 6): shapes (4, 6) and "
            "(4, 6)");
  EXPECT_EQ(ErrorOf([&] { dot(a, a); }),
            "dot: shapes (4, 6) and (4, 6) not aligned: 6 (dim 1) != 4 (dim 0)");
  EXPECT_EQ(
      ErrorOf([&] { tensordot(a, b, 3); }),
      "tensordot: axes=3 must be between 0 and the operands' ndim (shapes (4, 6) and (6, 5))");
  EXPECT_EQ(
      ErrorOf([&] { tensordot(a, b, -1); }),
      "tensordot: axes=-1 must be between 0 and the operands' ndim (shapes (4, 6) and (6, 5))");
}

TEST(ArrayApiTest, FromBufferAndFromVectorCopyTheData) {
  std::vector<double> v = {1, 2, 3, 4, 5, 6};
  Array x = from_vector(v, {2, 3}, 2);
  v[0] = 100;  // the array holds a copy
  EXPECT_EQ(x.node()->kind, graph::OpKind::kFromBuffer);
  EXPECT_EQ(x.shape(), (Shape{2, 3}));
  EXPECT_EQ(x.dtype(), DType::kFloat64);
  EXPECT_EQ(x.chunks(), (Chunks{{2}, {2, 1}}));
  const std::string& data = *x.node()->data;
  const NDArray nd(DType::kFloat64, {2, 3}, std::vector<uint8_t>(data.begin(), data.end()));
  EXPECT_EQ(nd.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  const NDArray copy = nd;  // an NDArray is immutable: copies share its bytes
  EXPECT_EQ(copy.bytes().data(), nd.bytes().data());
  EXPECT_EQ(copy.to_vector(), nd.to_vector());
  EXPECT_TRUE(NDArray().bytes().empty());

  EXPECT_EQ(from_vector(std::vector<float>{1, 2}, {2}).dtype(), DType::kFloat32);
  EXPECT_EQ(from_vector(std::vector<int64_t>{1, 2}, {2, 1}).dtype(), DType::kInt64);
  EXPECT_EQ(from_vector(std::vector<int32_t>{1, 2}, {1, 2}).dtype(), DType::kInt32);
  Array b = from_vector(std::vector<bool>{true, false, true}, {3});
  EXPECT_EQ(b.dtype(), DType::kBool);
  EXPECT_EQ(*b.node()->data, std::string("\x01\x00\x01", 3));
  EXPECT_EQ(from_vector(std::vector<double>{7}, {}).shape(), Shape{});

  const int32_t raw[4] = {1, 2, 3, 4};
  Array r = from_buffer(raw, sizeof raw, {2, 2}, {.chunks = 1, .dtype = DType::kInt32});
  EXPECT_EQ(r.chunks(), (Chunks{{1, 1}, {1, 1}}));
  EXPECT_EQ(r.repr().rfind("tessera.array<array, shape=(2, 2), dtype=int32", 0), 0u) << r.repr();
  EXPECT_EQ(ErrorOf([&] {
              from_vector(std::vector<double>{1, 2, 3}, {2, 2});
            }),
            "from_buffer: 24 bytes do not hold an array of shape (2, 2) and dtype float64 (32 "
            "bytes)");
  EXPECT_EQ(ErrorOf([&] { from_buffer(nullptr, 8, {1}); }),
            "from_buffer: data is null but nbytes is 8");
}

TEST(ProgressBarTest, PrintsLinesOffATerminalAfterTheMinimum) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressBar quiet(f, 3600);  // an hour before anything shows
    quiet.callback()(5, 10);
    quiet.finish();
  }
  ProgressBar bar(f, 0);
  ProgressCallback cb = bar.callback();
  cb(5, 10);
  cb(6, 10);  // within 5 s of the last line: nothing
  bar.set_enabled(false);
  cb(10, 10);
  bar.finish();
  std::rewind(f);
  std::string text(256, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), f));
  std::fclose(f);
  EXPECT_EQ(text.rfind("progress:  50% | 5/10 tasks | ", 0), 0u) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
}

// dask.array.random.RandomState: seeds from a SplitMix64 stream, so that a program seeded once
// draws the same arrays every run.
TEST(RandomStateTest, DrawsSeedsFromTheSplitMix64Stream) {
  // SplitMix64's published outputs for seed 0.
  EXPECT_EQ(random::draw_seed(0, 0), 0xe220a8397b1dcdafull);
  EXPECT_EQ(random::draw_seed(0, 1), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(random::draw_seed(0, 2), 0x06c45d188009454full);

  random::RandomState rs(42);
  Array a = rs.random({300, 200}, {.chunks = 100});
  Array b = rs.uniform(1, 2, {10});
  Array c = rs.normal(0, 1, {10});
  Array d = rs.randint(0, 5, {10}, {.dtype = DType::kInt32});
  EXPECT_EQ(rs.draws(), 4u);
  EXPECT_EQ(rs.stream_seed(), 42u);
  int k = 0;
  for (const Array& x : {a, b, c, d}) {
    EXPECT_EQ(random::seed_of(x), random::draw_seed(42, static_cast<uint64_t>(k++)));
  }
  EXPECT_EQ(a.chunksize(), (Shape{100, 100}));
  EXPECT_EQ(d.dtype(), DType::kInt32);
  // A copy continues the same stream; seed() restarts it.
  random::RandomState copy = rs;
  EXPECT_EQ(random::seed_of(copy.random({2})), random::seed_of(rs.random({2})));
  rs.seed(42);
  EXPECT_EQ(rs.draws(), 0u);
  EXPECT_EQ(random::seed_of(rs.random({2})), random::draw_seed(42, 0));
  // Refused calls take no seed from the stream.
  EXPECT_EQ(ErrorOf([&] { rs.random({2}, {.seed = 5}); }),
            "RandomState.random: seed 5 given, but a RandomState draws its seeds from its stream "
            "(use the free function)");
  EXPECT_EQ(ErrorOf([&] { rs.randint(3, 3, {2}); }), "randint: low >= high (3 >= 3)");
  EXPECT_EQ(rs.draws(), 1u);
  // Without a seed, one from the OS: two states almost surely differ.
  EXPECT_NE(random::RandomState().stream_seed(), random::RandomState().stream_seed());
}

// The functions of array_compose.cc: what each builds and the errors each throws (their values
// are checked against NumPy by tests/numpy/expressions.txt).
TEST(ComposedFunctionsTest, ShapesChunksAndDtypes) {
  Array x = ones({6, 4}, {.chunks = ChunkSpec({4, 3}), .dtype = DType::kInt32});
  EXPECT_EQ(ones_like(x).chunks(), x.chunks());
  EXPECT_EQ(ones_like(x).dtype(), DType::kInt32);
  EXPECT_EQ(zeros_like(x, DType::kFloat32).dtype(), DType::kFloat32);
  EXPECT_EQ(full_like(x, 7.5).chunks(), x.chunks());
  Array e = eye(10, 7, 2, {.chunks = 4, .dtype = DType::kInt64});
  EXPECT_EQ(e.shape(), (Shape{10, 7}));
  EXPECT_EQ(e.chunks(), (Chunks{{4, 4, 2}, {4, 3}}));
  EXPECT_EQ(e.dtype(), DType::kInt64);
  EXPECT_EQ(clip(x, 1.0, std::nullopt).dtype(), DType::kFloat64);  // a double is a float bound
  EXPECT_EQ(round(x, 2).node(), x.node());                         // integers, decimals >= 0
  EXPECT_EQ(round(x, -1).dtype(), DType::kInt32);
  EXPECT_EQ(ravel(x).shape(), (Shape{24}));
  Array y = ones({1, 5, 1});
  EXPECT_EQ(squeeze(y).shape(), (Shape{5}));
  EXPECT_EQ(squeeze(y, {-1}).shape(), (Shape{1, 5}));
  EXPECT_EQ(expand_dims(x, {0, -1}).shape(), (Shape{1, 6, 4, 1}));
  EXPECT_EQ(swapaxes(x, 0, -1).shape(), (Shape{4, 6}));
  EXPECT_EQ(moveaxis(ones({2, 3, 4}), {0}, {-1}).shape(), (Shape{3, 4, 2}));
  Array b = broadcast_to(arange(0, 4, 1, {.chunks = 3}), {5, 4});
  EXPECT_EQ(b.chunks(), (Chunks{{5}, {3, 1}}));  // a new axis is one chunk, as dask's
  EXPECT_EQ(b.dtype(), DType::kFloat64);
  EXPECT_EQ(isclose(x, x).dtype(), DType::kBool);
  EXPECT_EQ(allclose(x, x).ndim(), 0);
  EXPECT_EQ(diff(x, 2, 0).shape(), (Shape{4, 4}));
  EXPECT_EQ(diff(x, 0).node(), x.node());
  EXPECT_EQ(nanmean(x, {.axis = {1}}).dtype(), DType::kFloat64);
  EXPECT_EQ(nanmean(ones({3}, {.dtype = DType::kFloat32})).dtype(), DType::kFloat32);
  EXPECT_EQ(nanmax(ones({3, 2}), {.axis = {0}, .keepdims = true}).shape(), (Shape{1, 2}));
}

TEST(ComposedFunctionsTest, ErrorsNameTheBadValue) {
  Array x = ones({6, 4});
  EXPECT_EQ(ErrorOf([&] { clip(x, std::nullopt, std::nullopt); }),
            "clip: One of max or min must be given");
  EXPECT_EQ(ErrorOf([&] { squeeze(x, {1}); }),
            "squeeze: cannot select an axis to squeeze out which has size not equal to one (axis "
            "1 of shape (6, 4))");
  EXPECT_EQ(ErrorOf([&] { squeeze(x, {2}); }),
            "squeeze: axis 2 is out of bounds for array of dimension 2");
  EXPECT_EQ(ErrorOf([&] { expand_dims(x, {0, 0}); }), "expand_dims: repeated axis 0");
  EXPECT_EQ(ErrorOf([&] { expand_dims(x, {3}); }),
            "expand_dims: axis 3 is out of bounds for array of dimension 3");
  EXPECT_EQ(ErrorOf([&] { swapaxes(x, 0, -3); }),
            "swapaxes: axis -3 is out of bounds for array of dimension 2");
  EXPECT_EQ(ErrorOf([&] { moveaxis(x, {0}, {1, 0}); }),
            "moveaxis: `source` and `destination` arguments must have the same number of "
            "elements (1 and 2)");
  EXPECT_EQ(ErrorOf([&] { broadcast_to(x, {4}); }),
            "broadcast_to: cannot broadcast an array of shape (6, 4) to shape (4,)");
  EXPECT_EQ(ErrorOf([&] { broadcast_to(x, {2, 6, 5}); }),
            "broadcast_to: cannot broadcast an array of shape (6, 4) to shape (2, 6, 5)");
  EXPECT_EQ(ErrorOf([&] { diff(x, -1); }), "diff: order must be non-negative but got -1");
  EXPECT_EQ(ErrorOf([&] { diff(x, 1, 2); }),
            "diff: axis 2 is out of bounds for array of dimension 2");
  EXPECT_EQ(ErrorOf([&] { eye(-2); }), "eye: negative dimensions are not allowed (N=-2, M=-2)");
}

}  // namespace
