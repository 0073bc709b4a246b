// The scheduler's request validation (scheduler/requests.h): each limit of graph/rpc/limits.h is
// refused with INVALID_ARGUMENT and a message naming the value and the limit, and requests just
// inside the limits pass.
#include "scheduler/requests.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/rpc/wire.h"

namespace tessera::scheduler {
namespace {

v1::Node* AddFull(v1::Graph* g, std::initializer_list<int64_t> shape,
                  std::initializer_list<std::initializer_list<int64_t>> chunks) {
  v1::Node* n = g->add_nodes();
  n->set_kind(v1::FULL);
  n->set_dtype(v1::FLOAT64);
  n->set_value(1);
  for (int64_t e : shape) n->add_shape(e);
  for (const auto& axis : chunks) {
    auto* a = n->mutable_chunks()->add_axes();
    for (int64_t b : axis) a->add_sizes(b);
  }
  return n;
}

// A chain of `length` negations over ones((4,)).
v1::SubmitRequest Chain(int length) {
  v1::SubmitRequest req;
  req.set_client_id("c");
  AddFull(req.mutable_graph(), {4}, {{2, 2}});
  for (int i = 1; i < length; ++i) {
    v1::Node* n = req.mutable_graph()->add_nodes();
    n->set_kind(v1::UNARY);
    n->set_unary_op(0);  // negative
    n->add_shape(4);
    n->add_inputs(i - 1);
  }
  return req;
}

void ExpectInvalid(const absl::Status& s, const std::string& part) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), part)) << s.message() << " lacks: " << part;
}

TEST(TaskGraphFromSubmit, LowersAValidGraph) {
  auto g = TaskGraphFromSubmit(Chain(3));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->output_keys.size(), 2u);
  EXPECT_EQ(g->tasks.size(), 2u);
}

TEST(TaskGraphFromSubmit, RefusesTooManyNodes) {
  wire::RequestLimits limits;
  limits.max_graph_nodes = 10;
  EXPECT_TRUE(TaskGraphFromSubmit(Chain(10), limits).ok());
  ExpectInvalid(TaskGraphFromSubmit(Chain(11), limits).status(), "graph has 11 nodes; at most 10");
}

TEST(TaskGraphFromSubmit, RefusesTooDeepAGraph) {
  wire::RequestLimits limits;
  limits.max_graph_depth = 50;
  EXPECT_TRUE(TaskGraphFromSubmit(Chain(50), limits).ok());
  ExpectInvalid(TaskGraphFromSubmit(Chain(51), limits).status(),
                "graph node 50 is at depth 51; at most 50");
}

// The deepest graph the scheduler accepts lowers without exhausting the stack (lowering and
// tokens recurse along the chain).
TEST(TaskGraphFromSubmit, LowersTheDeepestAcceptedGraph) {
  auto g = TaskGraphFromSubmit(Chain(wire::kMaxGraphDepth));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->tasks.size(), 2u);
  ExpectInvalid(TaskGraphFromSubmit(Chain(wire::kMaxGraphDepth + 1)).status(),
                absl::StrCat("at most ", wire::kMaxGraphDepth));
}

TEST(TaskGraphFromSubmit, RefusesTooManyDimensions) {
  v1::SubmitRequest req;
  req.set_client_id("c");
  AddFull(req.mutable_graph(), {1, 1, 1, 1, 1, 1, 1, 1, 1}, {});
  ExpectInvalid(TaskGraphFromSubmit(req).status(), "graph node 0: shape has 9 entries; at most 8");
  v1::SubmitRequest axes;
  axes.set_client_id("c");
  AddFull(axes.mutable_graph(), {2}, {{2}})->mutable_chunks()->add_axes();
  for (int i = 0; i < 8; ++i) axes.mutable_graph()->mutable_nodes(0)->mutable_chunks()->add_axes();
  ExpectInvalid(TaskGraphFromSubmit(axes).status(), "chunk grid has 10 entries; at most 8");
}

// Two small inputs broadcast into an array of 3000 x 3000 chunks: refused at the node, before
// any task is built.
TEST(TaskGraphFromSubmit, RefusesTooManyChunksPerArray) {
  v1::SubmitRequest req;
  req.set_client_id("c");
  v1::Node* a = AddFull(req.mutable_graph(), {3000, 1}, {});
  v1::Node* b = AddFull(req.mutable_graph(), {1, 3000}, {});
  auto* a0 = a->mutable_chunks()->add_axes();
  a->mutable_chunks()->add_axes()->add_sizes(1);
  b->mutable_chunks()->add_axes()->add_sizes(1);
  auto* b1 = b->mutable_chunks()->add_axes();
  for (int i = 0; i < 3000; ++i) {
    a0->add_sizes(1);
    b1->add_sizes(1);
  }
  v1::Node* sum = req.mutable_graph()->add_nodes();
  sum->set_kind(v1::BINARY);
  sum->add_shape(3000);
  sum->add_shape(3000);
  sum->add_inputs(0);
  sum->add_inputs(1);
  ExpectInvalid(TaskGraphFromSubmit(req).status(),
                absl::StrCat("graph node 2: 9000000 chunks; at most ", wire::kMaxChunksPerArray));
}

TEST(TaskGraphFromSubmit, RefusesTooManyTasks) {
  v1::SubmitRequest req;
  req.set_client_id("c");
  AddFull(req.mutable_graph(), {100}, {{10, 10, 10, 10, 10, 10, 10, 10, 10, 10}});
  v1::Node* n = req.mutable_graph()->add_nodes();
  n->set_kind(v1::UNARY);
  n->set_unary_op(4);  // exp
  n->add_shape(100);
  n->add_inputs(0);
  wire::RequestLimits limits;
  limits.max_tasks = 10;
  EXPECT_TRUE(TaskGraphFromSubmit(req, limits).ok());
  limits.max_tasks = 9;
  ExpectInvalid(TaskGraphFromSubmit(req, limits).status(), "at most 9 per submit");
}

TEST(TaskGraphFromSubmit, RefusesLongStrings) {
  v1::SubmitRequest req = Chain(2);
  req.set_client_id(std::string(wire::kMaxStringBytes + 1, 'c'));
  ExpectInvalid(TaskGraphFromSubmit(req).status(),
                absl::StrCat("submit: client_id is ", wire::kMaxStringBytes + 1, " bytes; at most ",
                             wire::kMaxStringBytes));
  v1::SubmitRequest source;
  source.set_client_id("c");
  v1::Node* n = source.mutable_graph()->add_nodes();
  n->set_kind(v1::SOURCE);
  n->set_source_name(std::string(5000, 's'));
  ExpectInvalid(TaskGraphFromSubmit(source).status(), "graph node 0: source_name is 5000 bytes");
}

v1::SubmitRequest Calls(int n) {
  v1::SubmitRequest req;
  req.set_client_id("c");
  for (int i = 0; i < n; ++i) {
    v1::Task* t = req.add_calls();
    t->set_kind(v1::Task::CALL);
    t->set_key(absl::StrCat("inc-", i));
    t->set_function("inc");
    t->add_args()->set_literal(std::string("\x01\x01\0\0\0\0\0\0\0", 9));
  }
  return req;
}

TEST(TaskGraphFromSubmit, ChecksCalls) {
  wire::RequestLimits limits;
  limits.max_tasks = 3;
  limits.max_keys = 3;
  EXPECT_TRUE(TaskGraphFromSubmit(Calls(3), limits).ok());
  ExpectInvalid(TaskGraphFromSubmit(Calls(4), limits).status(), "calls: 4 tasks; at most 3");

  v1::SubmitRequest long_key = Calls(1);
  long_key.mutable_calls(0)->set_key(std::string(5000, 'k'));
  ExpectInvalid(TaskGraphFromSubmit(long_key).status(), "calls: a task's key is 5000 bytes");
  v1::SubmitRequest long_function = Calls(1);
  long_function.mutable_calls(0)->set_function(std::string(5000, 'f'));
  ExpectInvalid(TaskGraphFromSubmit(long_function).status(),
                "calls: task 'inc-0': function is 5000 bytes");
  v1::SubmitRequest empty_input = Calls(1);
  empty_input.mutable_calls(0)->add_inputs();
  ExpectInvalid(TaskGraphFromSubmit(empty_input).status(), "input with an empty key");
  v1::SubmitRequest outputs = Calls(1);
  for (int i = 0; i < 4; ++i) outputs.add_call_outputs(std::string("inc-0"));
  ExpectInvalid(TaskGraphFromSubmit(outputs, limits).status(),
                "calls: call_outputs: 4 keys; at most 3 per request");
  v1::SubmitRequest stray;
  stray.set_client_id("c");
  stray.add_call_outputs(std::string("x"));
  ExpectInvalid(TaskGraphFromSubmit(stray).status(), "call_outputs without calls");
}

// Each call's inputs come with their position among the graph's earlier calls, -1 for a key
// already in the cluster (the scheduler then looks it up there).
TEST(TaskGraphFromSubmit, GivesEachInputItsEarlierCallsPosition) {
  v1::SubmitRequest req = Calls(2);  // inc-0, inc-1
  v1::Task* add = req.add_calls();
  add->set_key("add-0");
  add->set_kind(v1::Task::CALL);
  add->set_function("add");
  for (const char* in : {"inc-1", "persisted-0", "inc-0"}) add->add_inputs()->set_key(in);
  for (int dep : {0, 2}) add->add_args()->set_dep(dep);
  auto g = TaskGraphFromSubmit(req);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->dep_positions, (std::vector<int32_t>{1, -1, 0}));
  EXPECT_EQ(g->external_deps, std::vector<std::string>{"persisted-0"});
}

// Keys, groups, function names and holders are proto `bytes` (no UTF-8 check at every parse);
// the scheduler checks them where they enter, so nothing that is not UTF-8 gets into the logs,
// the dashboard or an error message.
TEST(FirstInvalidUtf8, FindsTheFirstBadByte) {
  constexpr size_t kOk = std::string_view::npos;
  EXPECT_EQ(wire::FirstInvalidUtf8(""), kOk);
  EXPECT_EQ(wire::FirstInvalidUtf8("inc-0123456789abcdef"), kOk);
  EXPECT_EQ(wire::FirstInvalidUtf8("h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82"), kOk);
  EXPECT_EQ(wire::FirstInvalidUtf8("\xf4\x8f\xbf\xbf"), kOk);  // U+10FFFF
  EXPECT_EQ(wire::FirstInvalidUtf8("\xc0\x80"), 0u);          // overlong NUL
  EXPECT_EQ(wire::FirstInvalidUtf8("ab\xe0\x9f\xbf"), 2u);     // overlong U+07FF
  EXPECT_EQ(wire::FirstInvalidUtf8("\xed\xa0\x80"), 0u);      // surrogate U+D800
  EXPECT_EQ(wire::FirstInvalidUtf8("\xf4\x90\x80\x80"), 0u);  // U+110000
  EXPECT_EQ(wire::FirstInvalidUtf8("abc\x80"), 3u);            // stray continuation byte
  EXPECT_EQ(wire::FirstInvalidUtf8("abc\xe6\x97"), 3u);        // cut short
  EXPECT_EQ(wire::FirstInvalidUtf8("\xe6\x97x"), 0u);          // not a continuation
  EXPECT_EQ(wire::FirstInvalidUtf8("\xff"), 0u);
  // Past the eight-byte ASCII steps, and right after a multi-byte character.
  EXPECT_EQ(wire::FirstInvalidUtf8("0123456789\xfe"), 10u);
  EXPECT_EQ(wire::FirstInvalidUtf8("01234567\xc3\xa9" "012345678\x80"), 19u);
}

TEST(EscapeInvalidUtf8, WritesBadBytesAsHex) {
  EXPECT_EQ(wire::EscapeInvalidUtf8(""), "");
  EXPECT_EQ(wire::EscapeInvalidUtf8("h\xc3\xa9llo"), "h\xc3\xa9llo");
  EXPECT_EQ(wire::EscapeInvalidUtf8("a\xff\xc3"), "a\\xff\\xc3");
  EXPECT_EQ(wire::EscapeInvalidUtf8("\xe6\x97x\xe6\x97\xa5"), "\\xe6\\x97x\xe6\x97\xa5");
  EXPECT_EQ(wire::FirstInvalidUtf8(wire::EscapeInvalidUtf8("\xc0\x80\xed\xa0\x80")),
            std::string_view::npos);
}

TEST(TaskGraphFromSubmit, RefusesKeysThatAreNotUtf8) {
  v1::SubmitRequest key = Calls(2);
  key.mutable_calls(1)->set_key(std::string("inc-\xff", 5));
  ExpectInvalid(TaskGraphFromSubmit(key).status(),
                "calls: a task's key is not UTF-8 (byte 4 is 0xff)");
  v1::SubmitRequest function = Calls(1);
  function.mutable_calls(0)->set_function(std::string("in\xc3", 3));
  ExpectInvalid(TaskGraphFromSubmit(function).status(),
                "calls: task 'inc-0': function is not UTF-8 (byte 2 is 0xc3)");
  v1::SubmitRequest input = Calls(1);
  input.mutable_calls(0)->add_inputs()->set_key(std::string("\xed\xa0\x80", 3));
  ExpectInvalid(TaskGraphFromSubmit(input).status(),
                "calls: task 'inc-0': input key is not UTF-8 (byte 0 is 0xed)");
  v1::SubmitRequest outputs = Calls(1);
  outputs.add_call_outputs(std::string("\x80", 1));
  ExpectInvalid(TaskGraphFromSubmit(outputs).status(),
                "calls: call_outputs: key 0 is not UTF-8 (byte 0 is 0x80)");
  v1::ReleaseRequest release;
  release.set_client_id("c");
  release.add_keys(std::string("ok"));
  release.add_keys(std::string("\xc0\x80", 2));
  ExpectInvalid(ValidateRelease(release), "release: key 1 is not UTF-8 (byte 0 is 0xc0)");
}

TEST(ValidateKeys, WaitLocateRelease) {
  wire::RequestLimits limits;
  limits.max_keys = 2;
  // std::string keys: GCC 12's -Wrestrict false positive on add_keys(const char*) (bug 105329).
  v1::LocateRequest locate;
  for (std::string key : {"a", "b"}) locate.add_keys(key);
  EXPECT_TRUE(ValidateLocate(locate, limits).ok());
  locate.add_keys(std::string("c"));
  ExpectInvalid(ValidateLocate(locate, limits), "locate: 3 keys; at most 2 per request");

  v1::WaitRequest wait;
  wait.add_keys(std::string());
  ExpectInvalid(ValidateWait(wait), "wait: key 0 is empty");
  wait.set_keys(0, std::string(wire::kMaxStringBytes + 1, 'k'));
  ExpectInvalid(ValidateWait(wait), "wait: key 0 is 4097 bytes; at most 4096");
  v1::WaitRequest negative;
  negative.set_computation_id(-1);
  ExpectInvalid(ValidateWait(negative), "wait: negative computation_id -1");

  v1::ReleaseRequest release;
  release.set_client_id(std::string(5000, 'c'));
  ExpectInvalid(ValidateRelease(release), "release: client_id is 5000 bytes");
  ExpectInvalid(ValidateClientId("client session", ""), "client session: client_id is empty");
}

TEST(ValidateRegistration, ChecksFieldsAndLengths) {
  v1::RegisterWorker r;
  r.set_nthreads(2);
  r.set_kind("cpu");
  r.set_address("127.0.0.1:1234");
  r.set_name("w");
  EXPECT_TRUE(ValidateRegistration(r).ok());
  r.set_name(std::string(5000, 'n'));
  ExpectInvalid(ValidateRegistration(r), "register: name is 5000 bytes; at most 4096");
  r.set_name("w");
  r.set_nthreads(0);
  ExpectInvalid(ValidateRegistration(r), "register: nthreads 0 out of range");
  r.set_nthreads(2);
  r.set_kind(std::string(100000, 'x'));
  ExpectInvalid(ValidateRegistration(r), "is neither cpu nor cuda");
  EXPECT_LT(ValidateRegistration(r).message().size(), 200u);
}

TEST(ValidateRetire, ChecksNamesKindCountAndTimeout) {
  v1::RetireRequest r;
  r.add_workers("w0");
  EXPECT_TRUE(ValidateRetire(r).ok());
  r.add_workers(std::string(5000, 'w'));
  ExpectInvalid(ValidateRetire(r), "5000 bytes");
  ExpectInvalid(ValidateRetire(v1::RetireRequest()), "retire: no worker named");
  v1::RetireRequest by_kind;
  by_kind.set_kind("gpu");
  by_kind.set_count(2);
  ExpectInvalid(ValidateRetire(by_kind), "retire: kind 'gpu' is neither cpu nor cuda");
  by_kind.set_kind("cpu");
  EXPECT_TRUE(ValidateRetire(by_kind).ok());
  by_kind.set_count(-1);
  ExpectInvalid(ValidateRetire(by_kind), "retire: count -1 < 0");
  by_kind.set_count(1);
  by_kind.set_timeout_seconds(-5);
  ExpectInvalid(ValidateRetire(by_kind), "retire: timeout_seconds -5");
}

}  // namespace
}  // namespace tessera::scheduler
