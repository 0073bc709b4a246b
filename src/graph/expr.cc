#include "graph/expr.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "graph/broadcast.h"
#include "graph/task_graph.h"

namespace tessera::graph {

std::string_view UnaryOpName(UnaryOp op) {
  switch (op) {
    case UnaryOp::kNegative:
      return "negative";
    case UnaryOp::kAbs:
      return "absolute";
    case UnaryOp::kSqrt:
      return "sqrt";
    case UnaryOp::kSquare:
      return "square";
    case UnaryOp::kExp:
      return "exp";
    case UnaryOp::kExpm1:
      return "expm1";
    case UnaryOp::kLog:
      return "log";
    case UnaryOp::kLog1p:
      return "log1p";
    case UnaryOp::kLog2:
      return "log2";
    case UnaryOp::kLog10:
      return "log10";
    case UnaryOp::kSin:
      return "sin";
    case UnaryOp::kCos:
      return "cos";
    case UnaryOp::kTan:
      return "tan";
    case UnaryOp::kArcsin:
      return "arcsin";
    case UnaryOp::kArccos:
      return "arccos";
    case UnaryOp::kArctan:
      return "arctan";
    case UnaryOp::kSinh:
      return "sinh";
    case UnaryOp::kCosh:
      return "cosh";
    case UnaryOp::kTanh:
      return "tanh";
    case UnaryOp::kFloor:
      return "floor";
    case UnaryOp::kCeil:
      return "ceil";
    case UnaryOp::kRound:
      return "round";
    case UnaryOp::kSign:
      return "sign";
    case UnaryOp::kIsnan:
      return "isnan";
    case UnaryOp::kIsfinite:
      return "isfinite";
    case UnaryOp::kAstype:
      return "astype";
  }
  return "unary";
}

std::string_view BinaryOpName(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "add";
    case BinaryOp::kSubtract:
      return "subtract";
    case BinaryOp::kMultiply:
      return "multiply";
    case BinaryOp::kDivide:
      return "divide";
    case BinaryOp::kFloorDivide:
      return "floor_divide";
    case BinaryOp::kMod:
      return "remainder";
    case BinaryOp::kPower:
      return "power";
    case BinaryOp::kMaximum:
      return "maximum";
    case BinaryOp::kMinimum:
      return "minimum";
    case BinaryOp::kArctan2:
      return "arctan2";
    case BinaryOp::kHypot:
      return "hypot";
    case BinaryOp::kLess:
      return "less";
    case BinaryOp::kLessEqual:
      return "less_equal";
    case BinaryOp::kGreater:
      return "greater";
    case BinaryOp::kGreaterEqual:
      return "greater_equal";
    case BinaryOp::kEqual:
      return "equal";
    case BinaryOp::kNotEqual:
      return "not_equal";
  }
  return "binary";
}

std::string_view ReduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return "sum";
    case ReduceOp::kProd:
      return "prod";
    case ReduceOp::kMin:
      return "min";
    case ReduceOp::kMax:
      return "max";
    case ReduceOp::kMean:
      return "mean";
    case ReduceOp::kAny:
      return "any";
    case ReduceOp::kAll:
      return "all";
    case ReduceOp::kArgmin:
      return "argmin";
    case ReduceOp::kArgmax:
      return "argmax";
  }
  return "reduce";
}

IndexItem IndexItem::Slice(std::optional<int64_t> start, std::optional<int64_t> stop,
                           std::optional<int64_t> step) {
  IndexItem item;
  item.kind = Kind::kSlice;
  item.start = start;
  item.stop = stop;
  item.step = step;
  return item;
}

IndexItem IndexItem::Integer(int64_t i) {
  IndexItem item;
  item.kind = Kind::kInteger;
  item.index = i;
  return item;
}

IndexItem IndexItem::NewAxis() {
  IndexItem item;
  item.kind = Kind::kNewAxis;
  return item;
}

IndexItem IndexItem::Ellipsis() {
  IndexItem item;
  item.kind = Kind::kEllipsis;
  return item;
}

namespace {

std::string Name(std::string_view s) { return std::string(s); }

// Integer dtypes cannot hold NaN or infinities, and casting them is undefined behaviour.
absl::StatusOr<double> CastValue(double value, DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
      return value;
    case DType::kFloat32:
      return static_cast<double>(static_cast<float>(value));
    case DType::kBool:
      return value != 0 ? 1.0 : 0.0;
    case DType::kInt64:
    case DType::kInt32: {
      if (!std::isfinite(value)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "cannot convert float ", value, " to integer dtype ", Name(DTypeName(dtype))));
      }
      const double lo = dtype == DType::kInt32 ? -2147483648.0 : -9223372036854775808.0;
      const double hi = dtype == DType::kInt32 ? 2147483648.0 : 9223372036854775808.0;
      if (value < lo || value >= hi) {
        return absl::InvalidArgumentError(
            absl::StrCat("value ", value, " is out of range for ", Name(DTypeName(dtype))));
      }
      return std::trunc(value);
    }
  }
  return value;
}

absl::StatusOr<Chunks> CreationChunks(const Shape& shape, DType dtype, const ChunkSpec& chunks,
                                      int64_t target_bytes) {
  TESSERA_RETURN_IF_ERROR(ValidateShape(shape, dtype));
  return NormalizeChunks(chunks, shape, dtype, target_bytes);
}

DType FloatResult(DType d) { return IsFloating(d) ? d : DType::kFloat64; }

absl::StatusOr<DType> UnaryDType(UnaryOp op, DType in) {
  switch (op) {
    case UnaryOp::kNegative:
      if (in == DType::kBool) {
        return absl::InvalidArgumentError(
            "the numpy boolean negative, the `-` operator, is not supported for bool arrays");
      }
      return in;
    case UnaryOp::kAbs:
    case UnaryOp::kFloor:
    case UnaryOp::kCeil:
    case UnaryOp::kRound:
    case UnaryOp::kSign:
      // Integer and bool values are already integral: NumPy 2 keeps their dtype.
      return in;
    case UnaryOp::kSquare:
      return in == DType::kBool ? DType::kInt64 : in;
    case UnaryOp::kSqrt:
    case UnaryOp::kExp:
    case UnaryOp::kExpm1:
    case UnaryOp::kLog:
    case UnaryOp::kLog1p:
    case UnaryOp::kLog2:
    case UnaryOp::kLog10:
    case UnaryOp::kSin:
    case UnaryOp::kCos:
    case UnaryOp::kTan:
    case UnaryOp::kArcsin:
    case UnaryOp::kArccos:
    case UnaryOp::kArctan:
    case UnaryOp::kSinh:
    case UnaryOp::kCosh:
    case UnaryOp::kTanh:
      return FloatResult(in);
    case UnaryOp::kIsnan:
    case UnaryOp::kIsfinite:
      return DType::kBool;
    case UnaryOp::kAstype:
      return in;  // replaced by the requested dtype
  }
  return in;
}

absl::StatusOr<DType> BinaryDType(BinaryOp op, DType base) {
  switch (op) {
    case BinaryOp::kAdd:
    case BinaryOp::kMultiply:
    case BinaryOp::kMaximum:
    case BinaryOp::kMinimum:
      return base;
    case BinaryOp::kSubtract:
      if (base == DType::kBool) {
        return absl::InvalidArgumentError(
            "numpy boolean subtract, the `-` operator, is not supported for bool arrays");
      }
      return base;
    case BinaryOp::kFloorDivide:
    case BinaryOp::kMod:
    case BinaryOp::kPower:
      return base == DType::kBool ? DType::kInt64 : base;
    case BinaryOp::kDivide:
    case BinaryOp::kArctan2:
    case BinaryOp::kHypot:
      return FloatResult(base);
    case BinaryOp::kLess:
    case BinaryOp::kLessEqual:
    case BinaryOp::kGreater:
    case BinaryOp::kGreaterEqual:
    case BinaryOp::kEqual:
    case BinaryOp::kNotEqual:
      return DType::kBool;
  }
  return base;
}

// Python's slice.indices() followed by len(range(...)); 128-bit arithmetic so that extreme
// user-supplied bounds and steps cannot overflow.
AxisIndex ResolveSlice(const IndexItem& item, int64_t n) {
  const int64_t step = item.step.value_or(1);
  AxisIndex out;
  out.kind = AxisIndex::Kind::kSlice;
  out.step = step;
  auto clamp = [](__int128 v, __int128 lo, __int128 hi) { return std::min(std::max(v, lo), hi); };
  __int128 start, stop;
  if (step > 0) {
    start = item.start ? *item.start : 0;
    stop = item.stop ? *item.stop : n;
    if (start < 0) start += n;
    if (stop < 0) stop += n;
    start = clamp(start, 0, n);
    stop = clamp(stop, 0, n);
    out.length = stop > start ? static_cast<int64_t>((stop - start + step - 1) / step) : 0;
  } else {
    start = item.start ? *item.start : n - 1;
    stop = item.stop ? *item.stop : -1;
    if (item.start && start < 0) start += n;
    if (item.stop && stop < 0) stop += n;
    start = clamp(start, -1, n - 1);
    stop = clamp(stop, -1, n - 1);
    const __int128 neg = -static_cast<__int128>(step);
    out.length = start > stop ? static_cast<int64_t>((start - stop + neg - 1) / neg) : 0;
  }
  // A slice of at most one element reads the same whatever its step: a canonical start and
  // step keep Tokens and wire round trips stable, and keep extreme steps out of later arithmetic.
  out.start = out.length > 0 ? static_cast<int64_t>(start) : 0;
  if (out.length <= 1) out.step = 1;
  return out;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// The blocks of a slice of one axis, following the input's block boundaries as dask does:
// each input block contributes the slice elements inside it; empty contributions are dropped.
std::vector<int64_t> SliceAxisChunks(const std::vector<int64_t>& blocks, const AxisIndex& ix) {
  std::vector<int64_t> out;
  if (ix.length > 0) {
    int64_t b0 = 0;
    std::vector<std::pair<int64_t, int64_t>> spans;  // [b0, b1) of each block
    spans.reserve(blocks.size());
    for (int64_t b : blocks) {
      spans.emplace_back(b0, b0 + b);
      b0 += b;
    }
    if (ix.step < 0) std::reverse(spans.begin(), spans.end());
    for (const auto& [lo, hi] : spans) {
      if (lo == hi) continue;
      int64_t k_lo, k_hi;  // range of k with start + k * step in [lo, hi)
      if (ix.step > 0) {
        k_lo = lo <= ix.start ? 0 : FloorDiv(lo - ix.start + ix.step - 1, ix.step);
        k_hi = hi <= ix.start ? 0 : FloorDiv(hi - ix.start + ix.step - 1, ix.step);
      } else {
        const int64_t t = -ix.step;
        k_lo = FloorDiv(ix.start - hi, t) + 1;
        k_hi = FloorDiv(ix.start - lo, t) + 1;
      }
      k_lo = std::clamp<int64_t>(k_lo, 0, ix.length);
      k_hi = std::clamp<int64_t>(k_hi, 0, ix.length);
      if (k_hi > k_lo) out.push_back(k_hi - k_lo);
    }
  }
  if (out.empty()) out.push_back(0);
  return out;
}

// ---- Token: FNV-1a over a canonical serialisation, the same in every process. ----

class Fnv {
 public:
  void Bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) {
      h_ ^= b[i];
      h_ *= 0x100000001b3ull;
    }
  }
  void Int(int64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i));
    Bytes(b, 8);
  }
  void Double(double v) {
    // Bit patterns, so -0.0 and 0.0 differ (1 / x tells them apart).
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    Int(static_cast<int64_t>(bits));
  }
  void Str(std::string_view s) {
    Int(static_cast<int64_t>(s.size()));
    Bytes(s.data(), s.size());
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

uint64_t HashNode(const Node* node, std::unordered_map<const Node*, uint64_t>* memo) {
  if (auto it = memo->find(node); it != memo->end()) return it->second;
  Fnv h;
  h.Str("tessera-node-v1");
  h.Int(static_cast<int64_t>(node->kind));
  h.Int(static_cast<int64_t>(node->dtype));
  h.Int(static_cast<int64_t>(node->shape.size()));
  for (int64_t e : node->shape) h.Int(e);
  h.Int(static_cast<int64_t>(node->chunks.size()));
  for (const auto& axis : node->chunks) {
    h.Int(static_cast<int64_t>(axis.size()));
    for (int64_t b : axis) h.Int(b);
  }
  switch (node->kind) {
    case OpKind::kFull:
      h.Double(node->value);
      break;
    case OpKind::kScalar:
      h.Double(node->value);
      h.Int(node->scalar_is_float);
      break;
    case OpKind::kArange:
      h.Double(node->start);
      h.Double(node->step);
      break;
    case OpKind::kRandom:
      h.Int(static_cast<int64_t>(node->dist));
      h.Int(static_cast<int64_t>(node->seed));
      h.Double(node->param_a);
      h.Double(node->param_b);
      break;
    case OpKind::kSource:
      h.Str(node->source_name);
      break;
    case OpKind::kUnary:
      h.Int(static_cast<int64_t>(node->unary));
      break;
    case OpKind::kBinary:
      h.Int(static_cast<int64_t>(node->binary));
      break;
    case OpKind::kSlice:
      h.Int(static_cast<int64_t>(node->index.size()));
      for (const auto& ix : node->index) {
        h.Int(static_cast<int64_t>(ix.kind));
        h.Int(ix.start);
        h.Int(ix.step);
        h.Int(ix.length);
      }
      break;
    case OpKind::kLinspace:
      h.Double(node->start);
      h.Double(node->stop);
      h.Int(node->endpoint);
      break;
    case OpKind::kTranspose:
      h.Int(static_cast<int64_t>(node->axes.size()));
      for (int a : node->axes) h.Int(a);
      break;
    case OpKind::kReduce:
      h.Int(static_cast<int64_t>(node->reduce));
      h.Int(static_cast<int64_t>(node->axes.size()));
      for (int a : node->axes) h.Int(a);
      h.Int(node->keepdims);
      h.Int(node->split_every);
      break;
    case OpKind::kWhere:
    case OpKind::kRechunk:
    case OpKind::kReshape:
      break;  // shape, chunks and inputs say it all
    case OpKind::kConcatenate:
      h.Int(node->axes.empty() ? 0 : node->axes[0]);
      break;
    case OpKind::kTensordot:
      h.Int(static_cast<int64_t>(node->axes.size()));
      for (int a : node->axes) h.Int(a);
      for (int a : node->axes_b) h.Int(a);
      break;
    case OpKind::kFromBuffer:
      h.Str(node->data ? *node->data : std::string());
      break;
  }
  h.Int(static_cast<int64_t>(node->inputs.size()));
  for (const auto& in : node->inputs) h.Int(static_cast<int64_t>(HashNode(in.get(), memo)));
  const uint64_t value = h.value();
  memo->emplace(node, value);
  return value;
}

}  // namespace

absl::StatusOr<NodePtr> Full(const Shape& shape, double value, DType dtype, const ChunkSpec& chunks,
                             int64_t chunk_target_bytes) {
  TESSERA_ASSIGN_OR_RETURN(Chunks normalized,
                           CreationChunks(shape, dtype, chunks, chunk_target_bytes));
  TESSERA_ASSIGN_OR_RETURN(double cast, CastValue(value, dtype));
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kFull;
  node->dtype = dtype;
  node->shape = shape;
  node->chunks = std::move(normalized);
  node->value = cast;
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Arange(double start, double stop, double step, DType dtype,
                               const ChunkSpec& chunks, int64_t chunk_target_bytes) {
  if (step == 0) return absl::InvalidArgumentError("arange: step 0 (the step cannot be zero)");
  if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step)) {
    return absl::InvalidArgumentError(absl::StrCat("arange: non-finite argument (start ", start,
                                                   ", stop ", stop, ", step ", step, ")"));
  }
  const double len = std::ceil((stop - start) / step);
  if (len > 9.0e18) {
    return absl::InvalidArgumentError(absl::StrCat("arange(", start, ", ", stop, ", ", step,
                                                   ") has more elements than fit in int64"));
  }
  const int64_t length = len > 0 ? static_cast<int64_t>(len) : 0;
  const Shape shape = {length};
  TESSERA_ASSIGN_OR_RETURN(Chunks normalized,
                           CreationChunks(shape, dtype, chunks, chunk_target_bytes));
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kArange;
  node->dtype = dtype;
  node->shape = shape;
  node->chunks = std::move(normalized);
  node->start = start;
  node->step = step;
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Linspace(double start, double stop, int64_t num, bool endpoint, DType dtype,
                                 const ChunkSpec& chunks, int64_t chunk_target_bytes) {
  if (num < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("linspace: number of samples, ", num, ", must be non-negative"));
  }
  const Shape shape = {num};
  TESSERA_ASSIGN_OR_RETURN(Chunks normalized,
                           CreationChunks(shape, dtype, chunks, chunk_target_bytes));
  const int64_t div = endpoint ? num - 1 : num;
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kLinspace;
  node->dtype = dtype;
  node->shape = shape;
  node->chunks = std::move(normalized);
  node->start = start;
  node->stop = stop;
  node->endpoint = endpoint;
  // NumPy's step; NaN when div is 0, as numpy.linspace(..., retstep=True) reports it.
  node->step = div > 0 ? (stop - start) / static_cast<double>(div)
                       : std::numeric_limits<double>::quiet_NaN();
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Random(const Shape& shape, RandomDist dist, double a, double b,
                               uint64_t seed, DType dtype, const ChunkSpec& chunks,
                               int64_t chunk_target_bytes) {
  if (dist != RandomDist::kUniform && dist != RandomDist::kNormal) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown random distribution ", static_cast<int>(dist)));
  }
  if (!std::isfinite(a) || !std::isfinite(b)) {
    return absl::InvalidArgumentError(
        absl::StrCat("random parameters must be finite, got ", a, " and ", b));
  }
  if (dtype == DType::kBool || (dist == RandomDist::kNormal && !IsFloating(dtype))) {
    return absl::InvalidArgumentError(
        absl::StrCat(dist == RandomDist::kNormal ? "normal" : "random",
                     " arrays cannot have dtype ", Name(DTypeName(dtype))));
  }
  if (dist == RandomDist::kNormal && b < 0) {
    return absl::InvalidArgumentError(absl::StrCat("normal: scale ", b, " is negative"));
  }
  if (!IsFloating(dtype)) {
    // An integer uniform array is randint(low, high) (docs/random.md): integral bounds with
    // low < high whose values fit the dtype.
    const double lo = dtype == DType::kInt32 ? -2147483648.0 : -9223372036854775808.0;
    const double hi = dtype == DType::kInt32 ? 2147483648.0 : 9223372036854775808.0;
    if (a != std::trunc(a) || b != std::trunc(b)) {
      return absl::InvalidArgumentError(
          absl::StrCat("randint bounds must be integers, got ", a, " and ", b));
    }
    if (!(a < b)) {
      return absl::InvalidArgumentError(absl::StrCat("randint: low >= high (", a, " >= ", b, ")"));
    }
    if (a < lo || b > hi) {
      return absl::InvalidArgumentError(
          absl::StrCat("randint bounds [", a, ", ", b, ") do not fit ", Name(DTypeName(dtype))));
    }
  }
  TESSERA_ASSIGN_OR_RETURN(Chunks normalized,
                           CreationChunks(shape, dtype, chunks, chunk_target_bytes));
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kRandom;
  node->dtype = dtype;
  node->shape = shape;
  node->chunks = std::move(normalized);
  node->dist = dist;
  node->seed = seed;
  node->param_a = a;
  node->param_b = b;
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Source(std::string name, const Shape& shape, DType dtype, Chunks chunks) {
  if (name.empty()) return absl::InvalidArgumentError("source array has an empty name");
  TESSERA_RETURN_IF_ERROR(ValidateShape(shape, dtype));
  TESSERA_ASSIGN_OR_RETURN(Chunks normalized,
                           NormalizeChunks(ChunkSpec::Explicit(chunks), shape, dtype));
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kSource;
  node->dtype = dtype;
  node->shape = shape;
  node->chunks = std::move(normalized);
  node->source_name = std::move(name);
  return NodePtr(std::move(node));
}

NodePtr Scalar(double value, bool is_float) {
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kScalar;
  node->dtype = is_float ? DType::kFloat64 : DType::kInt64;
  node->value = is_float ? value : std::trunc(value);
  node->scalar_is_float = is_float;
  return node;
}

absl::StatusOr<NodePtr> Unary(UnaryOp op, NodePtr x, std::optional<DType> astype) {
  if (x == nullptr) return absl::InvalidArgumentError("unary operand is null");
  // A Python scalar is only ever a binary operand's literal; anything else of it is NumPy's
  // np.asarray(scalar): a 0-d array of int64 or float64 (the lowering would read a bare scalar
  // leaf as 0).
  if (x->kind == OpKind::kScalar) {
    TESSERA_ASSIGN_OR_RETURN(x, Full({}, x->value, x->dtype, ChunkSpec()));
  }
  DType dtype;
  if (op == UnaryOp::kAstype) {
    if (!astype) return absl::InvalidArgumentError("astype needs a dtype");
    dtype = *astype;
  } else {
    TESSERA_ASSIGN_OR_RETURN(dtype, UnaryDType(op, x->dtype));
  }
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kUnary;
  node->dtype = dtype;
  node->shape = x->shape;
  node->chunks = x->chunks;
  node->unary = op;
  node->inputs = {std::move(x)};
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Binary(BinaryOp op, NodePtr a, NodePtr b) {
  if (a == nullptr || b == nullptr) return absl::InvalidArgumentError("binary operand is null");
  const bool a_scalar = a->kind == OpKind::kScalar;
  const bool b_scalar = b->kind == OpKind::kScalar;
  // NumPy's weak scalars: a Python scalar adapts to the array's dtype.
  DType base;
  if (a_scalar && b_scalar) {
    base = (a->scalar_is_float || b->scalar_is_float) ? DType::kFloat64 : DType::kInt64;
  } else if (a_scalar) {
    base = PromoteWithScalar(b->dtype, a->scalar_is_float);
  } else if (b_scalar) {
    base = PromoteWithScalar(a->dtype, b->scalar_is_float);
  } else {
    base = PromoteTypes(a->dtype, b->dtype);
  }
  if (a_scalar != b_scalar) {
    // NumPy 2 refuses a Python integer that the array's integer dtype cannot hold.
    const Node& scalar = a_scalar ? *a : *b;
    if (!scalar.scalar_is_float && (base == DType::kInt32 || base == DType::kInt64)) {
      const double hi = base == DType::kInt32 ? 2147483648.0 : 9223372036854775808.0;
      if (!(scalar.value >= -hi && scalar.value < hi)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "Python integer %.0f out of bounds for %s", scalar.value, Name(DTypeName(base))));
      }
    }
  }
  TESSERA_ASSIGN_OR_RETURN(DType dtype, BinaryDType(op, base));

  TESSERA_ASSIGN_OR_RETURN(Shape shape,
                           BroadcastShapes(BinaryOpName(op), {&a->shape, &b->shape}));
  Chunks chunks = BroadcastChunks(shape, {a.get(), b.get()});
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kBinary;
  node->dtype = dtype;
  node->shape = std::move(shape);
  node->chunks = std::move(chunks);
  node->binary = op;
  node->inputs = {std::move(a), std::move(b)};
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Slice(NodePtr x, const std::vector<IndexItem>& items) {
  if (x == nullptr) return absl::InvalidArgumentError("sliced array is null");
  const int64_t ndim = static_cast<int64_t>(x->shape.size());
  int64_t consumed = 0, ellipses = 0;
  for (const auto& item : items) {
    if (item.kind == IndexItem::Kind::kSlice || item.kind == IndexItem::Kind::kInteger) {
      ++consumed;
    } else if (item.kind == IndexItem::Kind::kEllipsis) {
      ++ellipses;
    }
  }
  if (ellipses > 1) {
    return absl::InvalidArgumentError("an index can only have a single ellipsis ('...')");
  }
  if (consumed > ndim) {
    return absl::InvalidArgumentError(absl::StrCat("too many indices for array: array is ", ndim,
                                                   "-dimensional, but ", consumed,
                                                   " were indexed"));
  }
  // Expand the ellipsis (or the implicit one at the end) into full slices.
  std::vector<IndexItem> expanded;
  bool expanded_ellipsis = false;
  for (const auto& item : items) {
    if (item.kind == IndexItem::Kind::kEllipsis) {
      for (int64_t i = 0; i < ndim - consumed; ++i) expanded.push_back(IndexItem::Slice());
      expanded_ellipsis = true;
    } else {
      expanded.push_back(item);
    }
  }
  if (!expanded_ellipsis) {
    for (int64_t i = 0; i < ndim - consumed; ++i) expanded.push_back(IndexItem::Slice());
  }

  std::vector<AxisIndex> index;
  Shape shape;
  Chunks chunks;
  int64_t axis = 0;
  for (const auto& item : expanded) {
    AxisIndex ix;
    switch (item.kind) {
      case IndexItem::Kind::kNewAxis:
        ix.kind = AxisIndex::Kind::kNewAxis;
        ix.length = 1;
        shape.push_back(1);
        chunks.push_back({1});
        break;
      case IndexItem::Kind::kInteger: {
        const int64_t n = x->shape[axis];
        const int64_t i = item.index < 0 ? item.index + n : item.index;
        if (i < 0 || i >= n) {
          return absl::InvalidArgumentError(absl::StrCat(
              "index ", item.index, " is out of bounds for axis ", axis, " with size ", n));
        }
        ix.kind = AxisIndex::Kind::kInteger;
        ix.start = i;
        ix.step = 1;
        ix.length = 1;
        ++axis;
        break;
      }
      case IndexItem::Kind::kSlice: {
        if (item.step && *item.step == 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "slice step cannot be zero (indexing an array of shape ", ShapeToString(x->shape),
              ")"));
        }
        ix = ResolveSlice(item, x->shape[axis]);
        shape.push_back(ix.length);
        chunks.push_back(SliceAxisChunks(x->chunks[axis], ix));
        ++axis;
        break;
      }
      case IndexItem::Kind::kEllipsis:
        break;  // expanded above
    }
    index.push_back(ix);
  }
  if (static_cast<int64_t>(shape.size()) > kMaxDims) {
    return absl::InvalidArgumentError(absl::StrCat(
        "indexing gives ", shape.size(), " dimensions; at most ", kMaxDims, " are supported"));
  }
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kSlice;
  node->dtype = x->dtype;
  node->shape = std::move(shape);
  node->chunks = std::move(chunks);
  node->index = std::move(index);
  node->inputs = {std::move(x)};
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Reduce(ReduceOp op, NodePtr x, std::vector<int> axes, bool keepdims,
                               int split_every) {
  if (x == nullptr) return absl::InvalidArgumentError("reduced array is null");
  if (split_every < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("split_every ", split_every, " must be at least 2"));
  }
  const int ndim = static_cast<int>(x->shape.size());
  std::vector<int> normalized;
  if (axes.empty()) {
    for (int i = 0; i < ndim; ++i) normalized.push_back(i);
  } else {
    for (int a : axes) {
      if (a < -ndim || a >= ndim) {
        return absl::InvalidArgumentError(
            absl::StrCat(Name(ReduceOpName(op)), ": axis ", a,
                         " is out of bounds for array of dimension ", ndim, " (shape ",
                         ShapeToString(x->shape), ")"));
      }
      const int n = a < 0 ? a + ndim : a;
      if (std::find(normalized.begin(), normalized.end(), n) != normalized.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Name(ReduceOpName(op)), ": duplicate value in 'axis': ", a));
      }
      normalized.push_back(n);
    }
    std::sort(normalized.begin(), normalized.end());
  }
  if (op == ReduceOp::kMin || op == ReduceOp::kMax) {
    for (int a : normalized) {
      if (x->shape[a] == 0) {
        return absl::InvalidArgumentError(absl::StrCat("zero-size array to reduction operation ",
                                                       Name(ReduceOpName(op)),
                                                       " which has no identity"));
      }
    }
  }
  Shape shape;
  Chunks chunks;
  for (int i = 0; i < ndim; ++i) {
    const bool reduced = std::binary_search(normalized.begin(), normalized.end(), i);
    if (!reduced) {
      shape.push_back(x->shape[i]);
      chunks.push_back(x->chunks[i]);
    } else if (keepdims) {
      shape.push_back(1);
      chunks.push_back({1});
    }
  }
  if (IsArgReduce(op)) {
    return absl::InvalidArgumentError("argmin / argmax are built with ArgReduce");
  }
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kReduce;
  // As NumPy: the mean of float32 is float32 (accumulated in double here), of integers float64.
  node->dtype = op == ReduceOp::kMean ? FloatResult(x->dtype) : PartialDType(op, x->dtype);
  node->shape = std::move(shape);
  node->chunks = std::move(chunks);
  node->reduce = op;
  node->axes = std::move(normalized);
  node->keepdims = keepdims;
  node->split_every = split_every;
  node->inputs = {std::move(x)};
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Transpose(NodePtr x, std::vector<int> axes) {
  if (x == nullptr) return absl::InvalidArgumentError("transposed array is null");
  const int ndim = static_cast<int>(x->shape.size());
  if (axes.empty()) {
    for (int i = ndim - 1; i >= 0; --i) axes.push_back(i);
  } else if (static_cast<int>(axes.size()) != ndim) {
    return absl::InvalidArgumentError(absl::StrCat("transpose: axes (", absl::StrJoin(axes, ", "),
                                                   ") don't match array of dimension ", ndim));
  }
  std::vector<bool> seen(static_cast<size_t>(ndim), false);
  for (int& a : axes) {
    if (a < -ndim || a >= ndim) {
      return absl::InvalidArgumentError(
          absl::StrCat("transpose: axis ", a, " is out of bounds for array of dimension ", ndim));
    }
    const int n = a < 0 ? a + ndim : a;
    if (seen[static_cast<size_t>(n)]) {
      return absl::InvalidArgumentError(absl::StrCat("transpose: repeated axis ", a));
    }
    seen[static_cast<size_t>(n)] = true;
    a = n;
  }
  Shape shape;
  Chunks chunks;
  for (int a : axes) {
    shape.push_back(x->shape[a]);
    chunks.push_back(x->chunks[a]);
  }
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kTranspose;
  node->dtype = x->dtype;
  node->shape = std::move(shape);
  node->chunks = std::move(chunks);
  node->axes = std::move(axes);
  node->inputs = {std::move(x)};
  return NodePtr(std::move(node));
}

std::string KeyFor(std::string_view name, const std::vector<int64_t>& block_index) {
  return absl::StrCat(Name(name), "/", absl::StrJoin(block_index, ","));
}

std::string Token(const NodePtr& node) {
  std::unordered_map<const Node*, uint64_t> memo;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(HashNode(node.get(), &memo)));
  return buf;
}

}  // namespace tessera::graph
