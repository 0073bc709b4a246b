#include "cli/interpreter.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <limits>
#include <numbers>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/parser.h"
#include "common/dtype.h"
#include "common/shape.h"
#include "graph/expr.h"

namespace tessera::cli {

// The arguments of one call after binding them to a builtin's parameters.
class Args;

/// A function of the language: its parameters (Python's positional-or-keyword, in order) and
/// its body. `variadic` builtins take their raw positional arguments instead.
struct Builtin {
  std::string name;
  std::vector<std::string> params;
  size_t required = 0;
  bool variadic = false;
  bool method = false;  ///< params[0] is the object, never passed by keyword
  std::function<Value(Args&)> body;
};

namespace {

// An Error that already names its line and column, so callers up the tree do not re-prefix it.
class LocatedError : public Error {
 public:
  using Error::Error;
};

std::string Where(const Expr& at) {
  return absl::StrCat("line ", at.line, ", column ", at.column, ": ");
}

[[noreturn]] void Fail(const Expr& at, const std::string& message, int code = 3) {
  throw LocatedError(code, Where(at) + message);
}

graph::NodePtr Check(absl::StatusOr<graph::NodePtr> node) {
  if (!node.ok()) {
    throw Error(static_cast<int>(node.status().code()), std::string(node.status().message()));
  }
  return *std::move(node);
}

bool IsNumber(const Value& v) {
  return v.kind == Value::Kind::kInt || v.kind == Value::Kind::kFloat ||
         v.kind == Value::Kind::kBool ||
         (v.kind == Value::Kind::kNDArray && v.ndarray->size() == 1 && v.ndarray->ndim() == 0);
}

// A 0-d computed array acts as a NumPy scalar: a Python number of its kind.
Value Scalarize(const Value& v) {
  if (v.kind != Value::Kind::kNDArray || v.ndarray->ndim() != 0) return v;
  const double x = v.ndarray->at(0);
  switch (v.ndarray->dtype()) {
    case DType::kBool:
      return Value::Bool(x != 0);
    case DType::kInt32:
    case DType::kInt64: {
      int64_t i = 0;
      if (v.ndarray->dtype() == DType::kInt64) {
        std::memcpy(&i, v.ndarray->bytes().data(), sizeof i);
      } else {
        int32_t j;
        std::memcpy(&j, v.ndarray->bytes().data(), sizeof j);
        i = j;
      }
      return Value::Int(i);
    }
    default:
      return Value::Float(x);
  }
}

double AsDouble(const Value& v) {
  const Value s = Scalarize(v);
  switch (s.kind) {
    case Value::Kind::kBool:
      return s.b ? 1 : 0;
    case Value::Kind::kInt:
      return static_cast<double>(s.i);
    default:
      return s.f;
  }
}

std::string FloatRepr(double v) {
  std::vector<uint8_t> bytes(sizeof v);
  std::memcpy(bytes.data(), &v, sizeof v);
  return NDArray(DType::kFloat64, {}, std::move(bytes)).repr();
}

std::string StringRepr(const std::string& s) {
  const char quote =
      (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, quote);
  for (char c : s) {
    if (c == '\\' || c == quote) {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out.push_back(c);
    }
  }
  out.push_back(quote);
  return out;
}

// The dotted text of a name/attribute chain as written ("da.random"), for messages.
std::string WrittenPath(const Expr& e) {
  if (e.kind == Expr::Kind::kName) return e.name;
  if (e.kind == Expr::Kind::kAttribute) return WrittenPath(*e.items[0]) + "." + e.name;
  return "";
}

// The node of an operand: an array, or a Python scalar (weakly typed, as NumPy does).
graph::NodePtr NodeOf(const Value& v) {
  if (v.kind == Value::Kind::kArray) return v.array->node();
  const Value s = Scalarize(v);
  if (s.kind == Value::Kind::kFloat) return graph::Scalar(s.f, /*is_float=*/true);
  return graph::Scalar(AsDouble(s), /*is_float=*/false);
}

bool IsArrayOperand(const Value& v) { return v.kind == Value::Kind::kArray; }

// A computed array used as an array (indexed, in arithmetic, given to an array function or
// method) goes back to the cluster as host data, as dask's functions take NumPy arrays:
// `r = x.sum(axis=0).compute(); r[:3] / r.max()`. The result is lazy again and shown computed.
// A 0-d computed array stays a number.
Value LiftArray(const Value& v) {
  if (v.kind != Value::Kind::kNDArray || IsNumber(v)) return v;
  const NDArray& nd = *v.ndarray;
  return Value::FromArray(
      from_buffer(nd.bytes().data(), nd.bytes().size(), nd.shape(), {ChunkSpec(), nd.dtype()}));
}

// LiftArray of a builtin's argument: a list or tuple (concatenate's) item by item.
Value Lift(const Value& v) {
  if (v.kind != Value::Kind::kTuple && v.kind != Value::Kind::kList) return LiftArray(v);
  Value out = v;
  for (Value& item : out.items) item = Lift(item);
  return out;
}

}  // namespace

// ---- Argument binding and conversion ----

class Args {
 public:
  Args(const Builtin& fn, const Expr& call, std::vector<Value> positional,
       std::vector<const Expr*> positional_at, std::vector<std::pair<std::string, Value>> keywords,
       std::vector<const Expr*> keyword_at, Interpreter* interp)
      : fn_(fn), call_(call), interp_(interp) {
    if (fn.variadic) {
      raw_ = std::move(positional);
      raw_at_ = std::move(positional_at);
      if (!keywords.empty()) {
        Fail(*keyword_at[0], absl::StrCat(fn.name, "() got an unexpected keyword argument '",
                                          keywords[0].first, "'"));
      }
      return;
    }
    values_.resize(fn.params.size());
    at_.resize(fn.params.size(), &call);
    if (positional.size() > fn.params.size()) {
      Fail(*positional_at[fn.params.size()],
           absl::StrCat(fn.name, "() takes at most ", fn.params.size(), " positional argument",
                        fn.params.size() == 1 ? "" : "s", " (", positional.size(), " given)"));
    }
    for (size_t i = 0; i < positional.size(); ++i) {
      values_[i] = std::move(positional[i]);
      at_[i] = positional_at[i];
    }
    for (size_t k = 0; k < keywords.size(); ++k) {
      auto it = std::find(fn.params.begin(), fn.params.end(), keywords[k].first);
      if (it == fn.params.end() || *it == "self" || (fn.method && it == fn.params.begin())) {
        Fail(*keyword_at[k], absl::StrCat(fn.name, "() got an unexpected keyword argument '",
                                          keywords[k].first, "'"));
      }
      const size_t i = static_cast<size_t>(it - fn.params.begin());
      if (values_[i]) {
        Fail(*keyword_at[k], absl::StrCat(fn.name, "() got multiple values for argument '",
                                          keywords[k].first, "'"));
      }
      values_[i] = std::move(keywords[k].second);
      at_[i] = keyword_at[k];
    }
    for (size_t i = 0; i < fn.required; ++i) {
      if (!values_[i]) {
        Fail(*call.items[0],
             absl::StrCat(fn.name, "() missing required argument '", fn.params[i], "'"));
      }
    }
  }

  Interpreter& interp() { return *interp_; }
  /// The builtin's name, for messages.
  const std::string& name() const { return fn_.name; }
  const Expr& call() const { return call_; }
  /// The callee of the call (errors about the call point here).
  const Expr& callee() const { return *call_.items[0]; }
  const std::vector<Value>& raw() const { return raw_; }
  const Expr& raw_at(size_t i) const { return *raw_at_[i]; }

  /// True if the argument was given and is not None.
  bool Has(std::string_view name) const {
    const size_t i = IndexOf(name);
    return values_[i] && values_[i]->kind != Value::Kind::kNone;
  }
  const Value& Get(std::string_view name) const {
    static const Value kNone;
    const size_t i = IndexOf(name);
    return values_[i] ? *values_[i] : kNone;
  }
  const Expr& At(std::string_view name) const { return *at_[IndexOf(name)]; }

  [[noreturn]] void Bad(std::string_view name, std::string_view expected) const {
    Fail(At(name), absl::StrCat(fn_.name, "() argument '", std::string(name), "' must be ",
                                std::string(expected), ", not ", Get(name).TypeName()));
  }

  int64_t Int(std::string_view name) const {
    const Value v = Scalarize(Get(name));
    if (v.kind == Value::Kind::kInt) return v.i;
    if (v.kind == Value::Kind::kBool) return v.b ? 1 : 0;
    Bad(name, "an int");
  }
  int64_t Int(std::string_view name, int64_t fallback) const {
    return Has(name) ? Int(name) : fallback;
  }
  double Number(std::string_view name) const {
    if (!IsNumber(Get(name))) Bad(name, "a number");
    return AsDouble(Get(name));
  }
  double Number(std::string_view name, double fallback) const {
    return Has(name) ? Number(name) : fallback;
  }
  bool Bool(std::string_view name, bool fallback) const {
    if (!Has(name)) return fallback;
    const Value v = Scalarize(Get(name));
    if (v.kind == Value::Kind::kBool) return v.b;
    if (v.kind == Value::Kind::kInt) return v.i != 0;
    Bad(name, "a bool");
  }
  const Array& GetArray(std::string_view name) const {
    if (Get(name).kind != Value::Kind::kArray) Bad(name, "an array");
    return *Get(name).array;
  }

  Shape GetShape(std::string_view name) const {
    const Value& v = Get(name);
    if (v.kind == Value::Kind::kInt) return {v.i};
    if (v.kind == Value::Kind::kTuple || v.kind == Value::Kind::kList) {
      Shape shape;
      for (const Value& item : v.items) {
        if (item.kind != Value::Kind::kInt) Bad(name, "an int or a tuple of ints");
        shape.push_back(item.i);
      }
      return shape;
    }
    Bad(name, "an int or a tuple of ints");
  }

  // dask's chunks=: 'auto', an int, or per axis an int (-1/None: whole axis), 'auto' or a
  // tuple of block sizes.
  ChunkSpec GetChunks(std::string_view name) const {
    if (!Has(name)) return ChunkSpec();
    const Value& v = Get(name);
    const char* kExpected = "'auto', an int, or a tuple of ints, 'auto' or tuples of ints";
    if (v.kind == Value::Kind::kString) {
      if (v.text != "auto") {
        Fail(At(name),
             absl::StrCat(fn_.name, "() argument '", std::string(name), "': unsupported chunks ",
                          StringRepr(v.text), " (expected 'auto', an int or a tuple)"));
      }
      return ChunkSpec();
    }
    if (v.kind == Value::Kind::kInt) return ChunkSpec(v.i);
    if (v.kind != Value::Kind::kTuple && v.kind != Value::Kind::kList) Bad(name, kExpected);
    std::vector<ChunkSpec::Axis> axes;
    for (const Value& item : v.items) {
      if (item.kind == Value::Kind::kInt) {
        axes.emplace_back(item.i);
      } else if (item.kind == Value::Kind::kNone) {
        axes.emplace_back(int64_t{-1});
      } else if (item.kind == Value::Kind::kString && item.text == "auto") {
        axes.emplace_back(kAutoChunk);
      } else if (item.kind == Value::Kind::kTuple || item.kind == Value::Kind::kList) {
        std::vector<int64_t> blocks;
        for (const Value& b : item.items) {
          if (b.kind != Value::Kind::kInt) Bad(name, kExpected);
          blocks.push_back(b.i);
        }
        axes.emplace_back(std::move(blocks));
      } else {
        Bad(name, kExpected);
      }
    }
    return ChunkSpec::PerAxis(std::move(axes));
  }

  DType GetDType(std::string_view name, DType fallback) const {
    if (!Has(name)) return fallback;
    const Value& v = Get(name);
    if (v.kind == Value::Kind::kDType) return v.dtype;
    if (v.kind == Value::Kind::kString) {
      absl::StatusOr<DType> d = ParseDType(v.text);
      if (!d.ok()) Fail(At(name), std::string(d.status().message()));
      return *d;
    }
    if (v.kind == Value::Kind::kFunction) {
      if (v.text == "float") return DType::kFloat64;
      if (v.text == "int") return DType::kInt64;
      if (v.text == "bool") return DType::kBool;
    }
    Bad(name, "a dtype name such as 'float32'");
  }

  std::vector<int> GetAxes(std::string_view name) const {
    if (!Has(name)) return {};
    const Value& v = Get(name);
    if (v.kind == Value::Kind::kInt) return {static_cast<int>(v.i)};
    if (v.kind == Value::Kind::kTuple || v.kind == Value::Kind::kList) {
      std::vector<int> axes;
      for (const Value& item : v.items) {
        if (item.kind != Value::Kind::kInt) Bad(name, "None, an int or a tuple of ints");
        axes.push_back(static_cast<int>(item.i));
      }
      return axes;
    }
    Bad(name, "None, an int or a tuple of ints");
  }

  std::optional<uint64_t> GetSeed(std::string_view name) const {
    if (!Has(name)) return std::nullopt;
    const int64_t seed = Int(name);
    if (seed < 0) {
      Fail(At(name), absl::StrCat(fn_.name, "() argument '", std::string(name),
                                  "' must be non-negative, not ", seed));
    }
    return static_cast<uint64_t>(seed);
  }

 private:
  size_t IndexOf(std::string_view name) const {
    auto it = std::find(fn_.params.begin(), fn_.params.end(), name);
    return static_cast<size_t>(it - fn_.params.begin());
  }

  const Builtin& fn_;
  const Expr& call_;
  Interpreter* interp_;
  std::vector<std::optional<Value>> values_;
  std::vector<const Expr*> at_;
  std::vector<Value> raw_;
  std::vector<const Expr*> raw_at_;
};

// ---- Value ----

Value Value::Bool(bool v) {
  Value x;
  x.kind = Kind::kBool;
  x.b = v;
  return x;
}
Value Value::Int(int64_t v) {
  Value x;
  x.kind = Kind::kInt;
  x.i = v;
  return x;
}
Value Value::Float(double v) {
  Value x;
  x.kind = Kind::kFloat;
  x.f = v;
  return x;
}
Value Value::String(std::string v) {
  Value x;
  x.kind = Kind::kString;
  x.text = std::move(v);
  return x;
}
Value Value::Tuple(std::vector<Value> items) {
  Value x;
  x.kind = Kind::kTuple;
  x.items = std::move(items);
  return x;
}
Value Value::FromArray(Array a) {
  Value x;
  x.kind = Kind::kArray;
  x.array = std::make_shared<const Array>(std::move(a));
  return x;
}
Value Value::FromNDArray(NDArray a) {
  Value x;
  x.kind = Kind::kNDArray;
  x.ndarray = std::make_shared<const NDArray>(std::move(a));
  return x;
}
Value Value::FromDType(DType d) {
  Value x;
  x.kind = Kind::kDType;
  x.dtype = d;
  return x;
}
Value Value::Module(std::string name) {
  Value x;
  x.kind = Kind::kModule;
  x.text = std::move(name);
  return x;
}

std::string Value::TypeName() const {
  switch (kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kTuple:
      return "tuple";
    case Kind::kList:
      return "list";
    case Kind::kEllipsis:
      return "ellipsis";
    case Kind::kSlice:
      return "slice";
    case Kind::kArray:
      return "Array";
    case Kind::kNDArray:
      return "numpy.ndarray";
    case Kind::kDType:
      return "dtype";
    case Kind::kFunction:
      return "function";
    case Kind::kModule:
      return "module";
    case Kind::kDelayed:
      return "Delayed";
    case Kind::kRandomState:
      return b ? "Generator" : "RandomState";
    case Kind::kClient:
      return "Client";
  }
  return "object";
}

namespace {

Value FunctionValue(std::shared_ptr<const Builtin> fn) {
  Value v;
  v.kind = Value::Kind::kFunction;
  v.text = fn->name;
  v.function = std::move(fn);
  return v;
}

using BuiltinTable = std::map<std::string, std::shared_ptr<const Builtin>, std::less<>>;

std::shared_ptr<const Builtin> Make(std::string name, std::vector<std::string> params,
                                    size_t required, std::function<Value(Args&)> body) {
  auto b = std::make_shared<Builtin>();
  b->name = std::move(name);
  b->params = std::move(params);
  b->required = required;
  b->body = std::move(body);
  return b;
}

std::shared_ptr<const Builtin> MakeVariadic(std::string name, std::function<Value(Args&)> body) {
  auto b = std::make_shared<Builtin>();
  b->name = std::move(name);
  b->variadic = true;
  b->body = std::move(body);
  return b;
}

double ApplyUnaryScalar(graph::UnaryOp op, double x) {
  using graph::UnaryOp;
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
      return std::nearbyint(x);
    case UnaryOp::kSign:
      return x > 0 ? 1 : (x < 0 ? -1 : x);
    case UnaryOp::kIsnan:
      return std::isnan(x) ? 1 : 0;
    case UnaryOp::kIsfinite:
      return std::isfinite(x) ? 1 : 0;
    case UnaryOp::kAstype:
      return x;
  }
  return x;
}

// A NumPy ufunc of one argument: on an array it builds a node, on a Python number it is
// evaluated here (NumPy would return a NumPy scalar; a Python number prints the same).
std::shared_ptr<const Builtin> UnaryFunction(graph::UnaryOp op) {
  const std::string name(graph::UnaryOpName(op));
  return Make(name, {"x"}, 1, [op, name](Args& a) -> Value {
    const Value& x = a.Get("x");
    if (IsArrayOperand(x)) return Value::FromArray(Array(Check(graph::Unary(op, x.array->node()))));
    if (!IsNumber(x)) a.Bad("x", "an array or a number");
    const Value s = Scalarize(x);
    const bool int_like = s.kind != Value::Kind::kFloat;
    if (op == graph::UnaryOp::kIsnan || op == graph::UnaryOp::kIsfinite) {
      return Value::Bool(ApplyUnaryScalar(op, AsDouble(s)) != 0);
    }
    if (int_like && (op == graph::UnaryOp::kNegative || op == graph::UnaryOp::kAbs ||
                     op == graph::UnaryOp::kSquare || op == graph::UnaryOp::kSign)) {
      return Value::Int(static_cast<int64_t>(ApplyUnaryScalar(op, AsDouble(s))));
    }
    return Value::Float(ApplyUnaryScalar(op, AsDouble(s)));
  });
}

}  // namespace

// ---- The interpreter ----

namespace {

// Tables of the modules, built once: dask.array / numpy functions and the random module.
struct Modules {
  BuiltinTable array;   // dask.array and numpy
  BuiltinTable random;  // dask.array.random and numpy.random
  BuiltinTable random_state;  // methods of a RandomState (their first parameter is self)
  BuiltinTable generator;     // methods of a Generator (default_rng): NumPy's argument order
  BuiltinTable distributed;   // dask.distributed: Client, LocalCluster, wait, progress
  BuiltinTable python;  // Python builtins (print, len, float, int, ...)
};

Value Reduction(graph::ReduceOp op, Args& a, bool with_dtype) {
  const Array& x = a.GetArray("a");
  graph::NodePtr node = x.node();
  if (with_dtype && a.Has("dtype")) {
    node = Check(graph::Unary(graph::UnaryOp::kAstype, node, a.GetDType("dtype", x.dtype())));
  }
  const int split_every = static_cast<int>(a.Int("split_every", 8));
  return Value::FromArray(Array(
      Check(graph::Reduce(op, node, a.GetAxes("axis"), a.Bool("keepdims", false), split_every))));
}

Value BinaryValue(graph::BinaryOp op, const Value& x, const Value& y) {
  return Value::FromArray(Array(Check(graph::Binary(op, NodeOf(x), NodeOf(y)))));
}

Value ArrayValue(absl::StatusOr<graph::NodePtr> node) {
  return Value::FromArray(Array(Check(std::move(node))));
}

// `x != 0` as a bool array node (NaN is true, as NumPy's truth value).
graph::NodePtr Truth(const Value& v) {
  graph::NodePtr n = NodeOf(v);
  if (n->dtype == DType::kBool && n->kind != graph::OpKind::kScalar) return n;
  return Check(graph::Binary(graph::BinaryOp::kNotEqual, n, graph::Scalar(0, false)));
}

// numpy.logical_and / or / xor of the operands' truth values, as bool arrays: and is the bool
// product, or the bool maximum, xor bool inequality (every element is still computed).
Value LogicalValue(const std::string& op, const Value& x, const Value& y) {
  const graph::BinaryOp b = op == "and"  ? graph::BinaryOp::kMultiply
                            : op == "or" ? graph::BinaryOp::kMaximum
                                         : graph::BinaryOp::kNotEqual;
  return ArrayValue(graph::Binary(b, Truth(x), Truth(y)));
}

// numpy.clip(a, a_min, a_max) with bounds that are numbers (weakly typed: an int bound keeps an
// int array int, as NumPy) or arrays: maximum with the lower, then minimum with the upper.
Value ClipValue(Args& a, std::string_view lo, std::string_view hi) {
  if (!a.Has(lo) && !a.Has(hi)) Fail(a.callee(), "clip: One of max or min must be given");
  graph::NodePtr out = a.GetArray("a").node();
  for (const auto& [name, op] : {std::pair{lo, graph::BinaryOp::kMaximum},
                                 std::pair{hi, graph::BinaryOp::kMinimum}}) {
    if (!a.Has(name)) continue;
    const Value& bound = a.Get(name);
    if (!IsArrayOperand(bound) && !IsNumber(bound)) a.Bad(name, "an array or a number");
    out = Check(graph::Binary(op, out, NodeOf(bound)));
  }
  return Value::FromArray(Array(out));
}

// The arrays of a list or tuple argument (concatenate's `seq`).
std::vector<Array> ArraySequence(const Args& a, std::string_view name) {
  const Value& v = a.Get(name);
  if (v.kind != Value::Kind::kTuple && v.kind != Value::Kind::kList) {
    a.Bad(name, "a list or tuple of arrays");
  }
  std::vector<Array> arrays;
  for (size_t i = 0; i < v.items.size(); ++i) {
    if (v.items[i].kind != Value::Kind::kArray) {
      Fail(a.At(name), absl::StrCat(a.name(), "() argument '", std::string(name), "' item ", i,
                                    " must be an array, not ", v.items[i].TypeName()));
    }
    arrays.push_back(*v.items[i].array);
  }
  return arrays;
}

// An `axis` that must be None or one int (argmin / argmax).
std::optional<int> OptionalAxis(const Args& a, std::string_view name) {
  if (!a.Has(name)) return std::nullopt;
  const Value v = Scalarize(a.Get(name));
  if (v.kind != Value::Kind::kInt) a.Bad(name, "None or an int");
  return static_cast<int>(v.i);
}

// tensordot's axes: an int, or a pair (a_axes, b_axes) of ints or sequences of ints.
Array Tensordot(const Args& a, const Array& x, const Array& y) {
  if (!a.Has("axes")) return tensordot(x, y, 2);
  const Value& v = a.Get("axes");
  const char* kExpected = "an int or a pair of sequences of ints";
  if (v.kind == Value::Kind::kInt) return tensordot(x, y, static_cast<int>(v.i));
  if ((v.kind != Value::Kind::kTuple && v.kind != Value::Kind::kList) || v.items.size() != 2) {
    a.Bad("axes", kExpected);
  }
  std::vector<int> lists[2];
  for (int k = 0; k < 2; ++k) {
    const Value& side = v.items[static_cast<size_t>(k)];
    if (side.kind == Value::Kind::kInt) {
      lists[k].push_back(static_cast<int>(side.i));
    } else if (side.kind == Value::Kind::kTuple || side.kind == Value::Kind::kList) {
      for (const Value& item : side.items) {
        if (item.kind != Value::Kind::kInt) a.Bad("axes", kExpected);
        lists[k].push_back(static_cast<int>(item.i));
      }
    } else {
      a.Bad("axes", kExpected);
    }
  }
  return tensordot(x, y, {lists[0], lists[1]});
}

// x.reshape(*shape), as NumPy: one tuple or list, or the extents as separate ints.
Value ReshapeMethod(Args& a) {
  const std::vector<Value>& raw = a.raw();
  if (raw.size() < 2) Fail(a.callee(), "reshape() missing required argument 'shape'");
  Shape shape;
  auto add = [&](const Value& v, const Expr& at) {
    const Value s = Scalarize(v);
    if (s.kind != Value::Kind::kInt) {
      Fail(at, absl::StrCat("reshape() shape must be ints, not ", v.TypeName()));
    }
    shape.push_back(s.i);
  };
  if (raw.size() == 2 &&
      (raw[1].kind == Value::Kind::kTuple || raw[1].kind == Value::Kind::kList)) {
    for (const Value& v : raw[1].items) add(v, a.raw_at(1));
  } else {
    for (size_t i = 1; i < raw.size(); ++i) add(raw[i], a.raw_at(i));
  }
  return Value::FromArray(raw[0].array->reshape(shape));
}

// The elements of a nested list literal, checked to be rectangular.
struct NestedData {
  Shape shape;
  std::vector<Value> leaves;  // scalarised bool / int / float, C order
};

std::string ItemPath(const std::vector<size_t>& path) {
  if (path.empty()) return "the outer sequence";
  std::string s = "item ";
  for (size_t i : path) absl::StrAppend(&s, "[", i, "]");
  return s;
}

void CollectNested(const Args& a, std::string_view param, const Value& v, std::vector<size_t>& path,
                   NestedData& out) {
  const bool seq = v.kind == Value::Kind::kTuple || v.kind == Value::Kind::kList;
  const size_t depth = path.size();
  const std::string prefix = absl::StrCat(a.name(), "(): ");
  if (depth < out.shape.size()) {
    const int64_t want = out.shape[depth];
    if (!seq || static_cast<int64_t>(v.items.size()) != want) {
      Fail(a.At(param),
           absl::StrCat(
               prefix, "the nested sequence is ragged: its first elements give shape ",
               ShapeToString(out.shape), ", but ", ItemPath(path),
               seq ? absl::StrCat(" has length ", v.items.size(), ", not ", want)
                   : absl::StrCat(" is ", v.TypeName(), ", not a sequence of length ", want)));
    }
    for (size_t i = 0; i < v.items.size(); ++i) {
      path.push_back(i);
      CollectNested(a, param, v.items[i], path, out);
      path.pop_back();
    }
    return;
  }
  if (seq) {
    Fail(a.At(param),
         absl::StrCat(prefix, "the nested sequence is ragged: its first elements give shape ",
                      ShapeToString(out.shape), ", but ", ItemPath(path),
                      " is a sequence where a number was expected"));
  }
  const Value s = Scalarize(v);
  if (s.kind != Value::Kind::kBool && s.kind != Value::Kind::kInt &&
      s.kind != Value::Kind::kFloat) {
    Fail(a.At(param),
         absl::StrCat(prefix, ItemPath(path), " must be a number or a bool, not ", v.TypeName()));
  }
  out.leaves.push_back(s);
}

// One element of a nested literal in `dtype`, appended to `bytes` (native byte order).
void AppendElement(const Args& a, std::string_view param, const Value& v, DType dtype,
                   std::string& bytes) {
  auto append = [&bytes](const auto& x) {
    bytes.append(reinterpret_cast<const char*>(&x), sizeof x);
  };
  const double d = AsDouble(v);
  switch (dtype) {
    case DType::kFloat64:
      append(d);
      return;
    case DType::kFloat32:
      append(static_cast<float>(d));
      return;
    case DType::kBool:
      append(static_cast<uint8_t>(d != 0 ? 1 : 0));
      return;
    case DType::kInt64:
    case DType::kInt32: {
      int64_t i = 0;
      if (v.kind == Value::Kind::kInt) {
        i = v.i;
      } else if (v.kind == Value::Kind::kBool) {
        i = v.b ? 1 : 0;
      } else {
        // NumPy truncates floats towards zero; NaN and infinities have no integer value.
        if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) {
          Fail(a.At(param), absl::StrCat(a.name(), "(): cannot convert float ", FloatRepr(d),
                                         " to ", std::string(DTypeName(dtype))));
        }
        i = static_cast<int64_t>(d);
      }
      if (dtype == DType::kInt64) {
        append(i);
        return;
      }
      if (i < std::numeric_limits<int32_t>::min() || i > std::numeric_limits<int32_t>::max()) {
        Fail(a.At(param),
             absl::StrCat(a.name(), "(): Python integer ", i, " out of bounds for int32"));
      }
      append(static_cast<int32_t>(i));
      return;
    }
  }
}

// da.from_array / da.asarray / da.array of `param`: a nested list or tuple of numbers (its
// shape from the nesting, int64 for ints, float64 if any float, bool if all are True/False),
// a computed array, or a lazy array (returned as is, cast and rechunked as asked).
Value ArrayFromData(Args& a, std::string_view param) {
  const Value& v = a.Get(param);
  const bool rechunk = a.Has("chunks");
  const ChunkSpec chunks = a.GetChunks("chunks");
  if (v.kind == Value::Kind::kArray) {
    Array x = *v.array;
    if (a.Has("dtype")) x = x.astype(a.GetDType("dtype", x.dtype()));
    return Value::FromArray(rechunk ? x.rechunk(chunks) : x);
  }
  if (v.kind == Value::Kind::kNDArray) {
    const NDArray& nd = *v.ndarray;
    Array x = from_buffer(nd.bytes().data(), nd.bytes().size(), nd.shape(),
                          ArrayOptions{chunks, nd.dtype()});
    if (a.Has("dtype")) x = x.astype(a.GetDType("dtype", x.dtype()));
    return Value::FromArray(x);
  }
  NestedData data;
  for (const Value* cur = &v;
       cur->kind == Value::Kind::kTuple || cur->kind == Value::Kind::kList;) {
    data.shape.push_back(static_cast<int64_t>(cur->items.size()));
    if (cur->items.empty()) break;
    cur = &cur->items[0];
  }
  std::vector<size_t> path;
  CollectNested(a, param, v, path, data);
  bool any_float = false, all_bool = !data.leaves.empty();
  for (const Value& leaf : data.leaves) {
    any_float |= leaf.kind == Value::Kind::kFloat;
    all_bool &= leaf.kind == Value::Kind::kBool;
  }
  const DType natural = any_float || data.leaves.empty() ? DType::kFloat64
                        : all_bool                       ? DType::kBool
                                                         : DType::kInt64;
  const DType dtype = a.GetDType("dtype", natural);
  std::string bytes;
  bytes.reserve(data.leaves.size() * static_cast<size_t>(ItemSize(dtype)));
  for (const Value& leaf : data.leaves) AppendElement(a, param, leaf, dtype, bytes);
  return Value::FromArray(
      from_buffer(bytes.data(), bytes.size(), data.shape, ArrayOptions{chunks, dtype}));
}

const Modules& GetModules() {
  static const Modules* modules = [] {
    auto* m = new Modules;
    using graph::ReduceOp;
    using graph::UnaryOp;
    // Creation.
    for (const char* name : {"ones", "zeros", "empty"}) {
      const double value = std::string(name) == "ones" ? 1 : 0;
      m->array[name] = Make(name, {"shape", "dtype", "chunks"}, 1, [value](Args& a) {
        ArrayOptions o{a.GetChunks("chunks"), a.GetDType("dtype", DType::kFloat64)};
        return Value::FromArray(full(a.GetShape("shape"), value, o));
      });
    }
    m->array["full"] = Make("full", {"shape", "fill_value", "dtype", "chunks"}, 2, [](Args& a) {
      const Value fill = Scalarize(a.Get("fill_value"));
      if (!IsNumber(fill)) a.Bad("fill_value", "a number");
      const DType natural = fill.kind == Value::Kind::kFloat  ? DType::kFloat64
                            : fill.kind == Value::Kind::kBool ? DType::kBool
                                                              : DType::kInt64;
      ArrayOptions o{a.GetChunks("chunks"), a.GetDType("dtype", natural)};
      return Value::FromArray(full(a.GetShape("shape"), AsDouble(fill), o));
    });
    m->array["arange"] =
        Make("arange", {"start", "stop", "step", "chunks", "dtype"}, 1, [](Args& a) {
          double start = 0, stop = 0, step = 1;
          bool all_int = true;
          for (const char* p : {"start", "stop", "step"}) {
            if (a.Has(p)) {
              if (!IsNumber(a.Get(p))) a.Bad(p, "a number");
              all_int &= Scalarize(a.Get(p)).kind != Value::Kind::kFloat;
            }
          }
          if (a.Has("stop")) {
            start = a.Number("start");
            stop = a.Number("stop");
          } else {
            stop = a.Number("start");
          }
          step = a.Number("step", 1);
          ArrayOptions o{a.GetChunks("chunks"),
                         a.GetDType("dtype", all_int ? DType::kInt64 : DType::kFloat64)};
          return Value::FromArray(arange(start, stop, step, o));
        });
    m->array["linspace"] =
        Make("linspace", {"start", "stop", "num", "endpoint", "retstep", "chunks", "dtype"}, 2,
             [](Args& a) {
               if (a.Bool("retstep", false))
                 Fail(a.At("retstep"), "linspace(): retstep=True is not supported");
               ArrayOptions o{a.GetChunks("chunks"), a.GetDType("dtype", DType::kFloat64)};
               return Value::FromArray(linspace(a.Number("start"), a.Number("stop"),
                                                a.Int("num", 50), a.Bool("endpoint", true), o));
             });
    // Elementwise.
    for (int op = 0; op <= static_cast<int>(UnaryOp::kIsfinite); ++op) {
      auto fn = UnaryFunction(static_cast<UnaryOp>(op));
      m->array[fn->name] = fn;
    }
    m->array["abs"] = m->array["absolute"];
    struct NamedBinary {
      const char* name;
      graph::BinaryOp op;
    };
    for (NamedBinary nb :
         std::initializer_list<NamedBinary>{{"add", graph::BinaryOp::kAdd},
                                            {"subtract", graph::BinaryOp::kSubtract},
                                            {"multiply", graph::BinaryOp::kMultiply},
                                            {"divide", graph::BinaryOp::kDivide},
                                            {"true_divide", graph::BinaryOp::kDivide},
                                            {"floor_divide", graph::BinaryOp::kFloorDivide},
                                            {"mod", graph::BinaryOp::kMod},
                                            {"remainder", graph::BinaryOp::kMod},
                                            {"power", graph::BinaryOp::kPower},
                                            {"maximum", graph::BinaryOp::kMaximum},
                                            {"minimum", graph::BinaryOp::kMinimum},
                                            {"arctan2", graph::BinaryOp::kArctan2},
                                            {"hypot", graph::BinaryOp::kHypot},
                                            {"less", graph::BinaryOp::kLess},
                                            {"less_equal", graph::BinaryOp::kLessEqual},
                                            {"greater", graph::BinaryOp::kGreater},
                                            {"greater_equal", graph::BinaryOp::kGreaterEqual},
                                            {"equal", graph::BinaryOp::kEqual},
                                            {"not_equal", graph::BinaryOp::kNotEqual}}) {
      const graph::BinaryOp op = nb.op;
      m->array[nb.name] = Make(nb.name, {"x1", "x2"}, 2, [op](Args& a) -> Value {
        const Value& x = a.Get("x1");
        const Value& y = a.Get("x2");
        for (const char* p : {"x1", "x2"}) {
          if (!IsArrayOperand(a.Get(p)) && !IsNumber(a.Get(p))) a.Bad(p, "an array or a number");
        }
        if (IsArrayOperand(x) || IsArrayOperand(y)) return BinaryValue(op, x, y);
        const double u = AsDouble(x), v = AsDouble(y);
        switch (op) {
          case graph::BinaryOp::kMaximum:
            return Value::Float(std::isnan(u) || u > v ? u : v);
          case graph::BinaryOp::kMinimum:
            return Value::Float(std::isnan(u) || u < v ? u : v);
          case graph::BinaryOp::kArctan2:
            return Value::Float(std::atan2(u, v));
          case graph::BinaryOp::kHypot:
            return Value::Float(std::hypot(u, v));
          default:
            break;
        }
        // The rest match Python's operators on numbers.
        static const std::map<graph::BinaryOp, std::string> kOps = {
            {graph::BinaryOp::kAdd, "+"},           {graph::BinaryOp::kSubtract, "-"},
            {graph::BinaryOp::kMultiply, "*"},      {graph::BinaryOp::kDivide, "/"},
            {graph::BinaryOp::kFloorDivide, "//"},  {graph::BinaryOp::kMod, "%"},
            {graph::BinaryOp::kPower, "**"},        {graph::BinaryOp::kLess, "<"},
            {graph::BinaryOp::kLessEqual, "<="},    {graph::BinaryOp::kGreater, ">"},
            {graph::BinaryOp::kGreaterEqual, ">="}, {graph::BinaryOp::kEqual, "=="},
            {graph::BinaryOp::kNotEqual, "!="}};
        return a.interp().EvalBinary(a.call(), kOps.at(op), x, y);
      });
    }
    // Reductions, as functions; the methods are the same builtins with `self` first.
    struct NamedReduce {
      const char* name;
      ReduceOp op;
      bool with_dtype;
    };
    for (NamedReduce nr : std::initializer_list<NamedReduce>{{"sum", ReduceOp::kSum, true},
                                                             {"prod", ReduceOp::kProd, true},
                                                             {"mean", ReduceOp::kMean, true},
                                                             {"min", ReduceOp::kMin, false},
                                                             {"max", ReduceOp::kMax, false},
                                                             {"any", ReduceOp::kAny, false},
                                                             {"all", ReduceOp::kAll, false}}) {
      const ReduceOp op = nr.op;
      const bool with_dtype = nr.with_dtype;
      std::vector<std::string> params = {"a", "axis"};
      if (with_dtype) params.push_back("dtype");
      params.push_back("keepdims");
      params.push_back("split_every");
      m->array[nr.name] = Make(nr.name, params, 1,
                               [op, with_dtype](Args& a) { return Reduction(op, a, with_dtype); });
    }
    m->array["transpose"] = Make("transpose", {"a", "axes"}, 1, [](Args& a) {
      return Value::FromArray(a.GetArray("a").transpose(a.GetAxes("axes")));
    });
    m->array["amin"] = m->array["min"];
    m->array["amax"] = m->array["max"];
    m->array["astype"] = Make("astype", {"a", "dtype"}, 2, [](Args& a) {
      return Value::FromArray(a.GetArray("a").astype(a.GetDType("dtype", DType::kFloat64)));
    });
    m->array["where"] = Make("where", {"condition", "x", "y"}, 1, [](Args& a) {
      if (!a.Has("x") && !a.Has("y")) {
        Fail(a.callee(),
             "where(condition) with one argument (nonzero) is not supported; "
             "pass x and y too");
      }
      if (!a.Has("x") || !a.Has("y")) {
        Fail(a.callee(), "where(): either both or neither of x and y should be given");
      }
      bool any_array = false;
      for (const char* p : {"condition", "x", "y"}) {
        if (!IsArrayOperand(a.Get(p)) && !IsNumber(a.Get(p))) a.Bad(p, "an array or a number");
        any_array |= IsArrayOperand(a.Get(p));
      }
      if (!any_array) Fail(a.callee(), "where() needs at least one array argument");
      return ArrayValue(
          graph::Where(NodeOf(a.Get("condition")), NodeOf(a.Get("x")), NodeOf(a.Get("y"))));
    });
    // numpy.logical_and / or / xor (x1, x2) and logical_not(x): bool arrays of truth values.
    for (const char* name : {"logical_and", "logical_or", "logical_xor"}) {
      const std::string op = std::string(name).substr(8);
      m->array[name] = Make(name, {"x1", "x2"}, 2, [op](Args& a) {
        for (const char* p : {"x1", "x2"}) {
          if (!IsArrayOperand(a.Get(p)) && !IsNumber(a.Get(p))) a.Bad(p, "an array or a number");
        }
        if (!IsArrayOperand(a.Get("x1")) && !IsArrayOperand(a.Get("x2"))) {
          Fail(a.callee(), "logical_" + op + "() needs at least one array argument");
        }
        return LogicalValue(op, a.Get("x1"), a.Get("x2"));
      });
    }
    m->array["logical_not"] = Make("logical_not", {"x"}, 1, [](Args& a) {
      return ArrayValue(graph::Binary(graph::BinaryOp::kEqual, Truth(Value::FromArray(a.GetArray("x"))),
                                      graph::Scalar(0, false)));
    });
    // NumPy / dask functions composed of the operations above (src/client/array_compose.cc).
    auto operand = [](Args& a, std::string_view name) {
      const Value& v = a.Get(name);
      if (IsArrayOperand(v)) return *v.array;
      if (!IsNumber(v)) a.Bad(name, "an array or a number");
      return Array(NodeOf(v));
    };
    auto dtype_or = [](Args& a, const Array& like) -> std::optional<DType> {
      if (!a.Has("dtype")) return std::nullopt;
      return a.GetDType("dtype", like.dtype());
    };
    // ones_like(a, dtype, chunks) and friends; chunks= rechunks as dask's does.
    auto like = [=](Args& a, double v) {
      const Array& x = a.GetArray("a");
      const DType dtype = dtype_or(a, x).value_or(x.dtype());
      if (!a.Has("chunks")) return Value::FromArray(full_like(x, v, dtype));
      return Value::FromArray(full(x.shape(), v, {a.GetChunks("chunks"), dtype}));
    };
    for (const auto& [name, value] : std::vector<std::pair<std::string, double>>{
             {"ones_like", 1}, {"zeros_like", 0}, {"empty_like", 0}}) {
      const double v = value;
      m->array[name] = Make(name, {"a", "dtype", "chunks"}, 1, [=](Args& a) { return like(a, v); });
    }
    m->array["full_like"] = Make("full_like", {"a", "fill_value", "dtype", "chunks"}, 2,
                                 [=](Args& a) { return like(a, a.Number("fill_value")); });
    // dask's eye(N, chunks='auto', M=None, k=0, dtype=float).
    m->array["eye"] = Make("eye", {"N", "chunks", "M", "k", "dtype"}, 1, [](Args& a) {
      const std::optional<int64_t> cols =
          a.Has("M") ? std::optional<int64_t>(a.Int("M")) : std::nullopt;
      return Value::FromArray(eye(a.Int("N"), cols, a.Int("k", 0),
                                  {a.GetChunks("chunks"), a.GetDType("dtype", DType::kFloat64)}));
    });
    m->array["clip"] = Make("clip", {"a", "a_min", "a_max"}, 1,
                            [](Args& a) { return ClipValue(a, "a_min", "a_max"); });
    // numpy.round(a, decimals=0); a Python number is rounded the same way here.
    auto round_value = [](Args& a, const Value& x, int decimals) -> Value {
      if (IsArrayOperand(x)) return Value::FromArray(round(*x.array, decimals));
      if (!IsNumber(x)) a.Bad("a", "an array or a number");
      const Value s = Scalarize(x);
      if (s.kind != Value::Kind::kFloat && decimals >= 0) return s;
      double f = 1;
      for (int i = 0; i < std::abs(decimals); ++i) f *= 10;
      const double v = AsDouble(s);
      const double r = decimals >= 0 ? std::nearbyint(v * f) / f : std::nearbyint(v / f) * f;
      return s.kind == Value::Kind::kFloat ? Value::Float(r) : Value::Int(static_cast<int64_t>(r));
    };
    m->array["round"] = Make("round", {"a", "decimals"}, 1, [=](Args& a) {
      return round_value(a, a.Get("a"), static_cast<int>(a.Int("decimals", 0)));
    });
    m->array["around"] = m->array["round"];
    m->array["ravel"] = Make("ravel", {"a"}, 1, [](Args& a) {
      return Value::FromArray(ravel(a.GetArray("a")));
    });
    m->array["squeeze"] = Make("squeeze", {"a", "axis"}, 1, [](Args& a) {
      return Value::FromArray(squeeze(a.GetArray("a"), a.GetAxes("axis")));
    });
    m->array["expand_dims"] = Make("expand_dims", {"a", "axis"}, 2, [](Args& a) {
      return Value::FromArray(expand_dims(a.GetArray("a"), a.GetAxes("axis")));
    });
    m->array["swapaxes"] = Make("swapaxes", {"a", "axis1", "axis2"}, 3, [](Args& a) {
      return Value::FromArray(swapaxes(a.GetArray("a"), static_cast<int>(a.Int("axis1")),
                                       static_cast<int>(a.Int("axis2"))));
    });
    m->array["moveaxis"] = Make("moveaxis", {"a", "source", "destination"}, 3, [](Args& a) {
      return Value::FromArray(
          moveaxis(a.GetArray("a"), a.GetAxes("source"), a.GetAxes("destination")));
    });
    m->array["broadcast_to"] = Make("broadcast_to", {"x", "shape"}, 2, [](Args& a) {
      return Value::FromArray(broadcast_to(a.GetArray("x"), a.GetShape("shape")));
    });
    for (const char* name : {"isclose", "allclose"}) {
      const bool all = std::string(name) == "allclose";
      m->array[name] = Make(name, {"a", "b", "rtol", "atol", "equal_nan"}, 2, [=](Args& a) {
        if (!IsArrayOperand(a.Get("a")) && !IsArrayOperand(a.Get("b"))) {
          Fail(a.callee(), absl::StrCat(a.name(), "() needs at least one array argument"));
        }
        const Array x = operand(a, "a"), y = operand(a, "b");
        const double rtol = a.Number("rtol", 1e-05), atol = a.Number("atol", 1e-08);
        const bool equal_nan = a.Bool("equal_nan", false);
        return Value::FromArray(all ? allclose(x, y, rtol, atol, equal_nan)
                                    : isclose(x, y, rtol, atol, equal_nan));
      });
    }
    m->array["diff"] = Make("diff", {"a", "n", "axis"}, 1, [](Args& a) {
      return Value::FromArray(diff(a.GetArray("a"), static_cast<int>(a.Int("n", 1)),
                                   static_cast<int>(a.Int("axis", -1))));
    });
    using NanReduce = Array (*)(const Array&, const ReduceOptions&);
    for (const auto& [name, fn] : std::vector<std::pair<std::string, NanReduce>>{
             {"nansum", &nansum}, {"nanprod", &nanprod}, {"nanmean", &nanmean},
             {"nanmin", &nanmin}, {"nanmax", &nanmax}}) {
      const NanReduce f = fn;
      m->array[name] = Make(name, {"a", "axis", "keepdims", "split_every"}, 1, [f](Args& a) {
        const ReduceOptions o{a.GetAxes("axis"), a.Bool("keepdims", false),
                              static_cast<int>(a.Int("split_every", 8))};
        return Value::FromArray(f(a.GetArray("a"), o));
      });
    }
    // dask.array.var(a, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None).
    for (const char* name : {"var", "std"}) {
      const bool is_std = std::string(name) == "std";
      m->array[name] = Make(
          name, {"a", "axis", "dtype", "keepdims", "ddof", "split_every"}, 1, [is_std](Args& a) {
            const Array& x = a.GetArray("a");
            const Array xd = a.Has("dtype") ? x.astype(a.GetDType("dtype", x.dtype())) : x;
            const VarOptions o{a.GetAxes("axis"), a.Bool("keepdims", false), a.Number("ddof", 0),
                               static_cast<int>(a.Int("split_every", 8))};
            return Value::FromArray(is_std ? xd.std(o) : xd.var(o));
          });
    }
    // dask.array.argmin(a, axis=None, keepdims=False, split_every=None).
    for (const char* name : {"argmin", "argmax"}) {
      const bool is_max = std::string(name) == "argmax";
      m->array[name] = Make(name, {"a", "axis", "keepdims", "split_every"}, 1, [is_max](Args& a) {
        const Array& x = a.GetArray("a");
        const std::optional<int> axis = OptionalAxis(a, "axis");
        const bool keepdims = a.Bool("keepdims", false);
        const int split_every = static_cast<int>(a.Int("split_every", 8));
        return Value::FromArray(is_max ? x.argmax(axis, keepdims, split_every)
                                       : x.argmin(axis, keepdims, split_every));
      });
    }
    m->array["rechunk"] = Make("rechunk", {"x", "chunks"}, 1, [](Args& a) {
      return Value::FromArray(a.GetArray("x").rechunk(a.GetChunks("chunks")));
    });
    m->array["reshape"] = Make("reshape", {"x", "shape"}, 2, [](Args& a) {
      return Value::FromArray(a.GetArray("x").reshape(a.GetShape("shape")));
    });
    m->array["concatenate"] = Make("concatenate", {"seq", "axis"}, 1, [](Args& a) {
      return Value::FromArray(
          concatenate(ArraySequence(a, "seq"), static_cast<int>(a.Int("axis", 0))));
    });
    m->array["stack"] = Make("stack", {"seq", "axis"}, 1, [](Args& a) {
      return Value::FromArray(stack(ArraySequence(a, "seq"), static_cast<int>(a.Int("axis", 0))));
    });
    m->array["matmul"] = Make("matmul", {"x1", "x2"}, 2, [](Args& a) {
      for (const char* p : {"x1", "x2"}) {
        if (!IsArrayOperand(a.Get(p)) && !IsNumber(a.Get(p))) a.Bad(p, "an array");
      }
      return ArrayValue(graph::Matmul(NodeOf(a.Get("x1")), NodeOf(a.Get("x2"))));
    });
    m->array["dot"] = Make("dot", {"a", "b"}, 2, [](Args& a) -> Value {
      for (const char* p : {"a", "b"}) {
        if (!IsArrayOperand(a.Get(p)) && !IsNumber(a.Get(p))) a.Bad(p, "an array or a number");
      }
      if (!IsArrayOperand(a.Get("a")) && !IsArrayOperand(a.Get("b"))) {
        return a.interp().EvalBinary(a.call(), "*", a.Get("a"), a.Get("b"));
      }
      return ArrayValue(graph::Dot(NodeOf(a.Get("a")), NodeOf(a.Get("b"))));
    });
    m->array["tensordot"] = Make("tensordot", {"a", "b", "axes"}, 2, [](Args& a) {
      return Value::FromArray(Tensordot(a, a.GetArray("a"), a.GetArray("b")));
    });
    // from_array takes dask's (x, chunks); `dtype=` is an addition (a NumPy array would carry
    // its own). asarray / array take NumPy's (a, dtype) and dask's chunks= keyword.
    m->array["from_array"] = Make("from_array", {"x", "chunks", "dtype"}, 1,
                                  [](Args& a) { return ArrayFromData(a, "x"); });
    m->array["asarray"] =
        Make("asarray", {"a", "dtype", "chunks"}, 1, [](Args& a) { return ArrayFromData(a, "a"); });
    m->array["array"] = Make("array", {"object", "dtype", "chunks"}, 1,
                             [](Args& a) { return ArrayFromData(a, "object"); });

    // Random. Each function exists twice: in the module (dask.array.random.random(size, chunks,
    // dtype, seed=None): seed= or the interpreter's stream, which da.random.seed(n) restarts) and
    // as a method of a RandomState (rs.random(size, chunks, dtype): the seed is its stream's
    // next, as dask's RandomState methods have no seed argument).
    struct RandomFunction {
      const char* name;
      std::vector<std::string> params;  // before size, chunks, dtype
      size_t required;
      std::function<Array(Args&, const Shape&, random::RandomOptions&, random::RandomState*)> draw;
    };
    const std::vector<RandomFunction> random_functions = {
        {"random", {}, 0,
         [](Args&, const Shape& size, random::RandomOptions& o, random::RandomState* rs) {
           return rs ? rs->random(size, o) : random::random(size, o);
         }},
        {"uniform", {"low", "high"}, 0,
         [](Args& a, const Shape& size, random::RandomOptions& o, random::RandomState* rs) {
           const double low = a.Number("low", 0), high = a.Number("high", 1);
           return rs ? rs->uniform(low, high, size, o) : random::uniform(low, high, size, o);
         }},
        {"normal", {"loc", "scale"}, 0,
         [](Args& a, const Shape& size, random::RandomOptions& o, random::RandomState* rs) {
           const double loc = a.Number("loc", 0), scale = a.Number("scale", 1);
           return rs ? rs->normal(loc, scale, size, o) : random::normal(loc, scale, size, o);
         }},
        {"standard_normal", {}, 0,
         [](Args&, const Shape& size, random::RandomOptions& o, random::RandomState* rs) {
           return rs ? rs->normal(0, 1, size, o) : random::normal(0, 1, size, o);
         }},
        {"randint", {"low", "high"}, 1,
         [](Args& a, const Shape& size, random::RandomOptions& o, random::RandomState* rs) {
           const random::RandIntOptions ro{o.chunks, a.GetDType("dtype", DType::kInt64), o.seed};
           const std::optional<int64_t> high =
               a.Has("high") ? std::optional<int64_t>(a.Int("high")) : std::nullopt;
           return rs ? rs->randint(a.Int("low"), high, size, ro)
                     : random::randint(a.Int("low"), high, size, ro);
         }},
    };
    for (const RandomFunction& f : random_functions) {
      std::vector<std::string> params = f.params;
      for (const char* p : {"size", "chunks", "dtype"}) params.push_back(p);
      auto draw = f.draw;
      auto options = [](Args& a) {
        random::RandomOptions o;
        o.chunks = a.GetChunks("chunks");
        o.dtype = a.GetDType("dtype", DType::kFloat64);
        return o;
      };
      auto size_of = [](Args& a) { return a.Has("size") ? a.GetShape("size") : Shape{}; };
      std::vector<std::string> module_params = params;
      module_params.push_back("seed");
      m->random[f.name] = Make(f.name, module_params, f.required, [=](Args& a) {
        random::RandomOptions o = options(a);
        o.seed = a.GetSeed("seed");
        random::RandomState* stream = o.seed ? nullptr : &a.interp().GlobalRandom();
        return Value::FromArray(draw(a, size_of(a), o, stream));
      });
      std::vector<std::string> method_params = {"self"};
      method_params.insert(method_params.end(), params.begin(), params.end());
      m->random_state[f.name] = Make(f.name, method_params, f.required + 1, [=](Args& a) {
        random::RandomOptions o = options(a);
        return Value::FromArray(draw(a, size_of(a), o, a.Get("self").random_state.get()));
      });
      // NumPy's Generator (da.random.default_rng): the same draws with its argument order
      // (random(size, dtype), normal(loc, scale, size), ...) and dask's chunks= last.
      if (std::string(f.name) == "randint") continue;  // the Generator's is integers()
      std::vector<std::string> generator_params = {"self"};
      generator_params.insert(generator_params.end(), f.params.begin(), f.params.end());
      for (const char* p : {"size", "dtype", "chunks"}) generator_params.push_back(p);
      m->generator[f.name] = Make(f.name, generator_params, f.required + 1, [=](Args& a) {
        random::RandomOptions o = options(a);
        return Value::FromArray(draw(a, size_of(a), o, a.Get("self").random_state.get()));
      });
    }
    // Generator.integers(low, high=None, size=None, dtype=int64, endpoint=False): randint's
    // [low, high), or [low, high] with endpoint.
    m->generator["integers"] =
        Make("integers", {"self", "low", "high", "size", "dtype", "endpoint", "chunks"}, 2,
             [](Args& a) {
               const bool endpoint = a.Bool("endpoint", false);
               int64_t low = a.Int("low");
               std::optional<int64_t> high =
                   a.Has("high") ? std::optional<int64_t>(a.Int("high")) : std::nullopt;
               if (endpoint) {
                 if (!high) {
                   high = low;
                   low = 0;
                 }
                 if (*high == std::numeric_limits<int64_t>::max()) {
                   Fail(a.At("high"), "integers: high is too large for endpoint=True");
                 }
                 high = *high + 1;
               }
               const random::RandIntOptions ro{a.GetChunks("chunks"),
                                               a.GetDType("dtype", DType::kInt64), std::nullopt};
               const Shape size = a.Has("size") ? a.GetShape("size") : Shape{};
               return Value::FromArray(
                   a.Get("self").random_state->randint(low, high, size, ro));
             });
    m->random["random_sample"] = m->random["random"];
    m->random_state["random_sample"] = m->random_state["random"];
    // RandomState(seed), and default_rng(seed): NumPy's Generator API over the same stream of
    // seeds (`b` marks it).
    for (const bool generator : {false, true}) {
      const char* name = generator ? "default_rng" : "RandomState";
      m->random[name] = Make(name, {"seed"}, 0, [generator](Args& a) {
        Value v;
        v.kind = Value::Kind::kRandomState;
        v.b = generator;
        v.random_state = std::make_shared<random::RandomState>(a.GetSeed("seed"));
        return v;
      });
    }
    // seed(n) restarts the module's stream (NumPy's np.random.seed); RandomState.seed(n) its own.
    m->random["seed"] = Make("seed", {"seed"}, 0, [](Args& a) {
      a.interp().GlobalRandom().seed(a.GetSeed("seed"));
      return Value::None();
    });
    m->random_state["seed"] = Make("seed", {"self", "seed"}, 1, [](Args& a) {
      a.Get("self").random_state->seed(a.GetSeed("seed"));
      return Value::None();
    });

    // dask.distributed: Client(...) and LocalCluster(...) start or join the session's cluster
    // (the embedded local one, or --scheduler's); see docs/cli.md.
    auto client_spec = [](Args& a) {
      ClientSpec spec;
      if (a.Has("address")) {
        const Value& v = a.Get("address");
        if (v.kind == Value::Kind::kString) {
          spec.address = v.text;
        } else if (v.kind != Value::Kind::kClient) {
          a.Bad("address", "a scheduler address or a LocalCluster");
        }
      }
      for (const char* name : {"n_workers", "threads_per_worker"}) {
        if (!a.Has(name)) continue;
        const int64_t n = a.Int(name);
        if (n < 1 || n > 1024) {
          Fail(a.At(name), absl::StrCat(a.name(), "() argument '", name,
                                        "' must be between 1 and 1024, not ", n));
        }
        (std::string(name) == "n_workers" ? spec.n_workers : spec.threads_per_worker) =
            static_cast<int>(n);
      }
      if (a.Has("memory_limit")) {
        const Value& v = a.Get("memory_limit");
        int64_t bytes = 0;
        if (v.kind == Value::Kind::kString) {
          absl::StatusOr<int64_t> parsed = ParseBytes(v.text);
          if (!parsed.ok()) Fail(a.At("memory_limit"), std::string(parsed.status().message()));
          bytes = *parsed;
        } else {
          bytes = a.Int("memory_limit");
        }
        if (bytes <= 0) {
          Fail(a.At("memory_limit"),
               absl::StrCat(a.name(), "() argument 'memory_limit' must be positive, not ", bytes));
        }
        spec.memory_limit = bytes;
      }
      return spec;
    };
    auto client_value = [] {
      Value v;
      v.kind = Value::Kind::kClient;
      return v;
    };
    // `processes` is accepted and has no effect: the local cluster's workers are processes.
    m->distributed["Client"] =
        Make("Client", {"address", "n_workers", "threads_per_worker", "memory_limit", "processes"},
             0, [=](Args& a) {
               a.interp().Connect(a.callee(), client_spec(a));
               return client_value();
             });
    m->distributed["LocalCluster"] =
        Make("LocalCluster", {"n_workers", "threads_per_worker", "memory_limit", "processes"}, 0,
             [=](Args& a) {
               a.interp().Connect(a.callee(), client_spec(a));
               return client_value();
             });
    // wait(x): results are ready when compute / persist return, so it gives x back; progress(x)
    // draws nothing (the CLI's progress bar is on stderr).
    m->distributed["wait"] = Make("wait", {"fs"}, 1, [](Args& a) { return a.Get("fs"); });
    m->distributed["progress"] = MakeVariadic("progress", [](Args&) { return Value::None(); });

    // Python builtins.
    m->python["print"] = MakeVariadic("print", [](Args& a) {
      std::vector<std::string> parts;
      for (const Value& v : a.raw()) {
        parts.push_back(v.kind == Value::Kind::kString ? v.text : a.interp().Repr(v));
      }
      a.interp().Print(absl::StrJoin(parts, " "));
      return Value::None();
    });
    // range(stop) / range(start, stop[, step]) as a list of ints (enough for comprehensions).
    m->python["range"] = MakeVariadic("range", [](Args& a) {
      const std::vector<Value>& raw = a.raw();
      if (raw.empty() || raw.size() > 3) {
        Fail(a.callee(), absl::StrCat("range expected 1 to 3 arguments, got ", raw.size()));
      }
      int64_t bounds[3] = {0, 0, 1};
      for (size_t k = 0; k < raw.size(); ++k) {
        if (raw[k].kind != Value::Kind::kInt) {
          Fail(a.raw_at(k), absl::StrCat("'", raw[k].TypeName(),
                                         "' object cannot be interpreted as an integer"));
        }
      }
      if (raw.size() == 1) {
        bounds[1] = raw[0].i;
      } else {
        bounds[0] = raw[0].i;
        bounds[1] = raw[1].i;
        if (raw.size() == 3) bounds[2] = raw[2].i;
      }
      if (bounds[2] == 0) Fail(a.raw_at(2), "range() arg 3 must not be zero");
      const int64_t n = bounds[2] > 0 ? (bounds[1] - bounds[0] + bounds[2] - 1) / bounds[2]
                                      : (bounds[0] - bounds[1] - bounds[2] - 1) / -bounds[2];
      if (n > 100'000'000) Fail(a.callee(), "range() of more than 1e8 items");
      Value out;
      out.kind = Value::Kind::kList;
      for (int64_t k = 0; k < n; ++k) out.items.push_back(Value::Int(bounds[0] + k * bounds[2]));
      return out;
    });
    m->python["len"] = Make("len", {"obj"}, 1, [](Args& a) {
      const Value& v = a.Get("obj");
      switch (v.kind) {
        case Value::Kind::kTuple:
        case Value::Kind::kList:
          return Value::Int(static_cast<int64_t>(v.items.size()));
        case Value::Kind::kString:
          return Value::Int(static_cast<int64_t>(v.text.size()));
        case Value::Kind::kArray:
          if (v.array->ndim() > 0) return Value::Int(v.array->shape()[0]);
          break;
        case Value::Kind::kNDArray:
          if (v.ndarray->ndim() > 0) return Value::Int(v.ndarray->shape()[0]);
          break;
        default:
          break;
      }
      Fail(a.At("obj"), absl::StrCat("object of type '", v.TypeName(), "' has no len()"));
    });
    auto to_number = [](Args& a) -> Value {
      Value v = a.Get("x");
      if (v.kind == Value::Kind::kArray) v = a.interp().Compute(a.callee(), v);
      if (v.kind == Value::Kind::kNDArray) {
        if (v.ndarray->size() != 1) {
          Fail(a.At("x"), "only arrays of one element can be converted to Python scalars");
        }
        return Value::Float(v.ndarray->at(0));
      }
      if (v.kind == Value::Kind::kString) {
        char* end = nullptr;
        const double d = std::strtod(v.text.c_str(), &end);
        if (v.text.empty() || *end != '\0') {
          Fail(a.At("x"),
               absl::StrCat("could not convert string to a number: ", StringRepr(v.text)));
        }
        return Value::Float(d);
      }
      if (!IsNumber(v)) a.Bad("x", "a number, a string or an array");
      return Scalarize(v);
    };
    m->python["float"] = Make("float", {"x"}, 0, [to_number](Args& a) {
      return Value::Float(a.Has("x") ? AsDouble(to_number(a)) : 0.0);
    });
    m->python["int"] = Make("int", {"x"}, 0, [to_number](Args& a) {
      if (!a.Has("x")) return Value::Int(0);
      const Value v = to_number(a);
      if (v.kind == Value::Kind::kFloat) {
        if (!std::isfinite(v.f) || std::fabs(v.f) >= 9.2e18) {
          Fail(a.At("x"), absl::StrCat("cannot convert float ", FloatRepr(v.f), " to int"));
        }
        return Value::Int(static_cast<int64_t>(v.f));
      }
      return Value::Int(static_cast<int64_t>(AsDouble(v)));
    });
    m->python["bool"] = Make("bool", {"x"}, 0, [](Args& a) {
      return Value::Bool(a.Has("x") && a.interp().Truth(a.At("x"), a.Get("x")));
    });
    return m;
  }();
  return *modules;
}

}  // namespace

Interpreter::Interpreter(InterpreterOptions options) : options_(std::move(options)) {
  const Modules& m = GetModules();
  for (const auto& [name, fn] : m.array) globals_[name] = FunctionValue(fn);
  // Python's builtins shadow NumPy's names where both exist (abs, min, max, ...) only for
  // those that differ in meaning: print, len, float, int, bool.
  for (const auto& [name, fn] : m.python) globals_[name] = FunctionValue(fn);
  globals_["da"] = Value::Module("dask.array");
  globals_["np"] = Value::Module("numpy");
  globals_["dask"] = Value::Module("dask");
  globals_["numpy"] = Value::Module("numpy");
  globals_["random"] = Value::Module("dask.array.random");
  for (DType d : {DType::kFloat64, DType::kFloat32, DType::kInt64, DType::kInt32}) {
    globals_[std::string(DTypeName(d))] = Value::FromDType(d);
  }
  globals_["bool_"] = Value::FromDType(DType::kBool);
  globals_["newaxis"] = Value::None();
  globals_["pi"] = Value::Float(std::numbers::pi);
  globals_["e"] = Value::Float(std::numbers::e);
  globals_["inf"] = Value::Float(std::numeric_limits<double>::infinity());
  globals_["nan"] = Value::Float(std::numeric_limits<double>::quiet_NaN());
}

Interpreter::~Interpreter() = default;

const Value* Interpreter::Lookup(const std::string& name) const {
  auto it = globals_.find(name);
  return it == globals_.end() ? nullptr : &it->second;
}

void Interpreter::Print(const std::string& line) {
  if (options_.print) {
    options_.print(line);
  } else {
    std::cout << line << std::endl;
  }
}

namespace {

Value FromCallValue(const tessera::Value& v) {
  switch (v.type()) {
    case ValueType::kNone:
      return Value::None();
    case ValueType::kInt64:
      return Value::Int(v.as_int());
    case ValueType::kFloat64:
      return Value::Float(v.as_double());
    case ValueType::kString:
    case ValueType::kBytes:
      return Value::String(v.as_string());
    case ValueType::kArray:
      return Value::FromNDArray(v.as_array());
    case ValueType::kList: {
      Value out;
      out.kind = Value::Kind::kList;
      for (const tessera::Value& item : v.as_list()) out.items.push_back(FromCallValue(item));
      return out;
    }
  }
  return Value::None();
}

bool ContainsDelayed(const Value& v) {
  if (v.kind == Value::Kind::kDelayed) return true;
  if (v.kind == Value::Kind::kList || v.kind == Value::Kind::kTuple) {
    for (const Value& item : v.items) {
      if (ContainsDelayed(item)) return true;
    }
  }
  return false;
}

}  // namespace

bool Interpreter::IsRegisteredFunction(const std::string& name) {
  if (!registered_) {
    registered_.emplace();
    if (options_.functions) {
      for (const std::string& f : options_.functions()) registered_->insert(f);
    }
  }
  return registered_->count(name) != 0;
}

// A lazy call: the arguments become literals, lazy calls (dependencies) or lists of these.
Value Interpreter::MakeCall(const Expr& at, const std::string& function,
                            const std::vector<Value>& args, const std::vector<const Expr*>& args_at) {
  std::function<Arg(const Value&, const Expr&)> to_arg = [&](const Value& v, const Expr& where) -> Arg {
    switch (v.kind) {
      case Value::Kind::kNone:
        return Arg(tessera::Value());
      case Value::Kind::kBool:
        return Arg(int64_t{v.b ? 1 : 0});
      case Value::Kind::kInt:
        return Arg(v.i);
      case Value::Kind::kFloat:
        return Arg(v.f);
      case Value::Kind::kString:
        return Arg(v.text);
      case Value::Kind::kList:
      case Value::Kind::kTuple: {
        std::vector<Arg> items;
        items.reserve(v.items.size());
        for (const Value& item : v.items) items.push_back(to_arg(item, where));
        return Arg(std::move(items));
      }
      case Value::Kind::kArray:
        return Arg(*Compute(where, v).ndarray);
      case Value::Kind::kNDArray:
        return Arg(*v.ndarray);
      case Value::Kind::kDelayed:
        return Arg(*v.delayed);
      default:
        Fail(where, absl::StrCat(function, "() cannot take a ", v.TypeName(),
                                 " (functions take numbers, strings, arrays and lists)"));
    }
  };
  std::vector<Arg> call_args;
  call_args.reserve(args.size());
  for (size_t k = 0; k < args.size(); ++k) call_args.push_back(to_arg(args[k], *args_at[k]));
  Value out;
  out.kind = Value::Kind::kDelayed;
  out.delayed = std::make_shared<const tessera::Delayed>(tessera::delayed(function).Call(std::move(call_args)));
  (void)at;
  return out;
}

Value Interpreter::EvalListComp(const Expr& e) {
  const Value iterable = Eval(*e.items[1]);
  if (iterable.kind != Value::Kind::kList && iterable.kind != Value::Kind::kTuple) {
    Fail(*e.items[1], absl::StrCat("'", iterable.TypeName(),
                                   "' object is not iterable here (a list, tuple or range)"));
  }
  // The target is local to the comprehension, as in Python 3.
  std::optional<Value> saved;
  if (const Value* old = Lookup(e.name)) saved = *old;
  Value out;
  out.kind = Value::Kind::kList;
  try {
    for (const Value& item : iterable.items) {
      globals_[e.name] = item;
      if (e.items[2] && !Truth(*e.items[2], Eval(*e.items[2]))) continue;
      out.items.push_back(Eval(*e.items[0]));
    }
  } catch (...) {
    if (saved) globals_[e.name] = *saved; else globals_.erase(e.name);
    throw;
  }
  if (saved) {
    globals_[e.name] = *saved;
  } else {
    globals_.erase(e.name);
  }
  return out;
}

Value Interpreter::Compute(const Expr& at, const Value& v) {
  if (v.kind == Value::Kind::kDelayed) {
    if (!options_.compute_delayed) Fail(at, "no cluster to compute on", 9);
    try {
      return FromCallValue(options_.compute_delayed(*v.delayed));
    } catch (const LocatedError&) {
      throw;
    } catch (const Error& error) {
      if (at.line == 1 && at.column == 1 && at.kind == Expr::Kind::kNone) throw;
      throw LocatedError(error.code(), Where(at) + error.what());
    }
  }
  if (v.kind != Value::Kind::kArray) return v;
  if (!options_.compute) Fail(at, "no cluster to compute on", 9);
  return Value::FromNDArray(options_.compute(*v.array));
}

Value Interpreter::Evaluate(std::string_view source) {
  absl::StatusOr<Program> program = Parse(source);
  if (!program.ok()) {
    throw Error(static_cast<int>(program.status().code()), std::string(program.status().message()));
  }
  Value last;
  for (const Stmt& stmt : program->statements) {
    last = Value::None();
    switch (stmt.kind) {
      case Stmt::Kind::kExpr:
        last = Eval(*stmt.value);
        break;
      case Stmt::Kind::kAssign: {
        Value v = Eval(*stmt.value);
        for (const std::string& t : stmt.targets) globals_[t] = v;
        break;
      }
      case Stmt::Kind::kAugAssign: {
        const Value* current = Lookup(stmt.targets[0]);
        if (!current) {
          Fail(*stmt.value, absl::StrCat("name '", stmt.targets[0], "' is not defined"));
        }
        globals_[stmt.targets[0]] = EvalBinary(*stmt.value, stmt.op, *current, Eval(*stmt.value));
        break;
      }
      case Stmt::Kind::kImport: {
        static const std::set<std::string, std::less<>> kKnown = {
            "dask", "dask.array", "dask.array.random", "numpy", "numpy.random",
            "dask.distributed", "distributed"};
        // from dask.distributed import Client, LocalCluster, wait, progress
        const std::string_view package = absl::StartsWith(stmt.module, "dask.distributed.")
                                             ? "dask.distributed"
                                         : absl::StartsWith(stmt.module, "distributed.")
                                             ? "distributed"
                                             : "";
        if (!package.empty()) {
          const std::string name = stmt.module.substr(package.size() + 1);
          const BuiltinTable& table = GetModules().distributed;
          auto it = table.find(name);
          if (it == table.end()) {
            throw LocatedError(
                3, absl::StrCat("line ", stmt.line, ", column ", stmt.column,
                                ": cannot import name '", name, "' from '", std::string(package),
                                "' (the tessera language has Client, LocalCluster, wait and "
                                "progress)"));
          }
          globals_[stmt.alias.empty() ? name : stmt.alias] = FunctionValue(it->second);
          break;
        }
        if (!kKnown.count(stmt.module)) {
          throw LocatedError(
              3, absl::StrCat("line ", stmt.line, ", column ", stmt.column, ": no module named '",
                              stmt.module, "' (the tessera language knows dask.array and numpy)"));
        }
        if (stmt.alias.empty()) {
          const std::string top = stmt.module.substr(0, stmt.module.find('.'));
          globals_[top] = Value::Module(top);
        } else {
          globals_[stmt.alias] = Value::Module(stmt.module);
        }
        break;
      }
    }
  }
  return last;
}

std::optional<std::string> Interpreter::Run(std::string_view source) {
  Value v = Evaluate(source);
  if (v.kind == Value::Kind::kNone) return std::nullopt;
  return Repr(v);
}

std::string Interpreter::Repr(const Value& v) { return ReprImpl(v, /*top=*/true); }

std::string Interpreter::ReprImpl(const Value& v, bool top) {
  const int64_t threshold = options_.print_array ? std::numeric_limits<int64_t>::max() : 1000;
  switch (v.kind) {
    case Value::Kind::kNone:
      return "None";
    case Value::Kind::kBool:
      return v.b ? "True" : "False";
    case Value::Kind::kInt:
      return absl::StrCat(v.i);
    case Value::Kind::kFloat:
      return FloatRepr(v.f);
    case Value::Kind::kString:
      return StringRepr(v.text);
    case Value::Kind::kTuple:
    case Value::Kind::kList: {
      std::vector<std::string> parts;
      for (const Value& item : v.items) parts.push_back(ReprImpl(item, false));
      if (v.kind == Value::Kind::kList) return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
      if (parts.size() == 1) return absl::StrCat("(", parts[0], ",)");
      return absl::StrCat("(", absl::StrJoin(parts, ", "), ")");
    }
    case Value::Kind::kEllipsis:
      return "Ellipsis";
    case Value::Kind::kSlice:
      return absl::StrCat("slice(", ReprImpl(v.items[0], false), ", ", ReprImpl(v.items[1], false),
                          ", ", ReprImpl(v.items[2], false), ")");
    case Value::Kind::kArray: {
      if (!top) return v.array->repr();
      if (!options_.compute) throw Error(9, "no cluster to compute on");
      // A summary shows 6 entries per long axis: only those are computed and fetched, so that
      // looking at a 50000 x 50000 array (`x`) costs a few small tasks, not 20 GB on the client.
      const Array& x = *v.array;
      if (x.size() > threshold) {
        return options_.compute(leading_trailing(x, 3)).summary_repr(x.shape());
      }
      return options_.compute(x).repr(threshold);
    }
    case Value::Kind::kNDArray:
      return v.ndarray->repr(threshold);
    case Value::Kind::kDType:
      return absl::StrCat("dtype('", std::string(DTypeName(v.dtype)), "')");
    case Value::Kind::kFunction:
      if (!v.items.empty()) return absl::StrCat("<bound method ", v.text, ">");
      return absl::StrCat("<function ", v.text, ">");
    case Value::Kind::kModule:
      return absl::StrCat("<module '", v.text, "'>");
    case Value::Kind::kClient:
      return options_.describe_client ? options_.describe_client() : "<Client>";
    case Value::Kind::kRandomState:
      return absl::StrCat("<dask.array.random.", v.TypeName(),
                          " seed=", v.random_state->stream_seed(),
                          " draws=", v.random_state->draws(), ">");
    case Value::Kind::kDelayed: {
      // Shown by value, as a computed result is (a list of calls computes each).
      const Expr at;
      return ReprImpl(Compute(at, v), top);
    }
  }
  return "?";
}

bool Interpreter::Truth(const Expr& at, const Value& v) {
  if (v.kind == Value::Kind::kDelayed) return Truth(at, Compute(at, v));
  switch (v.kind) {
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return v.b;
    case Value::Kind::kInt:
      return v.i != 0;
    case Value::Kind::kFloat:
      return v.f != 0;
    case Value::Kind::kString:
      return !v.text.empty();
    case Value::Kind::kTuple:
    case Value::Kind::kList:
      return !v.items.empty();
    case Value::Kind::kArray:
      // As dask does, a one-element array is computed to decide.
      if (v.array->size() == 1) return Truth(at, Compute(at, v));
      [[fallthrough]];
    case Value::Kind::kNDArray:
      if (v.kind == Value::Kind::kNDArray && v.ndarray->size() == 1) return v.ndarray->at(0) != 0;
      Fail(at,
           "the truth value of an array is ambiguous; compute it or reduce it with "
           ".min() / .max() first");
    default:
      return true;
  }
}

Value Interpreter::Eval(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kName: {
      const Value* v = Lookup(e.name);
      if (!v && IsRegisteredFunction(e.name)) {
        Value f = FunctionValue(MakeVariadic(e.name, [](Args&) -> Value { return Value::None(); }));
        f.text = e.name;
        f.b = true;  // marks a registered function: EvalCall builds a lazy call
        return f;
      }
      if (!v) Fail(e, absl::StrCat("name '", e.name, "' is not defined"));
      return *v;
    }
    case Expr::Kind::kListComp:
      return EvalListComp(e);
    case Expr::Kind::kInt:
      return Value::Int(e.int_value);
    case Expr::Kind::kFloat:
      return Value::Float(e.float_value);
    case Expr::Kind::kString:
      return Value::String(e.name);
    case Expr::Kind::kBool:
      return Value::Bool(e.bool_value);
    case Expr::Kind::kNone:
      return Value::None();
    case Expr::Kind::kEllipsis: {
      Value v;
      v.kind = Value::Kind::kEllipsis;
      return v;
    }
    case Expr::Kind::kTuple:
    case Expr::Kind::kList: {
      Value v;
      v.kind = e.kind == Expr::Kind::kTuple ? Value::Kind::kTuple : Value::Kind::kList;
      for (const ExprPtr& item : e.items) v.items.push_back(Eval(*item));
      return v;
    }
    case Expr::Kind::kUnary:
      if (e.op == "not") return Value::Bool(!Truth(*e.items[0], Eval(*e.items[0])));
      return EvalUnary(e, e.op, Eval(*e.items[0]));
    case Expr::Kind::kBinary: {
      if (e.op == "and" || e.op == "or") {
        Value a = Eval(*e.items[0]);
        const bool t = Truth(*e.items[0], a);
        if ((e.op == "and") != t) return a;
        return Eval(*e.items[1]);
      }
      Value a = Eval(*e.items[0]);
      Value b = Eval(*e.items[1]);
      return EvalBinary(e, e.op, a, b);
    }
    case Expr::Kind::kCompare:
      return EvalCompare(e);
    case Expr::Kind::kCall:
      return EvalCall(e);
    case Expr::Kind::kAttribute:
      return EvalAttribute(e);
    case Expr::Kind::kSubscript:
      return EvalSubscript(e);
    case Expr::Kind::kSlice: {
      Value v;
      v.kind = Value::Kind::kSlice;
      for (const ExprPtr& item : e.items) v.items.push_back(item ? Eval(*item) : Value::None());
      return v;
    }
  }
  Fail(e, "unsupported expression");
}

Value Interpreter::EvalCall(const Expr& e) {
  const Value callee = Eval(*e.items[0]);
  if (callee.kind != Value::Kind::kFunction) {
    Fail(*e.items[0], absl::StrCat("'", callee.TypeName(), "' object is not callable"));
  }
  std::vector<Value> positional;
  std::vector<const Expr*> positional_at;
  // A bound method passes its object first.
  for (const Value& self : callee.items) {
    positional.push_back(self);
    positional_at.push_back(e.items[0].get());
  }
  for (size_t i = 1; i < e.items.size(); ++i) {
    positional.push_back(Eval(*e.items[i]));
    positional_at.push_back(e.items[i].get());
  }
  std::vector<std::pair<std::string, Value>> keywords;
  std::vector<const Expr*> keyword_at;
  for (const auto& [name, value] : e.keywords) {
    keywords.emplace_back(name, Eval(*value));
    keyword_at.push_back(value.get());
  }
  // A registered function: by a name the language does not define (inc), or by one it does
  // (add, sum) when an argument is a lazy call.
  if (callee.items.empty() &&
      (callee.b || (std::any_of(positional.begin(), positional.end(), ContainsDelayed) &&
                    IsRegisteredFunction(callee.text)))) {
    if (!e.keywords.empty()) {
      Fail(*e.keywords[0].second, absl::StrCat(callee.text, "() takes no keyword arguments"));
    }
    return MakeCall(e, callee.text, positional, positional_at);
  }
  // Python's builtins and the functions that make an array from data take a computed array as
  // it is; every other builtin gets it as a lazy array.
  static const std::set<std::string, std::less<>> kTakeComputed = {
      "print", "len", "float", "int", "bool", "range", "from_array", "asarray", "array"};
  if (!kTakeComputed.contains(callee.function->name)) {
    for (Value& v : positional) v = Lift(v);
    for (auto& kw : keywords) kw.second = Lift(kw.second);
  }
  try {
    Args args(*callee.function, e, std::move(positional), std::move(positional_at),
              std::move(keywords), std::move(keyword_at), this);
    return callee.function->body(args);
  } catch (const LocatedError&) {
    throw;
  } catch (const Error& error) {
    throw LocatedError(error.code(), Where(*e.items[0]) + error.what());
  }
}

namespace {

std::shared_ptr<const Builtin> Method(std::string_view name) {
  static const BuiltinTable* methods = [] {
    auto* t = new BuiltinTable;
    const Modules& m = GetModules();
    // Methods are the dask.array functions with the array as `self`.
    for (const char* name : {"sum", "prod", "mean", "min", "max", "any", "all", "astype", "var",
                             "std", "argmin", "argmax", "rechunk", "dot", "round", "ravel",
                             "squeeze", "swapaxes"}) {
      const Builtin& f = *m.array.at(name);
      auto b = std::make_shared<Builtin>(f);
      b->method = true;
      (*t)[name] = b;
    }
    // x.transpose(*axes), as NumPy: no arguments or None (reversed), one tuple, or the axes
    // as separate ints.
    auto transpose = std::make_shared<Builtin>(*MakeVariadic("transpose", [](Args& a) {
      const std::vector<Value>& raw = a.raw();
      const Array& x = *raw[0].array;
      std::vector<int> axes;
      auto add = [&](const Value& v, const Expr& at) {
        if (v.kind != Value::Kind::kInt) {
          Fail(at, absl::StrCat("transpose() axes must be ints, not ", v.TypeName()));
        }
        axes.push_back(static_cast<int>(v.i));
      };
      if (raw.size() == 2 && raw[1].kind == Value::Kind::kNone) {
        // x.transpose(None): reversed axes
      } else if (raw.size() == 2 &&
                 (raw[1].kind == Value::Kind::kTuple || raw[1].kind == Value::Kind::kList)) {
        for (const Value& v : raw[1].items) add(v, a.raw_at(1));
      } else {
        for (size_t i = 1; i < raw.size(); ++i) add(raw[i], a.raw_at(i));
      }
      return Value::FromArray(x.transpose(axes));
    }));
    transpose->method = true;
    (*t)["transpose"] = transpose;
    // ndarray.clip(min=None, max=None) and flatten (= ravel).
    auto clip_method = std::make_shared<Builtin>(
        *Make("clip", {"a", "min", "max"}, 1, [](Args& a) { return ClipValue(a, "min", "max"); }));
    clip_method->method = true;
    (*t)["clip"] = clip_method;
    auto flatten = std::make_shared<Builtin>(*m.array.at("ravel"));
    flatten->method = true;
    flatten->name = "flatten";
    (*t)["flatten"] = flatten;
    auto reshape = std::make_shared<Builtin>(*MakeVariadic("reshape", ReshapeMethod));
    reshape->method = true;
    (*t)["reshape"] = reshape;
    return t;
  }();
  auto it = methods->find(name);
  return it == methods->end() ? nullptr : it->second;
}

}  // namespace

void Interpreter::Connect(const Expr& at, const ClientSpec& spec) {
  if (!options_.connect) Fail(at, "no cluster to connect to");
  options_.connect(spec);
}

Value Interpreter::EvalAttribute(const Expr& e) { return AttributeOf(Eval(*e.items[0]), e); }

Value Interpreter::AttributeOf(const Value& base, const Expr& e) {
  const std::string& name = e.name;
  switch (base.kind) {
    case Value::Kind::kDelayed: {
      if (name == "key") return Value::String(base.delayed->key());
      if (name == "compute") {
        auto b = Make(name, {"self"}, 1, [this](Args& a) -> Value {
          return Compute(a.callee(), a.Get("self"));
        });
        Value v = FunctionValue(b);
        v.items.push_back(base);
        return v;
      }
      Fail(e, absl::StrCat("'Delayed' object has no attribute '", name, "'"));
    }
    case Value::Kind::kClient: {
      // The methods of dask's Client that the language can mean: compute / gather (values),
      // persist, submit / map (of registered functions), close; and dashboard_link.
      if (name == "dashboard_link") {
        return Value::String(options_.dashboard_link ? options_.dashboard_link() : "");
      }
      std::function<Value(Args&)> body;
      std::vector<std::string> params = {"self"};
      bool variadic = false;
      if (name == "close" || name == "shutdown") {
        body = [](Args&) { return Value::None(); };
      } else if (name == "compute" || name == "gather" || name == "persist") {
        params.push_back(name == "gather" ? "futures" : "collections");
        const bool persist = name == "persist";
        body = [this, persist, param = params.back()](Args& a) -> Value {
          std::function<Value(const Value&)> each = [&](const Value& v) -> Value {
            if (v.kind == Value::Kind::kTuple || v.kind == Value::Kind::kList) {
              Value out = v;
              for (Value& item : out.items) item = each(item);
              return out;
            }
            if (persist && v.kind == Value::Kind::kArray) {
              if (!options_.persist) Fail(a.callee(), "no cluster to persist on", 9);
              return Value::FromArray(options_.persist(*v.array));
            }
            return persist ? v : Compute(a.callee(), v);
          };
          return each(a.Get(param));
        };
      } else if (name == "submit" || name == "map") {
        variadic = true;
        const bool map = name == "map";
        body = [this, map](Args& a) -> Value {
          const std::vector<Value>& raw = a.raw();
          const std::string fn = map ? "map" : "submit";
          if (raw.size() < 2 || raw[1].kind != Value::Kind::kFunction || !raw[1].b) {
            Fail(a.callee(), absl::StrCat(fn, "() takes a registered function first (inc, add, a "
                                              "plugin's), not ",
                                          raw.size() < 2 ? "nothing" : raw[1].TypeName()));
          }
          const std::string& function = raw[1].text;
          if (!map) {
            std::vector<Value> args(raw.begin() + 2, raw.end());
            std::vector<const Expr*> at;
            for (size_t i = 2; i < raw.size(); ++i) at.push_back(&a.raw_at(i));
            return MakeCall(a.callee(), function, args, at);
          }
          if (raw.size() != 3 ||
              (raw[2].kind != Value::Kind::kList && raw[2].kind != Value::Kind::kTuple)) {
            Fail(a.callee(), "map() takes a registered function and one list of arguments");
          }
          Value out;
          out.kind = Value::Kind::kList;
          for (const Value& item : raw[2].items) {
            out.items.push_back(MakeCall(a.callee(), function, {item}, {&a.raw_at(2)}));
          }
          return out;
        };
      } else {
        Fail(e, absl::StrCat("'Client' object has no attribute '", name, "'"));
      }
      Value v = FunctionValue(variadic ? MakeVariadic(name, body)
                                       : Make(name, params, params.size(), body));
      v.items.push_back(base);
      return v;
    }
    case Value::Kind::kRandomState: {
      const Modules& m = GetModules();
      const BuiltinTable& table = base.b ? m.generator : m.random_state;
      auto it = table.find(name);
      if (it == table.end()) {
        Fail(e, absl::StrCat("'", base.TypeName(), "' object has no attribute '", name, "'"));
      }
      Value v = FunctionValue(it->second);
      v.items.push_back(base);
      return v;
    }
    case Value::Kind::kModule: {
      const Modules& m = GetModules();
      const std::string& mod = base.text;
      const BuiltinTable* table = nullptr;
      if (mod == "dask.distributed" || mod == "distributed") {
        auto it = m.distributed.find(name);
        if (it != m.distributed.end()) return FunctionValue(it->second);
      } else if (mod == "dask") {
        if (name == "array") return Value::Module("dask.array");
        if (name == "distributed") return Value::Module("dask.distributed");
      } else if (mod == "dask.array" || mod == "numpy") {
        if (name == "random") return Value::Module(mod + ".random");
        table = &m.array;
        if (name == "newaxis") return Value::None();
        for (const char* c : {"pi", "e", "inf", "nan"}) {
          if (name == c) return globals_.at(c);
        }
        for (DType d : {DType::kFloat64, DType::kFloat32, DType::kInt64, DType::kInt32}) {
          if (name == DTypeName(d)) return Value::FromDType(d);
        }
        if (name == "bool_") return Value::FromDType(DType::kBool);
      } else {
        table = &m.random;
      }
      if (table) {
        auto it = table->find(name);
        if (it != table->end()) return FunctionValue(it->second);
      }
      const std::string written = WrittenPath(*e.items[0]);
      Fail(e, absl::StrCat("module '", written.empty() ? mod : written, "' has no attribute '",
                           name, "'"));
    }
    case Value::Kind::kArray: {
      const Array& x = *base.array;
      if (name == "shape") {
        std::vector<Value> items;
        for (int64_t d : x.shape()) items.push_back(Value::Int(d));
        return Value::Tuple(std::move(items));
      }
      if (name == "chunksize") {
        std::vector<Value> items;
        for (int64_t d : x.chunksize()) items.push_back(Value::Int(d));
        return Value::Tuple(std::move(items));
      }
      if (name == "numblocks") {
        std::vector<Value> items;
        for (int64_t d : NumBlocks(x.chunks())) items.push_back(Value::Int(d));
        return Value::Tuple(std::move(items));
      }
      if (name == "chunks") {
        std::vector<Value> axes;
        for (const auto& axis : x.chunks()) {
          std::vector<Value> blocks;
          for (int64_t b : axis) blocks.push_back(Value::Int(b));
          axes.push_back(Value::Tuple(std::move(blocks)));
        }
        return Value::Tuple(std::move(axes));
      }
      if (name == "dtype") return Value::FromDType(x.dtype());
      if (name == "ndim") return Value::Int(x.ndim());
      if (name == "size") return Value::Int(x.size());
      if (name == "nbytes") return Value::Int(x.nbytes());
      if (name == "npartitions") return Value::Int(x.npartitions());
      if (name == "T") return Value::FromArray(x.T());
      if (name == "compute" || name == "persist") {
        const bool compute = name == "compute";
        auto b = Make(name, {"self"}, 1, [this, compute](Args& a) -> Value {
          if (compute) return Compute(a.callee(), a.Get("self"));
          if (!options_.persist) Fail(a.callee(), "no cluster to persist on", 9);
          return Value::FromArray(options_.persist(*a.Get("self").array));
        });
        Value v = FunctionValue(b);
        v.items.push_back(base);
        return v;
      }
      if (auto method = Method(name)) {
        Value v = FunctionValue(method);
        v.items.push_back(base);
        return v;
      }
      Fail(e, absl::StrCat("'Array' object has no attribute '", name, "'"));
    }
    case Value::Kind::kNDArray: {
      const NDArray& x = *base.ndarray;
      if (name == "shape") {
        std::vector<Value> items;
        for (int64_t d : x.shape()) items.push_back(Value::Int(d));
        return Value::Tuple(std::move(items));
      }
      if (name == "dtype") return Value::FromDType(x.dtype());
      if (name == "ndim") return Value::Int(x.ndim());
      if (name == "size") return Value::Int(x.size());
      if (name == "nbytes") return Value::Int(static_cast<int64_t>(x.bytes().size()));
      if (name == "item" || name == "compute") {
        const bool item = name == "item";
        auto b = Make(name, {"self"}, 1, [item](Args& a) -> Value {
          const Value& self = a.Get("self");
          if (!item) return self;
          if (self.ndarray->size() != 1) {
            Fail(a.callee(), "can only convert an array of size 1 to a Python scalar");
          }
          Value v = Value::FromNDArray(NDArray(self.ndarray->dtype(), {}, self.ndarray->bytes()));
          return Scalarize(v);
        });
        Value v = FunctionValue(b);
        v.items.push_back(base);
        return v;
      }
      // Anything else (r.mean(), r.T) is the lazy array's.
      return AttributeOf(LiftArray(base), e);
    }
    case Value::Kind::kDType:
      if (name == "name") return Value::String(std::string(DTypeName(base.dtype)));
      if (name == "itemsize") return Value::Int(ItemSize(base.dtype));
      Fail(e, absl::StrCat("'dtype' object has no attribute '", name, "'"));
    default:
      Fail(e, absl::StrCat("'", base.TypeName(), "' object has no attribute '", name, "'"));
  }
}

namespace {

Index ToIndex(const Expr& at, const Value& v) {
  switch (v.kind) {
    case Value::Kind::kInt:
      return Index(v.i);
    case Value::Kind::kNone:
      return newaxis;
    case Value::Kind::kEllipsis:
      return ellipsis;
    case Value::Kind::kSlice: {
      std::optional<int64_t> parts[3];
      for (int i = 0; i < 3; ++i) {
        const Value& p = v.items[static_cast<size_t>(i)];
        if (p.kind == Value::Kind::kInt) {
          parts[i] = p.i;
        } else if (p.kind != Value::Kind::kNone) {
          Fail(at, absl::StrCat("slice indices must be integers or None, not ", p.TypeName()));
        }
      }
      return Slice(parts[0], parts[1], parts[2]);
    }
    case Value::Kind::kArray:
    case Value::Kind::kNDArray:
    case Value::Kind::kList:
      Fail(at, "indexing with an array or a list (fancy indexing) is not supported yet");
    default:
      Fail(at, absl::StrCat("only integers, slices (`:`), ellipsis (`...`) and None are valid "
                            "indices, not ",
                            v.TypeName()));
  }
}

// Python's slice.indices(n) followed by the selection.
std::vector<int64_t> SliceSelection(const Expr& at, const Value& s, int64_t n) {
  auto get = [&](size_t i) -> std::optional<int64_t> {
    const Value& p = s.items[i];
    if (p.kind == Value::Kind::kNone) return std::nullopt;
    if (p.kind != Value::Kind::kInt) {
      Fail(at, absl::StrCat("slice indices must be integers or None, not ", p.TypeName()));
    }
    return p.i;
  };
  const int64_t step = get(2).value_or(1);
  if (step == 0) Fail(at, "slice step cannot be zero");
  auto clamp = [&](std::optional<int64_t> v, int64_t def) {
    if (!v) return def;
    int64_t x = *v < 0 ? *v + n : *v;
    if (step > 0) return std::clamp<int64_t>(x, 0, n);
    return std::clamp<int64_t>(x, -1, n - 1);
  };
  const int64_t start = clamp(get(0), step > 0 ? 0 : n - 1);
  const int64_t stop = clamp(get(1), step > 0 ? n : -1);
  std::vector<int64_t> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(i);
  return out;
}

}  // namespace

Value Interpreter::EvalSubscript(const Expr& e) {
  const Value base = LiftArray(Eval(*e.items[0]));
  std::vector<Value> items;
  std::vector<const Expr*> at;
  for (size_t i = 1; i < e.items.size(); ++i) {
    items.push_back(Eval(*e.items[i]));
    at.push_back(e.items[i].get());
  }
  // x[t] with a tuple value t is x[t0, t1, ...], as in Python.
  if (!e.subscript_tuple && items.size() == 1 && items[0].kind == Value::Kind::kTuple) {
    Value t = items[0];
    items = t.items;
    at.assign(items.size(), at[0]);
  }
  switch (base.kind) {
    case Value::Kind::kArray: {
      std::vector<Index> index;
      for (size_t i = 0; i < items.size(); ++i) index.push_back(ToIndex(*at[i], items[i]));
      try {
        return Value::FromArray((*base.array)[index]);
      } catch (const Error& error) {
        throw LocatedError(error.code(), Where(e) + error.what());
      }
    }
    case Value::Kind::kTuple:
    case Value::Kind::kList:
    case Value::Kind::kString: {
      if (items.size() != 1 || e.subscript_tuple) {
        Fail(e, absl::StrCat(base.TypeName(), " indices must be integers or slices, not tuple"));
      }
      const int64_t n = static_cast<int64_t>(base.kind == Value::Kind::kString ? base.text.size()
                                                                               : base.items.size());
      auto element = [&](int64_t i) {
        if (base.kind == Value::Kind::kString) {
          return Value::String(std::string(1, base.text[static_cast<size_t>(i)]));
        }
        return base.items[static_cast<size_t>(i)];
      };
      if (items[0].kind == Value::Kind::kSlice) {
        Value out;
        out.kind = base.kind;
        for (int64_t i : SliceSelection(*at[0], items[0], n)) {
          if (base.kind == Value::Kind::kString) {
            out.text += base.text[static_cast<size_t>(i)];
          } else {
            out.items.push_back(element(i));
          }
        }
        return out;
      }
      const Value idx = Scalarize(items[0]);
      if (idx.kind != Value::Kind::kInt) {
        Fail(*at[0], absl::StrCat(base.TypeName(), " indices must be integers or slices, not ",
                                  items[0].TypeName()));
      }
      const int64_t i = idx.i < 0 ? idx.i + n : idx.i;
      if (i < 0 || i >= n) Fail(*at[0], absl::StrCat(base.TypeName(), " index out of range"));
      return element(i);
    }
    default:
      Fail(e, absl::StrCat("'", base.TypeName(), "' object is not subscriptable"));
  }
}

Value Interpreter::EvalUnary(const Expr& at, const std::string& op, const Value& a_in) {
  const Value a = LiftArray(a_in);
  if (a.kind == Value::Kind::kArray) {
    if (op == "+") return a;
    if (op == "-") return Value::FromArray(-*a.array);
    if (op == "~" && a.array->dtype() == DType::kBool) {
      return ArrayValue(graph::Binary(graph::BinaryOp::kEqual, a.array->node(),
                                      graph::Scalar(0, false)));
    }
    if (op == "~") {
      Fail(at, absl::StrCat("operator '~' is supported on bool arrays only (got ",
                            std::string(DTypeName(a.array->dtype())),
                            " array); bitwise operations on integers are not implemented"));
    }
    Fail(at, absl::StrCat("operator '", op, "' is not supported on arrays"));
  }
  const Value s = Scalarize(a);
  if (op == "~" && (s.kind == Value::Kind::kInt || s.kind == Value::Kind::kBool)) {
    return Value::Int(~static_cast<int64_t>(AsDouble(s)));
  }
  if (op != "~" && IsNumber(s)) {
    if (s.kind == Value::Kind::kFloat) return Value::Float(op == "-" ? -s.f : s.f);
    const int64_t i = s.kind == Value::Kind::kBool ? (s.b ? 1 : 0) : s.i;
    if (op == "-" && i == std::numeric_limits<int64_t>::min()) Fail(at, "integer overflow");
    return Value::Int(op == "-" ? -i : i);
  }
  Fail(at, absl::StrCat("bad operand type for unary ", op, ": '", a.TypeName(), "'"));
}

namespace {

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

double FloorMod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

const std::map<std::string, graph::BinaryOp, std::less<>>& ArrayOps() {
  static const auto* ops = new std::map<std::string, graph::BinaryOp, std::less<>>{
      {"+", graph::BinaryOp::kAdd},           {"-", graph::BinaryOp::kSubtract},
      {"*", graph::BinaryOp::kMultiply},      {"/", graph::BinaryOp::kDivide},
      {"//", graph::BinaryOp::kFloorDivide},  {"%", graph::BinaryOp::kMod},
      {"**", graph::BinaryOp::kPower},        {"<", graph::BinaryOp::kLess},
      {"<=", graph::BinaryOp::kLessEqual},    {">", graph::BinaryOp::kGreater},
      {">=", graph::BinaryOp::kGreaterEqual}, {"==", graph::BinaryOp::kEqual},
      {"!=", graph::BinaryOp::kNotEqual}};
  return *ops;
}

bool ValuesEqual(const Value& a, const Value& b) {
  if (IsNumber(a) && IsNumber(b)) return AsDouble(a) == AsDouble(b);
  // NumPy: x.dtype == 'float64' compares the dtype with the named one.
  if (a.kind == Value::Kind::kDType && b.kind == Value::Kind::kString) {
    absl::StatusOr<DType> d = ParseDType(b.text);
    return d.ok() && *d == a.dtype;
  }
  if (a.kind == Value::Kind::kString && b.kind == Value::Kind::kDType) return ValuesEqual(b, a);
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kNone:
    case Value::Kind::kEllipsis:
      return true;
    case Value::Kind::kString:
    case Value::Kind::kModule:
      return a.text == b.text;
    case Value::Kind::kDType:
      return a.dtype == b.dtype;
    case Value::Kind::kTuple:
    case Value::Kind::kList:
    case Value::Kind::kSlice:
      if (a.items.size() != b.items.size()) return false;
      for (size_t i = 0; i < a.items.size(); ++i) {
        if (!ValuesEqual(a.items[i], b.items[i])) return false;
      }
      return true;
    case Value::Kind::kFunction:
      return a.function == b.function;
    default:
      return false;
  }
}

}  // namespace

Value Interpreter::EvalBinary(const Expr& at, const std::string& op, const Value& a_in,
                              const Value& b_in) {
  // A lazy call is computed when used in arithmetic (inc(1) + 1).
  const Value a = LiftArray(a_in.kind == Value::Kind::kDelayed ? Compute(at, a_in) : a_in);
  const Value b = LiftArray(b_in.kind == Value::Kind::kDelayed ? Compute(at, b_in) : b_in);
  if (a.kind == Value::Kind::kArray || b.kind == Value::Kind::kArray) {
    if (op == "&" || op == "|" || op == "^") {
      // Bool arrays (and Python bools) only: the element-wise logical operation.
      for (const Value* v : {&a, &b}) {
        const bool is_bool = v->kind == Value::Kind::kArray ? v->array->dtype() == DType::kBool
                                                            : v->kind == Value::Kind::kBool;
        if (!is_bool) {
          Fail(at, absl::StrCat("operator '", op, "' is supported on bool arrays only (got ",
                                v->kind == Value::Kind::kArray
                                    ? std::string(DTypeName(v->array->dtype())) + " array"
                                    : "'" + v->TypeName() + "'",
                                "); bitwise operations on integers are not implemented"));
        }
      }
      try {
        return LogicalValue(op == "&" ? "and" : op == "|" ? "or" : "xor", a, b);
      } catch (const Error& error) {
        throw LocatedError(error.code(), Where(at) + error.what());
      }
    }
    auto it = ArrayOps().find(op);
    if (op != "@" && it == ArrayOps().end()) {
      Fail(at, absl::StrCat("operator '", op, "' is not supported on arrays"));
    }
    for (const Value* v : {&a, &b}) {
      if (v->kind != Value::Kind::kArray && !IsNumber(*v)) {
        Fail(at, absl::StrCat("unsupported operand type(s) for ", op, ": '", a.TypeName(),
                              "' and '", b.TypeName(), "'"));
      }
    }
    try {
      if (op == "@") return ArrayValue(graph::Matmul(NodeOf(a), NodeOf(b)));
      return BinaryValue(it->second, a, b);
    } catch (const LocatedError&) {
      throw;
    } catch (const Error& error) {
      throw LocatedError(error.code(), Where(at) + error.what());
    }
  }
  if (op == "==") return Value::Bool(ValuesEqual(a, b));
  if (op == "!=") return Value::Bool(!ValuesEqual(a, b));
  const auto bad = [&]() {
    Fail(at, absl::StrCat("unsupported operand type(s) for ", op, ": '", a.TypeName(), "' and '",
                          b.TypeName(), "'"));
  };
  // Sequences: concatenation and ordering of strings.
  if (a.kind == Value::Kind::kString && b.kind == Value::Kind::kString) {
    if (op == "+") return Value::String(a.text + b.text);
    if (op == "<") return Value::Bool(a.text < b.text);
    if (op == "<=") return Value::Bool(a.text <= b.text);
    if (op == ">") return Value::Bool(a.text > b.text);
    if (op == ">=") return Value::Bool(a.text >= b.text);
    bad();
  }
  if ((a.kind == Value::Kind::kTuple || a.kind == Value::Kind::kList) && a.kind == b.kind &&
      op == "+") {
    Value out = a;
    out.items.insert(out.items.end(), b.items.begin(), b.items.end());
    return out;
  }
  if (!IsNumber(a) || !IsNumber(b)) bad();
  const Value x = Scalarize(a), y = Scalarize(b);
  const bool ints = x.kind != Value::Kind::kFloat && y.kind != Value::Kind::kFloat;
  if (ints) {
    const int64_t i = static_cast<int64_t>(AsDouble(x)), j = static_cast<int64_t>(AsDouble(y));
    const int64_t u = x.kind == Value::Kind::kInt ? x.i : i;
    const int64_t v = y.kind == Value::Kind::kInt ? y.i : j;
    int64_t r = 0;
    if (op == "+" && !__builtin_add_overflow(u, v, &r)) return Value::Int(r);
    if (op == "-" && !__builtin_sub_overflow(u, v, &r)) return Value::Int(r);
    if (op == "*" && !__builtin_mul_overflow(u, v, &r)) return Value::Int(r);
    if (op == "+" || op == "-" || op == "*") Fail(at, "integer overflow (beyond 64 bits)");
    if (op == "//" || op == "%") {
      if (v == 0) Fail(at, "integer division or modulo by zero");
      if (u == std::numeric_limits<int64_t>::min() && v == -1) Fail(at, "integer overflow");
      const int64_t q = FloorDiv(u, v);
      return Value::Int(op == "//" ? q : u - q * v);
    }
    if (op == "**" && v >= 0) {
      int64_t result = 1;
      for (int64_t k = 0; k < v; ++k) {
        if (__builtin_mul_overflow(result, u, &result)) {
          Fail(at, "integer overflow (beyond 64 bits)");
        }
        if (result == 0 || result == 1) break;
      }
      // 1 ** n and 0 ** n stop early; (-1) ** n alternates.
      if (u == -1) result = (v % 2 == 0) ? 1 : -1;
      return Value::Int(result);
    }
    if (op == "&") return Value::Int(u & v);
    if (op == "|") return Value::Int(u | v);
    if (op == "^") return Value::Int(u ^ v);
    if (op == "<<" || op == ">>") {
      if (v < 0) Fail(at, "negative shift count");
      if (op == ">>") return Value::Int(v >= 64 ? (u < 0 ? -1 : 0) : u >> v);
      if (v >= 63 || (u != 0 && (std::abs(u) >> (63 - v)) != 0)) {
        Fail(at, "integer overflow (beyond 64 bits)");
      }
      return Value::Int(u * (int64_t{1} << v));
    }
    if (op == "<") return Value::Bool(u < v);
    if (op == "<=") return Value::Bool(u <= v);
    if (op == ">") return Value::Bool(u > v);
    if (op == ">=") return Value::Bool(u >= v);
  }
  const double u = AsDouble(x), v = AsDouble(y);
  if (op == "+") return Value::Float(u + v);
  if (op == "-") return Value::Float(u - v);
  if (op == "*") return Value::Float(u * v);
  if (op == "/") {
    if (v == 0) Fail(at, "division by zero");
    return Value::Float(u / v);
  }
  if (op == "//" || op == "%") {
    if (v == 0) Fail(at, "float floor division or modulo by zero");
    const double m = FloorMod(u, v);
    return Value::Float(op == "%" ? m : std::round((u - m) / v));
  }
  if (op == "**") {
    if (u == 0 && v < 0) Fail(at, "0.0 cannot be raised to a negative power");
    return Value::Float(std::pow(u, v));
  }
  if (op == "<") return Value::Bool(u < v);
  if (op == "<=") return Value::Bool(u <= v);
  if (op == ">") return Value::Bool(u > v);
  if (op == ">=") return Value::Bool(u >= v);
  if (op == "@") Fail(at, "matrix multiplication ('@') needs arrays");
  bad();
  return Value::None();
}

Value Interpreter::EvalCompare(const Expr& e) {
  Value left = Eval(*e.items[0]);
  Value result;
  for (size_t k = 0; k < e.ops.size(); ++k) {
    Value right = Eval(*e.items[k + 1]);
    const std::string& op = e.ops[k];
    if (op == "is" || op == "is not") {
      const bool same =
          left.kind == right.kind && (left.kind == Value::Kind::kNone || ValuesEqual(left, right));
      result = Value::Bool((op == "is") == same);
    } else if (op == "in" || op == "not in") {
      bool found = false;
      if (right.kind == Value::Kind::kTuple || right.kind == Value::Kind::kList) {
        for (const Value& item : right.items) found |= ValuesEqual(left, item);
      } else if (right.kind == Value::Kind::kString && left.kind == Value::Kind::kString) {
        found = right.text.find(left.text) != std::string::npos;
      } else {
        Fail(e, absl::StrCat("argument of type '", right.TypeName(), "' is not iterable"));
      }
      result = Value::Bool((op == "in") == found);
    } else {
      result = EvalBinary(e, op, left, right);
    }
    if (e.ops.size() > 1) {
      if (result.kind == Value::Kind::kArray) {
        Fail(e, "chained comparisons of arrays are not supported; compare two at a time");
      }
      if (!Truth(e, result)) return result;
    }
    left = std::move(right);
  }
  return result;
}

}  // namespace tessera::cli
