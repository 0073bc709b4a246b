// The tessera language's array operations beyond creation, ufuncs and plain reductions: where,
// var/std, argmin/argmax, rechunk, reshape, concatenate/stack, @/matmul/dot/tensordot,
// comparisons and from_array/asarray. These tests build expressions only and check their shape,
// dtype and chunks (and the errors of bad input); what the expressions compute is the
// lowering's and the executors' tests' business.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "cli/interpreter.h"
#include "graph/expr.h"

namespace tessera::cli {
namespace {

class InterpreterOpsTest : public ::testing::Test {
 protected:
  // No compute callback: building an expression must never compute.
  InterpreterOpsTest() : interp_(InterpreterOptions{}) {}

  // The last expression as a lazy array.
  Array Lazy(std::string_view src) {
    try {
      Value v = interp_.Evaluate(src);
      EXPECT_EQ(v.kind, Value::Kind::kArray) << src << " gave a " << v.TypeName();
      if (v.kind == Value::Kind::kArray) return *v.array;
    } catch (const tessera::Error& e) {
      ADD_FAILURE() << src << ": " << e.what();
    }
    return ones({1});
  }

  Value Eval(std::string_view src) {
    try {
      return interp_.Evaluate(src);
    } catch (const tessera::Error& e) {
      ADD_FAILURE() << src << ": " << e.what();
      return Value::None();
    }
  }

  std::string ErrorOf(std::string_view src) {
    try {
      interp_.Evaluate(src);
    } catch (const tessera::Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "no error from " << src;
    return "";
  }

  Interpreter interp_;
};

// The values of a from_array node, as doubles.
std::vector<double> BufferValues(const Array& x) {
  const graph::Node& n = *x.node();
  EXPECT_EQ(n.kind, graph::OpKind::kFromBuffer);
  std::vector<double> out;
  if (n.kind != graph::OpKind::kFromBuffer) return out;
  const std::vector<uint8_t> bytes(n.data->begin(), n.data->end());
  const NDArray nd(n.dtype, n.shape, bytes);
  return nd.to_vector();
}

TEST_F(InterpreterOpsTest, ComparisonsGiveBoolArrays) {
  Eval("x = da.ones((4, 6), chunks=(2, 3)); y = da.arange(6)");
  for (const char* op : {"<", "<=", ">", ">=", "==", "!="}) {
    for (const std::string& src : {std::string("x ") + op + " y", std::string("x ") + op + " 0.5",
                                   std::string("2 ") + op + " y"}) {
      Array r = Lazy(src);
      EXPECT_EQ(r.dtype(), DType::kBool) << src;
      EXPECT_EQ(r.node()->kind, graph::OpKind::kBinary) << src;
    }
    EXPECT_EQ(Lazy(std::string("x ") + op + " y").shape(), (Shape{4, 6})) << op;
  }
  EXPECT_EQ(Lazy("da.less(x, y)").node()->binary, graph::BinaryOp::kLess);
  EXPECT_EQ(Lazy("x != y").node()->binary, graph::BinaryOp::kNotEqual);
  EXPECT_EQ(ErrorOf("x < y < 1"),
            "line 1, column 1: chained comparisons of arrays are not supported; compare two at "
            "a time");
  EXPECT_EQ(ErrorOf("x < da.ones(5)"),
            "line 1, column 1: less: operands could not be broadcast together with shapes "
            "(4, 6) (5,)");
}

TEST_F(InterpreterOpsTest, Where) {
  Eval("x = da.ones((4, 6), chunks=(2, 3)); c = x > 0");
  Array w = Lazy("da.where(c, x, 0)");
  EXPECT_EQ(w.node()->kind, graph::OpKind::kWhere);
  EXPECT_EQ(w.shape(), (Shape{4, 6}));
  EXPECT_EQ(w.dtype(), DType::kFloat64);
  EXPECT_EQ(w.chunks(), (Chunks{{2, 2}, {3, 3}}));
  // Python ints are weak: an int32 array stays int32; two ints give int64.
  EXPECT_EQ(Lazy("da.where(c, x.astype('int32'), 7)").dtype(), DType::kInt32);
  EXPECT_EQ(Lazy("where(c, 1, 2)").dtype(), DType::kInt64);
  EXPECT_EQ(Lazy("np.where(c, 1, 2.5)").dtype(), DType::kFloat64);
  EXPECT_EQ(Lazy("da.where(True, x, da.arange(6))").shape(), (Shape{4, 6}));
  EXPECT_EQ(ErrorOf("da.where(c, x, da.ones(5))"),
            "line 1, column 4: where: operands could not be broadcast together with shapes "
            "(4, 6) (4, 6) (5,)");
  EXPECT_EQ(ErrorOf("da.where(c)"),
            "line 1, column 4: where(condition) with one argument (nonzero) is not supported; "
            "pass x and y too");
  EXPECT_EQ(ErrorOf("da.where(c, x)"),
            "line 1, column 4: where(): either both or neither of x and y should be given");
  EXPECT_EQ(ErrorOf("da.where(c, x, 'a')"),
            "line 1, column 16: where() argument 'y' must be an array or a number, not str");
  EXPECT_EQ(ErrorOf("da.where(1, 2, 3)"),
            "line 1, column 4: where() needs at least one array argument");
}

TEST_F(InterpreterOpsTest, VarAndStd) {
  Eval("x = da.ones((4, 6, 8), chunks=(2, 3, 4))");
  Array v = Lazy("x.var()");
  EXPECT_EQ(v.shape(), Shape{});
  EXPECT_EQ(v.dtype(), DType::kFloat64);
  Array s = Lazy("x.std(axis=(0, 2), ddof=1, keepdims=True)");
  EXPECT_EQ(s.shape(), (Shape{1, 6, 1}));
  EXPECT_EQ(s.node()->kind, graph::OpKind::kUnary);
  EXPECT_EQ(s.node()->unary, graph::UnaryOp::kSqrt);
  EXPECT_EQ(Lazy("da.var(x, axis=1)").shape(), (Shape{4, 8}));
  EXPECT_EQ(Lazy("da.std(x, 1)").shape(), (Shape{4, 8}));
  // The divisor is N - ddof: 6 - 1 along axis 1.
  Array d = Lazy("x.var(axis=1, ddof=1)");
  ASSERT_EQ(d.node()->kind, graph::OpKind::kBinary);
  EXPECT_EQ(d.node()->binary, graph::BinaryOp::kDivide);
  EXPECT_EQ(d.node()->inputs[1]->value, 5.0);
  // Integer input gives float64; dtype= casts first.
  EXPECT_EQ(Lazy("da.arange(10).var()").dtype(), DType::kFloat64);
  EXPECT_EQ(Lazy("x.var(dtype='float32')").dtype(), DType::kFloat32);
  const std::string axis = ErrorOf("x.var(axis=3)");
  EXPECT_EQ(axis.rfind("line 1, column 3: ", 0), 0u) << axis;
  EXPECT_NE(axis.find("3"), std::string::npos) << axis;
  EXPECT_EQ(ErrorOf("x.std(ddof=-1)"), "line 1, column 3: std: ddof -1 must be >= 0");
  EXPECT_EQ(ErrorOf("x.var(ddof='a')"),
            "line 1, column 12: var() argument 'ddof' must be a number, not str");
}

TEST_F(InterpreterOpsTest, ArgminArgmax) {
  Eval("x = da.random.random((4, 6), chunks=(2, 3), seed=1)");
  Array flat = Lazy("x.argmin()");
  EXPECT_EQ(flat.shape(), Shape{});
  EXPECT_EQ(flat.dtype(), DType::kInt64);
  EXPECT_EQ(flat.node()->reduce, graph::ReduceOp::kArgmin);
  Array a1 = Lazy("da.argmax(x, axis=1)");
  EXPECT_EQ(a1.shape(), Shape{4});
  EXPECT_EQ(a1.chunks(), (Chunks{{2, 2}}));
  EXPECT_EQ(a1.node()->reduce, graph::ReduceOp::kArgmax);
  EXPECT_EQ(Lazy("x.argmax(axis=-2, keepdims=True)").shape(), (Shape{1, 6}));
  EXPECT_EQ(Lazy("np.argmin(x, None, True)").shape(), (Shape{1, 1}));
  EXPECT_EQ(ErrorOf("x.argmin(axis=2)"),
            "line 1, column 3: argmin: axis 2 is out of bounds for array of dimension 2");
  EXPECT_EQ(ErrorOf("x.argmax(axis=(0, 1))"),
            "line 1, column 15: argmax() argument 'axis' must be None or an int, not tuple");
  const std::string empty = ErrorOf("da.ones((0, 3)).argmin()");
  EXPECT_NE(empty.find("empty sequence"), std::string::npos) << empty;
}

TEST_F(InterpreterOpsTest, Rechunk) {
  Eval("x = da.ones((10, 6), chunks=(5, 3))");
  EXPECT_EQ(Lazy("x.rechunk(4)").chunks(), (Chunks{{4, 4, 2}, {4, 2}}));
  EXPECT_EQ(Lazy("x.rechunk((2, 6))").chunks(), (Chunks{{2, 2, 2, 2, 2}, {6}}));
  EXPECT_EQ(Lazy("x.rechunk(((3, 7), (1, 5)))").chunks(), (Chunks{{3, 7}, {1, 5}}));
  EXPECT_EQ(Lazy("x.rechunk(-1)").chunks(), (Chunks{{10}, {6}}));
  EXPECT_EQ(Lazy("x.rechunk((None, 2))").chunks(), (Chunks{{10}, {2, 2, 2}}));
  EXPECT_EQ(Lazy("x.rechunk('auto')").chunks(), (Chunks{{10}, {6}}));
  EXPECT_EQ(Lazy("da.rechunk(x, chunks=(5, 2))").node()->kind, graph::OpKind::kRechunk);
  EXPECT_EQ(Lazy("x.rechunk(4)").shape(), (Shape{10, 6}));
  const std::string bad = ErrorOf("x.rechunk(((3, 3), 2))");
  EXPECT_EQ(bad.rfind("line 1, column 3: rechunk of an array of shape (10, 6): ", 0), 0u) << bad;
  EXPECT_EQ(ErrorOf("x.rechunk('10MiB')"),
            "line 1, column 11: rechunk() argument 'chunks': unsupported chunks '10MiB' "
            "(expected 'auto', an int or a tuple)");
}

TEST_F(InterpreterOpsTest, Reshape) {
  Eval("x = da.ones((4, 6), chunks=(2, 6))");
  for (const char* src : {"x.reshape((8, 3))", "x.reshape(8, 3)", "x.reshape([8, -1])",
                          "da.reshape(x, (8, 3))", "np.reshape(x, shape=(-1, 3))"}) {
    Array r = Lazy(src);
    EXPECT_EQ(r.shape(), (Shape{8, 3})) << src;
    EXPECT_EQ(r.node()->kind, graph::OpKind::kReshape) << src;
  }
  EXPECT_EQ(Lazy("x.reshape(-1)").shape(), (Shape{24}));
  EXPECT_EQ(Lazy("x.reshape(-1)").chunks(), (Chunks{{12, 12}}));
  EXPECT_EQ(Lazy("x.reshape(2, 2, 6)").shape(), (Shape{2, 2, 6}));
  EXPECT_EQ(ErrorOf("x.reshape(5, 5)"),
            "line 1, column 3: cannot reshape array of shape (4, 6) (size 24) into shape (5, 5)");
  EXPECT_EQ(ErrorOf("x.reshape(-1, -1)"),
            "line 1, column 3: reshape: can only specify one unknown dimension");
  EXPECT_EQ(ErrorOf("x.reshape()"),
            "line 1, column 3: reshape() missing required argument 'shape'");
  EXPECT_EQ(ErrorOf("x.reshape(2.5, 2)"),
            "line 1, column 11: reshape() shape must be ints, not float");
}

TEST_F(InterpreterOpsTest, ConcatenateAndStack) {
  Eval("x = da.ones((4, 6), chunks=(2, 3)); y = da.zeros((3, 6), chunks=(3, 2), dtype='int32')");
  Array c = Lazy("da.concatenate([x, y])");
  EXPECT_EQ(c.node()->kind, graph::OpKind::kConcatenate);
  EXPECT_EQ(c.shape(), (Shape{7, 6}));
  EXPECT_EQ(c.dtype(), DType::kFloat64);
  EXPECT_EQ(c.chunks(), (Chunks{{2, 2, 3}, {3, 3}}));
  EXPECT_EQ(Lazy("da.concatenate((x, x), axis=-1)").shape(), (Shape{4, 12}));
  EXPECT_EQ(Lazy("np.concatenate([x, x], 1)").chunks(), (Chunks{{2, 2}, {3, 3, 3, 3}}));
  Array s = Lazy("da.stack([x, x, x], axis=1)");
  EXPECT_EQ(s.shape(), (Shape{4, 3, 6}));
  EXPECT_EQ(s.chunks(), (Chunks{{2, 2}, {1, 1, 1}, {3, 3}}));
  EXPECT_EQ(Lazy("da.stack([x, x])").shape(), (Shape{2, 4, 6}));
  EXPECT_EQ(Lazy("da.stack([x, x], axis=-1)").shape(), (Shape{4, 6, 2}));
  EXPECT_EQ(ErrorOf("da.concatenate([x, y], axis=1)"),
            "line 1, column 4: concatenate: along dimension 0, array 0 has size 4 and array 1 "
            "has size 3 (shapes (4, 6) and (3, 6))");
  EXPECT_EQ(ErrorOf("da.concatenate([x, y], axis=2)"),
            "line 1, column 4: concatenate: axis 2 is out of bounds for array of dimension 2");
  EXPECT_EQ(ErrorOf("da.concatenate([])"),
            "line 1, column 4: need at least one array to concatenate");
  EXPECT_EQ(ErrorOf("da.concatenate([x, 1])"),
            "line 1, column 16: concatenate() argument 'seq' item 1 must be an array, not int");
  EXPECT_EQ(ErrorOf("da.concatenate(x)"),
            "line 1, column 16: concatenate() argument 'seq' must be a list or tuple of arrays, "
            "not Array");
  EXPECT_EQ(ErrorOf("da.stack([x, y])"),
            "line 1, column 4: stack: all input arrays must have the same shape: array 0 has shape "
            "(4, 6), array 1 has shape (3, 6)");
  EXPECT_EQ(ErrorOf("da.stack([x, x], axis=3)"),
            "line 1, column 4: stack: axis 3 is out of bounds for array of dimension 3");
}

TEST_F(InterpreterOpsTest, MatmulDotTensordot) {
  Eval("a = da.ones((4, 6), chunks=(2, 3)); b = da.ones((6, 5), chunks=(3, 5)); v = da.ones(6)");
  for (const char* src :
       {"a @ b", "da.matmul(a, b)", "da.dot(a, b)", "a.dot(b)", "da.tensordot(a, b, axes=1)",
        "da.tensordot(a, b, ([1], [0]))", "da.tensordot(a, b, axes=(1, 0))"}) {
    Array r = Lazy(src);
    EXPECT_EQ(r.shape(), (Shape{4, 5})) << src;
    EXPECT_EQ(r.chunks(), (Chunks{{2, 2}, {5}})) << src;
    EXPECT_EQ(r.node()->kind, graph::OpKind::kTensordot) << src;
  }
  EXPECT_EQ(Lazy("a @ v").shape(), (Shape{4}));
  EXPECT_EQ(Lazy("v @ v").shape(), Shape{});
  EXPECT_EQ(Lazy("x = a; x @= b; x").shape(), (Shape{4, 5}));
  EXPECT_EQ(Lazy("a.astype('int32') @ b.astype('int32')").dtype(), DType::kInt32);
  // Batched matmul broadcasts the leading axes.
  Array batched = Lazy("da.ones((3, 4, 6)) @ da.ones((6, 2))");
  EXPECT_EQ(batched.shape(), (Shape{3, 4, 2}));
  // tensordot's default axes=2 contracts the last two of a with the first two of b.
  EXPECT_EQ(Lazy("da.tensordot(da.ones((2, 3, 4)), da.ones((3, 4, 5)))").shape(), (Shape{2, 5}));
  EXPECT_EQ(Lazy("da.tensordot(a, a, axes=0)").shape(), (Shape{4, 6, 4, 6}));
  EXPECT_EQ(Lazy("da.dot(2, a)").node()->kind, graph::OpKind::kBinary);
  EXPECT_EQ(Eval("da.dot(2, 3)").i, 6);
  EXPECT_EQ(ErrorOf("a @ a"),
            "line 1, column 3: matmul: Input operand 1 has a mismatch in its core dimension 0, "
            "with gufunc signature (n?,k),(k,m?)->(n?,m?) (size 4 is different from 6): shapes "
            "(4, 6) and (4, 6)");
  EXPECT_EQ(ErrorOf("da.matmul(a, a)")
                .rfind("line 1, column 4: matmul: Input operand 1 has a "
                       "mismatch",
                       0),
            0u);
  EXPECT_EQ(ErrorOf("da.dot(a, a)"),
            "line 1, column 4: dot: shapes (4, 6) and (4, 6) not aligned: 6 (dim 1) != 4 (dim 0)");
  EXPECT_EQ(ErrorOf("a.dot(v[:3])"),
            "line 1, column 3: dot: shapes (4, 6) and (3,) not aligned: 6 (dim 1) != 3 (dim 0)");
  EXPECT_EQ(ErrorOf("da.tensordot(a, b, axes=3)"),
            "line 1, column 4: tensordot: axes=3 must be between 0 and the operands' ndim "
            "(shapes (4, 6) and (6, 5))");
  EXPECT_EQ(ErrorOf("da.tensordot(a, b, axes=([1], [2]))"),
            "line 1, column 4: tensordot: axis 2 is out of bounds for array of dimension 2");
  EXPECT_EQ(ErrorOf("da.tensordot(a, b, axes='x')"),
            "line 1, column 25: tensordot() argument 'axes' must be an int or a pair of "
            "sequences of ints, not str");
  EXPECT_EQ(ErrorOf("a @ 'x'"),
            "line 1, column 3: unsupported operand type(s) for @: 'Array' "
            "and 'str'");
}

TEST_F(InterpreterOpsTest, FromArrayInfersShapeAndDtype) {
  Array i = Lazy("da.from_array([[1, 2, 3], [4, 5, 6]], chunks=(1, 2))");
  EXPECT_EQ(i.node()->kind, graph::OpKind::kFromBuffer);
  EXPECT_EQ(i.shape(), (Shape{2, 3}));
  EXPECT_EQ(i.dtype(), DType::kInt64);
  EXPECT_EQ(i.chunks(), (Chunks{{1, 1}, {2, 1}}));
  EXPECT_EQ(BufferValues(i), (std::vector<double>{1, 2, 3, 4, 5, 6}));

  Array f = Lazy("da.asarray([[1, 2.5], (3, -4)])");
  EXPECT_EQ(f.dtype(), DType::kFloat64);
  EXPECT_EQ(f.shape(), (Shape{2, 2}));
  EXPECT_EQ(BufferValues(f), (std::vector<double>{1, 2.5, 3, -4}));

  Array b = Lazy("np.array([True, False, True])");
  EXPECT_EQ(b.dtype(), DType::kBool);
  EXPECT_EQ(BufferValues(b), (std::vector<double>{1, 0, 1}));
  EXPECT_EQ(Lazy("da.asarray([True, 2])").dtype(), DType::kInt64);

  Array cast = Lazy("da.from_array([1.9, -1.9, 3], dtype='int32')");
  EXPECT_EQ(cast.dtype(), DType::kInt32);
  EXPECT_EQ(BufferValues(cast), (std::vector<double>{1, -1, 3}));  // truncated, as NumPy
  EXPECT_EQ(Lazy("da.asarray([1, 2], dtype=float)").dtype(), DType::kFloat64);
  EXPECT_EQ(BufferValues(Lazy("da.asarray([0, 2], dtype='bool')")), (std::vector<double>{0, 1}));

  // int64 literals stay exact beyond 2^53.
  Array big = Lazy("da.asarray([9007199254740993])");
  int64_t v = 0;
  std::memcpy(&v, big.node()->data->data(), sizeof v);
  EXPECT_EQ(v, 9007199254740993);

  EXPECT_EQ(Lazy("da.asarray(3.5)").shape(), Shape{});
  EXPECT_EQ(Lazy("da.asarray([])").shape(), (Shape{0}));
  EXPECT_EQ(Lazy("da.asarray([])").dtype(), DType::kFloat64);
  EXPECT_EQ(Lazy("da.asarray([[], []])").shape(), (Shape{2, 0}));
  // A lazy array passes through, cast and rechunked as asked.
  Array same = Lazy("x = da.ones((4, 4), chunks=2); da.from_array(x, chunks=4)");
  EXPECT_EQ(same.chunks(), (Chunks{{4}, {4}}));
  EXPECT_EQ(Lazy("da.asarray(x, dtype='int32')").dtype(), DType::kInt32);
  EXPECT_EQ(Lazy("da.from_array([[1, 2], [3, 4]]) @ da.from_array([[1.0], [2.0]])").shape(),
            (Shape{2, 1}));
}

TEST_F(InterpreterOpsTest, FromArrayErrors) {
  EXPECT_EQ(ErrorOf("da.from_array([[1, 2], [3]])"),
            "line 1, column 15: from_array(): the nested sequence is ragged: its first elements "
            "give shape (2, 2), but item [1] has length 1, not 2");
  EXPECT_EQ(ErrorOf("da.asarray([[1, 2], 3])"),
            "line 1, column 12: asarray(): the nested sequence is ragged: its first elements give "
            "shape (2, 2), but item [1] is int, not a sequence of length 2");
  EXPECT_EQ(ErrorOf("da.asarray([1, [2, 3]])"),
            "line 1, column 12: asarray(): the nested sequence is ragged: its first elements give "
            "shape (2,), but item [1] is a sequence where a number was expected");
  EXPECT_EQ(ErrorOf("da.asarray([[1, 'a']])"),
            "line 1, column 12: asarray(): item [0][1] must be a number or a bool, not str");
  EXPECT_EQ(ErrorOf("da.asarray([1.5, nan], dtype='int64')"),
            "line 1, column 12: asarray(): cannot convert float nan to int64");
  EXPECT_EQ(ErrorOf("da.asarray([3000000000], dtype='int32')"),
            "line 1, column 12: asarray(): Python integer 3000000000 out of bounds for int32");
  EXPECT_EQ(ErrorOf("da.asarray([1, 2], chunks=0)"),
            "line 1, column 4: chunk size 0 on axis 0 (chunk sizes must be positive)");
  EXPECT_EQ(ErrorOf("da.asarray('abc')"),
            "line 1, column 12: asarray(): the outer sequence must be a number or a bool, not "
            "str");
}

TEST_F(InterpreterOpsTest, LogicalOperatorsOnBoolArrays) {
  EXPECT_EQ(Lazy("x = da.arange(6, chunks=4); (x > 3) | (x == 0)").dtype(), DType::kBool);
  EXPECT_EQ(Lazy("x = da.arange(6, chunks=4); (x > 3) & True").shape(), Shape{6});
  EXPECT_EQ(Lazy("x = da.arange(6, chunks=4); ~(x > 3) ^ (x < 2)").dtype(), DType::kBool);
  EXPECT_EQ(Lazy("da.logical_not(da.arange(4))").dtype(), DType::kBool);
  EXPECT_EQ(Lazy("da.logical_and(da.ones(3), 0.5)").dtype(), DType::kBool);
  EXPECT_EQ(ErrorOf("x = da.arange(6); x & 1"),
            "line 1, column 21: operator '&' is supported on bool arrays only (got int64 array); "
            "bitwise operations on integers are not implemented");
  EXPECT_EQ(ErrorOf("~da.arange(3)"),
            "line 1, column 1: operator '~' is supported on bool arrays only (got int64 array); "
            "bitwise operations on integers are not implemented");
}

}  // namespace
}  // namespace tessera::cli
