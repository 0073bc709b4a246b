// End to end: the real `scheduler` and two `cpu-worker` processes on loopback ports, driven by
// the C++ client over gRPC, checked against the unchunked reference evaluator.
#include <cmath>
#include <cstring>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include "graph/reference_eval.h"
#include "scheduler.grpc.pb.h"
#include "cluster_fixture.h"
#include "common/shape.h"
#include "subprocess.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

using testing::LocalProcessCluster;

class ClusterTest : public testing::SharedClusterTest<ClusterTest> {};

NDArray Reference(const Array& x) {
  auto r = tessera::testing::EvaluateReference(x.node());
  EXPECT_TRUE(r.ok()) << r.status();
  return NDArray(r->dtype, r->shape, r->bytes);
}

void ExpectClose(const NDArray& got, const NDArray& want, double rel = 1e-12) {
  ASSERT_EQ(got.shape(), want.shape());
  ASSERT_EQ(got.dtype(), want.dtype());
  for (int64_t i = 0; i < got.size(); ++i) {
    const double a = got.at(i), b = want.at(i);
    ASSERT_NEAR(a, b, rel * std::max(1.0, std::abs(b))) << "element " << i;
  }
}

TEST_F(ClusterTest, InfoListsBothWorkers) {
  const SchedulerInfo info = client_->scheduler_info();
  ASSERT_EQ(info.workers.size(), 2u);
  for (const auto& w : info.workers) {
    EXPECT_EQ(w.kind, "cpu");
    EXPECT_EQ(w.nthreads, 1);
    EXPECT_EQ(w.memory_limit, int64_t{2} << 30);
    EXPECT_EQ(w.address.rfind("tcp://127.0.0.1:", 0), 0u) << w.address;
  }
}

TEST_F(ClusterTest, RandomValuesAreIdenticalAtEveryChunking) {
  const random::RandomOptions base{.seed = 42};
  std::vector<NDArray> results;
  for (ChunkSpec chunks : {ChunkSpec{300, 200}, ChunkSpec{100, 50}, ChunkSpec{7, 13}}) {
    auto opts = base;
    opts.chunks = chunks;
    results.push_back(client_->compute(random::random({300, 200}, opts)).get());
  }
  for (const auto& r : results) EXPECT_EQ(r.bytes(), results[0].bytes());
  auto x = random::random({300, 200}, base);
  EXPECT_EQ(results[0].bytes(), Reference(x).bytes());
}

TEST_F(ClusterTest, SeedComputationSmall) {
  auto x = random::random({2000, 2000}, {.chunks = 500, .seed = 7});
  const double y = client_->compute(exp(x).mean()).get().scalar<double>();
  EXPECT_NEAR(y, std::exp(1.0) - 1, 1e-3);
  EXPECT_NEAR(y, Reference(exp(x).mean()).scalar<double>(), 1e-12);
}

TEST_F(ClusterTest, MirroredProductIsExact) {
  auto x = ones({4000, 4000}, {.chunks = 1000});
  auto y = (x * x[{Slice::Step(-1), Slice::Step(-1)}]).sum();
  EXPECT_EQ(client_->compute(y).get().scalar<double>(), 16000000.0);
}

TEST_F(ClusterTest, MirroredRandomMatchesReferenceAtSeveralChunkings) {
  for (int64_t c : {64, 100, 250}) {
    auto x = random::random({250, 250}, {.chunks = c, .seed = 3});
    auto y = x * x[{Slice::Step(-1), Slice(10, std::nullopt, -2)}][{Slice(), Slice(0, 1)}] + 1;
    ExpectClose(client_->compute(y).get(), Reference(y));
  }
}

TEST_F(ClusterTest, AxisReductionMatchesReference) {
  const random::RandomOptions o{.chunks = {10, 10, 5}, .seed = 11};
  random::RandomOptions o2 = o;
  o2.seed = 12;
  auto x = random::random({100, 200, 10}, o);
  auto y = random::random({100, 200, 10}, o2);
  auto z = (arcsin(x) + arccos(y)).sum({1, 2});
  NDArray got = client_->compute(z).get();
  ASSERT_EQ(got.shape(), Shape({100}));
  ExpectClose(got, Reference(z));
  // Each row sums 2000 terms of std ~0.6: six standard deviations is ~170.
  for (int64_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got.at(i), 2000 * M_PI / 2, 170);
}

TEST_F(ClusterTest, ReductionsOverAxesAndKeepdims) {
  auto x = random::normal(1.0, 2.0, {60, 40, 6}, {.chunks = {25, 15, 4}, .seed = 5});
  for (auto* op : {+[](const Array& a) { return a.min(ReduceOptions{{0, 2}, true}); },
                   +[](const Array& a) { return a.max(ReduceOptions{{-1}, false}); },
                   +[](const Array& a) { return a.mean(ReduceOptions{{1}, false, 2}); },
                   +[](const Array& a) { return a.sum(); }}) {
    auto y = op(x);
    ExpectClose(client_->compute(y).get(), Reference(y), 1e-11);
  }
}

TEST_F(ClusterTest, ArraysComeBackWhole) {
  auto x = arange(0, 1000, 1, {.chunks = 300, .dtype = DType::kInt64});
  auto y = x[{Slice(std::nullopt, std::nullopt, -3)}];
  NDArray got = client_->compute(y).get();
  ASSERT_EQ(got.shape(), Shape({334}));
  for (int64_t i = 0; i < got.size(); ++i) EXPECT_EQ(got.at(i), 999 - 3 * i);
  // A large result travels from the workers through GetData, not inline.
  auto big = random::random({1000, 500}, {.chunks = {400, 500}, .seed = 1});
  EXPECT_EQ(client_->compute(big).get().bytes(), Reference(big).bytes());
  // One chunk of 4 MB (several GetData pieces) is handed over as it came; a future gives the same
  // array each time, shared rather than copied.
  auto one = random::random({1000, 500}, {.chunks = {1000, 500}, .seed = 2});
  Future f = client_->compute(one);
  const NDArray a = f.get(), b = f.get();
  EXPECT_EQ(a.bytes(), Reference(one).bytes());
  EXPECT_EQ(a.bytes().data(), b.bytes().data());
}

// leading_trailing computes what a summarised repr shows; its repr through summary_repr is the
// full array's, and an array far too large to compute whole still prints.
TEST_F(ClusterTest, SummaryOfALargeArrayComputesOnlyItsEdges) {
  for (const auto& [shape, chunks] : std::vector<std::pair<Shape, ChunkSpec>>{
           {{2000}, ChunkSpec(300)},
           {{40, 50}, ChunkSpec({7, 50})},
           {{7, 3, 100}, ChunkSpec(4)},
           {{1000, 2}, ChunkSpec(1000)}}) {
    SCOPED_TRACE(ShapeToString(shape));
    auto x = random::random(shape, {.chunks = chunks, .seed = 7}) * 100 - 50;
    NDArray edges = client_->compute(leading_trailing(x, 3)).get();
    Shape expect;
    for (int64_t n : shape) expect.push_back(std::min<int64_t>(n, 6));
    ASSERT_EQ(edges.shape(), expect);
    EXPECT_EQ(edges.summary_repr(shape), client_->compute(x).get().repr());
  }
  // 8 TB of ones and a 20 GB product of random arrays: only the 36 corner elements are made.
  auto ones_huge = ones({1000000, 1000000});
  EXPECT_EQ(client_->compute(leading_trailing(ones_huge)).get().summary_repr(ones_huge.shape()),
            "array([[1., 1., 1., ..., 1., 1., 1.],\n"
            "       [1., 1., 1., ..., 1., 1., 1.],\n"
            "       [1., 1., 1., ..., 1., 1., 1.],\n"
            "       ...,\n"
            "       [1., 1., 1., ..., 1., 1., 1.],\n"
            "       [1., 1., 1., ..., 1., 1., 1.],\n"
            "       [1., 1., 1., ..., 1., 1., 1.]])");
  auto r = random::random({50000, 50000}, {.seed = 3});
  NDArray corners = client_->compute(leading_trailing(r * r[{Slice::Step(-1)}])).get();
  NDArray first = client_->compute(r[{Slice(0, 3), Slice(0, 3)}]).get();
  NDArray mirrored = client_->compute(r[{Slice(49999, 49996, -1), Slice(0, 3)}]).get();
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      EXPECT_EQ(corners.at(i * 6 + j), first.at(i * 3 + j) * mirrored.at(i * 3 + j));
    }
  }
  EXPECT_THROW(leading_trailing(r, 0), Error);
}

TEST_F(ClusterTest, PersistKeepsChunksForLaterWork) {
  auto x = random::random({500, 300}, {.chunks = 100, .seed = 9});
  Array p = client_->persist(x * 2);
  EXPECT_EQ(p.shape(), x.shape());
  auto y = (p + 1).sum();
  EXPECT_NEAR(client_->compute(y).get().scalar<double>(),
              Reference((x * 2 + 1).sum()).scalar<double>(), 1e-9);
  // Reading the persisted chunks through a reversed slice at another chunk alignment.
  auto z = p[{Slice(std::nullopt, std::nullopt, -1), Slice(5, 250)}];
  ExpectClose(client_->compute(z).get(), Reference((x * 2)[{Slice::Step(-1), Slice(5, 250)}]));
}

TEST_F(ClusterTest, TransposeMatchesReferenceAtSeveralChunkings) {
  for (ChunkSpec chunks : {ChunkSpec{30, 20, 7}, ChunkSpec{8, 9, 4}, ChunkSpec(int64_t{5})}) {
    auto x = random::random({30, 20, 7}, {.chunks = chunks, .seed = 21});
    auto t = x.transpose({2, 0, 1});
    // Generated in place: bit-identical to the reference, whatever the chunking.
    EXPECT_EQ(client_->compute(t).get().bytes(), Reference(t).bytes());
    auto y = (x.T() * 2 + transpose(x[{Slice::Step(-1)}])).sum({0});
    ExpectClose(client_->compute(y).get(), Reference(y));
  }
  // A persisted (materialised) array read through a transpose, at another chunking than its own.
  auto x = random::random({50, 40}, {.chunks = {15, 25}, .seed = 22});
  Array p = client_->persist(x * 3);
  auto z = p.T()[{Slice(3, 30), Slice::Step(-1)}] + ones({27, 50}, {.chunks = 9});
  ExpectClose(client_->compute(z).get(),
              Reference((x * 3).T()[{Slice(3, 30), Slice::Step(-1)}] + ones({27, 50})));
  // Errors name the bad axes before anything is submitted.
  try {
    x.transpose({0, 0});
    ADD_FAILURE() << "no error for repeated axes";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), 3);
    EXPECT_NE(std::string(e.what()).find("repeated axis 0"), std::string::npos) << e.what();
  }
}

TEST_F(ClusterTest, LinspaceMatchesNumPyAtSeveralChunkings) {
  for (int64_t c : {100, 7, 3}) {
    for (const Array& y :
         {linspace(0, 1, 11, true, {.chunks = c}), linspace(-3, 8, 100, false, {.chunks = c}),
          linspace(10, -10, 31, true, {.chunks = c, .dtype = DType::kInt64}),
          linspace(0.5, 0.5, 9, true, {.chunks = c}),
          linspace(1, 2, 40, true, {.chunks = c, .dtype = DType::kFloat32})}) {
      EXPECT_EQ(client_->compute(y).get().bytes(), Reference(y).bytes());  // exact
    }
    // Known values of numpy.linspace(0, 1, 11).
    NDArray got = client_->compute(linspace(0, 1, 11, true, {.chunks = c})).get();
    EXPECT_EQ(got.at(3), 0.30000000000000004);
    EXPECT_EQ(got.at(6), 0.6000000000000001);
    EXPECT_EQ(got.at(10), 1.0);
    // numpy.linspace(10, -10, 31, dtype=int) floors: element 1 is 9.333... -> 9, 16 is -0.66 -> -1.
    NDArray ints =
        client_->compute(linspace(10, -10, 31, true, {.chunks = c, .dtype = DType::kInt64})).get();
    EXPECT_EQ(ints.at(1), 9);
    EXPECT_EQ(ints.at(16), -1);
    auto z = (linspace(0, 1, 30, true, {.chunks = c}) *
              linspace(0, 1, 30, true, {.chunks = c})[{Slice::Step(-1)}])
                 .sum();
    ExpectClose(client_->compute(z).get(), Reference(z));
  }
  try {
    linspace(0, 1, -5);
    ADD_FAILURE() << "no error for a negative num";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("-5"), std::string::npos) << e.what();
  }
}

TEST_F(ClusterTest, RandintMatchesReferenceAtSeveralChunkings) {
  std::vector<NDArray> results;
  const int64_t small_chunkings[] = {500, 64, 7};  // of the 1-D draws, one per 2-D chunking
  int k = 0;
  for (ChunkSpec chunks : {ChunkSpec{60, 40}, ChunkSpec{16, 9}, ChunkSpec(int64_t{5})}) {
    const int64_t small_chunks = small_chunkings[k++];
    auto x = random::randint(-5, 17, {60, 40}, {.chunks = chunks, .seed = 77});
    EXPECT_EQ(x.dtype(), DType::kInt64);
    results.push_back(client_->compute(x).get());
    EXPECT_EQ(results.back().bytes(), Reference(x).bytes());
    // Generated in place through a transpose and a reversed slice, bit for bit.
    auto t = x.T()[{Slice::Step(-1)}];
    EXPECT_EQ(client_->compute(t).get().bytes(), Reference(t).bytes());
    auto small = random::randint(3, std::nullopt, {500},
                                 {.chunks = small_chunks, .dtype = DType::kInt32, .seed = 78});
    NDArray s = client_->compute(small).get();
    EXPECT_EQ(s.dtype(), DType::kInt32);
    EXPECT_EQ(s.bytes(), Reference(small).bytes());
    std::set<double> seen;
    for (int64_t i = 0; i < s.size(); ++i) seen.insert(s.at(i));
    EXPECT_EQ(seen, (std::set<double>{0, 1, 2}));  // [0, low) when high is None
  }
  for (const auto& r : results) EXPECT_EQ(r.bytes(), results[0].bytes());
  std::set<double> seen;
  for (int64_t i = 0; i < results[0].size(); ++i) seen.insert(results[0].at(i));
  EXPECT_EQ(seen.size(), 22u);  // every value of [-5, 17), and nothing else
  EXPECT_EQ(*seen.begin(), -5);
  EXPECT_EQ(*seen.rbegin(), 16);
  auto error_of = [](auto&& make) -> std::string {
    try {
      make();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), 3);
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error_of([] { random::randint(5, 5, {3}); }), "randint: low >= high (5 >= 5)");
  EXPECT_EQ(error_of([] { random::randint(0); }), "randint: high <= 0");
  EXPECT_EQ(error_of([] { random::randint(0, 4, {3}, {.dtype = DType::kFloat64}); }),
            "randint: unsupported dtype float64 (expected int64 or int32)");
  EXPECT_NE(error_of([] {
              random::randint(0, int64_t{1} << 40, {3}, {.dtype = DType::kInt32});
            }).find("do not fit int32"),
            std::string::npos);
}

TEST_F(ClusterTest, AnyAllMatchReferenceAtSeveralChunkings) {
  for (ChunkSpec chunks : {ChunkSpec{40, 30, 6}, ChunkSpec{9, 7, 4}, ChunkSpec(int64_t{3})}) {
    auto x = random::random({40, 30, 6}, {.chunks = chunks, .seed = 31});
    // About 1 element in 1000 is below 0.001: some rows hold one, most none.
    auto rare = x < 0.001;
    for (const Array& y : {rare.any(), rare.any({1, 2}), any(rare, {{0}, true, 2}),
                           (x < 0.999).all({0, 2}), all(x, {{-1}}), (-x < -0.001).all()}) {
      NDArray got = client_->compute(y).get();
      EXPECT_EQ(got.dtype(), DType::kBool);
      EXPECT_EQ(got.shape(), y.shape());
      EXPECT_EQ(got.bytes(), Reference(y).bytes());  // exact
    }
  }
  // The rare row: exactly the rows with an element below 0.001 are true.
  auto x = random::random({40, 30, 6}, {.chunks = 7, .seed = 31});
  NDArray rows = client_->compute((x < 0.001).any({1, 2})).get();
  NDArray mins = client_->compute(x.min({1, 2})).get();
  int64_t trues = 0;
  for (int64_t i = 0; i < 40; ++i) {
    EXPECT_EQ(rows.at(i) != 0, mins.at(i) < 0.001) << "row " << i;
    trues += rows.at(i) != 0;
  }
  EXPECT_GT(trues, 0);
  EXPECT_LT(trues, 40);
  // Empty: any is False, all is True.
  EXPECT_FALSE(client_->compute(ones({0, 4}).any()).get().scalar<bool>());
  EXPECT_TRUE(client_->compute(ones({0, 4}).all()).get().scalar<bool>());
}

// The rest of the op table through the real processes: materialising ops (concatenate,
// reshape, tensordot, from_buffer) move blocks between workers, argmin/argmax combine pairs.
TEST_F(ClusterTest, ShapeLinalgAndArgOpsMatchReference) {
  auto ok = [](absl::StatusOr<graph::NodePtr> n) {
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? Array(*n) : Array(graph::Scalar(0, true));
  };
  std::string bytes(12 * 8, '\0');
  for (int i = 0; i < 12; ++i) {
    const double v = i * 0.5 - 2;
    std::memcpy(bytes.data() + i * 8, &v, 8);
  }
  for (ChunkSpec c : {ChunkSpec{40, 30}, ChunkSpec{7, 9}, ChunkSpec{16, 5}}) {
    const random::RandomOptions opts{.chunks = c, .seed = 5};
    auto x = random::random({40, 30}, opts);
    auto y = random::random({30, 20}, {.chunks = ChunkSpec{9, 7}, .seed = 6});
    const std::vector<Array> cases = {
        ok(graph::Matmul(x.node(), y.node())),
        ok(graph::Concatenate({x.node(), (x * 2.0).node()}, 0)),
        ok(graph::Reshape(x.node(), {20, -1, 3})),
        ok(graph::ArgReduce(graph::ReduceOp::kArgmax, x.node(), 1)),
        ok(graph::ArgReduce(graph::ReduceOp::kArgmin, x.node(), std::nullopt)),
        ok(graph::Std(x.node(), {0}, false, 1)),
        ok(graph::Where((x < 0.5).node(), x.node(), graph::Scalar(-1, false))),
        ok(graph::Stack({x.node(), x.node()}, 1)),
        ok(graph::Rechunk(x.node(), ChunkSpec{13, 11})),
        Array(*graph::FromBuffer(bytes, {3, 4}, DType::kFloat64, ChunkSpec{2, 3})),
    };
    for (const Array& e : cases) {
      SCOPED_TRACE(e.repr());
      ExpectClose(client_->compute(e).get(), Reference(e));
    }
  }
}

TEST_F(ClusterTest, MalformedGraphIsRejectedAndTheSchedulerKeepsServing) {
  auto channel = grpc::CreateChannel(cluster_->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::Scheduler::NewStub(channel);
  v1::SubmitRequest req;
  req.set_client_id("bad-client");
  auto* n = req.mutable_graph()->add_nodes();
  n->set_kind(v1::UNARY);
  n->add_inputs(5);  // refers to a node that does not exist
  v1::SubmitResponse resp;
  grpc::ClientContext ctx;
  grpc::Status s = stub->Submit(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("input 5"), std::string::npos) << s.error_message();

  v1::SubmitRequest neg;
  neg.set_client_id("bad-client");
  auto* f = neg.mutable_graph()->add_nodes();
  f->set_kind(v1::FULL);
  f->add_shape(-4);
  grpc::ClientContext ctx2;
  s = stub->Submit(&ctx2, neg, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("-4"), std::string::npos) << s.error_message();

  // The scheduler rebuilds a TRANSPOSE node through the validating constructor.
  v1::SubmitRequest perm;
  perm.set_client_id("bad-client");
  auto* leaf = perm.mutable_graph()->add_nodes();
  leaf->set_kind(v1::FULL);
  leaf->add_shape(3);
  leaf->add_shape(4);
  leaf->mutable_chunks()->add_axes()->add_sizes(3);
  leaf->mutable_chunks()->add_axes()->add_sizes(4);
  auto* t = perm.mutable_graph()->add_nodes();
  t->set_kind(v1::TRANSPOSE);
  t->add_inputs(0);
  t->add_axes(1);
  t->add_axes(1);
  grpc::ClientContext ctx3;
  s = stub->Submit(&ctx3, perm, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("repeated axis 1"), std::string::npos) << s.error_message();

  EXPECT_EQ(client_->compute(ones({10, 10}).sum()).get().scalar<double>(), 100.0);
}

TEST(WorkerLoss, PersistedChunksOfADeadWorkerAreRecomputed) {
  LocalProcessCluster cluster(2, 1);
  ASSERT_TRUE(cluster.ok());
  Client client = Client::connect(cluster.address());
  auto x = random::random({4000, 1000}, {.chunks = {250, 1000}, .seed = 21});
  Array p = client.persist(x * 2);  // 16 chunks of 2 MB, held on both workers
  EXPECT_GT(client.scheduler_info().workers[0].tasks_stored, 0);
  EXPECT_GT(client.scheduler_info().workers[1].tasks_stored, 0);
  cluster.worker(0).Kill();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (client.scheduler_info().workers.size() != 1) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the dead worker was not removed";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The lost chunks come back from their lineage; the answer is the same.
  const double got = client.compute((p + 1).sum()).get().scalar<double>();
  EXPECT_NEAR(got, Reference((x * 2 + 1).sum()).scalar<double>(), 1e-9 * std::abs(got));
  EXPECT_EQ(client.compute(p).get().bytes(), Reference(x * 2).bytes());
}

TEST(ClientErrors, DeadAddressFailsFastNamingTheAddress) {
  const auto start = std::chrono::steady_clock::now();
  try {
    Client::connect("tcp://127.0.0.1:1", ConnectOptions{std::chrono::milliseconds(2000)});
    FAIL() << "connected to a dead address";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), 14);  // UNAVAILABLE
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_THROW(Client::connect("tcp://[::1"), Error);
}

TEST(WorkerProcess, RetriesAMissingSchedulerAndSaysSo) {
  testing::Subprocess w("cpu-worker", {"127.0.0.1:1", "--nthreads", "1"});
  EXPECT_TRUE(w.WaitForOutput("could not connect to scheduler at tcp://127.0.0.1:1",
                              std::chrono::seconds(10)))
      << w.stderr_text();
  EXPECT_TRUE(w.WaitForOutput("retrying in", std::chrono::seconds(5)));
  EXPECT_EQ(w.Stop(), 0) << "a worker stops cleanly on SIGTERM";
}

TEST(WorkerProcess, BadFlagsExitNonZeroWithAReason) {
  auto r = testing::Run("cpu-worker", {"127.0.0.1:8786", "--memory-limit", "lots"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("lots"), std::string::npos) << r.err;
  r = testing::Run("cpu-worker", {"--nthreads", "1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("scheduler"), std::string::npos) << r.err;
  r = testing::Run("cpu-worker", {"[::1:8786"});
  EXPECT_EQ(r.code, 2);
  // A name the scheduler could not read (it registers in a proto string): refused at start, not
  // retried for ever as a registration that fails.
  r = testing::Run("cpu-worker", {"127.0.0.1:8786", "--name", "w\xff"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("error: --name is not UTF-8 (byte 1 is 0xff)"), std::string::npos) << r.err;
  r = testing::Run("cpu-worker", {"127.0.0.1:8786", "--name", std::string(5000, 'n')});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("error: --name is 5000 bytes; at most 4096"), std::string::npos) << r.err;
}

// The build links the scheduler with tcmalloc when it finds it (TESSERA_TCMALLOC=AUTO): the
// running process must then allocate with it, not merely load it.
TEST(SchedulerProcess, VersionNamesTheAllocatorTheBuildChose) {
  const auto r = testing::Run("scheduler", {"--version"});
  EXPECT_EQ(r.code, 0) << r.err;
  const std::string want = std::string(TESSERA_SCHEDULER_ALLOCATOR) == "tcmalloc"
                               ? "(allocator: tcmalloc)"
                               : "(allocator: glibc malloc)";
  EXPECT_NE(r.out.find("tessera 0.1.0 " + want), std::string::npos) << r.out << r.err;
}

TEST(SchedulerProcess, StopsCleanlyOnSigint) {
  testing::Subprocess s("scheduler", {"--host", "127.0.0.1", "--port", "0"});
  ASSERT_TRUE(s.WaitForOutput("Scheduler at tcp://127.0.0.1:", std::chrono::seconds(10)));
  kill(s.pid(), SIGINT);
  EXPECT_EQ(s.Wait(std::chrono::seconds(10)), 0);
  EXPECT_NE(s.stderr_text().find("shutting down"), std::string::npos);
}

}  // namespace
}  // namespace tessera
