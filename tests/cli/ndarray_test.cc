// NDArray's NumPy repr and the Array API that the CLI language builds on (src/client/array.cc).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "common/dtype.h"
#include "common/shape.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

template <typename T>
NDArray Make(DType dtype, Shape shape, const std::vector<T>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return NDArray(dtype, std::move(shape), std::move(bytes));
}

NDArray F64(std::vector<double> v, Shape shape = {}) {
  if (shape.empty() && v.size() != 1) shape = {static_cast<int64_t>(v.size())};
  return Make(DType::kFloat64, shape, v);
}

NDArray I64(std::vector<int64_t> v, Shape shape) { return Make(DType::kInt64, shape, v); }

NDArray Arange(int64_t n, bool floating) {
  if (floating) {
    std::vector<double> v;
    for (int64_t i = 0; i < n; ++i) v.push_back(static_cast<double>(i));
    return Make(DType::kFloat64, {n}, v);
  }
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(i);
  return Make(DType::kInt64, {n}, v);
}

TEST(NDArrayReprTest, ScalarsAsPython) {
  EXPECT_EQ(F64({1.718281828459045}, {}).repr(), "1.718281828459045");
  EXPECT_EQ(F64({4e10}, {}).repr(), "40000000000.0");
  EXPECT_EQ(F64({1e16}, {}).repr(), "1e+16");
  EXPECT_EQ(F64({1e-5}, {}).repr(), "1e-05");
  EXPECT_EQ(F64({0.0001}, {}).repr(), "0.0001");
  EXPECT_EQ(F64({-0.0}, {}).repr(), "-0.0");
  EXPECT_EQ(F64({0.5}, {}).repr(), "0.5");
  EXPECT_EQ(F64({1.5e-300}, {}).repr(), "1.5e-300");
  EXPECT_EQ(F64({123456789012345.6}, {}).repr(), "123456789012345.6");
  EXPECT_EQ(F64({std::nan("")}, {}).repr(), "nan");
  EXPECT_EQ(F64({-std::numeric_limits<double>::infinity()}, {}).repr(), "-inf");
  EXPECT_EQ(I64({42}, {}).repr(), "42");
  EXPECT_EQ(I64({std::numeric_limits<int64_t>::max()}, {}).repr(), "9223372036854775807");
  EXPECT_EQ(Make<float>(DType::kFloat32, {}, {0.1f}).repr(), "0.1");
  EXPECT_EQ(Make<uint8_t>(DType::kBool, {}, {1}).repr(), "True");
  EXPECT_EQ(Make<int32_t>(DType::kInt32, {}, {-7}).repr(), "-7");
}

TEST(NDArrayReprTest, OneDimensionalAsNumPy) {
  EXPECT_EQ(F64({1, 2, 3}).repr(), "array([1., 2., 3.])");
  EXPECT_EQ(F64({1, 2.5}).repr(), "array([1. , 2.5])");
  EXPECT_EQ(F64({-1, 0.25}).repr(), "array([-1.  ,  0.25])");
  EXPECT_EQ(F64({1.0 / 3, 2}).repr(), "array([0.33333333, 2.        ])");
  EXPECT_EQ(F64({0.1, 1e-5}).repr(), "array([1.e-01, 1.e-05])");
  EXPECT_EQ(F64({1e8, 1}).repr(), "array([1.e+08, 1.e+00])");
  EXPECT_EQ(F64({1.5e8, 1}).repr(), "array([1.5e+08, 1.0e+00])");
  EXPECT_EQ(F64({1, std::nan(""), std::numeric_limits<double>::infinity()}).repr(),
            "array([ 1., nan, inf])");
  EXPECT_EQ(I64({1, -20, 3}, {3}).repr(), "array([  1, -20,   3])");
  EXPECT_EQ(I64({std::numeric_limits<int64_t>::max(), 0}, {2}).repr(),
            "array([9223372036854775807,                   0])");
  EXPECT_EQ(Make<uint8_t>(DType::kBool, {2}, {1, 0}).repr(), "array([ True, False])");
  EXPECT_EQ(Make<float>(DType::kFloat32, {2}, {1, 2}).repr(), "array([1., 2.], dtype=float32)");
  EXPECT_EQ(Make<int32_t>(DType::kInt32, {2}, {1, 2}).repr(), "array([1, 2], dtype=int32)");
  EXPECT_EQ(Make<double>(DType::kFloat64, {0}, {}).repr(), "array([], dtype=float64)");
  EXPECT_EQ(Make<double>(DType::kFloat64, {0, 3}, {}).repr(),
            "array([], shape=(0, 3), dtype=float64)");
}

TEST(NDArrayReprTest, WrapsLinesAt75Columns) {
  EXPECT_EQ(Arange(30, true).repr(),
            "array([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12.,\n"
            "       13., 14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25.,\n"
            "       26., 27., 28., 29.])");
}

TEST(NDArrayReprTest, SummarisesLargeArrays) {
  EXPECT_EQ(Arange(2000, false).repr(), "array([   0,    1,    2, ..., 1997, 1998, 1999])");
  EXPECT_EQ(Arange(2000, true).repr(),
            "array([0.000e+00, 1.000e+00, 2.000e+00, ..., 1.997e+03, 1.998e+03,\n"
            "       1.999e+03])");
  // The threshold is an argument; in full nothing is elided.
  EXPECT_EQ(Arange(2000, false).repr(std::numeric_limits<int64_t>::max()).find("..."),
            std::string::npos);
  EXPECT_EQ(Arange(10, false).repr(5), "array([0, 1, 2, ..., 7, 8, 9])");
}

TEST(NDArrayReprTest, MultiDimensionalNestedBrackets) {
  EXPECT_EQ(I64({0, 1, 2, 3, 4, 5}, {2, 3}).repr(), "array([[0, 1, 2],\n       [3, 4, 5]])");
  EXPECT_EQ(F64(std::vector<double>(8, 1.0), {2, 2, 2}).repr(),
            "array([[[1., 1.],\n"
            "        [1., 1.]],\n"
            "\n"
            "       [[1., 1.],\n"
            "        [1., 1.]]])");
  const std::string row = "[1., 1., 1., ..., 1., 1., 1.]";
  EXPECT_EQ(F64(std::vector<double>(10000, 1.0), {100, 100}).repr(),
            "array([" + row + ",\n       " + row + ",\n       " + row + ",\n       ...,\n       " +
                row + ",\n       " + row + ",\n       " + row + "])");
}

// The elements of `a` that its summary shows (leading_trailing), taken on the host.
NDArray Edges(const NDArray& a) {
  Shape shape;
  for (int64_t n : a.shape()) shape.push_back(std::min<int64_t>(n, 6));
  const int64_t item = static_cast<int64_t>(a.bytes().size()) / std::max<int64_t>(a.size(), 1);
  std::vector<uint8_t> bytes;
  std::vector<int64_t> at(shape.size(), 0);
  for (int64_t k = 0; k < NumElements(shape); ++k) {
    int64_t rest = k, flat = 0;
    for (int axis = static_cast<int>(shape.size()) - 1; axis >= 0; --axis) {
      at[static_cast<size_t>(axis)] = rest % shape[static_cast<size_t>(axis)];
      rest /= shape[static_cast<size_t>(axis)];
    }
    for (size_t axis = 0; axis < shape.size(); ++axis) {
      const int64_t n = a.shape()[axis];
      const int64_t i = n > 6 && at[axis] >= 3 ? n - 6 + at[axis] : at[axis];
      flat = flat * n + i;
    }
    const auto at_flat = a.bytes().begin() + flat * item;
    bytes.insert(bytes.end(), at_flat, at_flat + item);
  }
  return NDArray(a.dtype(), shape, std::move(bytes));
}

TEST(NDArrayReprTest, SummaryOfTheShownElementsIsTheFullRepr) {
  for (const Shape& shape : std::vector<Shape>{{2000}, {1001}, {40, 50}, {7, 3, 100}, {6, 6, 6, 6},
                                               {3, 1000}, {1000, 2}, {2, 9, 8, 9}}) {
    const int64_t n = NumElements(shape);
    std::vector<double> f64;
    std::vector<float> f32;
    std::vector<int64_t> i64;
    std::vector<uint8_t> b;
    for (int64_t i = 0; i < n; ++i) {
      // Magnitudes vary across the array so that the fitted element format depends on which
      // elements are shown.
      f64.push_back(std::sin(static_cast<double>(i)) * std::pow(10.0, static_cast<double>(i % 7)));
      f32.push_back(static_cast<float>(i) / 3.0f);
      i64.push_back((i * 7919) % 100003 - 50000);
      b.push_back(static_cast<uint8_t>(i % 3 == 0));
    }
    for (const NDArray& a : {Make(DType::kFloat64, shape, f64), Make(DType::kFloat32, shape, f32),
                             Make(DType::kInt64, shape, i64), Make(DType::kBool, shape, b)}) {
      SCOPED_TRACE(ShapeToString(shape) + " " + std::string(DTypeName(a.dtype())));
      EXPECT_EQ(Edges(a).summary_repr(shape), a.repr());
    }
  }
  // Not the edges of that shape: refused, naming both shapes.
  try {
    (void)Arange(2000, false).summary_repr({2000});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(2000,)"), std::string::npos) << e.what();
  }
}

TEST(NDArrayTest, AccessorsAndScalar) {
  NDArray a = I64({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(a.size(), 6);
  EXPECT_EQ(a.ndim(), 2);
  EXPECT_EQ(a.at(4), 5.0);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  try {
    (void)a.scalar<double>();
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), 3);
    EXPECT_NE(std::string(e.what()).find("(2, 3)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(F64({2.5}, {}).scalar<double>(), 2.5);
  EXPECT_EQ(F64({2.5}, {1}).scalar<double>(), 2.5);
  EXPECT_THROW(NDArray(DType::kFloat64, {3}, std::vector<uint8_t>(5)), Error);
}

TEST(ArrayTest, ReprShapeChunksAndDtype) {
  Array x = ones({200000, 200000}, {ChunkSpec({10000, 10000})});
  EXPECT_EQ(x.repr(),
            "tessera.array<ones, shape=(200000, 200000), dtype=float64, chunksize=(10000, "
            "10000), chunktype=numpy.ndarray>");
  EXPECT_EQ(x.npartitions(), 400);
  EXPECT_EQ(x.nbytes(), int64_t{200000} * 200000 * 8);
  Array y = (x * x[{Slice::Step(-1), Slice::Step(-1)}]).sum();
  EXPECT_EQ(y.ndim(), 0);
  EXPECT_EQ(y.dtype(), DType::kFloat64);
  Array z = exp(x).mean({1}).astype(DType::kFloat32);
  EXPECT_EQ(z.shape(), (Shape{200000}));
  EXPECT_EQ(z.dtype(), DType::kFloat32);
  EXPECT_EQ(z.chunks()[0].size(), 20u);
  Array w = x[{Slice(10, 20), 3, newaxis, ellipsis}];
  EXPECT_EQ(w.shape(), (Shape{10, 1}));
  Array scaled = 2.0 * x - 1.0;
  EXPECT_EQ(scaled.shape(), x.shape());
}

TEST(ArrayTest, ErrorsBecomeTesseraErrors) {
  try {
    (void)ones({-1, 3});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), 3);
    EXPECT_NE(std::string(e.what()).find("-1"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)ones({3}).sum({1}), Error);
  EXPECT_THROW((void)ones({3})[{Slice::Step(0)}], Error);
  EXPECT_THROW((void)(ones({3}) + ones({4})), Error);
}

TEST(ArrayTest, RandomSeeds) {
  Array a = random::random({10, 10}, {.chunks = ChunkSpec(5), .seed = 42});
  EXPECT_EQ(random::seed_of(a), 42u);
  EXPECT_NE(a.repr().find("seed=42"), std::string::npos) << a.repr();
  Array b = random::random({10});
  Array c = random::random({10});
  ASSERT_TRUE(random::seed_of(b).has_value());
  EXPECT_NE(*random::seed_of(b), *random::seed_of(c));
  EXPECT_FALSE(random::seed_of(ones({3})).has_value());
  Array n = random::normal(1, 2, {4}, {.dtype = DType::kFloat32});
  EXPECT_EQ(n.dtype(), DType::kFloat32);
}

TEST(VersionTest, Version) { EXPECT_EQ(version(), "0.1.0"); }

}  // namespace
}  // namespace tessera
