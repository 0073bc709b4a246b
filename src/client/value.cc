// The public Value, Arg and Delayed of tessera.h (no gRPC: the CLI links these).
#include <atomic>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/calls.h"
#include "common/shape.h"

namespace tessera {
namespace {

[[noreturn]] void WrongType(ValueType want, ValueType got) {
  throw Error(9, absl::StrCat("the value is ",
                              std::string(call::TypeName(static_cast<call::Type>(got))), ", not ",
                              std::string(call::TypeName(static_cast<call::Type>(want)))));
}

}  // namespace

Value::Value(NDArray a)
    : type_(ValueType::kArray), array_(std::make_shared<const NDArray>(std::move(a))) {}
Value::Value(std::vector<Value> items)
    : type_(ValueType::kList), list_(std::make_shared<const std::vector<Value>>(std::move(items))) {}

Value Value::bytes(std::string b) {
  Value v(std::move(b));
  v.type_ = ValueType::kBytes;
  return v;
}

int64_t Value::as_int() const {
  if (type_ != ValueType::kInt64) WrongType(ValueType::kInt64, type_);
  return i_;
}
double Value::as_double() const {
  if (type_ == ValueType::kInt64) return static_cast<double>(i_);
  if (type_ != ValueType::kFloat64) WrongType(ValueType::kFloat64, type_);
  return f_;
}
const std::string& Value::as_string() const {
  if (type_ != ValueType::kString && type_ != ValueType::kBytes) {
    WrongType(ValueType::kString, type_);
  }
  return s_;
}
const NDArray& Value::as_array() const {
  if (type_ != ValueType::kArray) WrongType(ValueType::kArray, type_);
  return *array_;
}
const std::vector<Value>& Value::as_list() const {
  if (type_ != ValueType::kList) WrongType(ValueType::kList, type_);
  return *list_;
}

std::string Value::repr() const {
  if (type_ == ValueType::kArray) return array_->repr();
  if (type_ == ValueType::kList) {
    std::string out = "[";
    for (size_t k = 0; k < list_->size(); ++k) {
      if (k > 0) out += ", ";
      out += (*list_)[k].repr();
    }
    return out + "]";
  }
  return detail::ToCallValue(*this).Repr();
}

bool Value::operator==(const Value& o) const {
  if (type_ != o.type_) return false;
  switch (type_) {
    case ValueType::kArray:
      return array_->dtype() == o.array_->dtype() && array_->shape() == o.array_->shape() &&
             array_->bytes() == o.array_->bytes();
    case ValueType::kList:
      return *list_ == *o.list_;
    default:
      return detail::ToCallValue(*this) == detail::ToCallValue(o);
  }
}

Arg::Arg(const Future& f) : kind_(Kind::kFuture), future_(f.state()) {}
Arg::Arg(const Delayed& d) : kind_(Kind::kDelayed), delayed_(d.node()) {}
Arg::Arg(const std::vector<Future>& futures) : kind_(Kind::kList) {
  items_.reserve(futures.size());
  for (const auto& f : futures) items_.emplace_back(f);
}
Arg::Arg(const std::vector<Delayed>& delayed) : kind_(Kind::kList) {
  items_.reserve(delayed.size());
  for (const auto& d : delayed) items_.emplace_back(d);
}
Delayed::Node::~Node() {
  // A chain of calls (x = inc(x) in a loop) would be destroyed recursively, one stack frame per
  // link; instead, the arguments of nodes owned by no one else are taken apart here, in a loop.
  std::vector<Arg> work = std::move(args);
  while (!work.empty()) {
    Arg a = std::move(work.back());
    work.pop_back();
    for (Arg& item : a.items_) work.push_back(std::move(item));
    a.items_.clear();
    if (a.delayed_ != nullptr && a.delayed_.use_count() == 1) {
      auto* node = const_cast<Node*>(a.delayed_.get());  // the last owner: nobody else sees it
      for (Arg& child : node->args) work.push_back(std::move(child));
      node->args.clear();
    }
  }
}

const std::string& Delayed::key() const { return node_->key; }
const std::string& Delayed::function() const { return node_->function; }

Delayed DelayedFunction::Call(std::vector<Arg> args) const {
  auto node = std::make_shared<Delayed::Node>();
  node->key = detail::NewCallKey(function_);
  node->function = function_;
  node->args = std::move(args);
  return Delayed(std::move(node));
}

namespace detail {

std::string NewCallKey(const std::string& function) {
  static const std::string token = [] {
    std::random_device rd;
    return absl::StrCat(absl::Hex(static_cast<uint64_t>(rd()) << 32 | rd(), absl::kZeroPad16));
  }();
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(function, "-", token, "-", counter.fetch_add(1, std::memory_order_relaxed));
}

call::Value ToCallValue(const Value& v) {
  switch (v.type()) {
    case ValueType::kNone:
      return call::Value::None();
    case ValueType::kInt64:
      return call::Value::Int(v.as_int());
    case ValueType::kFloat64:
      return call::Value::Float(v.as_double());
    case ValueType::kString:
      return call::Value::String(v.as_string());
    case ValueType::kBytes:
      return call::Value::Bytes(v.as_string());
    case ValueType::kArray: {
      ChunkBuffer c;
      const NDArray& a = v.as_array();
      c.dtype = a.dtype();
      c.shape = a.shape();
      c.bytes = a.bytes();
      return call::Value::Array(std::make_shared<const ChunkBuffer>(std::move(c)));
    }
    case ValueType::kList: {
      std::vector<call::Value> items;
      for (const Value& item : v.as_list()) items.push_back(ToCallValue(item));
      return call::Value::List(std::move(items));
    }
  }
  return call::Value::None();
}

Value FromCallValue(const call::Value& v) {
  switch (v.type) {
    case call::Type::kInt64:
      return Value(v.i);
    case call::Type::kFloat64:
      return Value(v.f);
    case call::Type::kString:
      return Value(v.s);
    case call::Type::kBytes:
      return Value::bytes(v.s);
    case call::Type::kArray:
      return Value(NDArray(v.array->dtype, v.array->shape, v.array->bytes));
    case call::Type::kList: {
      std::vector<Value> items;
      items.reserve(v.list.size());
      for (const auto& item : v.list) items.push_back(FromCallValue(item));
      return Value(std::move(items));
    }
    default:
      return Value();
  }
}

}  // namespace detail
}  // namespace tessera
