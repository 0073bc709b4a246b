#include "common/value.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/shape.h"

namespace tessera::call {
namespace {

// Encoding: one tag byte (the Type), then: int64 / float64 8 bytes little-endian; string and
// bytes a varint length and the bytes; a list a varint count and the items; an ndarray the dtype
// byte, a varint ndim, varint extents and the raw bytes.
void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void EncodeTo(const Value& v, std::string* out) {
  out->push_back(static_cast<char>(v.type));
  switch (v.type) {
    case Type::kInt64:
      out->append(reinterpret_cast<const char*>(&v.i), 8);
      break;
    case Type::kFloat64:
      out->append(reinterpret_cast<const char*>(&v.f), 8);
      break;
    case Type::kString:
    case Type::kBytes:
      PutVarint(out, v.s.size());
      out->append(v.s);
      break;
    case Type::kList:
      PutVarint(out, v.list.size());
      for (const Value& item : v.list) EncodeTo(item, out);
      break;
    case Type::kArray: {
      const ChunkBuffer& c = *v.array;
      out->push_back(static_cast<char>(c.dtype));
      PutVarint(out, c.shape.size());
      for (int64_t e : c.shape) PutVarint(out, static_cast<uint64_t>(e));
      out->append(reinterpret_cast<const char*>(c.bytes.data()), c.bytes.size());
      break;
    }
    default:
      break;
  }
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool done() const { return pos_ == in_.size(); }

  absl::StatusOr<Value> Read(int depth) {
    if (depth > 64) return Bad("nesting deeper than 64");
    if (pos_ >= in_.size()) return Bad("truncated");
    const auto tag = static_cast<Type>(in_[pos_++]);
    switch (tag) {
      case Type::kNone:
        return Value::None();
      case Type::kInt64: {
        int64_t v;
        if (!Raw(&v, 8)) return Bad("truncated int64");
        return Value::Int(v);
      }
      case Type::kFloat64: {
        double v;
        if (!Raw(&v, 8)) return Bad("truncated float64");
        return Value::Float(v);
      }
      case Type::kString:
      case Type::kBytes: {
        uint64_t n;
        if (!Varint(&n) || n > in_.size() - pos_) return Bad("truncated string");
        std::string s(in_.substr(pos_, n));
        pos_ += n;
        return tag == Type::kString ? Value::String(std::move(s)) : Value::Bytes(std::move(s));
      }
      case Type::kList: {
        uint64_t n;
        if (!Varint(&n) || n > in_.size() - pos_) return Bad("truncated list");
        std::vector<Value> items;
        items.reserve(n);
        for (uint64_t k = 0; k < n; ++k) {
          auto item = Read(depth + 1);
          if (!item.ok()) return item.status();
          items.push_back(*std::move(item));
        }
        return Value::List(std::move(items));
      }
      case Type::kArray: {
        if (pos_ >= in_.size()) return Bad("truncated ndarray");
        const int dtype = static_cast<uint8_t>(in_[pos_++]);
        if (dtype > static_cast<int>(DType::kBool)) return Bad(absl::StrCat("dtype ", dtype));
        uint64_t ndim;
        if (!Varint(&ndim) || ndim > 32) return Bad("bad ndarray rank");
        ChunkBuffer c;
        c.dtype = static_cast<DType>(dtype);
        for (uint64_t a = 0; a < ndim; ++a) {
          uint64_t e;
          if (!Varint(&e)) return Bad("truncated ndarray shape");
          c.shape.push_back(static_cast<int64_t>(e));
        }
        if (!ValidateShape(c.shape, c.dtype).ok()) return Bad("bad ndarray shape");
        const uint64_t n = static_cast<uint64_t>(NumElements(c.shape) * ItemSize(c.dtype));
        if (n > in_.size() - pos_) return Bad("truncated ndarray data");
        c.bytes.assign(in_.begin() + pos_, in_.begin() + pos_ + n);
        pos_ += n;
        return Value::Array(std::make_shared<const ChunkBuffer>(std::move(c)));
      }
      default:
        return Bad(absl::StrCat("unknown type tag ", static_cast<int>(tag)));
    }
  }

 private:
  static absl::Status Bad(const std::string& what) {
    return absl::DataLossError(absl::StrCat("malformed encoded value: ", what));
  }
  bool Raw(void* out, size_t n) {
    if (in_.size() - pos_ < n) return false;
    std::memcpy(out, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool Varint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return false;
      const auto b = static_cast<uint8_t>(in_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *out = v;
        return true;
      }
    }
    return false;
  }
  std::string_view in_;
  size_t pos_ = 0;
};

std::string QuoteString(const std::string& s, bool bytes) {
  std::string out = bytes ? "b'" : "'";
  for (unsigned char ch : s) {
    if (ch == '\'' || ch == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(ch));
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch < 0x20 || (bytes && ch >= 0x7f)) {
      out += absl::StrCat("\\x", absl::Hex(ch, absl::kZeroPad2));
    } else {
      out.push_back(static_cast<char>(ch));
    }
  }
  out.push_back('\'');
  return out;
}

std::string FormatFloat(double f) {
  // Python's repr of a float: shortest round trip, with a ".0" for integral values.
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, f);
    if (std::strtod(buf, nullptr) == f) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // "nan", "inf" stay
  return s;
}

}  // namespace

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kNone: return "none";
    case Type::kInt64: return "int64";
    case Type::kFloat64: return "float64";
    case Type::kString: return "string";
    case Type::kBytes: return "bytes";
    case Type::kArray: return "ndarray";
    case Type::kList: return "list";
    case Type::kNumber: return "number";
    case Type::kAny: return "any";
  }
  return "?";
}

bool Compatible(Type param, Type given) {
  if (param == Type::kAny || given == Type::kAny || param == given) return true;
  const auto numeric = [](Type t) {
    return t == Type::kInt64 || t == Type::kFloat64 || t == Type::kNumber;
  };
  return (param == Type::kNumber && numeric(given)) || (given == Type::kNumber && numeric(param));
}

std::string Value::Repr() const {
  switch (type) {
    case Type::kNone: return "None";
    case Type::kInt64: return absl::StrCat(i);
    case Type::kFloat64: return FormatFloat(f);
    case Type::kString: return QuoteString(s, false);
    case Type::kBytes: return QuoteString(s, true);
    case Type::kList: {
      std::vector<std::string> items;
      for (const Value& v : list) items.push_back(v.Repr());
      return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
    }
    case Type::kArray:
      return absl::StrCat("array(shape=", ShapeToString(array->shape),
                          ", dtype=", std::string(DTypeName(array->dtype)), ")");
    default:
      return "?";
  }
}

std::string Value::Describe() const {
  if (type == Type::kList) return absl::StrCat("list[", list.size(), "]");
  return std::string(TypeName(type));
}

bool Value::operator==(const Value& o) const {
  if (type != o.type) return false;
  switch (type) {
    case Type::kInt64: return i == o.i;
    case Type::kFloat64: return f == o.f || (f != f && o.f != o.f);
    case Type::kString:
    case Type::kBytes: return s == o.s;
    case Type::kList: return list == o.list;
    case Type::kArray:
      return array == o.array || (array != nullptr && o.array != nullptr &&
                                  array->dtype == o.array->dtype && array->shape == o.array->shape &&
                                  array->bytes == o.array->bytes);
    default: return true;
  }
}

std::string Signature::ToString() const {
  std::vector<std::string> p;
  for (Type t : params) p.emplace_back(TypeName(t));
  if (variadic && !p.empty()) p.back() += "...";
  return absl::StrCat(name, "(", absl::StrJoin(p, ", "), ") -> ", std::string(TypeName(returns)));
}

absl::Status Signature::Check(absl::Span<const Type> given) const {
  bool ok = variadic ? given.size() + 1 >= params.size() : given.size() == params.size();
  for (size_t k = 0; ok && k < given.size(); ++k) {
    const Type param = k < params.size() ? params[k] : params.back();
    ok = Compatible(param, given[k]);
  }
  if (ok) return absl::OkStatus();
  std::vector<std::string> g;
  for (Type t : given) g.emplace_back(TypeName(t));
  return absl::InvalidArgumentError(absl::StrCat(name, " expects ", ToString(), "; given (",
                                                 absl::StrJoin(g, ", "), ")"));
}

absl::Status NotOfferedError(std::string_view function, std::vector<std::string> offered) {
  std::sort(offered.begin(), offered.end());
  return absl::NotFoundError(absl::StrCat("no worker offers a function named '",
                                          std::string(function), "' (offered: ",
                                          absl::StrJoin(offered, ", "), ")"));
}

ChunkBuffer ToChunk(const Value& value) {
  ChunkBuffer c;
  switch (value.type) {
    case Type::kInt64:
      c.dtype = DType::kInt64;
      c.bytes.resize(8);
      std::memcpy(c.bytes.data(), &value.i, 8);
      return c;
    case Type::kFloat64:
      c.dtype = DType::kFloat64;
      c.bytes.resize(8);
      std::memcpy(c.bytes.data(), &value.f, 8);
      return c;
    case Type::kArray:
      return *value.array;
    default: {
      const std::string blob = Encode(value);
      c.dtype = DType::kBool;
      c.shape = {static_cast<int64_t>(blob.size())};
      c.bytes.assign(blob.begin(), blob.end());
      c.encoded_value = true;
      return c;
    }
  }
}

std::optional<absl::StatusOr<Value>> SmallValueFromChunk(DType dtype, size_t ndim,
                                                         std::string_view bytes, bool encoded) {
  if (encoded) return Decode(bytes);
  if (ndim == 0 && bytes.size() == 8 && dtype == DType::kInt64) {
    int64_t v;
    std::memcpy(&v, bytes.data(), 8);
    return Value::Int(v);
  }
  if (ndim == 0 && bytes.size() == 8 && dtype == DType::kFloat64) {
    double v;
    std::memcpy(&v, bytes.data(), 8);
    return Value::Float(v);
  }
  return std::nullopt;
}

absl::StatusOr<Value> FromChunk(const ChunkPtr& chunk) {
  std::optional<absl::StatusOr<Value>> small = SmallValueFromChunk(
      chunk->dtype, chunk->shape.size(),
      std::string_view(reinterpret_cast<const char*>(chunk->bytes.data()), chunk->bytes.size()),
      chunk->encoded_value);
  if (small.has_value()) return *std::move(small);
  return Value::Array(chunk);
}

std::string Encode(const Value& value) {
  std::string out;
  EncodeTo(value, &out);
  return out;
}

absl::StatusOr<Value> Decode(std::string_view bytes) {
  Reader r(bytes);
  auto v = r.Read(0);
  if (v.ok() && !r.done()) return absl::DataLossError("malformed encoded value: trailing bytes");
  return v;
}

}  // namespace tessera::call
