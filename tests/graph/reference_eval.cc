#include <algorithm>
#include "reference_eval.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/philox.h"
#include "common/status.h"

namespace tessera::testing {
namespace {

using graph::BinaryOp;
using graph::Node;
using graph::NodePtr;
using graph::OpKind;
using graph::ReduceOp;
using graph::UnaryOp;

// A whole array as doubles, C order, already rounded to its node's dtype.
struct Dense {
  Shape shape;
  std::vector<double> v;
};

constexpr int64_t kMaxElements = int64_t{1} << 28;

bool IsInteger(DType d) { return d == DType::kInt64 || d == DType::kInt32; }


}  // namespace

double RoundToDType(double x, DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
      return x;
    case DType::kFloat32:
      return static_cast<double>(static_cast<float>(x));
    case DType::kBool:
      return x != 0 ? 1.0 : 0.0;  // NaN != 0 is true, as NumPy
    case DType::kInt64:
      if (std::isnan(x)) return 0;
      if (x >= 9223372036854775807.0) return 9223372036854775807.0;
      if (x <= -9223372036854775808.0) return -9223372036854775808.0;
      return static_cast<double>(static_cast<int64_t>(x));
    case DType::kInt32:
      if (std::isnan(x)) return 0;
      if (x >= 2147483647.0) return 2147483647.0;
      if (x <= -2147483648.0) return -2147483648.0;
      return static_cast<double>(static_cast<int32_t>(x));
  }
  return x;
}

double ReferenceUnary(UnaryOp op, double x) {
  switch (op) {
    case UnaryOp::kNegative:
      return -x;
    case UnaryOp::kAbs:
      return std::fabs(x);
    case UnaryOp::kSqrt:
      return std::sqrt(x);
    case UnaryOp::kSquare:
      return x * x;
    case UnaryOp::kExp:
      return std::exp(x);
    case UnaryOp::kExpm1:
      return std::expm1(x);
    case UnaryOp::kLog:
      return std::log(x);
    case UnaryOp::kLog1p:
      return std::log1p(x);
    case UnaryOp::kLog2:
      return std::log2(x);
    case UnaryOp::kLog10:
      return std::log10(x);
    case UnaryOp::kSin:
      return std::sin(x);
    case UnaryOp::kCos:
      return std::cos(x);
    case UnaryOp::kTan:
      return std::tan(x);
    case UnaryOp::kArcsin:
      return std::asin(x);
    case UnaryOp::kArccos:
      return std::acos(x);
    case UnaryOp::kArctan:
      return std::atan(x);
    case UnaryOp::kSinh:
      return std::sinh(x);
    case UnaryOp::kCosh:
      return std::cosh(x);
    case UnaryOp::kTanh:
      return std::tanh(x);
    case UnaryOp::kFloor:
      return std::floor(x);
    case UnaryOp::kCeil:
      return std::ceil(x);
    case UnaryOp::kRound:
      return std::nearbyint(x);  // half to even, as np.round
    case UnaryOp::kSign:
      return x > 0 ? 1.0 : x < 0 ? -1.0 : x;  // NaN and 0 stay
    case UnaryOp::kIsnan:
      return std::isnan(x) ? 1.0 : 0.0;
    case UnaryOp::kIsfinite:
      return std::isfinite(x) ? 1.0 : 0.0;
    case UnaryOp::kAstype:
      return x;  // the cast to the node's dtype does the work
  }
  return x;
}

double ReferenceBinary(BinaryOp op, double a, double b, DType result_dtype) {
  // Integer results follow NumPy's integer rules for // and % (division by zero gives 0).
  const bool integer = IsInteger(result_dtype);
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSubtract:
      return a - b;
    case BinaryOp::kMultiply:
      return a * b;
    case BinaryOp::kDivide:
      return a / b;
    case BinaryOp::kFloorDivide:
      if (integer && b == 0) return 0;
      return std::floor(a / b);
    case BinaryOp::kMod: {
      if (b == 0) return integer ? 0 : std::numeric_limits<double>::quiet_NaN();
      double r = std::fmod(a, b);
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    }
    case BinaryOp::kPower:
      return std::pow(a, b);
    case BinaryOp::kMaximum:
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
      return a > b ? a : b;
    case BinaryOp::kMinimum:
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
      return a < b ? a : b;
    case BinaryOp::kArctan2:
      return std::atan2(a, b);
    case BinaryOp::kHypot:
      return std::hypot(a, b);
    case BinaryOp::kLess:
      return a < b ? 1.0 : 0.0;
    case BinaryOp::kLessEqual:
      return a <= b ? 1.0 : 0.0;
    case BinaryOp::kGreater:
      return a > b ? 1.0 : 0.0;
    case BinaryOp::kGreaterEqual:
      return a >= b ? 1.0 : 0.0;
    case BinaryOp::kEqual:
      return a == b ? 1.0 : 0.0;
    case BinaryOp::kNotEqual:
      return a != b ? 1.0 : 0.0;
  }
  return 0;
}

double ReferenceRandom(graph::RandomDist dist, uint64_t seed, double a, double b, DType dtype,
                       uint64_t index) {
  const philox::Block block = philox::ElementBlock(seed, index);
  if (dist == graph::RandomDist::kNormal) return a + b * philox::NormalDouble(block);
  if (IsInteger(dtype)) {
    return static_cast<double>(
        philox::RandInt(block, static_cast<int64_t>(a), static_cast<int64_t>(b)));
  }
  if (dtype == DType::kFloat32) {
    return a + (b - a) * static_cast<double>(philox::UniformFloat(block));
  }
  return a + (b - a) * philox::UniformDouble(block);
}

namespace {

class Evaluator {
 public:
  explicit Evaluator(const std::map<std::string, ChunkBuffer>& sources) : sources_(sources) {}

  absl::StatusOr<const Dense*> Eval(const NodePtr& node) {
    auto it = memo_.find(node.get());
    if (it != memo_.end()) return &it->second;
    if (NumElements(node->shape) > kMaxElements) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "reference evaluation of shape ", ShapeToString(node->shape), " is too large"));
    }
    Dense out;
    out.shape = node->shape;
    const int64_t n = NumElements(node->shape);
    out.v.assign(static_cast<size_t>(n), 0.0);
    switch (node->kind) {
      case OpKind::kFull:
      case OpKind::kScalar:
        for (auto& x : out.v) x = node->value;
        break;
      case OpKind::kArange:
        for (int64_t i = 0; i < n; ++i)
          out.v[i] = node->start + static_cast<double>(i) * node->step;
        break;
      case OpKind::kLinspace: {
        // numpy.linspace, step by step: y = arange(num) * step (or / div * delta when the step
        // is 0, or * delta when div is 0), y += start, y[-1] = stop, floor for integers.
        const int64_t div = node->endpoint ? n - 1 : n;
        const double delta = node->stop - node->start;
        const double step = div > 0 ? delta / static_cast<double>(div) : 0;
        for (int64_t i = 0; i < n; ++i) {
          double y = static_cast<double>(i);
          if (div > 0 && step == 0) {
            y = y / static_cast<double>(div) * delta;
          } else {
            y = y * (div > 0 ? step : delta);
          }
          out.v[i] = y + node->start;
        }
        if (node->endpoint && n > 1) out.v[n - 1] = node->stop;
        if (IsInteger(node->dtype)) {
          for (auto& y : out.v) y = std::floor(y);
        }
        break;
      }
      case OpKind::kRandom:
        for (int64_t i = 0; i < n; ++i)
          out.v[i] = ReferenceRandom(node->dist, node->seed, node->param_a, node->param_b,
                                     node->dtype, static_cast<uint64_t>(i));
        break;
      case OpKind::kSource: {
        auto s = sources_.find(node->source_name);
        if (s == sources_.end()) {
          return absl::NotFoundError(absl::StrCat("no source '", node->source_name, "'"));
        }
        if (s->second.shape != node->shape || s->second.dtype != node->dtype) {
          return absl::InvalidArgumentError(absl::StrCat(
              "source '", node->source_name, "' has shape ", ShapeToString(s->second.shape),
              " and dtype ", std::string(DTypeName(s->second.dtype)), "; the node expects ",
              ShapeToString(node->shape), " ", std::string(DTypeName(node->dtype))));
        }
        for (int64_t i = 0; i < n; ++i) out.v[i] = s->second.GetAsDouble(i);
        break;
      }
      case OpKind::kUnary: {
        TESSERA_ASSIGN_OR_RETURN(const Dense* x, Eval(node->inputs[0]));
        for (int64_t i = 0; i < n; ++i) out.v[i] = ReferenceUnary(node->unary, x->v[i]);
        break;
      }
      case OpKind::kBinary: {
        TESSERA_ASSIGN_OR_RETURN(const Dense* a, Eval(node->inputs[0]));
        TESSERA_ASSIGN_OR_RETURN(const Dense* b, Eval(node->inputs[1]));
        // NumPy's weak scalars: a Python scalar is first converted to the array's dtype.
        Dense weak[2];
        const Dense* operands[2] = {a, b};
        for (int k = 0; k < 2; ++k) {
          const Node& s = *node->inputs[k];
          const Node& other = *node->inputs[1 - k];
          if (s.kind == OpKind::kScalar && other.kind != OpKind::kScalar) {
            const DType d = PromoteWithScalar(other.dtype, s.scalar_is_float);
            weak[k].v = {RoundToDType(s.value, d)};
            operands[k] = &weak[k];
          }
        }
        a = operands[0];
        b = operands[1];
        const std::vector<int64_t> sa = BroadcastStrides(a->shape, node->shape);
        const std::vector<int64_t> sb = BroadcastStrides(b->shape, node->shape);
        int64_t i = 0;
        ForEachCoord(node->shape, [&](const std::vector<int64_t>& c) {
          int64_t ia = 0, ib = 0;
          for (size_t d = 0; d < c.size(); ++d) {
            ia += c[d] * sa[d];
            ib += c[d] * sb[d];
          }
          out.v[i++] = ReferenceBinary(node->binary, a->v[ia], b->v[ib], node->dtype);
        });
        break;
      }
      case OpKind::kSlice: {
        TESSERA_ASSIGN_OR_RETURN(const Dense* x, Eval(node->inputs[0]));
        const std::vector<int64_t> in_strides = Strides(x->shape);
        int64_t i = 0;
        ForEachCoord(node->shape, [&](const std::vector<int64_t>& c) {
          int64_t flat = 0;
          size_t out_axis = 0, in_axis = 0;
          for (const graph::AxisIndex& ix : node->index) {
            switch (ix.kind) {
              case graph::AxisIndex::Kind::kNewAxis:
                ++out_axis;
                break;
              case graph::AxisIndex::Kind::kInteger:
                flat += ix.start * in_strides[in_axis++];
                break;
              case graph::AxisIndex::Kind::kSlice:
                flat += (ix.start + ix.step * c[out_axis++]) * in_strides[in_axis++];
                break;
            }
          }
          out.v[i++] = x->v[flat];
        });
        break;
      }
      case OpKind::kTranspose: {
        TESSERA_ASSIGN_OR_RETURN(const Dense* x, Eval(node->inputs[0]));
        const std::vector<int64_t> in_strides = Strides(x->shape);
        int64_t i = 0;
        ForEachCoord(node->shape, [&](const std::vector<int64_t>& c) {
          int64_t flat = 0;  // output axis a is input axis axes[a]
          for (size_t a = 0; a < c.size(); ++a) flat += c[a] * in_strides[node->axes[a]];
          out.v[i++] = x->v[flat];
        });
        break;
      }
      case OpKind::kReduce: {
        TESSERA_ASSIGN_OR_RETURN(const Dense* x, Eval(node->inputs[0]));
        if (graph::IsArgReduce(node->reduce)) {
          ArgReduce(*node, *x, &out);
        } else {
          Reduce(*node, *x, &out);
        }
        break;
      }
      case OpKind::kWhere: {
        const Dense* ops[3];
        Dense weak[3];
        for (int k = 0; k < 3; ++k) {
          TESSERA_ASSIGN_OR_RETURN(ops[k], Eval(node->inputs[k]));
          const Node& s = *node->inputs[k];
          if (k > 0 && s.kind == OpKind::kScalar) {  // weak scalar in the result dtype
            weak[k].v = {RoundToDType(s.value, node->dtype)};
            ops[k] = &weak[k];
          }
        }
        std::vector<int64_t> st[3];
        for (int k = 0; k < 3; ++k) st[k] = BroadcastStrides(ops[k]->shape, node->shape);
        int64_t i = 0;
        ForEachCoord(node->shape, [&](const std::vector<int64_t>& c) {
          int64_t f[3] = {0, 0, 0};
          for (size_t d = 0; d < c.size(); ++d) {
            for (int k = 0; k < 3; ++k) f[k] += c[d] * st[k][d];
          }
          out.v[i++] = ops[0]->v[f[0]] != 0 ? ops[1]->v[f[1]] : ops[2]->v[f[2]];
        });
        break;
      }
      case OpKind::kRechunk:
      case OpKind::kReshape: {  // C order: the same flat values
        TESSERA_ASSIGN_OR_RETURN(const Dense* x, Eval(node->inputs[0]));
        out.v = x->v;
        break;
      }
      case OpKind::kConcatenate: {
        const int ax = node->axes[0];
        const std::vector<int64_t> os = Strides(node->shape);
        int64_t offset = 0;
        for (const NodePtr& in : node->inputs) {
          TESSERA_ASSIGN_OR_RETURN(const Dense* x, Eval(in));
          int64_t i = 0;
          ForEachCoord(x->shape, [&](const std::vector<int64_t>& c) {
            int64_t f = 0;
            for (size_t d = 0; d < c.size(); ++d) {
              f += (c[d] + (static_cast<int>(d) == ax ? offset : 0)) * os[d];
            }
            out.v[f] = x->v[i++];
          });
          offset += in->shape[ax];
        }
        break;
      }
      case OpKind::kTensordot: {
        TESSERA_ASSIGN_OR_RETURN(const Dense* a, Eval(node->inputs[0]));
        TESSERA_ASSIGN_OR_RETURN(const Dense* b, Eval(node->inputs[1]));
        Tensordot(*node, *a, *b, &out);
        break;
      }
      case OpKind::kFromBuffer: {
        ChunkBuffer buf;
        buf.dtype = node->dtype;
        buf.shape = node->shape;
        buf.bytes.assign(node->data->begin(), node->data->end());
        for (int64_t i = 0; i < n; ++i) out.v[i] = buf.GetAsDouble(i);
        break;
      }
    }
    for (auto& x : out.v) x = RoundToDType(x, node->dtype);
    return &memo_.emplace(node.get(), std::move(out)).first->second;
  }

 private:
  // Strides of `in` read as an array of shape `out` under NumPy broadcasting (0 where an
  // extent-1 axis is broadcast or the axis is missing).
  static std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out) {
    const std::vector<int64_t> s = Strides(in);
    std::vector<int64_t> r(out.size(), 0);
    const size_t pad = out.size() - in.size();
    for (size_t j = 0; j < in.size(); ++j) r[j + pad] = in[j] == out[j + pad] ? s[j] : 0;
    return r;
  }

  // numpy.argmin / argmax: the first index of the extreme value (the first NaN if any), the
  // index being the C-order flat index over the reduced axes.
  static void ArgReduce(const Node& node, const Dense& x, Dense* out) {
    const size_t ndim = x.shape.size();
    std::vector<bool> reduced(ndim, false);
    for (int a : node.axes) reduced[a] = true;
    Shape kept;
    for (size_t a = 0; a < ndim; ++a) kept.push_back(reduced[a] ? 1 : x.shape[a]);
    const std::vector<int64_t> ks = Strides(kept);
    // The index weight of each reduced axis: C-order strides over the reduced axes alone.
    std::vector<int64_t> weight(ndim, 0);
    int64_t w = 1;
    for (size_t a = ndim; a-- > 0;) {
      if (!reduced[a]) continue;
      weight[a] = w;
      w *= x.shape[a];
    }
    std::vector<double> best(out->v.size(), 0);
    std::vector<int64_t> where(out->v.size(), -1);
    const bool is_max = node.reduce == ReduceOp::kArgmax;
    int64_t i = 0;
    ForEachCoord(x.shape, [&](const std::vector<int64_t>& c) {
      int64_t o = 0, r = 0;
      for (size_t a = 0; a < ndim; ++a) {
        if (reduced[a]) {
          r += c[a] * weight[a];
        } else {
          o += c[a] * ks[a];
        }
      }
      const double v = x.v[i++];
      // C order visits indices in increasing order: only a strictly better value (or the first
      // NaN) replaces the current one.
      bool take = where[o] < 0;
      if (!take && !std::isnan(best[o])) {
        take = std::isnan(v) || (is_max ? v > best[o] : v < best[o]);
      }
      if (take) {
        best[o] = v;
        where[o] = r;
      }
    });
    for (size_t k = 0; k < out->v.size(); ++k) out->v[k] = static_cast<double>(where[k]);
  }

  // numpy.tensordot in long double.
  static void Tensordot(const Node& node, const Dense& a, const Dense& b, Dense* out) {
    const size_t na = a.shape.size(), nb = b.shape.size();
    std::vector<int> fa, fb;
    for (size_t i = 0; i < na; ++i) {
      if (std::find(node.axes.begin(), node.axes.end(), static_cast<int>(i)) == node.axes.end())
        fa.push_back(static_cast<int>(i));
    }
    for (size_t i = 0; i < nb; ++i) {
      if (std::find(node.axes_b.begin(), node.axes_b.end(), static_cast<int>(i)) ==
          node.axes_b.end())
        fb.push_back(static_cast<int>(i));
    }
    Shape kshape;
    for (int ax : node.axes) kshape.push_back(a.shape[ax]);
    const std::vector<int64_t> sa = Strides(a.shape), sb = Strides(b.shape);
    int64_t o = 0;
    ForEachCoord(node.shape, [&](const std::vector<int64_t>& c) {
      int64_t base_a = 0, base_b = 0;
      for (size_t i = 0; i < fa.size(); ++i) base_a += c[i] * sa[fa[i]];
      for (size_t i = 0; i < fb.size(); ++i) base_b += c[fa.size() + i] * sb[fb[i]];
      long double acc = 0;
      auto add = [&](const std::vector<int64_t>& k) {
        int64_t ia = base_a, ib = base_b;
        for (size_t j = 0; j < k.size(); ++j) {
          ia += k[j] * sa[node.axes[j]];
          ib += k[j] * sb[node.axes_b[j]];
        }
        acc += static_cast<long double>(a.v[ia]) * static_cast<long double>(b.v[ib]);
      };
      ForEachCoord(kshape, add);  // once for no contracted axes
      out->v[o++] = static_cast<double>(acc);
    });
  }

  // Reduces `x` over node.axes: each output element accumulates its input elements in C order
  // in long double (min/max propagate NaN, as NumPy).
  static void Reduce(const Node& node, const Dense& x, Dense* out) {
    const size_t ndim = x.shape.size();
    std::vector<bool> reduced(ndim, false);
    for (int a : node.axes) reduced[a] = true;
    // The output with reduced axes kept as 1, for indexing; the dense layout is the same
    // whether or not they are dropped afterwards.
    Shape kept;
    for (size_t a = 0; a < ndim; ++a) kept.push_back(reduced[a] ? 1 : x.shape[a]);
    const std::vector<int64_t> kept_strides = Strides(kept);
    const size_t m = out->v.size();
    std::vector<long double> acc(m);
    std::vector<int64_t> count(m, 0);
    for (size_t i = 0; i < m; ++i) {
      switch (node.reduce) {
        case ReduceOp::kSum:
        case ReduceOp::kMean:
          acc[i] = 0;
          break;
        case ReduceOp::kProd:
          acc[i] = 1;
          break;
        case ReduceOp::kMin:
          acc[i] = std::numeric_limits<long double>::infinity();
          break;
        case ReduceOp::kMax:
          acc[i] = -std::numeric_limits<long double>::infinity();
          break;
        case ReduceOp::kAny:
          acc[i] = 0;
          break;
        case ReduceOp::kAll:
          acc[i] = 1;
          break;
        case ReduceOp::kArgmin:
        case ReduceOp::kArgmax:
          break;  // ArgReduce
      }
    }
    int64_t i = 0;
    ForEachCoord(x.shape, [&](const std::vector<int64_t>& c) {
      int64_t o = 0;
      for (size_t a = 0; a < ndim; ++a) {
        if (!reduced[a]) o += c[a] * kept_strides[a];
      }
      const long double v = x.v[i++];
      long double& r = acc[o];
      switch (node.reduce) {
        case ReduceOp::kSum:
        case ReduceOp::kMean:
          r += v;
          break;
        case ReduceOp::kProd:
          r *= v;
          break;
        case ReduceOp::kMin:
          if (!std::isnan(r) && (std::isnan(v) || v < r)) r = v;
          break;
        case ReduceOp::kMax:
          if (!std::isnan(r) && (std::isnan(v) || v > r)) r = v;
          break;
        case ReduceOp::kAny:  // NaN is true
          r = (r != 0 || v != 0) ? 1 : 0;
          break;
        case ReduceOp::kAll:
          r = (r != 0 && v != 0) ? 1 : 0;
          break;
        case ReduceOp::kArgmin:
        case ReduceOp::kArgmax:
          break;  // ArgReduce
      }
      ++count[o];
    });
    for (size_t k = 0; k < m; ++k) {
      out->v[k] = node.reduce == ReduceOp::kMean
                      ? static_cast<double>(acc[k] / static_cast<long double>(count[k]))
                      : static_cast<double>(acc[k]);
    }
  }

  const std::map<std::string, ChunkBuffer>& sources_;
  std::unordered_map<const Node*, Dense> memo_;
};

void Store(double x, DType dtype, ChunkBuffer* buf, int64_t i) {
  switch (dtype) {
    case DType::kFloat64:
      buf->mutable_data<double>()[i] = x;
      break;
    case DType::kFloat32:
      buf->mutable_data<float>()[i] = static_cast<float>(x);
      break;
    case DType::kInt64:
      buf->mutable_data<int64_t>()[i] = static_cast<int64_t>(x);
      break;
    case DType::kInt32:
      buf->mutable_data<int32_t>()[i] = static_cast<int32_t>(x);
      break;
    case DType::kBool:
      buf->mutable_data<uint8_t>()[i] = x != 0 ? 1 : 0;
      break;
  }
}

}  // namespace

absl::StatusOr<ChunkBuffer> EvaluateReference(const graph::NodePtr& root,
                                              const std::map<std::string, ChunkBuffer>& sources) {
  if (root == nullptr) return absl::InvalidArgumentError("cannot evaluate a null expression");
  Evaluator evaluator(sources);
  TESSERA_ASSIGN_OR_RETURN(const Dense* result, evaluator.Eval(root));
  ChunkBuffer out = ChunkBuffer::Zeros(root->dtype, root->shape);
  for (int64_t i = 0; i < static_cast<int64_t>(result->v.size()); ++i) {
    Store(result->v[i], root->dtype, &out, i);
  }
  return out;
}

}  // namespace tessera::testing
