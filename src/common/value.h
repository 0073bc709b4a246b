// Tessera values: what registered functions (function-call tasks, `client.submit`) take and
// return. Shared by the worker runtime (which runs functions), the scheduler (which checks calls
// against the signatures workers offer) and the client.
//
// A value is none, an int64, a float64, a string, bytes, an ndarray (a ChunkBuffer) or a list of
// values. In a worker's store and on the wire a value is a ChunkBuffer: int64 and float64 are 0-d
// chunks of that dtype (so scalars travel inline like small chunks and read as NumPy scalars),
// an ndarray is itself, and none, strings, bytes and lists are an encoded blob (ChunkBuffer with
// `encoded_value` set: shape {n}, one byte per element).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/chunk.h"

namespace tessera::call {

/// The type of a value, and of a function's parameter (kNumber and kAny only as parameters or
/// return types: a number is an int64 or a float64).
enum class Type : int8_t {
  kNone = 0,
  kInt64 = 1,
  kFloat64 = 2,
  kString = 3,
  kBytes = 4,
  kArray = 5,
  kList = 6,
  kNumber = 7,
  kAny = 8,
};
std::string_view TypeName(Type type);
/// Whether a value of type `given` may be passed where `param` is expected. Either side may be
/// kAny or kNumber (a future whose producer returns "number" may be an int64 or a float64).
bool Compatible(Type param, Type given);

/// A value. Thread-compatible; copies share the ndarray buffer.
struct Value {
  Type type = Type::kNone;
  int64_t i = 0;            ///< kInt64
  double f = 0;             ///< kFloat64
  std::string s;            ///< kString, kBytes
  ChunkPtr array;           ///< kArray
  std::vector<Value> list;  ///< kList

  static Value None() { return Value{}; }
  static Value Int(int64_t v) { Value x; x.type = Type::kInt64; x.i = v; return x; }
  static Value Float(double v) { Value x; x.type = Type::kFloat64; x.f = v; return x; }
  static Value String(std::string v) { Value x; x.type = Type::kString; x.s = std::move(v); return x; }
  static Value Bytes(std::string v) { Value x; x.type = Type::kBytes; x.s = std::move(v); return x; }
  static Value Array(ChunkPtr v) { Value x; x.type = Type::kArray; x.array = std::move(v); return x; }
  static Value List(std::vector<Value> v) { Value x; x.type = Type::kList; x.list = std::move(v); return x; }

  bool is_number() const { return type == Type::kInt64 || type == Type::kFloat64; }
  double as_double() const { return type == Type::kInt64 ? static_cast<double>(i) : f; }
  /// Python's repr: 3, 2.5, 'text', b'..', None, [1, 2], array(shape=(2, 3), dtype=float64).
  std::string Repr() const;
  /// A short description of the type for error messages: "int64", "list[3]", "ndarray".
  std::string Describe() const;
  bool operator==(const Value& other) const;
};

/// A function's signature: name(params...) -> returns; when `variadic`, the last parameter may
/// repeat any number of times (zero included).
struct Signature {
  std::string name;
  std::vector<Type> params;
  bool variadic = false;
  Type returns = Type::kAny;
  /// "add(number, number) -> number", "noop(any...) -> none".
  std::string ToString() const;
  /// Checks argument types (OK when they fit). The error, INVALID_ARGUMENT, names the function,
  /// its signature and what was given: "add expects add(number, number) -> number; given
  /// (int64, string)".
  absl::Status Check(absl::Span<const Type> given) const;
  bool operator==(const Signature&) const = default;
};

/// NOT_FOUND for a call of a function that no worker offers, listing what is offered (sorted):
/// "no worker offers a function named 'foo' (offered: add, dec, inc)".
absl::Status NotOfferedError(std::string_view function, std::vector<std::string> offered);

/// The value as it is stored and sent (see the file comment).
ChunkBuffer ToChunk(const Value& value);
/// The inverse of ToChunk; a chunk that is not an encoded blob reads as an ndarray, except 0-d
/// int64 and float64 chunks, which read as scalars. Errors: a malformed blob (DATA_LOSS).
absl::StatusOr<Value> FromChunk(const ChunkPtr& chunk);
/// FromChunk for a chunk given by its parts, where it reads as an encoded value or a 0-d int64 /
/// float64 scalar; nullopt where it reads as an ndarray (which needs the chunk itself). Lets a
/// worker read a small value straight from a message, without building the chunk.
std::optional<absl::StatusOr<Value>> SmallValueFromChunk(DType dtype, size_t ndim,
                                                         std::string_view bytes, bool encoded);

/// The compact binary encoding of a value (used for blobs and literal arguments on the wire).
std::string Encode(const Value& value);
absl::StatusOr<Value> Decode(std::string_view bytes);

}  // namespace tessera::call
