// The Array part of tessera.h: lazy expression building over src/graph, and NDArray (the
// computed result) with NumPy's repr. No gRPC here, so the CLI language links it alone.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <atomic>
#include <cstdlib>
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/dtype.h"
#include "common/shape.h"
#include "graph/expr.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

[[noreturn]] void Throw(const absl::Status& status) {
  throw Error(static_cast<int>(status.code()), std::string(status.message()));
}

graph::NodePtr Check(absl::StatusOr<graph::NodePtr> node) {
  if (!node.ok()) Throw(node.status());
  return *std::move(node);
}

Array Wrap(absl::StatusOr<graph::NodePtr> node) { return Array(Check(std::move(node))); }

// dask's "array.chunk-size": the target of "auto" chunks. 0 means not read yet: the first use
// reads $TESSERA_ARRAY_CHUNK_SIZE (a size as "64MiB"), else kDefaultChunkBytes.
std::atomic<int64_t> g_chunk_bytes{0};

int64_t ChunkBytes() {
  int64_t v = g_chunk_bytes.load(std::memory_order_relaxed);
  if (v > 0) return v;
  v = kDefaultChunkBytes;
  if (const char* env = std::getenv("TESSERA_ARRAY_CHUNK_SIZE"); env != nullptr && *env != 0) {
    absl::StatusOr<int64_t> parsed = ParseBytes(env);
    if (!parsed.ok() || *parsed <= 0) {
      Throw(absl::InvalidArgumentError(absl::StrCat(
          "TESSERA_ARRAY_CHUNK_SIZE='", env, "' is not a positive size such as 128MiB")));
    }
    v = *parsed;
  }
  int64_t expected = 0;
  g_chunk_bytes.compare_exchange_strong(expected, v);
  return g_chunk_bytes.load();
}

// dask's names of the task groups, used by repr.
std::string NodeName(const graph::Node& n) {
  switch (n.kind) {
    case graph::OpKind::kFull:
      if (n.value == 1) return "ones";
      if (n.value == 0) return "zeros";
      return "full";
    case graph::OpKind::kArange:
      return "arange";
    case graph::OpKind::kLinspace:
      return "linspace";
    case graph::OpKind::kRandom:
      if (n.dist == graph::RandomDist::kNormal) return "normal";
      if (n.dtype == DType::kInt64 || n.dtype == DType::kInt32) return "randint";
      return n.param_a == 0 && n.param_b == 1 ? "random_sample" : "uniform";
    case graph::OpKind::kSource:
      return n.source_name.empty() ? "source" : n.source_name;
    case graph::OpKind::kScalar:
      return "scalar";
    case graph::OpKind::kUnary:
      return std::string(graph::UnaryOpName(n.unary));
    case graph::OpKind::kBinary:
      return std::string(graph::BinaryOpName(n.binary));
    case graph::OpKind::kSlice:
      return "getitem";
    case graph::OpKind::kTranspose:
      return "transpose";
    case graph::OpKind::kReduce:
      return std::string(graph::ReduceOpName(n.reduce));
    case graph::OpKind::kWhere:
      return "where";
    case graph::OpKind::kRechunk:
      return "rechunk";
    case graph::OpKind::kConcatenate:
      return "concatenate";
    case graph::OpKind::kReshape:
      return "reshape";
    case graph::OpKind::kTensordot:
      return "tensordot";
    case graph::OpKind::kFromBuffer:
      return "array";  // dask names from_array's tasks "array-<token>"
  }
  return "array";
}

graph::IndexItem ToItem(const Index& index) {
  switch (index.kind()) {
    case Index::Kind::kSlice:
      return graph::IndexItem::Slice(index.start(), index.stop(), index.step());
    case Index::Kind::kInteger:
      return graph::IndexItem::Integer(index.integer());
    case Index::Kind::kNewAxis:
      return graph::IndexItem::NewAxis();
    case Index::Kind::kEllipsis:
      return graph::IndexItem::Ellipsis();
  }
  return graph::IndexItem::Slice();
}

Array Reduce(graph::ReduceOp op, const Array& x, const ReduceOptions& options) {
  return Wrap(graph::Reduce(op, x.node(), options.axis, options.keepdims, options.split_every));
}

Array Unary(graph::UnaryOp op, const Array& x) { return Wrap(graph::Unary(op, x.node())); }

Array Binary(graph::BinaryOp op, const Array& a, const Array& b) {
  return Wrap(graph::Binary(op, a.node(), b.node()));
}
Array Binary(graph::BinaryOp op, const Array& a, double b) {
  return Wrap(graph::Binary(op, a.node(), graph::Scalar(b, /*is_float=*/true)));
}
Array Binary(graph::BinaryOp op, double a, const Array& b) {
  return Wrap(graph::Binary(op, graph::Scalar(a, /*is_float=*/true), b.node()));
}

graph::NodePtr ScalarNode(double v) { return graph::Scalar(v, /*is_float=*/true); }

std::vector<graph::NodePtr> Nodes(const std::vector<Array>& arrays) {
  std::vector<graph::NodePtr> nodes;
  nodes.reserve(arrays.size());
  for (const Array& x : arrays) nodes.push_back(x.node());
  return nodes;
}

template <typename T>
Array FromValues(const std::vector<T>& values, const Shape& shape, const ChunkSpec& chunks,
                 DType dtype) {
  return from_buffer(values.data(), values.size() * sizeof(T), shape, ArrayOptions{chunks, dtype});
}

uint64_t FreshSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
}

// ---- Number formatting as Python and NumPy do it. ----

// The shortest round-trip digits of `x` (finite, non-zero or zero) and its decimal exponent:
// x = 0.d1d2d3... * 10^exp10 written as d1.d2d3... * 10^(exp10 - 1). `is_float32` uses the
// shortest digits of the float32 value.
struct Digits {
  bool negative = false;
  std::string digits;  // no leading zeros ("0" for zero)
  int exponent = 0;    // scientific exponent of the first digit
};

Digits ShortestDigits(double x, bool is_float32) {
  char buf[64];
  std::to_chars_result r;
  if (is_float32) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<float>(x), std::chars_format::scientific);
  } else {
    r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  }
  std::string s(buf, r.ptr);
  Digits d;
  size_t i = 0;
  if (s[i] == '-') {
    d.negative = true;
    ++i;
  }
  const size_t e = s.find('e');
  for (; i < e; ++i) {
    if (s[i] != '.') d.digits.push_back(s[i]);
  }
  d.exponent = std::stoi(s.substr(e + 1));
  while (d.digits.size() > 1 && d.digits.back() == '0') d.digits.pop_back();
  return d;
}

// Python's repr of a float: shortest round trip, positional for 1e-4 <= |x| < 1e16.
std::string PyFloatRepr(double x, bool is_float32 = false) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  const Digits d = ShortestDigits(x, is_float32);
  std::string out = d.negative ? "-" : "";
  const int n = static_cast<int>(d.digits.size());
  if (d.exponent >= -4 && d.exponent < 16) {
    if (d.exponent < 0) {
      out += "0.";
      out.append(static_cast<size_t>(-d.exponent - 1), '0');
      out += d.digits;
    } else if (d.exponent + 1 >= n) {
      out += d.digits;
      out.append(static_cast<size_t>(d.exponent + 1 - n), '0');
      out += ".0";
    } else {
      out += d.digits.substr(0, static_cast<size_t>(d.exponent + 1));
      out += ".";
      out += d.digits.substr(static_cast<size_t>(d.exponent + 1));
    }
    return out;
  }
  out += d.digits.substr(0, 1);
  if (n > 1) out += "." + d.digits.substr(1);
  char exp[16];
  std::snprintf(exp, sizeof exp, "e%c%02d", d.exponent < 0 ? '-' : '+', std::abs(d.exponent));
  return out + exp;
}

// Rounds a digit string (d1 d2 ... with the first digit at 10^exponent) to keep digits down to
// 10^-frac (positional) and returns the new digits/exponent. Half-even on the decimal digits,
// close enough to Dragon4's cutoff for printing.
void RoundDigits(Digits& d, int keep) {
  if (keep >= static_cast<int>(d.digits.size())) return;
  if (keep < 0) {
    d.digits = "0";
    d.exponent = 0;
    return;
  }
  const bool up = d.digits[static_cast<size_t>(keep)] >= '5';
  d.digits.resize(static_cast<size_t>(keep));
  if (up) {
    int i = keep - 1;
    while (i >= 0 && d.digits[static_cast<size_t>(i)] == '9') {
      d.digits[static_cast<size_t>(i)] = '0';
      --i;
    }
    if (i < 0) {
      d.digits.insert(d.digits.begin(), '1');
      ++d.exponent;
    } else {
      ++d.digits[static_cast<size_t>(i)];
    }
  }
  while (d.digits.size() > 1 && d.digits.back() == '0') d.digits.pop_back();
  if (d.digits.empty()) {
    d.digits = "0";
    d.exponent = 0;
  }
}

// NumPy's dragon4_positional(x, precision=8, unique=True, trim='.'), split at the point.
std::pair<std::string, std::string> Positional(double x, bool f32, int precision) {
  Digits d = ShortestDigits(x, f32);
  if (x == 0) d = Digits{std::signbit(x), "0", 0};
  RoundDigits(d, d.exponent + 1 + precision);
  std::string int_part = d.negative ? "-" : "";
  std::string frac;
  const int n = static_cast<int>(d.digits.size());
  if (d.digits == "0") {
    int_part += "0";
  } else if (d.exponent < 0) {
    int_part += "0";
    frac.append(static_cast<size_t>(-d.exponent - 1), '0');
    frac += d.digits;
  } else if (d.exponent + 1 >= n) {
    int_part += d.digits;
    int_part.append(static_cast<size_t>(d.exponent + 1 - n), '0');
  } else {
    int_part += d.digits.substr(0, static_cast<size_t>(d.exponent + 1));
    frac = d.digits.substr(static_cast<size_t>(d.exponent + 1));
  }
  return {int_part, frac};
}

// NumPy's dragon4_scientific(x, precision=8, unique=True): int digit, fraction, exponent.
struct Sci {
  std::string int_part, frac;
  int exponent;
};
Sci Scientific(double x, bool f32, int precision) {
  Digits d = ShortestDigits(x, f32);
  if (x == 0) d = Digits{std::signbit(x), "0", 0};
  RoundDigits(d, precision + 1);
  std::string int_part(d.negative ? "-" : "");
  int_part.push_back(d.digits[0]);
  return {int_part, d.digits.substr(1), d.exponent};
}

// NumPy's FloatingFormat (floatmode 'maxprec', precision 8) fitted to `values`.
class FloatFormat {
 public:
  FloatFormat(const std::vector<double>& values, bool f32) : f32_(f32) {
    std::vector<double> finite;
    for (double v : values) {
      if (std::isfinite(v)) finite.push_back(v);
    }
    double max_val = 0, min_val = 0;
    bool any_nonzero = false;
    for (double v : finite) {
      if (v == 0) continue;
      const double a = std::fabs(v);
      if (!any_nonzero) {
        max_val = min_val = a;
        any_nonzero = true;
      }
      max_val = std::max(max_val, a);
      min_val = std::min(min_val, a);
    }
    exp_ = any_nonzero && (max_val >= 1e8 || min_val < 1e-4 || max_val / min_val > 1000.);
    if (finite.empty()) {
      pad_left_ = pad_right_ = 0;
    } else if (exp_) {
      for (double v : finite) {
        Sci s = Scientific(v, f32_, kPrecision);
        precision_ = std::max(precision_, static_cast<int>(s.frac.size()));
        pad_left_ = std::max(pad_left_, static_cast<int>(s.int_part.size()));
        const int e = std::abs(s.exponent);
        exp_size_ = std::max(exp_size_, e >= 100 ? 3 : 2);
      }
      pad_right_ = exp_size_ + 2 + precision_;
    } else {
      for (double v : finite) {
        auto [i, f] = Positional(v, f32_, kPrecision);
        pad_left_ = std::max(pad_left_, static_cast<int>(i.size()));
        pad_right_ = std::max(pad_right_, static_cast<int>(f.size()));
      }
    }
    if (finite.size() != values.size()) {
      bool neginf = false;
      for (double v : values) neginf |= std::isinf(v) && v < 0;
      const int offset = pad_right_ + 1;
      pad_left_ = std::max({pad_left_, 3 - offset, 3 + (neginf ? 1 : 0) - offset});
    }
  }

  std::string operator()(double x) const {
    if (!std::isfinite(x)) {
      std::string r = std::isnan(x) ? "nan" : (x < 0 ? "-inf" : "inf");
      const int width = pad_left_ + pad_right_ + 1;
      return std::string(static_cast<size_t>(std::max(0, width - static_cast<int>(r.size()))),
                         ' ') +
             r;
    }
    std::string out;
    if (exp_) {
      Sci s = Scientific(x, f32_, kPrecision);
      std::string frac = s.frac;
      frac.append(static_cast<size_t>(precision_ - static_cast<int>(frac.size())), '0');
      out = Pad(s.int_part, pad_left_) + "." + frac;
      char e[16];
      std::snprintf(e, sizeof e, "e%c%0*d", s.exponent < 0 ? '-' : '+', exp_size_,
                    std::abs(s.exponent));
      out += e;
    } else {
      auto [i, f] = Positional(x, f32_, kPrecision);
      out = Pad(i, pad_left_) + "." + f;
      out.append(static_cast<size_t>(pad_right_ - static_cast<int>(f.size())), ' ');
    }
    return out;
  }

 private:
  static std::string Pad(const std::string& s, int width) {
    return std::string(static_cast<size_t>(std::max(0, width - static_cast<int>(s.size()))), ' ') +
           s;
  }
  static constexpr int kPrecision = 8;
  bool f32_;
  bool exp_ = false;
  int pad_left_ = 0, pad_right_ = 0, precision_ = 0, exp_size_ = 0;
};

// Element `i` of an integer array, exact beyond 2^53.
int64_t IntAt(const NDArray& a, int64_t i) {
  if (a.dtype() == DType::kInt64) {
    int64_t v;
    std::memcpy(&v, a.bytes().data() + i * 8, sizeof v);
    return v;
  }
  return static_cast<int64_t>(a.at(i));
}

// NumPy's _formatArray (linewidth 75, legacy off) over the elements of `a`.
class ArrayFormatter {
 public:
  // `logical` is the shape of the array shown: a's own, or, when `a` holds only the elements a
  // summary shows (leading_trailing), the shape it was taken from. Only whether an axis is
  // summarised depends on it; every index below is into `a`.
  ArrayFormatter(const NDArray& a, const Shape& logical, bool summarise)
      : a_(a), logical_(logical), summarise_(summarise) {
    // The element format is fitted to the elements shown (NumPy's _leading_trailing).
    std::vector<int64_t> shown;
    CollectShown(0, 0, shown);
    if (IsFloating(a.dtype())) {
      std::vector<double> values;
      values.reserve(shown.size());
      for (int64_t i : shown) values.push_back(a.at(i));
      float_format_.emplace(values, a.dtype() == DType::kFloat32);
    } else if (a.dtype() != DType::kBool) {
      for (int64_t i : shown) {
        width_ = std::max(width_, static_cast<int>(absl::StrCat(IntAt(a, i)).size()));
      }
    }
    strides_.assign(a.shape().size(), 1);
    for (int i = a.ndim() - 2; i >= 0; --i) {
      strides_[static_cast<size_t>(i)] =
          strides_[static_cast<size_t>(i) + 1] * a.shape()[static_cast<size_t>(i) + 1];
    }
  }

  std::string Format(int line_width, const std::string& prefix) {
    return Recurse(0, 0, prefix, line_width);
  }

 private:
  static constexpr int64_t kEdge = 3;

  bool Summarised(int axis) const {
    return summarise_ && 2 * kEdge < logical_[static_cast<size_t>(axis)];
  }

  std::vector<int64_t> ShownIndices(int axis) const {
    const int64_t n = a_.shape()[static_cast<size_t>(axis)];
    std::vector<int64_t> idx;
    if (Summarised(axis)) {
      for (int64_t i = 0; i < kEdge; ++i) idx.push_back(i);
      for (int64_t i = n - kEdge; i < n; ++i) idx.push_back(i);
    } else {
      for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    }
    return idx;
  }

  // The flat indices of the elements shown.
  void CollectShown(int axis, int64_t offset, std::vector<int64_t>& out) const {
    if (axis == a_.ndim()) {
      out.push_back(offset);
      return;
    }
    int64_t stride = 1;
    for (size_t i = static_cast<size_t>(axis) + 1; i < a_.shape().size(); ++i) {
      stride *= a_.shape()[i];
    }
    for (int64_t i : ShownIndices(axis)) CollectShown(axis + 1, offset + i * stride, out);
  }

  std::string Element(int64_t flat) const {
    const double v = a_.at(flat);
    if (float_format_) return (*float_format_)(v);
    if (a_.dtype() == DType::kBool) return v != 0 ? " True" : "False";
    std::string s = absl::StrCat(IntAt(a_, flat));
    return std::string(static_cast<size_t>(std::max(0, width_ - static_cast<int>(s.size()))), ' ') +
           s;
  }

  static void ExtendLine(std::string& s, std::string& line, const std::string& word, int width,
                         const std::string& prefix) {
    bool wrap = static_cast<int>(line.size() + word.size()) > width;
    if (line.size() <= prefix.size()) wrap = false;
    if (wrap) {
      while (!line.empty() && line.back() == ' ') line.pop_back();
      s += line + "\n";
      line = prefix;
    }
    line += word;
  }

  std::string Recurse(int axis, int64_t offset, const std::string& hanging, int width) {
    const std::string sep = ", ";
    const int axes_left = a_.ndim() - axis;
    const std::string next_hanging = hanging + " ";
    const int next_width = width - 1;
    const int64_t n = a_.shape()[static_cast<size_t>(axis)];
    const int64_t stride = strides_[static_cast<size_t>(axis)];
    const bool summary = Summarised(axis);
    std::vector<int64_t> lead, trail;
    if (summary) {
      for (int64_t i = 0; i < kEdge; ++i) lead.push_back(i);
      for (int64_t i = n - kEdge; i < n; ++i) trail.push_back(i);
    } else {
      for (int64_t i = 0; i < n; ++i) trail.push_back(i);
    }
    std::string s;
    if (axes_left == 1) {
      const int elem_width = width - 1;
      std::string line = hanging;
      for (int64_t i : lead) {
        ExtendLine(s, line, Element(offset + i * stride), elem_width, hanging);
        line += sep;
      }
      if (summary) {
        ExtendLine(s, line, "...", elem_width, hanging);
        line += sep;
      }
      for (size_t k = 0; k < trail.size(); ++k) {
        ExtendLine(s, line, Element(offset + trail[k] * stride),
                   k + 1 == trail.size() ? width - 1 : elem_width, hanging);
        if (k + 1 != trail.size()) line += sep;
      }
      s += line;
    } else {
      const std::string line_sep = "," + std::string(static_cast<size_t>(axes_left - 1), '\n');
      for (int64_t i : lead) {
        s += hanging + Recurse(axis + 1, offset + i * stride, next_hanging, next_width) + line_sep;
      }
      if (summary) s += hanging + "..." + line_sep;
      for (size_t k = 0; k < trail.size(); ++k) {
        s += hanging + Recurse(axis + 1, offset + trail[k] * stride, next_hanging, next_width);
        if (k + 1 != trail.size()) s += line_sep;
      }
    }
    return "[" + s.substr(hanging.size()) + "]";
  }

  const NDArray& a_;
  const Shape& logical_;
  bool summarise_;
  std::optional<FloatFormat> float_format_;
  int width_ = 0;
  std::vector<int64_t> strides_;
};

}  // namespace

// ---- Array ----

const Shape& Array::shape() const { return node_->shape; }
const Chunks& Array::chunks() const { return node_->chunks; }
Shape Array::chunksize() const { return MaxChunkShape(node_->chunks); }
DType Array::dtype() const { return node_->dtype; }
int Array::ndim() const { return static_cast<int>(node_->shape.size()); }
int64_t Array::size() const { return NumElements(node_->shape); }
int64_t Array::nbytes() const { return size() * ItemSize(dtype()); }
int64_t Array::npartitions() const { return TotalBlocks(node_->chunks); }

std::string Array::repr() const {
  std::string out =
      absl::StrCat("tessera.array<", NodeName(*node_), ", shape=", ShapeToString(shape()),
                   ", dtype=", std::string(DTypeName(dtype())),
                   ", chunksize=", ShapeToString(chunksize()), ", chunktype=numpy.ndarray");
  if (node_->kind == graph::OpKind::kRandom) absl::StrAppend(&out, ", seed=", node_->seed);
  return out + ">";
}

Array Array::operator[](std::initializer_list<Index> index) const {
  return (*this)[std::vector<Index>(index)];
}
Array Array::operator[](const std::vector<Index>& index) const {
  std::vector<graph::IndexItem> items;
  items.reserve(index.size());
  for (const Index& i : index) items.push_back(ToItem(i));
  return Wrap(graph::Slice(node_, items));
}
Array Array::operator[](const Index& index) const { return (*this)[std::vector<Index>{index}]; }

Array Array::sum(const ReduceOptions& o) const { return Reduce(graph::ReduceOp::kSum, *this, o); }
Array Array::prod(const ReduceOptions& o) const { return Reduce(graph::ReduceOp::kProd, *this, o); }
Array Array::mean(const ReduceOptions& o) const { return Reduce(graph::ReduceOp::kMean, *this, o); }
Array Array::min(const ReduceOptions& o) const { return Reduce(graph::ReduceOp::kMin, *this, o); }
Array Array::max(const ReduceOptions& o) const { return Reduce(graph::ReduceOp::kMax, *this, o); }
Array Array::any(const ReduceOptions& o) const { return Reduce(graph::ReduceOp::kAny, *this, o); }
Array Array::all(const ReduceOptions& o) const { return Reduce(graph::ReduceOp::kAll, *this, o); }

Array Array::var(const VarOptions& o) const {
  return Wrap(graph::Var(node_, o.axis, o.keepdims, o.ddof, o.split_every));
}
Array Array::std(const VarOptions& o) const {
  return Wrap(graph::Std(node_, o.axis, o.keepdims, o.ddof, o.split_every));
}
Array Array::argmin(std::optional<int> axis, bool keepdims, int split_every) const {
  return Wrap(graph::ArgReduce(graph::ReduceOp::kArgmin, node_, axis, keepdims, split_every));
}
Array Array::argmax(std::optional<int> axis, bool keepdims, int split_every) const {
  return Wrap(graph::ArgReduce(graph::ReduceOp::kArgmax, node_, axis, keepdims, split_every));
}
Array Array::rechunk(const ChunkSpec& chunks) const {
  return Wrap(graph::Rechunk(node_, chunks, ChunkBytes()));
}
Array Array::reshape(const Shape& shape) const { return Wrap(graph::Reshape(node_, shape)); }
Array Array::dot(const Array& other) const { return tessera::dot(*this, other); }

Array Array::transpose(const std::vector<int>& axes) const {
  return Wrap(graph::Transpose(node_, axes));
}

Array Array::astype(DType dtype) const {
  return Wrap(graph::Unary(graph::UnaryOp::kAstype, node_, dtype));
}
Array Array::operator-() const { return Unary(graph::UnaryOp::kNegative, *this); }

using graph::BinaryOp;
Array operator+(const Array& a, const Array& b) { return Binary(BinaryOp::kAdd, a, b); }
Array operator-(const Array& a, const Array& b) { return Binary(BinaryOp::kSubtract, a, b); }
Array operator*(const Array& a, const Array& b) { return Binary(BinaryOp::kMultiply, a, b); }
Array operator/(const Array& a, const Array& b) { return Binary(BinaryOp::kDivide, a, b); }
Array operator+(const Array& a, double b) { return Binary(BinaryOp::kAdd, a, b); }
Array operator-(const Array& a, double b) { return Binary(BinaryOp::kSubtract, a, b); }
Array operator*(const Array& a, double b) { return Binary(BinaryOp::kMultiply, a, b); }
Array operator/(const Array& a, double b) { return Binary(BinaryOp::kDivide, a, b); }
Array operator+(double a, const Array& b) { return Binary(BinaryOp::kAdd, a, b); }
Array operator-(double a, const Array& b) { return Binary(BinaryOp::kSubtract, a, b); }
Array operator*(double a, const Array& b) { return Binary(BinaryOp::kMultiply, a, b); }
Array operator/(double a, const Array& b) { return Binary(BinaryOp::kDivide, a, b); }
Array operator%(const Array& a, const Array& b) { return Binary(BinaryOp::kMod, a, b); }
Array operator%(const Array& a, double b) { return Binary(BinaryOp::kMod, a, b); }
Array operator%(double a, const Array& b) { return Binary(BinaryOp::kMod, a, b); }

Array operator<(const Array& a, const Array& b) { return Binary(BinaryOp::kLess, a, b); }
Array operator<=(const Array& a, const Array& b) { return Binary(BinaryOp::kLessEqual, a, b); }
Array operator>(const Array& a, const Array& b) { return Binary(BinaryOp::kGreater, a, b); }
Array operator>=(const Array& a, const Array& b) { return Binary(BinaryOp::kGreaterEqual, a, b); }
Array operator==(const Array& a, const Array& b) { return Binary(BinaryOp::kEqual, a, b); }
Array operator!=(const Array& a, const Array& b) { return Binary(BinaryOp::kNotEqual, a, b); }
Array operator<(const Array& a, double b) { return Binary(BinaryOp::kLess, a, b); }
Array operator<=(const Array& a, double b) { return Binary(BinaryOp::kLessEqual, a, b); }
Array operator>(const Array& a, double b) { return Binary(BinaryOp::kGreater, a, b); }
Array operator>=(const Array& a, double b) { return Binary(BinaryOp::kGreaterEqual, a, b); }
Array operator==(const Array& a, double b) { return Binary(BinaryOp::kEqual, a, b); }
Array operator!=(const Array& a, double b) { return Binary(BinaryOp::kNotEqual, a, b); }
Array operator<(double a, const Array& b) { return Binary(BinaryOp::kLess, a, b); }
Array operator<=(double a, const Array& b) { return Binary(BinaryOp::kLessEqual, a, b); }
Array operator>(double a, const Array& b) { return Binary(BinaryOp::kGreater, a, b); }
Array operator>=(double a, const Array& b) { return Binary(BinaryOp::kGreaterEqual, a, b); }
Array operator==(double a, const Array& b) { return Binary(BinaryOp::kEqual, a, b); }
Array operator!=(double a, const Array& b) { return Binary(BinaryOp::kNotEqual, a, b); }

using graph::UnaryOp;
Array negative(const Array& x) { return Unary(UnaryOp::kNegative, x); }
Array abs(const Array& x) { return Unary(UnaryOp::kAbs, x); }
Array exp(const Array& x) { return Unary(UnaryOp::kExp, x); }
Array log(const Array& x) { return Unary(UnaryOp::kLog, x); }
Array sqrt(const Array& x) { return Unary(UnaryOp::kSqrt, x); }
Array sin(const Array& x) { return Unary(UnaryOp::kSin, x); }
Array cos(const Array& x) { return Unary(UnaryOp::kCos, x); }
Array tan(const Array& x) { return Unary(UnaryOp::kTan, x); }
Array arcsin(const Array& x) { return Unary(UnaryOp::kArcsin, x); }
Array arccos(const Array& x) { return Unary(UnaryOp::kArccos, x); }
Array arctan(const Array& x) { return Unary(UnaryOp::kArctan, x); }
Array square(const Array& x) { return Unary(UnaryOp::kSquare, x); }
Array expm1(const Array& x) { return Unary(UnaryOp::kExpm1, x); }
Array log1p(const Array& x) { return Unary(UnaryOp::kLog1p, x); }
Array log2(const Array& x) { return Unary(UnaryOp::kLog2, x); }
Array log10(const Array& x) { return Unary(UnaryOp::kLog10, x); }
Array sinh(const Array& x) { return Unary(UnaryOp::kSinh, x); }
Array cosh(const Array& x) { return Unary(UnaryOp::kCosh, x); }
Array tanh(const Array& x) { return Unary(UnaryOp::kTanh, x); }
Array floor(const Array& x) { return Unary(UnaryOp::kFloor, x); }
Array ceil(const Array& x) { return Unary(UnaryOp::kCeil, x); }
Array round(const Array& x) { return Unary(UnaryOp::kRound, x); }
Array sign(const Array& x) { return Unary(UnaryOp::kSign, x); }
Array isnan(const Array& x) { return Unary(UnaryOp::kIsnan, x); }
Array isfinite(const Array& x) { return Unary(UnaryOp::kIsfinite, x); }

// The three overloads of an elementwise binary function: array-array, array-scalar and
// scalar-array.
#define TESSERA_BINARY_FUNCTION(name, op)                                           \
  Array name(const Array& a, const Array& b) { return Binary(BinaryOp::op, a, b); } \
  Array name(const Array& a, double b) { return Binary(BinaryOp::op, a, b); }       \
  Array name(double a, const Array& b) { return Binary(BinaryOp::op, a, b); }
TESSERA_BINARY_FUNCTION(power, kPower)
TESSERA_BINARY_FUNCTION(maximum, kMaximum)
TESSERA_BINARY_FUNCTION(minimum, kMinimum)
TESSERA_BINARY_FUNCTION(floor_divide, kFloorDivide)
TESSERA_BINARY_FUNCTION(mod, kMod)
TESSERA_BINARY_FUNCTION(remainder, kMod)
TESSERA_BINARY_FUNCTION(arctan2, kArctan2)
TESSERA_BINARY_FUNCTION(hypot, kHypot)
#undef TESSERA_BINARY_FUNCTION
Array less(const Array& a, const Array& b) { return a < b; }
Array less_equal(const Array& a, const Array& b) { return a <= b; }
Array greater(const Array& a, const Array& b) { return a > b; }
Array greater_equal(const Array& a, const Array& b) { return a >= b; }
Array equal(const Array& a, const Array& b) { return a == b; }
Array not_equal(const Array& a, const Array& b) { return a != b; }

Array where(const Array& c, const Array& a, const Array& b) {
  return Wrap(graph::Where(c.node(), a.node(), b.node()));
}
Array where(const Array& c, const Array& a, double b) {
  return Wrap(graph::Where(c.node(), a.node(), ScalarNode(b)));
}
Array where(const Array& c, double a, const Array& b) {
  return Wrap(graph::Where(c.node(), ScalarNode(a), b.node()));
}
Array where(const Array& c, double a, double b) {
  return Wrap(graph::Where(c.node(), ScalarNode(a), ScalarNode(b)));
}

Array sum(const Array& x, const ReduceOptions& o) { return x.sum(o); }
Array mean(const Array& x, const ReduceOptions& o) { return x.mean(o); }
Array min(const Array& x, const ReduceOptions& o) { return x.min(o); }
Array max(const Array& x, const ReduceOptions& o) { return x.max(o); }
Array prod(const Array& x, const ReduceOptions& o) { return x.prod(o); }
Array any(const Array& x, const ReduceOptions& o) { return x.any(o); }
Array all(const Array& x, const ReduceOptions& o) { return x.all(o); }

Array var(const Array& x, const VarOptions& o) { return x.var(o); }
Array std(const Array& x, const VarOptions& o) { return x.std(o); }
Array argmin(const Array& x, std::optional<int> axis, bool keepdims) {
  return x.argmin(axis, keepdims);
}
Array argmax(const Array& x, std::optional<int> axis, bool keepdims) {
  return x.argmax(axis, keepdims);
}

Array transpose(const Array& x, const std::vector<int>& axes) { return x.transpose(axes); }
Array rechunk(const Array& x, const ChunkSpec& chunks) { return x.rechunk(chunks); }
Array reshape(const Array& x, const Shape& shape) { return x.reshape(shape); }

Array concatenate(const std::vector<Array>& arrays, int axis) {
  return Wrap(graph::Concatenate(Nodes(arrays), axis));
}
Array stack(const std::vector<Array>& arrays, int axis) {
  return Wrap(graph::Stack(Nodes(arrays), axis));
}

Array leading_trailing(const Array& x, int64_t edge_items) {
  if (edge_items < 1) {
    Throw(absl::InvalidArgumentError(
        absl::StrCat("leading_trailing: edge_items ", edge_items, " must be at least 1")));
  }
  Array out = x;
  for (int axis = 0; axis < x.ndim(); ++axis) {
    const int64_t n = x.shape()[static_cast<size_t>(axis)];
    if (n <= 2 * edge_items) continue;
    std::vector<Index> lead(static_cast<size_t>(axis), Slice::All());
    std::vector<Index> trail = lead;
    lead.push_back(Slice(0, edge_items));
    trail.push_back(Slice(n - edge_items, n));
    out = concatenate({out[lead], out[trail]}, axis);
  }
  return out;
}

Array matmul(const Array& a, const Array& b) { return Wrap(graph::Matmul(a.node(), b.node())); }
Array dot(const Array& a, const Array& b) { return Wrap(graph::Dot(a.node(), b.node())); }
Array tensordot(const Array& a, const Array& b, int axes) {
  // NumPy: the last `axes` axes of a against the first `axes` of b, in order.
  if (axes < 0 || axes > a.ndim() || axes > b.ndim()) {
    Throw(absl::InvalidArgumentError(
        absl::StrCat("tensordot: axes=", axes, " must be between 0 and the operands' ndim (shapes ",
                     ShapeToString(a.shape()), " and ", ShapeToString(b.shape()), ")")));
  }
  std::vector<int> a_axes, b_axes;
  for (int k = 0; k < axes; ++k) {
    a_axes.push_back(a.ndim() - axes + k);
    b_axes.push_back(k);
  }
  return Wrap(graph::Tensordot(a.node(), b.node(), std::move(a_axes), std::move(b_axes)));
}
Array tensordot(const Array& a, const Array& b,
                const std::pair<std::vector<int>, std::vector<int>>& axes) {
  return Wrap(graph::Tensordot(a.node(), b.node(), axes.first, axes.second));
}

void set_chunk_size(int64_t bytes) {
  if (bytes <= 0) {
    Throw(absl::InvalidArgumentError(absl::StrCat("chunk size ", bytes, " must be positive")));
  }
  g_chunk_bytes.store(bytes);
}
int64_t chunk_size() { return ChunkBytes(); }

Array ones(const Shape& shape, const ArrayOptions& o) { return full(shape, 1, o); }
Array zeros(const Shape& shape, const ArrayOptions& o) { return full(shape, 0, o); }
Array empty(const Shape& shape, const ArrayOptions& o) { return full(shape, 0, o); }
Array full(const Shape& shape, double value, const ArrayOptions& o) {
  return Wrap(graph::Full(shape, value, o.dtype, o.chunks, ChunkBytes()));
}
Array arange(double start, double stop, double step, const ArrayOptions& o) {
  return Wrap(graph::Arange(start, stop, step, o.dtype, o.chunks, ChunkBytes()));
}
Array linspace(double start, double stop, int64_t num, bool endpoint, const ArrayOptions& o) {
  return Wrap(graph::Linspace(start, stop, num, endpoint, o.dtype, o.chunks, ChunkBytes()));
}
Array arange(double stop, const ArrayOptions& o) { return arange(0, stop, 1, o); }

Array from_buffer(const void* data, size_t nbytes, const Shape& shape, const ArrayOptions& o) {
  if (data == nullptr && nbytes != 0) {
    Throw(absl::InvalidArgumentError(
        absl::StrCat("from_buffer: data is null but nbytes is ", nbytes)));
  }
  std::string bytes(nbytes, '\0');
  if (nbytes != 0) std::memcpy(bytes.data(), data, nbytes);
  return Wrap(graph::FromBuffer(std::move(bytes), shape, o.dtype, o.chunks, ChunkBytes()));
}
Array from_vector(const std::vector<double>& v, const Shape& shape, const ChunkSpec& chunks) {
  return FromValues(v, shape, chunks, DType::kFloat64);
}
Array from_vector(const std::vector<float>& v, const Shape& shape, const ChunkSpec& chunks) {
  return FromValues(v, shape, chunks, DType::kFloat32);
}
Array from_vector(const std::vector<int64_t>& v, const Shape& shape, const ChunkSpec& chunks) {
  return FromValues(v, shape, chunks, DType::kInt64);
}
Array from_vector(const std::vector<int32_t>& v, const Shape& shape, const ChunkSpec& chunks) {
  return FromValues(v, shape, chunks, DType::kInt32);
}
Array from_vector(const std::vector<bool>& v, const Shape& shape, const ChunkSpec& chunks) {
  // std::vector<bool> is packed: one byte per element for the wire.
  std::vector<uint8_t> bytes(v.begin(), v.end());
  return FromValues(bytes, shape, chunks, DType::kBool);
}

namespace random {
namespace {
Array Make(const Shape& shape, graph::RandomDist dist, double a, double b, const RandomOptions& o) {
  const uint64_t seed = o.seed ? *o.seed : FreshSeed();
  return Wrap(graph::Random(shape, dist, a, b, seed, o.dtype, o.chunks, ChunkBytes()));
}
}  // namespace

Array random(const Shape& shape, const RandomOptions& o) {
  return Make(shape, graph::RandomDist::kUniform, 0, 1, o);
}
Array uniform(double low, double high, const Shape& shape, const RandomOptions& o) {
  return Make(shape, graph::RandomDist::kUniform, low, high, o);
}
Array normal(double loc, double scale, const Shape& shape, const RandomOptions& o) {
  return Make(shape, graph::RandomDist::kNormal, loc, scale, o);
}
Array randint(int64_t low, std::optional<int64_t> high, const Shape& size,
              const RandIntOptions& o) {
  if (o.dtype != DType::kInt64 && o.dtype != DType::kInt32) {
    Throw(absl::InvalidArgumentError(absl::StrCat("randint: unsupported dtype ",
                                                  std::string(DTypeName(o.dtype)),
                                                  " (expected int64 or int32)")));
  }
  if (!high && low <= 0) Throw(absl::InvalidArgumentError("randint: high <= 0"));
  const int64_t lo = high ? low : 0;
  const int64_t hi = high ? *high : low;
  if (lo >= hi) {
    Throw(absl::InvalidArgumentError(absl::StrCat("randint: low >= high (", lo, " >= ", hi, ")")));
  }
  // The bounds travel as float64 (graph::Node::param_a / param_b): beyond 2^53 they would round.
  constexpr int64_t kExact = int64_t{1} << 53;
  for (int64_t v : {lo, hi}) {
    if (v < -kExact || v > kExact) {
      Throw(absl::InvalidArgumentError(
          absl::StrCat("randint: bound ", v, " is beyond +-2^53, which is not supported yet")));
    }
  }
  return Make(size, graph::RandomDist::kUniform, static_cast<double>(lo), static_cast<double>(hi),
              RandomOptions{o.chunks, o.dtype, o.seed});
}
uint64_t draw_seed(uint64_t seed, uint64_t k) {
  uint64_t z = seed + (k + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

RandomState::RandomState(std::optional<uint64_t> seed) { this->seed(seed); }

void RandomState::seed(std::optional<uint64_t> seed) {
  seed_ = seed ? *seed : FreshSeed();
  draws_ = 0;
}

uint64_t RandomState::Next(const std::optional<uint64_t>& given, const char* what) const {
  if (given) {
    Throw(absl::InvalidArgumentError(absl::StrCat(
        "RandomState.", what, ": seed ", *given,
        " given, but a RandomState draws its seeds from its stream (use the free function)")));
  }
  return draw_seed(seed_, draws_);
}

// A draw takes the next seed only once its array is built: a call refused for its arguments
// leaves the stream where it was, as NumPy's does.
template <typename Options, typename Make>
Array RandomState::Draw(const Options& options, const char* what, Make make) {
  Options with = options;
  with.seed = Next(options.seed, what);
  Array out = make(with);
  ++draws_;
  return out;
}

Array RandomState::random(const Shape& size, const RandomOptions& o) {
  return Draw(o, "random", [&](const RandomOptions& w) { return random::random(size, w); });
}
Array RandomState::uniform(double low, double high, const Shape& size, const RandomOptions& o) {
  return Draw(o, "uniform",
              [&](const RandomOptions& w) { return random::uniform(low, high, size, w); });
}
Array RandomState::normal(double loc, double scale, const Shape& size, const RandomOptions& o) {
  return Draw(o, "normal",
              [&](const RandomOptions& w) { return random::normal(loc, scale, size, w); });
}
Array RandomState::randint(int64_t low, std::optional<int64_t> high, const Shape& size,
                           const RandIntOptions& o) {
  return Draw(o, "randint",
              [&](const RandIntOptions& w) { return random::randint(low, high, size, w); });
}

std::optional<uint64_t> seed_of(const Array& x) {
  if (!x.node() || x.node()->kind != graph::OpKind::kRandom) return std::nullopt;
  return x.node()->seed;
}
}  // namespace random

// ---- NDArray ----

NDArray::NDArray(DType dtype, Shape shape, std::vector<uint8_t> bytes)
    : dtype_(dtype), shape_(std::move(shape)) {
  const absl::Status valid = ValidateShape(shape_, dtype_);
  if (!valid.ok()) Throw(valid);
  const int64_t want = NumElements(shape_) * ItemSize(dtype_);
  if (static_cast<int64_t>(bytes.size()) != want) {
    throw Error(3, absl::StrCat("NDArray of shape ", ShapeToString(shape_), " and dtype ",
                                std::string(DTypeName(dtype_)), " needs ", want, " bytes, got ",
                                bytes.size()));
  }
  bytes_ = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
}

const std::vector<uint8_t>& NDArray::bytes() const {
  static const std::vector<uint8_t> kNone;
  return bytes_ != nullptr ? *bytes_ : kNone;
}

int64_t NDArray::size() const { return NumElements(shape_); }

double NDArray::at(int64_t i) const {
  const uint8_t* p = bytes().data() + i * ItemSize(dtype_);
  switch (dtype_) {
    case DType::kFloat64: {
      double v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    case DType::kFloat32: {
      float v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    case DType::kInt64: {
      int64_t v;
      std::memcpy(&v, p, sizeof v);
      return static_cast<double>(v);
    }
    case DType::kInt32: {
      int32_t v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    case DType::kBool:
      return *p != 0 ? 1.0 : 0.0;
  }
  return 0;
}

std::vector<double> NDArray::to_vector() const {
  std::vector<double> out(static_cast<size_t>(size()));
  for (int64_t i = 0; i < size(); ++i) out[static_cast<size_t>(i)] = at(i);
  return out;
}

double NDArray::ScalarAsDouble() const {
  if (size() != 1) {
    throw Error(3, absl::StrCat("only an array of one element converts to a scalar; this one has "
                                "shape ",
                                ShapeToString(shape_)));
  }
  return at(0);
}

std::string NDArray::repr(int64_t threshold) const {
  return Repr(shape_, threshold >= 0 && size() > threshold);
}

std::string NDArray::summary_repr(const Shape& shape) const {
  bool fits = shape.size() == shape_.size();
  for (size_t a = 0; fits && a < shape.size(); ++a) {
    fits = shape_[a] == std::min<int64_t>(shape[a], 6);
  }
  if (!fits) {
    throw Error(3, absl::StrCat("summary_repr: an array of shape ", ShapeToString(shape_),
                                " is not the summary of one of shape ", ShapeToString(shape),
                                " (expected each axis min(extent, 6))"));
  }
  return Repr(shape, /*summarise=*/true);
}

std::string NDArray::Repr(const Shape& logical, bool summarise) const {
  if (shape_.empty()) {
    const double v = size() == 1 ? at(0) : 0;
    switch (dtype_) {
      case DType::kFloat64:
        return PyFloatRepr(v);
      case DType::kFloat32:
        return PyFloatRepr(v, /*is_float32=*/true);
      case DType::kBool:
        return v != 0 ? "True" : "False";
      case DType::kInt64:
      case DType::kInt32: {
        // Exact for int64 beyond 2^53.
        int64_t i = 0;
        if (dtype_ == DType::kInt64) {
          std::memcpy(&i, bytes().data(), sizeof i);
        } else {
          int32_t j;
          std::memcpy(&j, bytes().data(), sizeof j);
          i = j;
        }
        return absl::StrCat(i);
      }
    }
  }
  const bool implied =
      dtype_ == DType::kFloat64 || dtype_ == DType::kInt64 || dtype_ == DType::kBool;
  const std::string prefix = "array(";
  std::string out;
  if (size() == 0) {
    out = prefix + "[]";
    if (ndim() > 1) absl::StrAppend(&out, ", shape=", ShapeToString(logical));
    return absl::StrCat(out, ", dtype=", std::string(DTypeName(dtype_)), ")");
  }
  ArrayFormatter formatter(*this, logical, summarise);
  out = prefix + formatter.Format(75 - 1, std::string(prefix.size() + 1, ' '));
  if (implied) return out + ")";
  const std::string dtype = absl::StrCat("dtype=", std::string(DTypeName(dtype_)));
  const size_t last_nl = out.rfind('\n');
  const size_t last_len = last_nl == std::string::npos ? out.size() : out.size() - last_nl - 1;
  // NumPy moves the dtype to its own line when it would overflow the line width.
  if (last_len + 1 + dtype.size() + 2 > 75) {
    return out + ",\n" + std::string(prefix.size(), ' ') + dtype + ")";
  }
  return out + ", " + dtype + ")";
}

std::string version() { return "0.1.0"; }

}  // namespace tessera
