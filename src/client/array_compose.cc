// NumPy / dask.array functions that are compositions of the core operations (tessera.h): the
// "_like" creators, eye, clip, round with decimals, the shape helpers (ravel, squeeze,
// expand_dims, swapaxes, moveaxis, broadcast_to), isclose / allclose, diff and the nan-reductions.
// Each is built lazily from operations that fuse, so nothing here runs code of its own on a
// worker; the arithmetic is NumPy's own definition of each function (numpy/core/numeric.py,
// numpy/lib/nanfunctions.py, numpy/lib/function_base.py of NumPy 1.24).
#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "common/shape.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

[[noreturn]] void Fail(std::string message) {
  throw Error(static_cast<int>(absl::StatusCode::kInvalidArgument), std::move(message));
}

bool IsFloat(DType d) { return d == DType::kFloat64 || d == DType::kFloat32; }

// An axis in [-ndim, ndim) made non-negative, with NumPy's message otherwise.
int NormalizeAxis(const char* fn, int axis, int ndim) {
  if (axis < -ndim || axis >= ndim) {
    Fail(absl::StrCat(fn, ": axis ", axis, " is out of bounds for array of dimension ", ndim));
  }
  return axis < 0 ? axis + ndim : axis;
}

std::vector<int> NormalizeAxes(const char* fn, const std::vector<int>& axes, int ndim) {
  std::vector<int> out;
  for (int a : axes) {
    const int n = NormalizeAxis(fn, a, ndim);
    if (std::find(out.begin(), out.end(), n) != out.end()) {
      Fail(absl::StrCat(fn, ": repeated axis ", a));
    }
    out.push_back(n);
  }
  return out;
}

// Every axis whole, with `at` in place of axis `axis`.
Array AlongAxis(const Array& x, int axis, const Index& at) {
  std::vector<Index> index(static_cast<size_t>(x.ndim()), Slice::All());
  index[static_cast<size_t>(axis)] = at;
  return x[index];
}

Array Like(const Array& a, double value, std::optional<DType> dtype) {
  return full(a.shape(), value, {ChunkSpec::Explicit(a.chunks()), dtype.value_or(a.dtype())});
}

}  // namespace

Array ones_like(const Array& a, std::optional<DType> dtype) { return Like(a, 1, dtype); }
Array zeros_like(const Array& a, std::optional<DType> dtype) { return Like(a, 0, dtype); }
Array empty_like(const Array& a, std::optional<DType> dtype) { return Like(a, 0, dtype); }
Array full_like(const Array& a, double fill_value, std::optional<DType> dtype) {
  return Like(a, fill_value, dtype);
}

Array eye(int64_t n, std::optional<int64_t> m, int64_t k, const ArrayOptions& options) {
  const int64_t cols = m.value_or(n);
  if (n < 0 || cols < 0) {
    Fail(absl::StrCat("eye: negative dimensions are not allowed (N=", n, ", M=", cols, ")"));
  }
  // The output's chunk grid as the options give it for an (n, cols) array of this dtype; each
  // axis's index takes that axis's chunks, so the comparison is generated block by block.
  const Array grid = zeros({n, cols}, options);
  const ArrayOptions rows_at{ChunkSpec::Explicit({grid.chunks()[0]}), DType::kInt64};
  const ArrayOptions cols_at{ChunkSpec::Explicit({grid.chunks()[1]}), DType::kInt64};
  const Array i = arange(0, static_cast<double>(n), 1, rows_at)[{Slice::All(), NewAxisT()}];
  const Array j = arange(0, static_cast<double>(cols), 1, cols_at)[{NewAxisT(), Slice::All()}];
  return (j - i == static_cast<double>(k)).astype(options.dtype);
}

Array clip(const Array& x, std::optional<double> a_min, std::optional<double> a_max) {
  if (!a_min && !a_max) Fail("clip: One of max or min must be given");
  Array out = x;
  if (a_min) out = maximum(out, *a_min);
  if (a_max) out = minimum(out, *a_max);
  return out;
}

Array round(const Array& x, int decimals) {
  if (decimals == 0) return round(x);
  const bool integral = !IsFloat(x.dtype());
  if (integral && decimals > 0) return x;
  // NumPy's power_of_ten: a table to 1e8, then repeated multiplication.
  const int d = decimals < 0 ? -decimals : decimals;
  double f = 1;
  for (int i = 0; i < d; ++i) f *= 10;
  Array out = decimals > 0 ? round(x * f) / f : round(x / f) * f;
  return integral ? out.astype(x.dtype()) : out;
}

Array ravel(const Array& x) { return x.reshape({-1}); }

Array squeeze(const Array& x, const std::vector<int>& axes) {
  std::vector<int> drop = NormalizeAxes("squeeze", axes, x.ndim());
  if (axes.empty()) {
    for (int a = 0; a < x.ndim(); ++a) {
      if (x.shape()[static_cast<size_t>(a)] == 1) drop.push_back(a);
    }
  }
  if (drop.empty()) return x;
  std::vector<Index> index(static_cast<size_t>(x.ndim()), Slice::All());
  for (int a : drop) {
    if (x.shape()[static_cast<size_t>(a)] != 1) {
      Fail(absl::StrCat("squeeze: cannot select an axis to squeeze out which has size not equal "
                        "to one (axis ",
                        a, " of shape ", ShapeToString(x.shape()), ")"));
    }
    index[static_cast<size_t>(a)] = Index(int64_t{0});
  }
  return x[index];
}

Array expand_dims(const Array& x, const std::vector<int>& axes) {
  const int out_ndim = x.ndim() + static_cast<int>(axes.size());
  const std::vector<int> at = NormalizeAxes("expand_dims", axes, out_ndim);
  std::vector<Index> index;
  for (int a = 0; a < out_ndim; ++a) {
    const bool added = std::find(at.begin(), at.end(), a) != at.end();
    index.push_back(added ? Index(NewAxisT()) : Index(Slice::All()));
  }
  return x[index];
}

Array swapaxes(const Array& x, int axis1, int axis2) {
  const int a = NormalizeAxis("swapaxes", axis1, x.ndim());
  const int b = NormalizeAxis("swapaxes", axis2, x.ndim());
  std::vector<int> perm(static_cast<size_t>(x.ndim()));
  for (int i = 0; i < x.ndim(); ++i) perm[static_cast<size_t>(i)] = i;
  std::swap(perm[static_cast<size_t>(a)], perm[static_cast<size_t>(b)]);
  return x.transpose(perm);
}

Array moveaxis(const Array& x, const std::vector<int>& source,
               const std::vector<int>& destination) {
  if (source.size() != destination.size()) {
    Fail(absl::StrCat("moveaxis: `source` and `destination` arguments must have the same number "
                      "of elements (",
                      source.size(), " and ", destination.size(), ")"));
  }
  const std::vector<int> src = NormalizeAxes("moveaxis", source, x.ndim());
  const std::vector<int> dst = NormalizeAxes("moveaxis", destination, x.ndim());
  std::vector<int> order;
  for (int a = 0; a < x.ndim(); ++a) {
    if (std::find(src.begin(), src.end(), a) == src.end()) order.push_back(a);
  }
  std::vector<std::pair<int, int>> moves;
  for (size_t i = 0; i < src.size(); ++i) moves.emplace_back(dst[i], src[i]);
  std::sort(moves.begin(), moves.end());
  for (const auto& [d, s] : moves) order.insert(order.begin() + d, s);
  return x.transpose(order);
}

Array broadcast_to(const Array& x, const Shape& shape) {
  const size_t lead = shape.size() - std::min(shape.size(), static_cast<size_t>(x.ndim()));
  bool fits = shape.size() >= static_cast<size_t>(x.ndim());
  std::vector<ChunkSpec::Axis> chunks;
  for (size_t a = 0; fits && a < shape.size(); ++a) {
    if (shape[a] < 0) fits = false;
    if (a < lead || !fits) {
      chunks.emplace_back(int64_t{-1});  // a new axis: one chunk, as dask
      continue;
    }
    const int64_t had = x.shape()[a - lead];
    if (had == shape[a]) {
      chunks.emplace_back(x.chunks()[a - lead]);
    } else if (had == 1) {
      chunks.emplace_back(int64_t{-1});  // stretched: one chunk
    } else {
      fits = false;
    }
  }
  if (!fits) {
    Fail(absl::StrCat("broadcast_to: cannot broadcast an array of shape ",
                      ShapeToString(x.shape()), " to shape ", ShapeToString(shape)));
  }
  // x * 1 is x exactly, -0.0 and NaN included (x + 0 would turn -0.0 into 0.0); for bool it is
  // x & True.
  return x * ones(shape, {ChunkSpec::PerAxis(std::move(chunks)), DType::kBool});
}

Array isclose(const Array& a, const Array& b, double rtol, double atol, bool equal_nan) {
  // NumPy casts b (only) to at least a float: y = asanyarray(b, dtype=result_type(b, 1.0)).
  const Array y = IsFloat(b.dtype()) ? b : b.astype(DType::kFloat64);
  const Array finite = isfinite(a) * isfinite(y);  // bool and
  const Array within = less_equal(abs(a - y), atol + rtol * abs(y));
  Array out = where(finite, within, equal(a, y));
  if (equal_nan) out = maximum(out, isnan(a) * isnan(y));  // bool or
  return out;
}

Array allclose(const Array& a, const Array& b, double rtol, double atol, bool equal_nan) {
  return isclose(a, b, rtol, atol, equal_nan).all();
}

Array diff(const Array& x, int n, int axis) {
  if (n < 0) Fail(absl::StrCat("diff: order must be non-negative but got ", n));
  if (x.ndim() == 0) Fail("diff: diff requires input that is at least one dimensional");
  const int a = NormalizeAxis("diff", axis, x.ndim());
  Array out = x;
  for (int i = 0; i < n; ++i) {
    const Array hi = AlongAxis(out, a, Slice(1, std::nullopt));
    const Array lo = AlongAxis(out, a, Slice(std::nullopt, -1));
    out = out.dtype() == DType::kBool ? hi != lo : hi - lo;
  }
  return out;
}

Array nansum(const Array& x, const ReduceOptions& o) {
  if (!IsFloat(x.dtype())) return sum(x, o);
  return sum(where(isnan(x), 0.0, x), o);
}

Array nanprod(const Array& x, const ReduceOptions& o) {
  if (!IsFloat(x.dtype())) return prod(x, o);
  return prod(where(isnan(x), 1.0, x), o);
}

Array nanmean(const Array& x, const ReduceOptions& o) {
  if (!IsFloat(x.dtype())) return mean(x, o);
  // The sum of the others over their count, divided in float64 and cast back (NumPy divides
  // in place with casting='unsafe'); an all-NaN slice is 0 / 0 = NaN.
  const Array count = sum(x == x, o);
  return (nansum(x, o) / count).astype(x.dtype());
}

Array nanmin(const Array& x, const ReduceOptions& o) {
  if (!IsFloat(x.dtype())) return min(x, o);
  const double inf = std::numeric_limits<double>::infinity();
  return where(all(isnan(x), o), std::numeric_limits<double>::quiet_NaN(),
               min(where(isnan(x), inf, x), o));
}

Array nanmax(const Array& x, const ReduceOptions& o) {
  if (!IsFloat(x.dtype())) return max(x, o);
  const double inf = std::numeric_limits<double>::infinity();
  return where(all(isnan(x), o), std::numeric_limits<double>::quiet_NaN(),
               max(where(isnan(x), -inf, x), o));
}

}  // namespace tessera
