// The function registry and the value codec, without a network.
#include "worker/function_registry.h"

#include <stdexcept>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace tessera::worker {
namespace {

using call::Type;
using call::Value;

TEST(FunctionRegistry, BuiltinsComputeAndCheckTheirArguments) {
  FunctionRegistry& r = FunctionRegistry::Global();
  EXPECT_EQ(*r.Call("inc", {Value::Int(1)}), Value::Int(2));
  EXPECT_EQ(*r.Call("dec", {Value::Float(0.5)}), Value::Float(-0.5));
  EXPECT_EQ(*r.Call("add", {Value::Int(1), Value::Float(0.5)}), Value::Float(1.5));
  EXPECT_EQ(*r.Call("sum", {Value::List({Value::Int(1), Value::Int(2)})}), Value::Int(3));
  EXPECT_EQ(*r.Call("sum", {Value::List({})}), Value::Int(0));
  EXPECT_EQ(*r.Call("identity", {Value::String("x")}), Value::String("x"));
  EXPECT_EQ(*r.Call("noop", {}), Value::None());
  EXPECT_EQ(*r.Call("sleep", {Value::Int(0)}), Value::Int(0));
  auto bad = r.Call("add", {Value::Int(1), Value::Bytes("b")});
  EXPECT_EQ(bad.status().message(), "add expects add(number, number) -> number; given (int64, bytes)");
  EXPECT_EQ(r.Call("nope", {}).status().code(), absl::StatusCode::kNotFound);
}

TEST(FunctionRegistry, AThrowingFunctionBecomesAnError) {
  FunctionRegistry r;
  ASSERT_TRUE(r.Register({"boom", {}, false, Type::kNone},
                         [](const std::vector<Value>&) -> absl::StatusOr<Value> {
                           throw std::runtime_error("it broke");
                         })
                  .ok());
  EXPECT_EQ(r.Call("boom", {}).status().message(), "boom raised: it broke");
  EXPECT_EQ(r.Register({"boom", {}, false, Type::kNone}, nullptr).code(),
            absl::StatusCode::kAlreadyExists);
}

// A name the scheduler would refuse at registration is refused here, naming the bad byte.
TEST(FunctionRegistry, RefusesNamesThatAreNotUtf8OrTooLong) {
  FunctionRegistry r;
  const absl::Status bad = r.Register({std::string("b\xffm"), {}, false, Type::kNone}, nullptr);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "function name 'b\\xffm' is not UTF-8 (byte 1 is 0xff)");
  EXPECT_EQ(r.Register({std::string(5000, 'f'), {}, false, Type::kNone}, nullptr).message(),
            absl::StrCat("function name '", std::string(64, 'f'), "...' is 5000 bytes; at most 4096"));
  EXPECT_TRUE(r.Register({"caf\xc3\xa9", {}, false, Type::kNone}, nullptr).ok());
}

TEST(Values, RoundTripThroughChunks) {
  auto array = std::make_shared<ChunkBuffer>(ChunkBuffer::Zeros(DType::kInt32, {2, 3}));
  array->mutable_data<int32_t>()[4] = 7;
  for (const Value& v :
       {Value::None(), Value::Int(-5), Value::Float(2.5), Value::String("s"), Value::Bytes(std::string("\0x", 2)),
        Value::Array(array), Value::List({Value::Int(1), Value::List({Value::String("a")})})}) {
    auto chunk = std::make_shared<const ChunkBuffer>(call::ToChunk(v));
    auto back = call::FromChunk(chunk);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, v) << v.Repr();
  }
  EXPECT_EQ(Value::List({Value::Int(1), Value::Float(2), Value::String("it's")}).Repr(),
            "[1, 2.0, 'it\\'s']");
  EXPECT_FALSE(call::Decode("\x06\x05").ok());  // a list of 5 with no items
}

}  // namespace
}  // namespace tessera::worker
