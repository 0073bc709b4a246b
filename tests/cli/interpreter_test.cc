// The tessera language end to end, with the unchunked reference evaluator standing in for a
// cluster.
#include "cli/interpreter.h"

#include <gtest/gtest.h>

#include "graph/reference_eval.h"

namespace tessera::cli {
namespace {

NDArray ReferenceCompute(const Array& x) {
  auto buffer = testing::EvaluateReference(x.node());
  if (!buffer.ok()) {
    throw Error(static_cast<int>(buffer.status().code()), std::string(buffer.status().message()));
  }
  return NDArray(buffer->dtype, buffer->shape, buffer->bytes);
}

class InterpreterTest : public ::testing::Test {
 protected:
  InterpreterTest() : interp_(Options()) {}

  InterpreterOptions Options() {
    InterpreterOptions o;
    o.compute = [this](const Array& x) {
      ++computes_;
      computed_shape_ = x.shape();
      return ReferenceCompute(x);
    };
    o.print = [this](const std::string& line) { printed_ += line + "\n"; };
    return o;
  }

  // What the REPL prints for `src` ("" when nothing).
  std::string Run(std::string_view src) {
    try {
      return interp_.Run(src).value_or("");
    } catch (const tessera::Error& e) {
      ADD_FAILURE() << src << ": " << e.what();
      return "";
    }
  }

  // The last expression as a lazy array.
  Array Lazy(std::string_view src) {
    Value v = interp_.Evaluate(src);
    EXPECT_EQ(v.kind, Value::Kind::kArray) << src;
    return v.kind == Value::Kind::kArray ? *v.array : ones({1});
  }

  std::string ErrorOf(std::string_view src) {
    try {
      interp_.Run(src);
    } catch (const tessera::Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "no error from " << src;
    return "";
  }

  Interpreter interp_;
  int computes_ = 0;
  Shape computed_shape_;  // of the last array computed
  std::string printed_;
};

TEST_F(InterpreterTest, SeedLinesBuildTheExpectedArrays) {
  Array y = Lazy("x = da.random.random((50000, 50000)); y = da.exp(x).mean(); y");
  EXPECT_EQ(y.shape(), Shape{});
  EXPECT_EQ(y.dtype(), DType::kFloat64);
  const Value* x = interp_.Lookup("x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->array->shape(), (Shape{50000, 50000}));
  EXPECT_TRUE(random::seed_of(*x->array).has_value());

  Array s = Lazy("x = da.ones((200000, 200000), chunks=(10000, 10000)); (x * x[::-1, ::-1]).sum()");
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(interp_.Lookup("x")->array->chunksize(), (Shape{10000, 10000}));

  Array t = Lazy(
      "x = da.random.random((10000, 20000, 10), chunks=(1000, 1000, 5)); "
      "y = da.random.random((10000, 20000, 10), chunks=(1000, 1000, 5)); "
      "(da.arcsin(x) + da.arccos(y)).sum(axis=(1, 2))");
  EXPECT_EQ(t.shape(), (Shape{10000}));
  EXPECT_EQ(t.chunks()[0].size(), 10u);
  EXPECT_EQ(computes_, 0);  // building computes nothing
}

TEST_F(InterpreterTest, ComputesAndPrintsLikeNumPy) {
  EXPECT_EQ(Run("x = da.ones((4, 5), chunks=2); x.sum()"), "20.0");
  EXPECT_EQ(computes_, 1);
  EXPECT_EQ(Run("da.arange(5)"), "array([0, 1, 2, 3, 4])");
  EXPECT_EQ(Run("x = da.arange(6, chunks=2); (x * x[::-1]).sum()"), "20");
  EXPECT_EQ(Run("da.arange(4).mean()"), "1.5");
  EXPECT_EQ(Run("(da.ones((3, 3)) * 2)[::-1, 0]"), "array([2., 2., 2.])");
  EXPECT_EQ(Run("da.arange(10)[::-1][:3]"), "array([9, 8, 7])");
  EXPECT_EQ(Run("da.ones((2, 3)).sum(axis=0, keepdims=True)"), "array([[2., 2., 2.]])");
  EXPECT_EQ(Run("da.sum(da.ones((2, 3, 4)), axis=(1, 2))"), "array([12., 12.])");
  EXPECT_EQ(Run("da.full((2,), 3)"), "array([3, 3])");
  EXPECT_EQ(Run("da.zeros(2, dtype='float32')"), "array([0., 0.], dtype=float32)");
  EXPECT_EQ(Run("-da.ones(2) + 1 / 2"), "array([-0.5, -0.5])");
  EXPECT_EQ(Run("da.maximum(da.arange(3), 1)"), "array([1, 1, 2])");
  EXPECT_EQ(Run("da.arange(3) < 2"), "array([ True,  True, False])");
  EXPECT_EQ(Run("da.arange(1, 4) ** 2"), "array([1, 4, 9])");
  EXPECT_EQ(Run("np.exp(da.zeros(2))"), "array([1., 1.])");
  EXPECT_EQ(Run("exp(zeros(2)).max()"), "1.0");
  EXPECT_EQ(Run("da.arange(3).astype('float32').dtype"), "dtype('float32')");
  EXPECT_EQ(Run("da.arange(3)[None, :, None].shape"), "(1, 3, 1)");
  EXPECT_EQ(Run("da.ones((2, 3, 4))[..., 0].shape"), "(2, 3)");
}

TEST_F(InterpreterTest, RandomFunctionsAndSeeds) {
  EXPECT_EQ(Run("da.random.uniform(2, 3, size=(4, 4), chunks=2, seed=1).shape"), "(4, 4)");
  EXPECT_EQ(Run("x = random.random(100, seed=7); bool(x.min() >= 0) and bool(x.max() < 1)"),
            "True");
  EXPECT_EQ(random::seed_of(*interp_.Lookup("x")->array), 7u);
  EXPECT_EQ(Run("a = da.random.normal(0, 1, 50, seed=3).sum().compute(); "
                "b = da.random.normal(0, 1, 50, chunks=7, seed=3).sum().compute(); a == b"),
            "True");
  EXPECT_EQ(Run("np.random.normal(size=3).dtype"), "dtype('float64')");
}

// dask's reproducible random arrays: da.random.RandomState(seed) and da.random.seed(n). The k-th
// array drawn has the seed random::draw_seed(seed, k), whatever kind of draw it is.
TEST_F(InterpreterTest, RandomStateAndSeedDrawReproducibleStreams) {
  Run("rs = da.random.RandomState(42); a = rs.random((4, 4), chunks=2); b = rs.normal(1, 2, 5); "
      "c = rs.randint(0, 9, size=3, dtype='int32'); d = rs.uniform(size=2)");
  for (const auto& [name, k] : std::vector<std::pair<std::string, uint64_t>>{
           {"a", 0}, {"b", 1}, {"c", 2}, {"d", 3}}) {
    EXPECT_EQ(random::seed_of(*interp_.Lookup(name)->array), random::draw_seed(42, k)) << name;
  }
  EXPECT_EQ(interp_.Lookup("c")->array->dtype(), DType::kInt32);
  EXPECT_EQ(Run("rs"), "<dask.array.random.RandomState seed=42 draws=4>");
  // The same program draws the same values; a second draw differs from the first.
  EXPECT_EQ(Run("r1 = da.random.RandomState(7); r2 = da.random.RandomState(7); "
                "bool((r1.random(10) == r2.random(10)).all())"),
            "True");
  EXPECT_EQ(Run("r1 = da.random.RandomState(7); bool((r1.random(10) == r1.random(10)).any())"),
            "False");
  // seed() restarts a stream; np.random.seed / da.random.seed restart the module's.
  Run("rs.seed(42); e = rs.random_sample(3); da.random.seed(5); f = da.random.random(2); "
      "g = np.random.standard_normal(2); np.random.seed(5); h = da.random.random(2)");
  EXPECT_EQ(random::seed_of(*interp_.Lookup("e")->array), random::draw_seed(42, 0));
  EXPECT_EQ(random::seed_of(*interp_.Lookup("f")->array), random::draw_seed(5, 0));
  EXPECT_EQ(random::seed_of(*interp_.Lookup("g")->array), random::draw_seed(5, 1));
  EXPECT_EQ(random::seed_of(*interp_.Lookup("h")->array), random::draw_seed(5, 0));
  // seed= still names the seed outright, and takes nothing from the stream.
  Run("da.random.seed(5); i = da.random.random(2, seed=11); j = da.random.random(2)");
  EXPECT_EQ(random::seed_of(*interp_.Lookup("i")->array), 11u);
  EXPECT_EQ(random::seed_of(*interp_.Lookup("j")->array), random::draw_seed(5, 0));
  // A refused draw leaves the stream where it was.
  EXPECT_EQ(ErrorOf("rs = da.random.RandomState(3); rs.randint(5, 5)"),
            "line 1, column 35: randint: low >= high (5 >= 5)");
  EXPECT_EQ(Run("rs"), "<dask.array.random.RandomState seed=3 draws=0>");
  EXPECT_EQ(ErrorOf("da.random.RandomState(3).random(2, seed=4)"),
            "line 1, column 41: random() got an unexpected keyword argument 'seed'");
  EXPECT_EQ(ErrorOf("da.random.RandomState(-1)"),
            "line 1, column 23: RandomState() argument 'seed' must be non-negative, not -1");
  EXPECT_EQ(ErrorOf("da.random.RandomState(3).choice"),
            "line 1, column 26: 'RandomState' object has no attribute 'choice'");
}

// NumPy's Generator API (da.random.default_rng) over the same stream: NumPy's argument order,
// integers() with endpoint.
TEST_F(InterpreterTest, DefaultRngDrawsFromTheSameStream) {
  Run("rng = da.random.default_rng(42); a = rng.random((4, 4), 'float32', chunks=2); "
      "b = rng.normal(1, 2, 5); c = rng.integers(0, 6, size=1000, dtype='int32'); "
      "d = rng.integers(5, size=1000, endpoint=True)");
  for (const auto& [name, k] : std::vector<std::pair<std::string, uint64_t>>{
           {"a", 0}, {"b", 1}, {"c", 2}, {"d", 3}}) {
    EXPECT_EQ(random::seed_of(*interp_.Lookup(name)->array), random::draw_seed(42, k)) << name;
  }
  EXPECT_EQ(interp_.Lookup("a")->array->dtype(), DType::kFloat32);
  EXPECT_EQ(interp_.Lookup("a")->array->chunksize(), (Shape{2, 2}));
  EXPECT_EQ(interp_.Lookup("c")->array->dtype(), DType::kInt32);
  // [0, 6) and, with endpoint, [0, 5]: both reach their top.
  EXPECT_EQ(Run("int(c.min()), int(c.max()), int(d.min()), int(d.max())"), "(0, 5, 0, 5)");
  EXPECT_EQ(Run("rng"), "<dask.array.random.Generator seed=42 draws=4>");
  EXPECT_EQ(ErrorOf("da.random.default_rng(1).randint"),
            "line 1, column 26: 'Generator' object has no attribute 'randint'");
}

// Showing a lazy array of more than 1000 elements computes only what its summary shows.
TEST_F(InterpreterTest, ShowingALargeArrayComputesItsEdgesOnly) {
  const std::string row = "[1., 1., 1., ..., 1., 1., 1.]";
  EXPECT_EQ(Run("x = da.ones((5000, 4000), chunks=1000); x"),
            "array([" + row + ",\n       " + row + ",\n       " + row + ",\n       ...,\n       " +
                row + ",\n       " + row + ",\n       " + row + "])");
  EXPECT_EQ(computed_shape_, (Shape{6, 6}));
  EXPECT_EQ(Run("da.arange(2000)[::-1]"), "array([1999, 1998, 1997, ...,    2,    1,    0])");
  EXPECT_EQ(computed_shape_, (Shape{6}));
  EXPECT_EQ(Run("da.ones((1000, 3))").substr(0, 28), "array([[1., 1., 1.],\n       ");
  EXPECT_EQ(computed_shape_, (Shape{6, 3}));
  // 1000 elements or fewer, or --print-array: the whole array.
  EXPECT_EQ(Run("da.arange(1000)").find("..."), std::string::npos);
  EXPECT_EQ(computed_shape_, (Shape{1000}));
}

// A computed array used as an array is lazy again (host data back to the cluster), as dask's
// functions take NumPy arrays; its own attributes need no cluster.
TEST_F(InterpreterTest, ComputedArraysCanBeUsedAsArrays) {
  Run("r = da.arange(10, chunks=3).reshape(2, 5).sum(axis=0).compute()");
  ASSERT_EQ(interp_.Lookup("r")->kind, Value::Kind::kNDArray);
  const int before = computes_;
  EXPECT_EQ(Run("r.shape, r.dtype, r.ndim, r.size"), "((5,), dtype('int64'), 1, 5)");
  EXPECT_EQ(computes_, before);
  EXPECT_EQ(Run("r[1:3]"), "array([7, 9])");
  EXPECT_EQ(Run("r[-1]"), "13");
  EXPECT_EQ(Run("r.max()"), "13");
  EXPECT_EQ(Run("r / r.max() * 13"), "array([ 5.,  7.,  9., 11., 13.])");
  EXPECT_EQ(Run("-r + 1"), "array([ -4,  -6,  -8, -10, -12])");
  EXPECT_EQ(Run("np.exp(r * 0)"), "array([1., 1., 1., 1., 1.])");
  EXPECT_EQ(Run("da.concatenate([r, r[::-1]]).sum()"), "90");
  EXPECT_EQ(Run("float(r[0]) + r.sum().compute()"), "50.0");
  EXPECT_EQ(Run("r.reshape(5, 1).T"), "array([[ 5,  7,  9, 11, 13]])");
  // Python's builtins take it as it is.
  EXPECT_EQ(Run("len(r)"), "5");
  Run("print(r)");
  EXPECT_EQ(printed_, "array([ 5,  7,  9, 11, 13])\n");
}

TEST_F(InterpreterTest, PythonValues) {
  EXPECT_EQ(Run("(50000, 50000)"), "(50000, 50000)");
  EXPECT_EQ(Run("x = da.ones((50000, 50000)); x.shape"), "(50000, 50000)");
  EXPECT_EQ(Run("x = 1"), "");
  EXPECT_EQ(Run("0.1 + 0.2"), "0.30000000000000004");
  EXPECT_EQ(Run("2 ** 10, 2 ** -1, 7 // -2, -7 % 3, 7 / 2, 10_000"),
            "(1024, 0.5, -4, 2, 3.5, 10000)");
  EXPECT_EQ(Run("'a' + \"b\""), "'ab'");
  EXPECT_EQ(Run("[1, (2,), None, True, ...]"), "[1, (2,), None, True, Ellipsis]");
  EXPECT_EQ(Run("da.ones((2, 3), chunks=(1, (2, 1))).chunks"), "((1, 1), (2, 1))");
  EXPECT_EQ(Run("da.ones((4, 6), chunks=(-1, 'auto')).chunksize"), "(4, 6)");
  EXPECT_EQ(Run("x = da.ones((10, 10), chunks=5); x.ndim, x.size, x.nbytes, x.npartitions"),
            "(2, 100, 800, 4)");
  EXPECT_EQ(Run("x.shape[0] * 2"), "20");
  EXPECT_EQ(Run("len(x.shape), 1 < 2 < 3, 3 in (1, 2), not 0"), "(2, True, False, True)");
  EXPECT_EQ(Run("y = da.ones(3).sum(); [y]"),
            "[tessera.array<sum, shape=(), dtype=float64, "
            "chunksize=(), chunktype=numpy.ndarray>]");
  EXPECT_EQ(Run("float(da.ones(3).sum()) + 1"), "4.0");
  EXPECT_EQ(Run("da.ones(4).sum().compute() * 2"), "8.0");
  EXPECT_EQ(Run("x = 2; x += 3; x *= 2; x"), "10");
  EXPECT_EQ(Run("d = da.ones(2, dtype=np.int32).dtype; d == 'int32', d == 'f8', d.name"),
            "(True, False, 'int32')");
}

TEST_F(InterpreterTest, ImportsAndPrefixes) {
  EXPECT_EQ(Run("import dask.array as da2\nimport numpy as np\nda2.ones(2).shape"), "(2,)");
  EXPECT_EQ(Run("from dask import array as A; A.random.random(3).shape"), "(3,)");
  EXPECT_EQ(Run("import dask.array; dask.array.zeros(1).shape"), "(1,)");
  EXPECT_EQ(ErrorOf("import math"),
            "line 1, column 1: no module named 'math' (the tessera language knows dask.array "
            "and numpy)");
}

TEST_F(InterpreterTest, PrintAndCompute) {
  EXPECT_EQ(Run("print('sum:', da.ones(3).sum(), (1, 'a'))"), "");
  EXPECT_EQ(printed_, "sum: 3.0 (1, 'a')\n");
  EXPECT_EQ(Run("da.arange(3).compute()"), "array([0, 1, 2])");
  EXPECT_EQ(Run("da.arange(2000)"), "array([   0,    1,    2, ..., 1997, 1998, 1999])");
  EXPECT_EQ(ErrorOf("da.ones(3).persist()"), "line 1, column 12: no cluster to persist on");
}

TEST(InterpreterOptionsTest, PrintArrayInFullAndPersist) {
  InterpreterOptions o;
  o.compute = ReferenceCompute;
  int persisted = 0;
  o.persist = [&](const Array& x) {
    ++persisted;
    return x;
  };
  o.print_array = true;
  Interpreter interp(o);
  const std::string full = interp.Run("da.arange(2000).persist()").value();
  EXPECT_EQ(persisted, 1);
  EXPECT_EQ(full.find("..."), std::string::npos);
  EXPECT_NE(full.find("1999])"), std::string::npos);
  EXPECT_GT(full.size(), 2000u * 6);
}

TEST_F(InterpreterTest, Randint) {
  EXPECT_EQ(Run("x = da.random.randint(0, 10, size=(20, 30), chunks=7, seed=3); x.dtype"),
            "dtype('int64')");
  EXPECT_EQ(Run("x.shape"), "(20, 30)");
  EXPECT_EQ(Run("bool(x.min() >= 0) and bool(x.max() <= 9)"), "True");
  EXPECT_EQ(Run("int(x.max()) == 9 and int(x.min()) == 0"), "True");
  EXPECT_EQ(random::seed_of(*interp_.Lookup("x")->array), 3u);
  // The same seed gives the same values whatever the chunking.
  EXPECT_EQ(Run("y = np.random.randint(0, 10, (20, 30), seed=3); bool((x == y).all())"), "True");
  EXPECT_EQ(Run("random.randint(3, size=200, seed=1).max()"), "2");  // [0, low)
  EXPECT_EQ(Run("random.randint(-2, -1, size=3, seed=1)"), "array([-2, -2, -2])");
  EXPECT_EQ(Run("da.random.randint(5, 9, 4, dtype='int32', seed=2).dtype"), "dtype('int32')");
  EXPECT_EQ(Run("da.random.randint(5, seed=2).shape"), "()");
  EXPECT_EQ(ErrorOf("da.random.randint(5, 5)"), "line 1, column 11: randint: low >= high (5 >= 5)");
  EXPECT_EQ(ErrorOf("da.random.randint(0)"), "line 1, column 11: randint: high <= 0");
  EXPECT_EQ(ErrorOf("da.random.randint(0, 2, dtype=float)"),
            "line 1, column 11: randint: unsupported dtype float64 (expected int64 or int32)");
  EXPECT_EQ(ErrorOf("da.random.randint(0.5, 2)"),
            "line 1, column 19: randint() argument 'low' must be an int, not float");
  EXPECT_EQ(ErrorOf("da.random.randint()"),
            "line 1, column 11: randint() missing required argument 'low'");
}

TEST_F(InterpreterTest, Linspace) {
  EXPECT_EQ(Run("da.linspace(0, 1, 11, chunks=4)"),
            "array([0. , 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1. ])");
  EXPECT_EQ(Run("float(da.linspace(0, 1, 11)[3])"), "0.30000000000000004");
  EXPECT_EQ(Run("da.linspace(0, 1, 4, endpoint=False)"), "array([0.  , 0.25, 0.5 , 0.75])");
  EXPECT_EQ(Run("np.linspace(2, 3, 5, False, False, 2, 'float32')"),
            "array([2. , 2.2, 2.4, 2.6, 2.8], dtype=float32)");
  EXPECT_EQ(Run("da.linspace(10, -10, 7, dtype=int)"),
            "array([ 10,   6,   3,   0,  -4,  -7, -10])");
  EXPECT_EQ(Run("linspace(0, 1).shape"), "(50,)");
  EXPECT_EQ(Run("da.linspace(0, 1, 100, chunks=30).chunks"), "((30, 30, 30, 10),)");
  EXPECT_EQ(Run("da.linspace(5, 6, 1)"), "array([5.])");
  EXPECT_EQ(Run("da.linspace(5, 6, 0).shape"), "(0,)");
  EXPECT_EQ(ErrorOf("da.linspace(0, 1, -1)"),
            "line 1, column 4: linspace: number of samples, -1, must be non-negative");
  EXPECT_EQ(ErrorOf("da.linspace(0, 1, 5, retstep=True)"),
            "line 1, column 30: linspace(): retstep=True is not supported");
  EXPECT_EQ(ErrorOf("da.linspace(0)"),
            "line 1, column 4: linspace() missing required argument 'stop'");
  EXPECT_EQ(ErrorOf("da.linspace(0, 1, 2.5)"),
            "line 1, column 19: linspace() argument 'num' must be an int, not float");
}

TEST_F(InterpreterTest, AnyAll) {
  EXPECT_EQ(Run("x = da.arange(12, chunks=5)[None, :] - da.arange(0, 3)[:, None] * 4; x.any()"),
            "True");
  EXPECT_EQ(Run("x.all()"), "False");  // x[0, 0] and x[1, 4] and x[2, 8] are 0
  EXPECT_EQ(Run("da.all(x, axis=0)"),
            "array([False,  True,  True,  True, False,  True,  True,  True, False,\n"
            "        True,  True,  True])");
  EXPECT_EQ(Run("np.any(x == 0, axis=(1,), keepdims=True)"),
            "array([[ True],\n       [ True],"
            "\n       [ True]])");
  EXPECT_EQ(Run("(x > 8).any(axis=1, split_every=2)"), "array([ True, False, False])");
  EXPECT_EQ(Run("(x >= -8).all(1)"), "array([ True,  True,  True])");
  EXPECT_EQ(Run("x.any(axis=-1).dtype"), "dtype('bool')");
  EXPECT_EQ(Run("da.ones((0, 3)).any()"), "False");
  EXPECT_EQ(Run("da.zeros((0, 3)).all()"), "True");
  EXPECT_EQ(Run("bool(da.log(da.zeros(2) - 1).all())"), "True");  // NaN is true
  EXPECT_EQ(Run("all(da.ones(3, chunks=1), 0)"), "True");
  EXPECT_EQ(ErrorOf("x.any(axis=2)"),
            "line 1, column 3: any: axis 2 is out of bounds for array of dimension 2 (shape (3, 12))");
  EXPECT_EQ(ErrorOf("x.all(axis=(0, 0))"), "line 1, column 3: all: duplicate value in 'axis': 0");
  EXPECT_EQ(ErrorOf("x.all(dtype='int64')"),
            "line 1, column 13: all() got an unexpected keyword argument 'dtype'");
}

TEST_F(InterpreterTest, Transpose) {
  EXPECT_EQ(Run("x = da.arange(6, chunks=2)[None, :] + da.arange(0, 20, 10)[:, None]; x.T"),
            "array([[ 0, 10],\n       [ 1, 11],\n       [ 2, 12],\n       [ 3, 13],\n"
            "       [ 4, 14],\n       [ 5, 15]])");
  EXPECT_EQ(Run("x.T.shape"), "(6, 2)");
  EXPECT_EQ(Run("x.T.chunks"), "((2, 2, 2), (2,))");
  EXPECT_EQ(Run("y = da.ones((2, 3, 4), chunks=(1, 2, 3)); da.transpose(y).shape"), "(4, 3, 2)");
  EXPECT_EQ(Run("da.transpose(y, axes=(1, 0, 2)).shape"), "(3, 2, 4)");
  EXPECT_EQ(Run("np.transpose(y, (2, 0, 1)).chunks"), "((3, 1), (1, 1), (2, 1))");
  EXPECT_EQ(Run("y.transpose().shape"), "(4, 3, 2)");
  EXPECT_EQ(Run("y.transpose(None).shape"), "(4, 3, 2)");
  EXPECT_EQ(Run("y.transpose(1, 2, 0).shape"), "(3, 4, 2)");
  EXPECT_EQ(Run("y.transpose((1, 2, 0)).shape"), "(3, 4, 2)");
  EXPECT_EQ(Run("y.transpose([-1, 0, 1]).shape"), "(4, 2, 3)");
  EXPECT_EQ(Run("int((x.T[::-1] * x.T).sum())"), "940");
  EXPECT_EQ(Run("da.ones(()).T.shape"), "()");
  EXPECT_EQ(ErrorOf("y.transpose(0, 0, 1)"), "line 1, column 3: transpose: repeated axis 0");
  EXPECT_EQ(ErrorOf("y.transpose(0, 3, 1)"),
            "line 1, column 3: transpose: axis 3 is out of bounds for array of dimension 3");
  EXPECT_EQ(ErrorOf("da.transpose(y, (0, 1))"),
            "line 1, column 4: transpose: axes (0, 1) don't match array of dimension 3");
  EXPECT_EQ(ErrorOf("y.transpose(0, 1.5, 2)"),
            "line 1, column 16: transpose() axes must be ints, not float");
  EXPECT_EQ(ErrorOf("da.transpose(y, axes='a')"),
            "line 1, column 22: transpose() argument 'axes' must be None, an int or a tuple of "
            "ints, not str");
}

TEST_F(InterpreterTest, ErrorsNameLineColumnAndCause) {
  EXPECT_EQ(ErrorOf("x = 1\nfoo + 1"), "line 2, column 1: name 'foo' is not defined");
  EXPECT_EQ(ErrorOf("da.foo(3)"), "line 1, column 4: module 'da' has no attribute 'foo'");
  EXPECT_EQ(ErrorOf("da.random.foo(3)"),
            "line 1, column 11: module 'da.random' has no attribute 'foo'");
  EXPECT_EQ(ErrorOf("da.ones(3).foo()"),
            "line 1, column 12: 'Array' object has no attribute 'foo'");
  EXPECT_EQ(ErrorOf("da.ones('a')"),
            "line 1, column 9: ones() argument 'shape' must be an int or a tuple of ints, not str");
  EXPECT_EQ(ErrorOf("da.ones(3, foo=1)"),
            "line 1, column 16: ones() got an unexpected keyword argument 'foo'");
  EXPECT_EQ(ErrorOf("da.ones()"), "line 1, column 4: ones() missing required argument 'shape'");
  EXPECT_EQ(ErrorOf("da.ones(3, 'f8', 1, 2)"),
            "line 1, column 21: ones() takes at most 3 positional arguments (4 given)");
  EXPECT_EQ(ErrorOf("da.ones(3, dtype='complex')"),
            "line 1, column 18: unknown dtype 'complex' (expected float64, float32, int64, "
            "int32 or bool)");
  EXPECT_EQ(ErrorOf("da.ones(3, chunks='10MiB')"),
            "line 1, column 19: ones() argument 'chunks': unsupported chunks '10MiB' (expected "
            "'auto', an int or a tuple)");
  EXPECT_EQ(ErrorOf("1 / 0"), "line 1, column 3: division by zero");
  EXPECT_EQ(ErrorOf("x = da.ones(3); x @ 2"),
            "line 1, column 19: matmul: Input operand does not have enough dimensions (0-d "
            "operands are not allowed; use * to multiply by a scalar)");
  EXPECT_EQ(ErrorOf("da.ones(3) & 1"),
            "line 1, column 12: operator '&' is supported on bool arrays only (got float64 array); "
            "bitwise operations on integers are not implemented");
  EXPECT_EQ(ErrorOf("da.ones(3) + 'a'"),
            "line 1, column 12: unsupported operand type(s) for +: 'Array' and 'str'");
  EXPECT_EQ(ErrorOf("3()"), "line 1, column 1: 'int' object is not callable");
  EXPECT_EQ(ErrorOf("da.ones(3)[1.5]"),
            "line 1, column 12: only integers, slices (`:`), ellipsis (`...`) and None are valid "
            "indices, not float");
  EXPECT_EQ(ErrorOf("x = (1 + )"), "line 1, column 10: unexpected token ')'");
  EXPECT_EQ(ErrorOf("if da.ones(2): 1"),
            "line 1, column 1: 'if' is not supported by the tessera language (expressions, "
            "assignments and imports only)");
  // Errors of the Array API keep their message and gain the location of the call.
  const std::string negative = ErrorOf("da.ones((-1, 3))");
  EXPECT_EQ(negative.rfind("line 1, column 4: ", 0), 0u) << negative;
  EXPECT_NE(negative.find("-1"), std::string::npos) << negative;
  const std::string axis = ErrorOf("da.ones((2, 3)).sum(axis=5)");
  EXPECT_EQ(axis.rfind("line 1, column 17: ", 0), 0u) << axis;
  const std::string broadcast = ErrorOf("da.ones(3) + da.ones(4)");
  EXPECT_EQ(broadcast.rfind("line 1, column 12: ", 0), 0u) << broadcast;
  const std::string step = ErrorOf("da.ones(3)[::0]");
  EXPECT_EQ(step.rfind("line 1, column 11: ", 0), 0u) << step;
  EXPECT_EQ(ErrorOf("da.ones(3)[0, 0]").rfind("line 1, column 11: ", 0), 0u);
}

TEST(InterpreterNoClusterTest, ComputeWithoutCallbackIsAnError) {
  Interpreter interp({});
  EXPECT_EQ(interp.Run("1 + 1").value(), "2");
  try {
    interp.Run("da.ones(2).sum()");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), 9);
  }
}

}  // namespace
}  // namespace tessera::cli
