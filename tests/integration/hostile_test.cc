// Hostile input on the wire: garbage bytes, truncated HTTP/2, oversized and malformed gRPC
// messages sent to a real `scheduler` (and garbage to a `cpu-worker`'s data port). After each,
// the process must still be running and a normal computation must give the right answer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <random>
#include <string>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "cluster_fixture.h"
#include "graph/rpc/limits.h"
#include "scheduler.grpc.pb.h"
#include "subprocess.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

class HostileTest : public testing::SharedClusterTest<HostileTest> {
 protected:
  static int Port(const std::string& host_port) {
    return std::atoi(host_port.substr(host_port.rfind(':') + 1).c_str());
  }

  // Connects to 127.0.0.1:port, sends `bytes`, reads whatever comes back for up to a second (the
  // peer may answer with a GOAWAY and close) and closes. Returns false if it could not connect.
  static bool SendRaw(int port, const std::string& bytes) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      return false;
    }
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // the peer closed on us: fine
      sent += static_cast<size_t>(n);
    }
    char buf[4096];
    while (recv(fd, buf, sizeof buf, 0) > 0) {
    }
    close(fd);
    return true;
  }

  static std::string Garbage(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
  }

  // An HTTP/2 frame header: 24-bit length, type, flags, 31-bit stream id.
  static std::string FrameHeader(uint32_t length, uint8_t type, uint8_t flags, uint32_t stream) {
    std::string h;
    h.push_back(static_cast<char>(length >> 16));
    h.push_back(static_cast<char>(length >> 8));
    h.push_back(static_cast<char>(length));
    h.push_back(static_cast<char>(type));
    h.push_back(static_cast<char>(flags));
    for (int shift : {24, 16, 8, 0}) h.push_back(static_cast<char>((stream >> shift) & 0x7f));
    return h;
  }

  static int SchedulerPort() { return Port(cluster_->address()); }

  // The scheduler and both workers still run, and compute arange(100000).sum() right (chunks on
  // both workers, a tree of combines, the result fetched by the client).
  static void ExpectServing() {
    EXPECT_LT(cluster_->scheduler().Wait(std::chrono::milliseconds(0)), 0)
        << "the scheduler exited: " << cluster_->scheduler().stderr_text();
    for (int i = 0; i < 2; ++i) {
      EXPECT_LT(cluster_->worker(i).Wait(std::chrono::milliseconds(0)), 0)
          << "worker " << i << " exited: " << cluster_->worker(i).stderr_text();
    }
    const Array x = arange(100000, ArrayOptions{.chunks = ChunkSpec{10000}});
    EXPECT_EQ(client_->compute(x.sum()).get().scalar<double>(), 4999950000.0);
    // A result larger than the inline limit travels from a worker's data port.
    const NDArray got = client_->compute(x * 2).get();
    ASSERT_EQ(got.size(), 100000);
    EXPECT_EQ(got.at(99999), 199998.0);
  }

  // To the shared cluster's scheduler, or to the one at `address`.
  static std::shared_ptr<grpc::Channel> Channel(int max_send_bytes,
                                                const std::string& address = cluster_->address()) {
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(max_send_bytes);
    args.SetMaxReceiveMessageSize(max_send_bytes);
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }

  // Submits a chain of `depth` nodes (FULL then negations) to the scheduler at `address`.
  static grpc::Status SubmitChain(const std::string& address, int depth,
                                  v1::SubmitResponse* resp) {
    auto stub = v1::Scheduler::NewStub(Channel(64 << 20, address));
    v1::SubmitRequest req;
    req.set_client_id("hostile");
    v1::Node* ones = req.mutable_graph()->add_nodes();
    ones->set_kind(v1::FULL);
    ones->set_value(1);
    ones->add_shape(4);
    ones->mutable_chunks()->add_axes()->add_sizes(4);
    for (int i = 1; i < depth; ++i) {
      v1::Node* n = req.mutable_graph()->add_nodes();
      n->set_kind(v1::UNARY);
      n->set_unary_op(0);  // negative
      n->add_shape(4);
      n->add_inputs(i - 1);
    }
    grpc::ClientContext ctx;
    return stub->Submit(&ctx, req, resp);
  }
};

TEST_F(HostileTest, GarbageBytesOnTheSchedulerPort) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    ASSERT_TRUE(SendRaw(SchedulerPort(), Garbage(size_t{64} << 10, seed)));
  }
  ASSERT_TRUE(SendRaw(SchedulerPort(), ""));  // connect and hang up
  ASSERT_TRUE(SendRaw(SchedulerPort(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ExpectServing();
}

TEST_F(HostileTest, TruncatedHttp2Frames) {
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  // A SETTINGS frame that announces 1000 bytes and sends 10.
  ASSERT_TRUE(
      SendRaw(SchedulerPort(), preface + FrameHeader(1000, 0x4, 0, 0) + std::string(10, 'x')));
  // A frame header cut in the middle.
  ASSERT_TRUE(SendRaw(SchedulerPort(), preface + FrameHeader(0, 0x4, 0, 0).substr(0, 5)));
  // Empty SETTINGS, then HEADERS for a stream with garbage HPACK, then a DATA frame announcing
  // 16 MiB (beyond the default max frame size) with a few bytes of it.
  ASSERT_TRUE(SendRaw(SchedulerPort(), preface + FrameHeader(0, 0x4, 0, 0) +
                                           FrameHeader(40, 0x1, 0x4, 1) + Garbage(40, 9) +
                                           FrameHeader(0xffffff, 0x0, 0, 1) + "abc"));
  // Valid HEADERS-less DATA on a stream that was never opened, cut short.
  ASSERT_TRUE(SendRaw(SchedulerPort(),
                      preface + FrameHeader(0, 0x4, 0, 0) + FrameHeader(100, 0x0, 0, 3) + "ab"));
  ExpectServing();
}

// A Submit larger than the scheduler accepts: RESOURCE_EXHAUSTED from gRPC, and the scheduler
// keeps serving.
TEST_F(HostileTest, OversizedSubmit) {
  auto stub = v1::Scheduler::NewStub(Channel(256 << 20));
  v1::SubmitRequest req;
  req.set_client_id("hostile");
  v1::Node* n = req.mutable_graph()->add_nodes();
  n->set_kind(v1::FROM_BUFFER);
  n->set_dtype(v1::BOOL);
  const int64_t bytes = int64_t{wire::kMaxSchedulerMessageBytes} + (1 << 20);
  n->add_shape(bytes);
  n->mutable_chunks()->add_axes()->add_sizes(bytes);
  n->set_data(std::string(static_cast<size_t>(bytes), '\1'));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::SubmitResponse resp;
  const grpc::Status s = stub->Submit(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  ExpectServing();
}

// Bytes that are not a SubmitRequest, as a generic call to the Submit method.
TEST_F(HostileTest, MalformedProtobufBody) {
  grpc::GenericStub stub(Channel(4 << 20));
  for (const std::string& body : {Garbage(1000, 5), std::string("\xff\xff\xff\xff\xff\xff", 6),
                                  std::string("\x12\xff\xff\xff\x0f", 5)}) {
    grpc::Slice slice(body);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, "/tessera.v1.Scheduler/Submit", grpc::StubOptions(), &request, &response,
                   [&](grpc::Status s) { done.set_value(std::move(s)); });
    const grpc::Status s = done.get_future().get();
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  }
  ExpectServing();
}

// Well-formed messages with values past the limits: INVALID_ARGUMENT naming the limit.
TEST_F(HostileTest, InvalidFieldsAreRefusedWithTheirLimit) {
  auto stub = v1::Scheduler::NewStub(Channel(64 << 20));
  {
    v1::SubmitRequest req;
    req.set_client_id("hostile");
    v1::Node* n = req.mutable_graph()->add_nodes();
    n->set_kind(static_cast<v1::NodeKind>(99));
    grpc::ClientContext ctx;
    v1::SubmitResponse resp;
    const grpc::Status s = stub->Submit(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "unknown node kind 99")) << s.error_message();
  }
  {
    v1::SubmitRequest req;
    req.set_client_id("hostile");
    v1::Node* n = req.mutable_graph()->add_nodes();
    n->set_kind(v1::FULL);
    for (int i = 0; i < 9; ++i) n->add_shape(2);
    grpc::ClientContext ctx;
    v1::SubmitResponse resp;
    const grpc::Status s = stub->Submit(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "shape has 9 entries; at most 8"))
        << s.error_message();
  }
  {
    v1::LocateRequest req;
    req.add_keys(std::string(wire::kMaxStringBytes + 1, 'k'));
    grpc::ClientContext ctx;
    v1::LocateResponse resp;
    const grpc::Status s = stub->Locate(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "locate: key 0 is 4097 bytes; at most 4096"))
        << s.error_message();
  }
  {
    // Keys are proto bytes: one that is not UTF-8 reaches the scheduler's check, which names it.
    v1::SubmitRequest req;
    req.set_client_id("hostile");
    v1::Task* t = req.add_calls();
    t->set_kind(v1::Task::CALL);
    t->set_key(std::string("noop-\xfe", 6));
    t->set_function("noop");
    grpc::ClientContext ctx;
    v1::SubmitResponse resp;
    const grpc::Status s = stub->Submit(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(
        absl::StrContains(s.error_message(), "calls: a task's key is not UTF-8 (byte 5 is 0xfe)"))
        << s.error_message();
  }
  {
    v1::WorkerMessage reg;
    auto* r = reg.mutable_register_();
    r->set_name(std::string(10000, 'n'));
    r->set_kind("cpu");
    r->set_nthreads(1);
    r->set_address("127.0.0.1:1");
    grpc::ClientContext ctx;
    auto stream = stub->WorkerSession(&ctx);
    stream->Write(reg);
    stream->WritesDone();
    v1::SchedulerMessage m;
    EXPECT_FALSE(stream->Read(&m));
    const grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "register: name is 10000 bytes"))
        << s.error_message();
  }
  ExpectServing();
}

// The deepest graph the scheduler accepts is lowered in a gRPC handler thread without
// exhausting its stack (lowering recurses along the chain), and one deeper is refused.
TEST_F(HostileTest, DeepestAcceptedGraphIsServed) {
  for (int depth : {wire::kMaxGraphDepth, wire::kMaxGraphDepth + 1}) {
    v1::SubmitResponse resp;
    const grpc::Status s = SubmitChain(cluster_->address(), depth, &resp);
    if (depth == wire::kMaxGraphDepth) {
      EXPECT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(resp.keys_size(), 1);
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_TRUE(absl::StrContains(s.error_message(), "at most 10000")) << s.error_message();
    }
  }
  ExpectServing();
}

// The same from a scheduler started under `ulimit -s 1024`: its RPC threads' stacks do not come
// from the limit (a release scheduler needs more than 4 MiB for this graph), so it is served.
TEST_F(HostileTest, DeepestAcceptedGraphIsServedUnderASmallStackLimit) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_STACK, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = 1 << 20;
  ASSERT_EQ(setrlimit(RLIMIT_STACK, &small), 0);
  testing::Subprocess scheduler(
      "scheduler", {"--host", "127.0.0.1", "--port", "0", "--dashboard-address", "none"});
  ASSERT_EQ(setrlimit(RLIMIT_STACK, &saved), 0);  // the child has inherited the small limit
  const testing::Announcement a =
      testing::WaitForAnnouncement(scheduler, false, std::chrono::seconds(20));
  ASSERT_FALSE(a.address.empty()) << scheduler.stderr_text();
  v1::SubmitResponse resp;
  const grpc::Status s = SubmitChain(a.address, wire::kMaxGraphDepth, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message() << "\n" << scheduler.stderr_text();
  EXPECT_EQ(resp.keys_size(), 1);
  EXPECT_LT(scheduler.Wait(std::chrono::milliseconds(0)), 0)
      << "the scheduler exited: " << scheduler.stderr_text();
}

TEST_F(HostileTest, GarbageOnAWorkersDataPort) {
  const SchedulerInfo info = client_->scheduler_info();
  ASSERT_EQ(info.workers.size(), 2u);
  const int port = Port(info.workers[0].address);
  ASSERT_GT(port, 0) << info.workers[0].address;
  ASSERT_TRUE(SendRaw(port, Garbage(size_t{64} << 10, 11)));
  ASSERT_TRUE(SendRaw(
      port, std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + FrameHeader(1000, 0x4, 0, 0) + "xy"));
  ExpectServing();
  EXPECT_EQ(client_->scheduler_info().workers.size(), 2u);
}

}  // namespace
}  // namespace tessera
