// tessera::Client: the gRPC side of the client library, and the embedded local cluster.
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/log.h"
#include "common/process.h"
#include "common/rpc/grpc_util.h"
#include "graph/expr.h"
#include "graph/rpc/wire.h"
#include "scheduler.grpc.pb.h"
#include "scheduler/scheduler_service.h"
#include "tessera/tessera.h"
#include "worker/data_client.h"
#include "worker/worker.h"
#include "worker_cpu/cpu_task_executor.h"

namespace tessera {
namespace {

[[noreturn]] void Throw(const absl::Status& status) {
  throw Error(static_cast<int>(status.code()), std::string(status.message()));
}

[[noreturn]] void ThrowGrpc(const grpc::Status& status, const std::string& context) {
  throw Error(static_cast<int>(status.error_code()),
              context.empty() ? status.error_message()
                              : absl::StrCat(context, ": ", status.error_message()));
}

std::string RandomClientId() {
  std::random_device rd;
  return absl::StrCat("client-", absl::Hex(static_cast<uint64_t>(rd()) << 32 | rd(),
                                           absl::kZeroPad16));
}

// Copies `chunk` into `out` (C order, shape `out_shape`) at element offsets `lo`.
void CopyBlock(const ChunkBuffer& chunk, const std::vector<int64_t>& lo, const Shape& out_shape,
               uint8_t* out) {
  const size_t ndim = out_shape.size();
  const int64_t item = ItemSize(chunk.dtype);
  if (ndim == 0) {
    std::memcpy(out, chunk.bytes.data(), static_cast<size_t>(item));
    return;
  }
  if (NumElements(chunk.shape) == 0) return;
  std::vector<int64_t> out_strides(ndim, 1);
  for (size_t a = ndim - 1; a > 0; --a) out_strides[a - 1] = out_strides[a] * out_shape[a];
  const int64_t row = chunk.shape[ndim - 1];
  const int64_t rows = NumElements(chunk.shape) / row;
  std::vector<int64_t> idx(ndim, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t dst = 0;
    for (size_t a = 0; a < ndim; ++a) dst += (lo[a] + idx[a]) * out_strides[a];
    std::memcpy(out + dst * item, chunk.bytes.data() + r * row * item, static_cast<size_t>(row * item));
    for (size_t a = ndim - 1; a-- > 0;) {
      if (++idx[a] < chunk.shape[a]) break;
      idx[a] = 0;
    }
  }
}

}  // namespace

// Shared by the Client and its Futures, so a Future stays usable whatever the order of
// destruction.
class Connection {
 public:
  Connection(std::string address, std::shared_ptr<grpc::Channel> channel)
      : address_(std::move(address)),
        channel_(std::move(channel)),
        stub_(v1::Scheduler::NewStub(channel_)),
        client_id_(RandomClientId()) {}

  ~Connection() { CloseSession(); }

  // Keeps a session stream open so the scheduler releases this client's keys if it dies.
  void OpenSession() {
    session_ctx_ = std::make_unique<grpc::ClientContext>();
    v1::ClientHello hello;
    hello.set_client_id(client_id_);
    session_reader_ = stub_->ClientSession(session_ctx_.get(), hello);
    v1::ClientNotice notice;
    session_reader_->Read(&notice);  // the scheduler's greeting: the session is registered
  }

  void CloseSession() {
    if (session_ctx_ == nullptr) return;
    session_ctx_->TryCancel();
    session_reader_->Finish();
    session_ctx_.reset();
  }

  const std::string& address() const { return address_; }
  const std::string& client_id() const { return client_id_; }
  v1::Scheduler::Stub* stub() { return stub_.get(); }
  worker::DataClient& data() { return data_; }

  void Release(const std::vector<std::string>& keys) {
    v1::ReleaseRequest req;
    req.set_client_id(client_id_);
    for (const auto& k : keys) req.add_keys(k);
    v1::ReleaseResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stub_->Release(&ctx, req, &resp);  // best effort: the session's end releases too
  }

 private:
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Scheduler::Stub> stub_;
  std::string client_id_;
  worker::DataClient data_;
  std::unique_ptr<grpc::ClientContext> session_ctx_;
  std::unique_ptr<grpc::ClientReader<v1::ClientNotice>> session_reader_;
};

struct Future::State {
  std::shared_ptr<Connection> conn;
  v1::SubmitResponse submitted;
  std::vector<std::string> keys;
  ProgressCallback progress;
  std::mutex mu;
  bool have_result = false;
  bool released = false;
  NDArray result;

  ~State() {
    if (!released) conn->Release(keys);
  }
};

class ClientImpl {
 public:
  std::shared_ptr<Connection> conn;
  std::unique_ptr<scheduler::SchedulerServer> embedded_scheduler;
  std::vector<std::unique_ptr<worker::Worker>> embedded_workers;
  std::mutex mu;
  std::vector<std::string> persisted;

  ~ClientImpl() {
    if (conn != nullptr) {
      conn->CloseSession();
      conn.reset();
    }
    for (auto& w : embedded_workers) w->Shutdown();
    embedded_workers.clear();
    if (embedded_scheduler != nullptr) embedded_scheduler->Shutdown();
  }

  v1::SubmitResponse Submit(const Array& x) {
    v1::SubmitRequest req;
    req.set_client_id(conn->client_id());
    *req.mutable_graph() = wire::GraphToProto(x.node());
    v1::SubmitResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    const grpc::Status status = conn->stub()->Submit(&ctx, req, &resp);
    if (!status.ok()) ThrowGrpc(status, "");
    return resp;
  }
};

namespace {

// Streams progress until the computation finished; throws the task's error if one erred.
void WaitFor(Connection& conn, const v1::SubmitResponse& submitted, const ProgressCallback& progress) {
  v1::WaitRequest req;
  req.set_client_id(conn.client_id());
  req.set_computation_id(submitted.computation_id());
  for (const auto& k : submitted.keys()) req.add_keys(k);
  grpc::ClientContext ctx;
  auto reader = conn.stub()->Wait(&ctx, req);
  v1::WaitUpdate update;
  bool finished = false;
  std::string error;
  while (reader->Read(&update)) {
    if (progress) progress(update.done(), update.total());
    if (!update.error().empty()) {
      error = update.error();
      break;
    }
    if (update.finished()) {
      finished = true;
      break;
    }
  }
  if (!error.empty()) {
    ctx.TryCancel();
    reader->Finish();
    throw Error(static_cast<int>(absl::StatusCode::kInternal), error);
  }
  if (!finished) {
    const grpc::Status status = reader->Finish();
    ThrowGrpc(status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "wait ended early") : status,
              absl::StrCat("waiting for the result from ", conn.address()));
  }
  ctx.TryCancel();
  reader->Finish();
}

NDArray Gather(Connection& conn, const v1::SubmitResponse& submitted) {
  auto dtype = wire::DTypeFromProto(submitted.dtype());
  if (!dtype.ok()) Throw(dtype.status());
  const Shape shape(submitted.shape().begin(), submitted.shape().end());
  const Chunks chunks = wire::ChunksFromProto(submitted.chunks());
  std::vector<uint8_t> bytes(static_cast<size_t>(NumElements(shape) * ItemSize(*dtype)));

  v1::LocateRequest req;
  for (const auto& k : submitted.keys()) req.add_keys(k);
  v1::LocateResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  const grpc::Status status = conn.stub()->Locate(&ctx, req, &resp);
  if (!status.ok()) ThrowGrpc(status, "locating results");
  if (resp.locations_size() != submitted.keys_size()) {
    throw Error(13, "scheduler answered Locate with the wrong number of keys");
  }
  const auto offsets = BlockOffsets(chunks);
  const std::vector<int64_t> nblocks = NumBlocks(chunks);
  std::vector<int64_t> block(shape.size(), 0);
  for (int i = 0; i < resp.locations_size(); ++i) {
    const auto& loc = resp.locations(i);
    absl::StatusOr<ChunkBuffer> chunk = absl::NotFoundError(
        absl::StrCat("result ", loc.key(), " has no holder"));
    if (loc.has_inline()) {
      chunk = wire::ChunkFromProto(loc.inline_data());
    } else {
      for (const auto& holder : loc.holders()) {
        chunk = conn.data().Fetch(holder, loc.key());
        if (chunk.ok()) break;
      }
    }
    if (!chunk.ok()) Throw(chunk.status());
    std::vector<int64_t> lo(shape.size());
    Shape expected(shape.size());
    for (size_t a = 0; a < shape.size(); ++a) {
      lo[a] = offsets[a][block[a]];
      expected[a] = chunks[a][block[a]];
    }
    if (chunk->shape != expected || chunk->dtype != *dtype) {
      throw Error(13, absl::StrCat("result chunk ", loc.key(), " has shape ",
                                   ShapeToString(chunk->shape), ", expected ",
                                   ShapeToString(expected)));
    }
    CopyBlock(*chunk, lo, shape, bytes.data());
    for (size_t a = shape.size(); a-- > 0;) {
      if (++block[a] < nblocks[a]) break;
      block[a] = 0;
    }
  }
  return NDArray(*dtype, shape, std::move(bytes));
}

std::shared_ptr<Connection> Connect(const std::string& text, std::chrono::milliseconds timeout) {
  auto address = ParseAddress(text, 8786);
  if (!address.ok()) Throw(address.status());
  auto channel = rpc::BuildChannel(address->HostPort());
  const auto deadline = std::chrono::system_clock::now() + timeout;
  if (!channel->WaitForConnected(deadline)) {
    throw Error(static_cast<int>(absl::StatusCode::kUnavailable),
                absl::StrCat("could not connect to scheduler at ", address->ToString(),
                             " within ", timeout.count() / 1000.0, " s"));
  }
  auto conn = std::make_shared<Connection>(address->ToString(), channel);
  v1::InfoRequest req;
  v1::InfoResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  const grpc::Status status = conn->stub()->Info(&ctx, req, &resp);
  if (!status.ok()) {
    ThrowGrpc(status, absl::StrCat("scheduler at ", address->ToString(), " did not answer"));
  }
  conn->OpenSession();
  return conn;
}

}  // namespace

// ------------------------------------------------------------------ Future

NDArray Future::get() {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->have_result) return state_->result;
  WaitFor(*state_->conn, state_->submitted, state_->progress);
  state_->result = Gather(*state_->conn, state_->submitted);
  state_->have_result = true;
  state_->conn->Release(state_->keys);
  state_->released = true;
  return state_->result;
}

bool Future::done() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->have_result) return true;
  v1::WaitRequest req;
  req.set_client_id(state_->conn->client_id());
  req.set_computation_id(state_->submitted.computation_id());
  for (const auto& k : state_->submitted.keys()) req.add_keys(k);
  grpc::ClientContext ctx;
  auto reader = state_->conn->stub()->Wait(&ctx, req);
  v1::WaitUpdate update;
  const bool got = reader->Read(&update);
  ctx.TryCancel();
  reader->Finish();
  return got && (update.finished() || !update.error().empty());
}

const std::vector<std::string>& Future::keys() const { return state_->keys; }

// ------------------------------------------------------------------ Client

Client::Client(std::unique_ptr<ClientImpl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Client Client::connect(const std::string& address, const ConnectOptions& options) {
  auto impl = std::make_unique<ClientImpl>();
  impl->conn = Connect(address, options.timeout);
  return Client(std::move(impl));
}

Client Client::local(const LocalClusterOptions& options) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int n_workers = options.n_workers > 0 ? options.n_workers : (cores > 1 ? 2 : 1);
  const int threads =
      options.threads_per_worker > 0 ? options.threads_per_worker : std::max(1, cores / n_workers);
  const int64_t system_memory = SystemMemoryBytes();
  const int64_t memory = options.memory_limit > 0 ? options.memory_limit : system_memory / n_workers;
  if (options.quiet && GetLogLevel() < LogLevel::kWarning) SetLogLevel(LogLevel::kWarning);

  auto impl = std::make_unique<ClientImpl>();
  scheduler::ServerOptions sopts;
  sopts.host = "127.0.0.1";
  sopts.port = 0;
  auto sched = scheduler::SchedulerServer::Start(sopts);
  if (!sched.ok()) Throw(sched.status());
  impl->embedded_scheduler = *std::move(sched);
  const Address address{"127.0.0.1", impl->embedded_scheduler->port()};
  for (int i = 0; i < n_workers; ++i) {
    worker::WorkerOptions wopts;
    wopts.scheduler = address;
    wopts.nthreads = threads;
    wopts.memory_limit = memory;
    wopts.host = "127.0.0.1";
    wopts.name = absl::StrCat("local-", i);
    auto w = worker::Worker::Start(wopts, std::make_unique<cpu::CpuTaskExecutor>());
    if (!w.ok()) Throw(w.status());
    impl->embedded_workers.push_back(*std::move(w));
  }
  impl->conn = Connect(address.ToString(), std::chrono::milliseconds(10000));
  // Wait until every worker has registered, so the first computation sees the whole cluster.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (true) {
    v1::InfoRequest req;
    v1::InfoResponse resp;
    grpc::ClientContext ctx;
    if (impl->conn->stub()->Info(&ctx, req, &resp).ok() && resp.workers_size() >= n_workers) break;
    if (std::chrono::steady_clock::now() > deadline) {
      throw Error(static_cast<int>(absl::StatusCode::kDeadlineExceeded),
                  "the embedded workers did not register within 20 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Client(std::move(impl));
}

Future Client::compute(const Array& x, ProgressCallback progress) {
  auto state = std::make_shared<Future::State>();
  state->conn = impl_->conn;
  state->submitted = impl_->Submit(x);
  state->keys.assign(state->submitted.keys().begin(), state->submitted.keys().end());
  state->progress = std::move(progress);
  return Future(std::move(state));
}

Array Client::persist(const Array& x) {
  v1::SubmitResponse submitted = impl_->Submit(x);
  try {
    WaitFor(*impl_->conn, submitted, nullptr);
  } catch (...) {
    impl_->conn->Release({submitted.keys().begin(), submitted.keys().end()});
    throw;
  }
  auto dtype = wire::DTypeFromProto(submitted.dtype());
  if (!dtype.ok()) Throw(dtype.status());
  auto node = graph::Source(submitted.name(), Shape(submitted.shape().begin(), submitted.shape().end()),
                            *dtype, wire::ChunksFromProto(submitted.chunks()));
  if (!node.ok()) Throw(node.status());
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->persisted.insert(impl_->persisted.end(), submitted.keys().begin(), submitted.keys().end());
  return Array(*node);
}

SchedulerInfo Client::scheduler_info() {
  v1::InfoRequest req;
  v1::InfoResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const grpc::Status status = impl_->conn->stub()->Info(&ctx, req, &resp);
  if (!status.ok()) ThrowGrpc(status, absl::StrCat("scheduler_info from ", impl_->conn->address()));
  SchedulerInfo info;
  info.address = impl_->conn->address();
  info.id = resp.id();
  info.dashboard = resp.dashboard();
  for (const auto& w : resp.workers()) {
    WorkerInfo wi;
    wi.name = w.name();
    wi.address = absl::StrCat("tcp://", w.address());
    wi.kind = w.kind();
    wi.nthreads = w.nthreads();
    wi.memory_limit = w.memory_limit();
    wi.memory_used = w.memory_used();
    wi.tasks_executing = w.executing();
    wi.tasks_processing = w.processing();
    wi.tasks_stored = w.stored();
    wi.device = w.device();
    wi.device_memory_limit = w.device_memory();
    wi.device_memory_used = w.device_memory_used();
    wi.spilled_bytes = w.spilled_bytes();
    wi.last_seen_ago = w.last_seen_ago();
    info.workers.push_back(std::move(wi));
  }
  return info;
}

std::string Client::address() const { return impl_->conn->address(); }

}  // namespace tessera
