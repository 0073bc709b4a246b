// Function calls end to end: the real `scheduler` and `cpu-worker` processes on loopback ports,
// driven through Client::submit / map / gather / delayed, and the examples under examples/.
#include <chrono>
#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include "cluster_fixture.h"
#include "scheduler.grpc.pb.h"
#include "subprocess.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

using testing::LocalProcessCluster;

class CallsTest : public testing::SharedClusterTest<CallsTest> {};

// Runs `fn` and returns the Error it throws (or fails the test).
template <typename Fn>
Error Throws(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no tessera::Error thrown";
  return Error(0, "");
}

TEST_F(CallsTest, SubmitRunsBuiltins) {
  EXPECT_EQ(client_->submit("inc", 1).result().as_int(), 2);
  EXPECT_EQ(client_->submit("dec", 10).result().as_int(), 9);
  EXPECT_EQ(client_->submit("add", 2, 40).result().as_int(), 42);
  EXPECT_DOUBLE_EQ(client_->submit("add", 2, 0.5).result().as_double(), 2.5);
  EXPECT_DOUBLE_EQ(client_->submit("inc", 1.25).result().as_double(), 2.25);
  EXPECT_EQ(client_->submit("sum", std::vector<Arg>{1, 2, 3, 4}).result().as_int(), 10);
  EXPECT_TRUE(client_->submit("noop", 1, "two", 3.0).result().is_none());
  // get() gives numbers as 0-d arrays.
  EXPECT_EQ(client_->submit("inc", 41).get().scalar<int64_t>(), 42);
}

// done() asks the scheduler about the future's own key: false while the call runs (one of a map
// batch too), true once it has finished.
TEST_F(CallsTest, DoneSaysWhetherTheCallHasFinished) {
  Future slow = client_->submit("sleep", 1.5);
  EXPECT_FALSE(slow.done());
  std::vector<Future> batch = client_->map("sleep", std::vector<Arg>{0.0, 1.5});
  EXPECT_EQ(batch[0].result().as_double(), 0.0);
  EXPECT_TRUE(batch[0].done());
  EXPECT_FALSE(batch[1].done());
  EXPECT_EQ(slow.result().as_double(), 1.5);
  EXPECT_TRUE(slow.done());
  EXPECT_EQ(batch[1].result().as_double(), 1.5);
  EXPECT_TRUE(batch[1].done());
}

TEST_F(CallsTest, IdentityRoundTripsEveryValueType) {
  std::vector<uint8_t> bytes(3 * 8);
  const double data[3] = {1.5, -2, 3};
  std::memcpy(bytes.data(), data, sizeof data);
  const NDArray array(DType::kFloat64, {3}, bytes);
  const std::vector<Value> values = {
      Value(), Value(7), Value(-0.5), Value("text with 'quotes'"), Value::bytes(std::string("\0\1\2", 3)),
      Value(array), Value(std::vector<Value>{1, "a", std::vector<Value>{2.5, Value()}})};
  for (const Value& v : values) {
    const Value got = client_->submit("identity", v).result();
    EXPECT_EQ(got, v) << v.repr() << " came back as " << got.repr();
    // As a future into a second call: the scheduler holds small results inline and sends them in
    // the next task's assignment, from which the worker reads them without its store.
    const Value twice = client_->submit("identity", client_->submit("identity", v)).result();
    EXPECT_EQ(twice, v) << v.repr() << " came back from a future as " << twice.repr();
  }
  // A large value goes through the worker's store and the data service, not inline.
  std::string big(200000, 'x');
  EXPECT_EQ(client_->submit("identity", big).result().as_string(), big);
}

TEST_F(CallsTest, FuturesAreArgumentsOfLaterCalls) {
  Future x = client_->submit("inc", 1);
  Future y = client_->submit("dec", 2);
  Future z = client_->submit("add", x, y);
  EXPECT_EQ(z.result().as_int(), 3);
  // A list of futures mixed with literals.
  Future s = client_->submit("sum", std::vector<Arg>{x, y, z, 100});
  EXPECT_EQ(s.result().as_int(), 2 + 1 + 3 + 100);
  EXPECT_EQ(x.key().rfind("inc-", 0), 0u) << x.key();
}

TEST_F(CallsTest, UnknownFunctionIsRejectedAtSubmitNamingIt) {
  const Error e = Throws([] { client_->submit("no_such_function", 1); });
  EXPECT_EQ(e.code(), 5) << e.what();  // NOT_FOUND
  EXPECT_NE(std::string(e.what()).find("'no_such_function'"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("inc"), std::string::npos) << e.what();
}

TEST_F(CallsTest, WrongArgumentsAreRejectedBeforeAnythingRuns) {
  Error e = Throws([] { client_->submit("add", 1); });
  EXPECT_EQ(e.code(), 3) << e.what();  // INVALID_ARGUMENT
  EXPECT_EQ(std::string(e.what()), "add expects add(number, number) -> number; given (int64)");
  e = Throws([] { client_->submit("inc", "x"); });
  EXPECT_EQ(std::string(e.what()), "inc expects inc(number) -> number; given (string)");
  e = Throws([] { client_->submit("sum", 1, 2); });
  EXPECT_NE(std::string(e.what()).find("sum(list) -> number; given (int64, int64)"),
            std::string::npos) << e.what();
  // A future's type is its function's return type: sum of a number is refused at submit.
  Future one = client_->submit("inc", 0);
  e = Throws([&] { client_->submit("sum", one); });
  EXPECT_NE(std::string(e.what()).find("given (number)"), std::string::npos) << e.what();
  // A bad call deep in a delayed graph refuses the whole graph.
  e = Throws([] { client_->compute(delayed("add")(delayed("inc")(1), delayed("dec")("two"))); });
  EXPECT_NE(std::string(e.what()).find("dec expects dec(number) -> number; given (string)"),
            std::string::npos) << e.what();
}

// The scheduler's count of the tasks it knows.
int64_t TasksKnown(const std::string& address) {
  auto stub = v1::Scheduler::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::InfoRequest req;
  v1::InfoResponse resp;
  grpc::ClientContext ctx;
  const grpc::Status s = stub->Info(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.tasks_total();
}

// A graph of more than one batch (8192 calls) goes to the scheduler in batches, the first running
// while later ones are sent. Its calls are still all checked before any batch is: a bad call in
// the last batch refuses the whole graph and adds no task.
TEST_F(CallsTest, ABadCallInALargeGraphRefusesAllOfItBeforeAnythingRuns) {
  std::vector<Arg> leaves;
  for (int i = 0; i < 9000; ++i) leaves.push_back(delayed("inc")(i));
  const Delayed total = delayed("sum")(leaves);
  const int64_t before = TasksKnown(cluster_->address());
  Error e = Throws([&] { client_->compute(delayed("add")(total, "x")); });
  EXPECT_EQ(e.code(), 3) << e.what();  // INVALID_ARGUMENT
  EXPECT_EQ(std::string(e.what()), "add expects add(number, number) -> number; given (number, string)");
  e = Throws([&] { client_->compute(delayed("no_such_function")(total)); });
  EXPECT_EQ(e.code(), 5) << e.what();  // NOT_FOUND
  EXPECT_NE(std::string(e.what()).find("no worker offers a function named 'no_such_function'"),
            std::string::npos) << e.what();
  EXPECT_EQ(TasksKnown(cluster_->address()), before);
  // A future's type is its function's return type (noop returns none): the mismatch sits in the
  // last batch and is refused before the first one is sent, as the scheduler would refuse it in
  // one request. So is a persisted delayed result's.
  Future none = client_->submit("noop", 1);
  Delayed none_persisted = client_->persist(delayed("noop")(2));
  none.result();
  const int64_t with_futures = TasksKnown(cluster_->address());
  e = Throws([&] { client_->compute(delayed("add")(total, none)); });
  EXPECT_EQ(e.code(), 3) << e.what();
  EXPECT_EQ(std::string(e.what()), "add expects add(number, number) -> number; given (number, none)");
  e = Throws([&] { client_->compute(delayed("inc")(delayed("add")(total, none_persisted))); });
  EXPECT_EQ(std::string(e.what()), "add expects add(number, number) -> number; given (number, none)");
  EXPECT_EQ(TasksKnown(cluster_->address()), with_futures);
  // The same graph without the bad call: every batch's results reach the calls of later ones.
  EXPECT_EQ(client_->compute(delayed("add")(total, 1)).result().as_int(), 9000 * 9001 / 2 + 1);
  // Two outputs in different batches, one of them also read by a later call.
  const Delayed first = delayed("inc")(-1);
  std::vector<Arg> more{first};
  for (int i = 0; i < 9000; ++i) more.push_back(delayed("dec")(i));
  std::vector<Future> both =
      client_->compute(std::vector<Delayed>{first, delayed("sum")(more)});
  EXPECT_EQ(both[0].result().as_int(), 0);
  EXPECT_EQ(both[1].result().as_int(), 9000 * 8999 / 2 - 9000);
}

// A pairwise tree over five batches: a subtree's root is held only until the batch of the add
// reading it is in (the left half's root, from the middle batch, until the last one). Released
// any earlier, its batch would be forgotten before its reader arrived and the submit refused.
TEST_F(CallsTest, ATreeSpanningManyBatchesSumsWithItsHoldsReleasedOnTheWay) {
  const int64_t n = 20000;  // 39 999 calls
  std::vector<Delayed> level;
  for (int64_t i = 0; i < n; ++i) level.push_back(delayed("inc")(i));
  while (level.size() > 1) {
    std::vector<Delayed> next;
    for (size_t k = 0; k + 1 < level.size(); k += 2) {
      next.push_back(delayed("add")(level[k], level[k + 1]));
    }
    if (level.size() % 2 == 1) next.push_back(level.back());
    level = std::move(next);
  }
  EXPECT_EQ(client_->compute(level[0]).result().as_int(), n * (n + 1) / 2);
}

TEST_F(CallsTest, AFailingFunctionErrsItsTaskAndDependentsAndTheWorkersLiveOn) {
  Future bad = client_->submit("sum", std::vector<Arg>{1, "a"});
  Future dependent = client_->submit("inc", bad);
  Error e = Throws([&] { bad.result(); });
  EXPECT_EQ(std::string(e.what()), "sum: item 1 of the list is string, not a number");
  e = Throws([&] { dependent.result(); });
  EXPECT_EQ(std::string(e.what()), "sum: item 1 of the list is string, not a number");
  e = Throws([] { client_->submit("sleep", -1).result(); });
  EXPECT_NE(std::string(e.what()).find("sleep: -1 seconds"), std::string::npos) << e.what();
  // Both workers still answer.
  EXPECT_EQ(client_->scheduler_info().workers.size(), 2u);
  std::vector<Arg> values;
  for (int i = 0; i < 20; ++i) values.emplace_back(i);
  std::vector<Value> got = client_->gather(client_->map("inc", values));
  ASSERT_EQ(got.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(got[static_cast<size_t>(i)].as_int(), i + 1);
}

TEST_F(CallsTest, MapAndGather) {
  std::vector<Arg> values;
  for (int i = 0; i < 5000; ++i) values.emplace_back(i);
  std::vector<Future> futures = client_->map("inc", values);
  ASSERT_EQ(futures.size(), 5000u);
  const std::vector<Value> got = client_->gather(futures);
  int64_t total = 0;
  for (const Value& v : got) total += v.as_int();
  EXPECT_EQ(total, 5000 * 5001 / 2);
  // Futures of one map feed a second one.
  std::vector<Arg> next(futures.begin(), futures.end());
  const std::vector<Value> again = client_->gather(client_->map("dec", next));
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(again[static_cast<size_t>(i)].as_int(), i);
}

TEST_F(CallsTest, DelayedGraphsComputeAndPersist) {
  auto x = delayed("inc")(1);
  auto y = delayed("dec")(2);
  auto z = delayed("add")(x, y);
  EXPECT_EQ(client_->compute(z).result().as_int(), 3);
  // Shared nodes are sent once; computing twice is fine.
  auto w = delayed("add")(z, z);
  EXPECT_EQ(client_->compute(w).result().as_int(), 6);
  // persist keeps z in the cluster; later graphs read it.
  Delayed zp = client_->persist(z);
  EXPECT_EQ(client_->compute(delayed("add")(zp, 10)).result().as_int(), 13);
  EXPECT_EQ(client_->compute(zp).result().as_int(), 3);
  // A future can be a delayed call's argument.
  Future f = client_->submit("inc", 99);
  EXPECT_EQ(client_->compute(delayed("add")(f, x)).result().as_int(), 102);
}

TEST_F(CallsTest, LongChainsNeitherOverflowTheStackNorStall) {
  {
    // Building and dropping a chain of 300 000 calls (no recursion on destruction).
    Delayed x = delayed("inc")(0);
    for (int i = 1; i < 300000; ++i) x = delayed("inc")(x);
  }
  Delayed x = delayed("inc")(0);
  for (int i = 1; i < 5000; ++i) x = delayed("inc")(x);
  EXPECT_EQ(client_->compute(x).result().as_int(), 5000);
  // An error at the root of a long chain errs all of it (and the scheduler lives on).
  Delayed bad = delayed("sum")(std::vector<Arg>{"x"});
  for (int i = 0; i < 200000; ++i) bad = delayed("identity")(bad);
  const Error e = Throws([&] { client_->compute(bad).result(); });
  EXPECT_EQ(std::string(e.what()), "sum: item 0 of the list is string, not a number");
  EXPECT_EQ(client_->submit("inc", 1).result().as_int(), 2);
}

TEST_F(CallsTest, CancelAQueuedCall) {
  // Keep both single-thread workers busy, then cancel what waits behind them.
  Future busy1 = client_->submit("sleep", 1.0);
  Future busy2 = client_->submit("sleep", 1.0);
  std::vector<Arg> values;
  for (int i = 0; i < 20; ++i) values.emplace_back(0.2);
  std::vector<Future> queued = client_->map("sleep", values);
  const auto start = std::chrono::steady_clock::now();
  client_->cancel(queued);
  const Error e = Throws([&] { queued[5].result(); });
  EXPECT_EQ(e.code(), 1) << e.what();  // CANCELLED
  // The cancelled sleeps do not hold up later work: 20 x 0.2 s on 2 workers would be 2 s.
  EXPECT_EQ(client_->submit("inc", 1).result().as_int(), 2);
  EXPECT_DOUBLE_EQ(busy1.result().as_double(), 1.0);
  busy2.result();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(wall, 2.0);
}

TEST_F(CallsTest, WorkersOfferTheBuiltins) {
  const std::vector<std::string> fns = client_->functions();
  for (const char* want : {"add(number, number) -> number", "dec(number) -> number",
                           "identity(any) -> any", "inc(number) -> number", "noop(any...) -> none",
                           "sleep(number) -> number", "sum(list) -> number"}) {
    EXPECT_NE(std::find(fns.begin(), fns.end(), want), fns.end()) << want;
  }
}

// ---- the examples under examples/ against the same cluster ----

TEST_F(CallsTest, ExampleDelayedSleepRunsInParallel) {
  const auto r = testing::Run("delayed_sleep", {cluster_->address()});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("result = 3\n"), std::string::npos) << r.out;
  const double wall = std::stod(r.out.substr(r.out.find("wall = ") + 7));
  EXPECT_LT(wall, 3.5) << r.out;  // 4 s step by step; about 2 s on two workers
  EXPECT_GE(wall, 2.0) << r.out;
}

TEST_F(CallsTest, ExampleLoopWithPersistSums) {
  const auto r = testing::Run("delayed_loop", {cluster_->address()});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("result = 65536\n"), std::string::npos) << r.out;
}

TEST_F(CallsTest, ExampleTreeSum) {
  const auto r = testing::Run("tree_sum", {cluster_->address(), "1000"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("result = 500500\n"), std::string::npos) << r.out;
}

// ---- plugins: examples/plugin, built by the test tree and preloaded into the workers ----

TEST(PluginTest, PreloadedFunctionsAreOfferedAndRun) {
  LocalProcessCluster cluster(2, 1, {"--preload", TESSERA_EXAMPLE_PLUGIN});
  ASSERT_TRUE(cluster.ok()) << cluster.worker(0).stderr_text();
  Client client = Client::connect(cluster.address());
  const std::vector<std::string> fns = client.functions();
  EXPECT_NE(std::find(fns.begin(), fns.end(), "cube(number) -> float64"), fns.end());
  EXPECT_NE(std::find(fns.begin(), fns.end(), "greet(string) -> string"), fns.end());
  EXPECT_DOUBLE_EQ(client.submit("cube", 3).result().as_double(), 27.0);
  EXPECT_EQ(client.submit("greet", "Ada").result().as_string(), "Hello, Ada!");
  // Plugin functions compose with the built-ins.
  EXPECT_DOUBLE_EQ(client.compute(delayed("add")(delayed("cube")(4), 1)).result().as_double(), 65.0);
  // Checked against the plugin's signature at submit.
  const Error bad = Throws([&] { client.submit("greet", 1); });
  EXPECT_EQ(std::string(bad.what()), "greet expects greet(string) -> string; given (int64)");
  // A throwing function errs its task with the message; the workers live on.
  const Error boom = Throws([&] { client.submit("explode", 7).result(); });
  EXPECT_EQ(std::string(boom.what()), "explode raised: exploded on 7");
  // A message that is not UTF-8 (here a string argument's bytes in it) comes back with the bad
  // bytes escaped, and the worker's session, whose messages it travels in, carries on.
  const Error raw = Throws([&] { client.submit("explode", std::string("a\xff\xc3")).result(); });
  EXPECT_EQ(std::string(raw.what()), "explode raised: exploded on 'a\\xff\\xc3'");
  EXPECT_EQ(client.submit("cube", 2).result().as_double(), 8.0);
  EXPECT_EQ(client.scheduler_info().workers.size(), 2u);
  const std::string logs = cluster.worker(0).stderr_text() + cluster.worker(1).stderr_text();
  EXPECT_NE(logs.find("explode raised: exploded on 7"), std::string::npos) << logs;
}

TEST(PluginTest, RetriesRerunAFailingCall) {
  LocalProcessCluster cluster(2, 1, {"--preload", TESSERA_EXAMPLE_PLUGIN});
  ASSERT_TRUE(cluster.ok()) << cluster.worker(0).stderr_text();
  Client client = Client::connect(cluster.address());
  // Each worker fails its first flaky call: without retries the call errs...
  const Error e = Throws([&] { client.submit("flaky", 1).result(); });
  EXPECT_EQ(std::string(e.what()), "flaky: failed this time");
  // ...with retries it is rerun (on either worker) until it succeeds: at most one failure per
  // worker before each success.
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(client.submit_with({.retries = 3}, "flaky", i).result().as_int(), i);
  }
}

TEST(PluginTest, CliCallsPluginFunctions) {
  LocalProcessCluster cluster(1, 1, {"--preload", TESSERA_EXAMPLE_PLUGIN});
  ASSERT_TRUE(cluster.ok()) << cluster.worker(0).stderr_text();
  const auto r = testing::Run("tessera", {"--scheduler", cluster.address(), "eval",
                                          "greet('Ada'), sum([cube(i) for i in range(4)])"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "('Hello, Ada!', 36.0)\n");
}

TEST(PluginTest, APluginThatFailsToLoadStopsTheWorkerWithTheDlopenError) {
  const auto r = testing::Run("cpu-worker", {"--scheduler", "127.0.0.1:1", "--preload",
                                             "/nonexistent/libnothing.so"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("error: --preload /nonexistent/libnothing.so: "
                       "/nonexistent/libnothing.so: cannot open shared object file"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace tessera
