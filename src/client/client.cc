// tessera::Client: the gRPC side of the client library, and the embedded local cluster.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <cstring>
#include <mutex>
#include <random>
#include <map>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/log.h"
#include "common/process.h"
#include "common/rpc/grpc_util.h"
#include "graph/expr.h"
#include "graph/rpc/wire.h"
#include "scheduler.grpc.pb.h"
#include "scheduler/scheduler_service.h"
#include "client/calls.h"
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

  ~Connection() {
    FlushReleases();
    CloseSession();
  }

  // Releases of call futures are batched: a map of 100 000 futures going out of scope costs a
  // few RPCs, not 100 000. Flushed when 1000 are pending and before every submit and wait.
  void ReleaseSoon(std::string key) {
    std::vector<std::string> batch;
    {
      std::lock_guard<std::mutex> lock(release_mu_);
      pending_releases_.push_back(std::move(key));
      if (pending_releases_.size() < 1000) return;
      batch.swap(pending_releases_);
    }
    Release(std::move(batch));
  }
  void FlushReleases() {
    std::vector<std::string> batch;
    {
      std::lock_guard<std::mutex> lock(release_mu_);
      batch.swap(pending_releases_);
    }
    if (!batch.empty()) Release(std::move(batch));
  }

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

  void Release(std::vector<std::string> keys) {
    google::protobuf::Arena arena;
    v1::ReleaseRequest& req = *google::protobuf::Arena::CreateMessage<v1::ReleaseRequest>(&arena);
    req.set_client_id(client_id_);
    for (auto& k : keys) req.add_keys(std::move(k));
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
  std::mutex release_mu_;
  std::vector<std::string> pending_releases_;
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
  // A call (submit, map, delayed): one key, a Value result, kept in the cluster while the
  // future lives (it may be an argument of later calls).
  bool is_call = false;
  /// The call's function: its return type is the future's type as a later call's argument.
  std::string function;
  int64_t computation = 0;
  int64_t computation_outputs = 0;
  bool have_value = false;
  bool cancelled = false;
  Value value;

  ~State() {
    if (released) return;
    if (is_call) {
      conn->ReleaseSoon(std::move(keys[0]));
    } else {
      conn->Release(keys);
    }
  }
};

class ClientImpl {
 public:
  std::shared_ptr<Connection> conn;
  std::unique_ptr<scheduler::SchedulerServer> embedded_scheduler;
  std::vector<std::unique_ptr<worker::Worker>> embedded_workers;  // guarded by workers_mu
  std::mutex workers_mu;
  std::mutex mu;
  std::vector<std::string> persisted;
  // Client::local with adapt_maximum: the thread that follows the recommendation.
  std::thread adapter;
  std::mutex adapter_mu;
  std::condition_variable adapter_cv;
  bool adapter_stop = false;

  void StopAdapter() {
    {
      std::lock_guard<std::mutex> lock(adapter_mu);
      adapter_stop = true;
    }
    adapter_cv.notify_all();
    if (adapter.joinable()) adapter.join();
  }

  ~ClientImpl() {
    StopAdapter();
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

// Streams progress until the keys are in memory (progress counted over the computation's tasks
// when `computation` is not 0); throws the task's error if one erred.
template <typename Keys>
void WaitKeys(Connection& conn, int64_t computation, const Keys& keys,
              const ProgressCallback& progress) {
  v1::WaitRequest req;
  req.set_client_id(conn.client_id());
  req.set_computation_id(computation);
  for (const auto& k : keys) req.add_keys(k);
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

void WaitFor(Connection& conn, const v1::SubmitResponse& submitted, const ProgressCallback& progress) {
  WaitKeys(conn, submitted.computation_id(), submitted.keys(), progress);
}

// A located key's value: inline from the scheduler, or fetched from the first holder that has it.
absl::StatusOr<ChunkBuffer> FetchLocated(Connection& conn, const std::string& key,
                                         const v1::KeyLocation& loc) {
  if (loc.has_inline()) return wire::ChunkFromProto(loc.inline_data());
  absl::Status last = absl::NotFoundError(absl::StrCat("result ", key, " has no holder"));
  for (const auto& holder : loc.holders()) {
    auto chunk = conn.data().Fetch(holder, key);
    if (chunk.ok()) return chunk;
    last = chunk.status();
  }
  return last;
}

NDArray Gather(Connection& conn, const v1::SubmitResponse& submitted) {
  auto dtype = wire::DTypeFromProto(submitted.dtype());
  if (!dtype.ok()) Throw(dtype.status());
  const Shape shape(submitted.shape().begin(), submitted.shape().end());
  const Chunks chunks = wire::ChunksFromProto(submitted.chunks());
  std::vector<uint8_t> bytes;

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
  // A lone chunk is the whole array and is handed over as it came; several are copied into place.
  if (resp.locations_size() != 1) {
    ResizeZeroed(bytes, static_cast<size_t>(NumElements(shape) * ItemSize(*dtype)));
  }
  const auto offsets = BlockOffsets(chunks);
  const std::vector<int64_t> nblocks = NumBlocks(chunks);
  std::vector<int64_t> block(shape.size(), 0);
  for (int i = 0; i < resp.locations_size(); ++i) {
    const auto& loc = resp.locations(i);
    const std::string& key = submitted.keys(i);  // locations come in the request's order
    absl::StatusOr<ChunkBuffer> chunk = FetchLocated(conn, key, loc);
    if (!chunk.ok()) Throw(chunk.status());
    std::vector<int64_t> lo(shape.size());
    Shape expected(shape.size());
    for (size_t a = 0; a < shape.size(); ++a) {
      lo[a] = offsets[a][block[a]];
      expected[a] = chunks[a][block[a]];
    }
    if (chunk->shape != expected || chunk->dtype != *dtype) {
      throw Error(13, absl::StrCat("result chunk ", key, " has shape ",
                                   ShapeToString(chunk->shape), ", expected ",
                                   ShapeToString(expected)));
    }
    if (resp.locations_size() == 1) {
      bytes = std::move(chunk->bytes);
      break;
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

namespace {

// The values of call keys: inline ones from the scheduler, the rest fetched from their holders.
// Locate goes in batches so that no message nears gRPC's size limit.
std::vector<Value> LocateValues(Connection& conn, const std::vector<std::string>& keys) {
  std::vector<Value> out;
  out.reserve(keys.size());
  constexpr size_t kBatch = 8192;
  for (size_t start = 0; start < keys.size(); start += kBatch) {
    const size_t end = std::min(keys.size(), start + kBatch);
    // Each batch's messages in an arena: 8192 locations with their inline values are a few
    // blocks to allocate and free, not several objects each.
    google::protobuf::Arena arena;
    v1::LocateRequest& req = *google::protobuf::Arena::CreateMessage<v1::LocateRequest>(&arena);
    v1::LocateResponse& resp = *google::protobuf::Arena::CreateMessage<v1::LocateResponse>(&arena);
    for (size_t k = start; k < end; ++k) req.add_keys(keys[k]);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    const grpc::Status status = conn.stub()->Locate(&ctx, req, &resp);
    if (!status.ok()) ThrowGrpc(status, "locating results");
    if (resp.locations_size() != static_cast<int>(end - start)) {
      throw Error(13, "scheduler answered Locate with the wrong number of keys");
    }
    for (int i = 0; i < resp.locations_size(); ++i) {
      absl::StatusOr<ChunkBuffer> chunk =
          FetchLocated(conn, keys[start + static_cast<size_t>(i)], resp.locations(i));
      if (!chunk.ok()) Throw(chunk.status());
      auto value = call::FromChunk(std::make_shared<const ChunkBuffer>(*std::move(chunk)));
      if (!value.ok()) Throw(value.status());
      out.push_back(detail::FromCallValue(*value));
    }
  }
  return out;
}

[[noreturn]] void ThrowCancelled(const std::string& key) {
  throw Error(static_cast<int>(absl::StatusCode::kCancelled),
              absl::StrCat("future ", key, " was cancelled"));
}

}  // namespace

Value Future::result() {
  if (!state_->is_call) return Value(get());
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->cancelled) ThrowCancelled(state_->keys[0]);
  if (state_->have_value) return state_->value;
  if (state_->released) {
    throw Error(static_cast<int>(absl::StatusCode::kFailedPrecondition),
                absl::StrCat("future ", state_->keys[0], " was released"));
  }
  state_->conn->FlushReleases();
  WaitKeys(*state_->conn, 0, state_->keys, nullptr);
  state_->value = LocateValues(*state_->conn, state_->keys)[0];
  state_->have_value = true;
  return state_->value;
}

const std::string& Future::key() const { return state_->keys.at(0); }

void Future::cancel() {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (!state_->released) state_->conn->Release(state_->keys);
  state_->released = true;
  if (!state_->have_value && !state_->have_result) state_->cancelled = true;
}

void Future::release() {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (!state_->released) state_->conn->Release(state_->keys);
  state_->released = true;
}

NDArray Future::get() {
  if (state_->is_call) {
    const Value v = result();
    switch (v.type()) {
      case ValueType::kArray:
        return v.as_array();
      case ValueType::kInt64: {
        const int64_t i = v.as_int();
        std::vector<uint8_t> bytes(8);
        std::memcpy(bytes.data(), &i, 8);
        return NDArray(DType::kInt64, {}, std::move(bytes));
      }
      case ValueType::kFloat64: {
        const double f = v.as_double();
        std::vector<uint8_t> bytes(8);
        std::memcpy(bytes.data(), &f, 8);
        return NDArray(DType::kFloat64, {}, std::move(bytes));
      }
      default:
        throw Error(static_cast<int>(absl::StatusCode::kFailedPrecondition),
                    absl::StrCat("the value of ", state_->keys[0], " is ", v.repr(),
                                 ", not a number or an ndarray; use result()"));
    }
  }
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
  if (state_->have_result || state_->have_value || state_->cancelled) return true;
  v1::WaitRequest req;
  req.set_client_id(state_->conn->client_id());
  if (state_->is_call) {
    // A call future's own key: its computation (a map batch) may hold many.
    req.add_keys(state_->keys[0]);
  } else {
    req.set_computation_id(state_->submitted.computation_id());
    for (const auto& k : state_->submitted.keys()) req.add_keys(k);
  }
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

namespace {

// Sends a Retire request and waits for its answer (retire_workers, retire_idle_workers and the
// embedded cluster's adapter).
std::vector<RetiredWorker> Retire(Connection& conn, v1::RetireRequest req, double timeout_seconds) {
  if (!(timeout_seconds > 0)) {
    throw Error(static_cast<int>(absl::StatusCode::kInvalidArgument),
                absl::StrCat("retire_workers: timeout ", timeout_seconds, " must be positive"));
  }
  req.set_timeout_seconds(timeout_seconds);
  v1::RetireResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000) + 5000));
  const grpc::Status status = conn.stub()->Retire(&ctx, req, &resp);
  if (!status.ok()) ThrowGrpc(status, absl::StrCat("retire_workers at ", conn.address()));
  std::vector<RetiredWorker> out;
  for (const auto& w : resp.workers()) {
    out.push_back(RetiredWorker{w.name(), absl::StrCat("tcp://", w.address()), w.keys_moved(),
                                w.bytes_moved()});
  }
  return out;
}

}  // namespace

Client Client::local(const LocalClusterOptions& options) {
  const bool adapt = options.adapt_maximum > 0;
  if (adapt && (options.adapt_minimum < 0 || options.adapt_minimum > options.adapt_maximum)) {
    throw Error(static_cast<int>(absl::StatusCode::kInvalidArgument),
                absl::StrCat("Client::local: adapt_minimum ", options.adapt_minimum,
                             " must be between 0 and adapt_maximum ", options.adapt_maximum));
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int n_workers = adapt ? options.adapt_minimum
                              : (options.n_workers > 0 ? options.n_workers : (cores > 1 ? 2 : 1));
  const int most = adapt ? options.adapt_maximum : n_workers;
  const int threads =
      options.threads_per_worker > 0 ? options.threads_per_worker : std::max(1, cores / most);
  const int64_t system_memory = SystemMemoryBytes();
  const int64_t memory = options.memory_limit > 0 ? options.memory_limit : system_memory / most;
  if (options.quiet && GetLogLevel() < LogLevel::kWarning) SetLogLevel(LogLevel::kWarning);

  auto impl = std::make_unique<ClientImpl>();
  scheduler::ServerOptions sopts;
  sopts.host = "127.0.0.1";
  sopts.port = 0;
  if (adapt) {
    sopts.adaptive.bounds["cpu"] = {options.adapt_minimum, options.adapt_maximum};
    sopts.adaptive.target_seconds = options.adapt_target_seconds;
    sopts.adaptive.default_threads = threads;
  }
  auto sched = scheduler::SchedulerServer::Start(sopts);
  if (!sched.ok()) Throw(sched.status());
  impl->embedded_scheduler = *std::move(sched);
  const Address address{"127.0.0.1", impl->embedded_scheduler->port()};
  auto start_worker = [address, threads, memory](int i) {
    worker::WorkerOptions wopts;
    wopts.scheduler = address;
    wopts.nthreads = threads;
    wopts.memory_limit = memory;
    wopts.host = "127.0.0.1";
    wopts.name = absl::StrCat("local-", i);
    return worker::Worker::Start(wopts, std::make_unique<cpu::CpuTaskExecutor>());
  };
  for (int i = 0; i < n_workers; ++i) {
    auto w = start_worker(i);
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
  if (adapt) {
    // Follows the scheduler's recommendation every half second: starts workers, and retires
    // idle ones through the scheduler (their results move first), dropping them once closed.
    ClientImpl* self = impl.get();
    self->adapter = std::thread([self, start_worker, next = n_workers]() mutable {
      std::unique_lock<std::mutex> lock(self->adapter_mu);
      while (!self->adapter_cv.wait_for(lock, std::chrono::milliseconds(500),
                                        [&] { return self->adapter_stop; })) {
        lock.unlock();
        int64_t desired = -1;
        {
          v1::InfoRequest req;
          v1::InfoResponse resp;
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
          if (self->conn->stub()->Info(&ctx, req, &resp).ok()) {
            for (const auto& d : resp.desired_workers()) {
              if (d.kind() == "cpu") desired = d.count();
            }
          }
        }
        int64_t live = 0;
        {
          std::lock_guard<std::mutex> wl(self->workers_mu);
          auto& ws = self->embedded_workers;
          for (auto it = ws.begin(); it != ws.end();) {
            if ((*it)->closed_by_scheduler()) {
              (*it)->Shutdown();
              it = ws.erase(it);
            } else {
              ++it;
            }
          }
          live = static_cast<int64_t>(ws.size());
          for (; desired > live; ++live) {
            auto w = start_worker(next++);
            if (!w.ok()) break;
            ws.push_back(*std::move(w));
          }
        }
        if (desired >= 0 && desired < live) {
          v1::RetireRequest req;
          req.set_kind("cpu");
          req.set_count(live - desired);
          try {
            Retire(*self->conn, std::move(req), 60);  // the closed workers go next round
          } catch (const Error&) {
            // Tried again at the next round, as any failed Info above.
          }
        }
        lock.lock();
      }
    });
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

// ------------------------------------------------------------------ function calls

namespace {

// Builds the CALL tasks of one submit: each Delayed once (dependencies first), futures as
// inputs that refer to keys already in the cluster.
class CallGraphBuilder {
 public:
  CallGraphBuilder(v1::SubmitRequest* req, const SubmitOptions& options)
      : req_(req), options_(options) {}

  void AddCall(const std::string& key, const std::string& function, const std::vector<Arg>& args) {
    // Dependencies (Delayed) are emitted before the task that reads them.
    std::vector<const Delayed::Node*> deps;
    for (const Arg& a : args) CollectDelayed(a, &deps);
    for (const Delayed::Node* d : deps) AddNode(d);
    EmitCall(key, function, args);
  }

  /// The calls under `root` not yet planned or sent, dependencies first, each once (persisted
  /// nodes are futures, not calls); they count as emitted from then on. Post-order without
  /// recursion, so a chain of 100 000 calls does not overflow the stack. Positions count across
  /// calls of Plan (the orders of several roots are sent one after the other); with `last_read`,
  /// entry p is set to the position of the last call reading the call at position p (p itself
  /// when none does), for SubmitInBatches.
  std::vector<const Delayed::Node*> Plan(const Delayed::Node* root,
                                         std::vector<size_t>* last_read = nullptr) {
    struct Frame {
      const Delayed::Node* node;
      bool expanded;
    };
    std::vector<const Delayed::Node*> order;
    std::vector<Frame> stack{{root, false}};
    std::vector<const Delayed::Node*> children;
    while (!stack.empty()) {
      const Frame f = stack.back();
      stack.pop_back();
      const Delayed::Node* n = f.node;
      if (f.expanded) {
        // Not emitted since it was expanded: it is not among its own dependencies.
        const size_t position = emitted_.size();
        emitted_.emplace(n, position);
        order.push_back(n);
        if (last_read != nullptr) {
          last_read->push_back(position);
          children.clear();
          for (const Arg& a : n->args) CollectDelayed(a, &children);
          // Every child is a future or emitted by now (post-order).
          for (const Delayed::Node* c : children) {
            if (auto it = emitted_.find(c); it != emitted_.end()) {
              size_t& last = (*last_read)[it->second];
              last = std::max(last, position);
            }
          }
        }
        continue;
      }
      if (n->future != nullptr || emitted_.contains(n)) continue;  // persisted or sent
      stack.push_back({n, true});
      children.clear();
      for (const Arg& a : n->args) CollectDelayed(a, &children);
      for (auto it = children.rbegin(); it != children.rend(); ++it) stack.push_back({*it, false});
    }
    return order;
  }

  void EmitNode(const Delayed::Node* n) { EmitCall(n->key, n->function, n->args); }
  /// Where the next calls go (the batches of a large compute).
  void set_request(v1::SubmitRequest* req) { req_ = req; }

  static void CollectDelayed(const Arg& a, std::vector<const Delayed::Node*>* out) {
    if (a.kind() == Arg::Kind::kDelayed) {
      out->push_back(a.delayed().node().get());
    } else if (a.kind() == Arg::Kind::kList) {
      for (const Arg& item : a.items()) CollectDelayed(item, out);
    }
  }

 private:
  void AddNode(const Delayed::Node* root) {
    for (const Delayed::Node* n : Plan(root)) EmitNode(n);
  }

  void EmitCall(const std::string& key, const std::string& function, const std::vector<Arg>& args) {
    v1::Task* t = req_->add_calls();
    t->set_key(key);
    t->set_kind(v1::Task::CALL);
    t->set_function(function);  // the scheduler takes it for the group too (the group is unset)
    if (options_.retries != 0) t->set_retries(options_.retries);
    if (options_.priority != 0) t->set_priority(options_.priority);
    // Views of keys the arguments' nodes and futures own. Few per call: a linear search beats a
    // hash map.
    absl::InlinedVector<std::string_view, 4> dep_keys;
    for (const Arg& a : args) ArgToProto(a, t, &dep_keys, t->add_args());
  }

  static const std::string& FutureKey(const std::shared_ptr<Future::State>& f) {
    if (f->released) {
      throw Error(static_cast<int>(absl::StatusCode::kFailedPrecondition),
                  absl::StrCat("future ", f->keys.empty() ? "" : f->keys[0],
                               " was released or cancelled; it cannot be an argument"));
    }
    if (f->keys.size() != 1) {
      throw Error(static_cast<int>(absl::StatusCode::kInvalidArgument),
                  absl::StrCat("an array future of ", f->keys.size(),
                               " chunks cannot be a call argument; only one-chunk arrays can"));
    }
    return f->keys[0];
  }

  void ArgToProto(const Arg& a, v1::Task* t, absl::InlinedVector<std::string_view, 4>* deps,
                  v1::CallArg* out) {
    auto ref = [&](std::string_view key) {
      auto it = std::find(deps->begin(), deps->end(), key);
      if (it == deps->end()) {
        deps->push_back(key);
        // Assigned in place: set_key(data, size) builds a temporary string and copies it again.
        t->add_inputs()->mutable_key()->assign(key.data(), key.size());
        it = deps->end() - 1;
      }
      out->set_dep(static_cast<int>(it - deps->begin()));
    };
    switch (a.kind()) {
      case Arg::Kind::kValue:
        out->set_literal(call::Encode(detail::ToCallValue(a.value())));
        break;
      case Arg::Kind::kFuture:
        ref(FutureKey(a.future()));
        break;
      case Arg::Kind::kDelayed:
        if (a.delayed().node()->future != nullptr) {
          ref(FutureKey(a.delayed().node()->future));
        } else {
          ref(a.delayed().key());
        }
        break;
      case Arg::Kind::kList: {
        auto* list = out->mutable_list();
        for (const Arg& item : a.items()) ArgToProto(item, t, deps, list->add_items());
        break;
      }
    }
  }

  v1::SubmitRequest* req_;
  SubmitOptions options_;
  // Each emitted node (a node is its key: one per call) and its position (see Plan).
  absl::flat_hash_map<const Delayed::Node*, size_t> emitted_;
};

// Sends the calls; returns one future per output key. `functions` (parallel to `outputs`, views
// the caller keeps alive): each output's function, which its future remembers for the client's
// own check of later calls (CheckCalls).
std::vector<Future> SubmitCalls(const std::shared_ptr<Connection>& conn, v1::SubmitRequest& req,
                                const std::vector<std::string>& outputs,
                                const std::vector<std::string_view>& functions) {
  conn->FlushReleases();
  req.set_client_id(conn->client_id());
  // Every call's key, in order, is the default (a map): then the keys are not sent twice.
  const bool every_call = static_cast<size_t>(req.calls_size()) == outputs.size() &&
                          std::equal(outputs.begin(), outputs.end(), req.calls().begin(),
                                     [](const std::string& k, const v1::Task& t) {
                                       return k == t.key();
                                     });
  if (!every_call) {
    for (const auto& k : outputs) req.add_call_outputs(k);
  }
  v1::SubmitResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  const grpc::Status status = conn->stub()->Submit(&ctx, req, &resp);
  if (!status.ok()) ThrowGrpc(status, "");
  std::vector<Future> futures;
  futures.reserve(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& key = outputs[i];
    auto state = std::make_shared<Future::State>();
    state->conn = conn;
    state->keys = {key};
    state->is_call = true;
    state->function = std::string(functions[i]);
    state->computation = resp.computation_id();
    state->computation_outputs = static_cast<int64_t>(outputs.size());
    futures.emplace_back(std::move(state));
  }
  return futures;
}

}  // namespace

Future Client::submit_args(const std::string& function, std::vector<Arg> args,
                           const SubmitOptions& options) {
  v1::SubmitRequest req;
  CallGraphBuilder builder(&req, options);
  const std::string key = detail::NewCallKey(function);
  builder.AddCall(key, function, args);
  return SubmitCalls(impl_->conn, req, {key}, {function})[0];
}

std::vector<Future> Client::map(const std::string& function, const std::vector<Arg>& values,
                                const SubmitOptions& options) {
  // Sent in batches, so the scheduler starts dispatching the first calls while later ones are
  // still being encoded, and no message grows large.
  constexpr size_t kBatch = 8192;
  std::vector<Future> out;
  out.reserve(values.size());
  v1::SubmitRequest req;  // cleared for each batch, keeping its allocations
  for (size_t start = 0; start < values.size(); start += kBatch) {
    const size_t end = std::min(values.size(), start + kBatch);
    req.Clear();
    req.mutable_calls()->Reserve(static_cast<int>(end - start));
    CallGraphBuilder builder(&req, options);
    std::vector<std::string> keys;
    keys.reserve(end - start);
    std::vector<Arg> one{Arg(0)};
    for (size_t k = start; k < end; ++k) {
      keys.push_back(detail::NewCallKey(function));
      one[0] = values[k];
      builder.AddCall(keys.back(), function, one);
    }
    std::vector<Future> batch =
        SubmitCalls(impl_->conn, req, keys, std::vector<std::string_view>(keys.size(), function));
    for (Future& f : batch) out.push_back(std::move(f));
  }
  return out;
}

std::vector<Value> Client::gather(const std::vector<Future>& futures) {
  // Unresolved call futures are waited for together: by their computation when they are all of
  // one (a map), else by their keys.
  std::vector<std::shared_ptr<Future::State>> todo;
  std::vector<std::string> keys;
  // Futures of one computation (a map batch, a compute) that cover all its outputs are waited
  // for by computation, which the scheduler checks cheaply; the rest by key.
  std::map<int64_t, std::vector<std::string>> by_computation;
  for (const Future& f : futures) {
    const auto& s = f.state();
    std::lock_guard<std::mutex> lock(s->mu);
    if (!s->is_call || s->have_value || s->cancelled || s->released) continue;
    todo.push_back(s);
    keys.push_back(s->keys[0]);
    by_computation[s->computation].push_back(s->keys[0]);
  }
  if (!todo.empty()) {
    impl_->conn->FlushReleases();
    std::unordered_map<int64_t, int64_t> outputs;
    for (const auto& s : todo) outputs[s->computation] = s->computation_outputs;
    std::vector<std::string> loose;
    for (auto& [computation, group] : by_computation) {
      if (computation != 0 && outputs[computation] == static_cast<int64_t>(group.size())) {
        // The whole computation: the scheduler checks its outputs, no keys need to travel.
        WaitKeys(*impl_->conn, computation, std::vector<std::string>{}, nullptr);
      } else {
        loose.insert(loose.end(), group.begin(), group.end());
      }
    }
    if (!loose.empty()) WaitKeys(*impl_->conn, 0, loose, nullptr);
    std::vector<Value> values = LocateValues(*impl_->conn, keys);
    for (size_t k = 0; k < todo.size(); ++k) {
      std::lock_guard<std::mutex> lock(todo[k]->mu);
      todo[k]->value = std::move(values[k]);
      todo[k]->have_value = true;
    }
  }
  std::vector<Value> out;
  out.reserve(futures.size());
  for (const Future& f : futures) out.push_back(const_cast<Future&>(f).result());
  return out;
}

namespace {

// A compute of more calls than this goes in batches of this many (see SubmitInBatches).
constexpr size_t kComputeBatch = 8192;

// The offered functions' signatures by name, remembering the last one found: a large graph
// calls few functions, mostly the same one many times in a row.
class Signatures {
 public:
  void Add(call::Signature sig) { by_name_.emplace(sig.name, std::move(sig)); }
  /// Null when no worker offers `function`.
  const call::Signature* Find(const std::string& function) const {
    if (last_ != nullptr && last_->name == function) return last_;
    auto it = by_name_.find(function);
    if (it == by_name_.end()) return nullptr;
    last_ = &it->second;
    return last_;
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& [name, sig] : by_name_) out.push_back(name);
    return out;
  }

 private:
  absl::flat_hash_map<std::string, call::Signature> by_name_;
  mutable const call::Signature* last_ = nullptr;
};

// The type the scheduler will see for an argument, as its ResultType gives it: a literal's, a
// list, or the return type of the call behind a delayed node or a future (any for an array's
// future, or a function no worker offers).
call::Type ArgType(const Arg& a, const Signatures& signatures) {
  auto returns = [&](const std::string& function) {
    const call::Signature* sig = signatures.Find(function);
    return sig == nullptr ? call::Type::kAny : sig->returns;
  };
  auto future_type = [&](const std::shared_ptr<Future::State>& state) {
    return state != nullptr && state->is_call ? returns(state->function) : call::Type::kAny;
  };
  switch (a.kind()) {
    case Arg::Kind::kValue:
      return detail::ToCallValue(a.value()).type;
    case Arg::Kind::kList:
      return call::Type::kList;
    case Arg::Kind::kDelayed: {
      const Delayed::Node* n = a.delayed().node().get();
      if (n->future != nullptr) return future_type(n->future);
      return returns(n->function);
    }
    case Arg::Kind::kFuture:
      return future_type(a.future());
  }
  return call::Type::kAny;
}

// The scheduler's checks of every call (its function is offered, its arguments fit the
// signature), made before the first batch of a large compute is sent, so that a bad call fails
// the whole compute before any of it runs, as it does in a one-request submit. With no worker
// connected the scheduler accepts calls unchecked, and so does this.
void CheckCalls(Connection& conn, const std::vector<const Delayed::Node*>& order) {
  v1::InfoRequest req;
  v1::InfoResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  const grpc::Status status = conn.stub()->Info(&ctx, req, &resp);
  if (!status.ok()) ThrowGrpc(status, "checking calls");
  if (resp.workers_size() == 0) return;
  Signatures signatures;
  for (const auto& f : resp.functions()) {
    auto sig = wire::SignatureFromProto(f);
    if (sig.ok()) signatures.Add(*std::move(sig));
  }
  absl::InlinedVector<call::Type, 8> given;
  for (const Delayed::Node* n : order) {
    const call::Signature* sig = signatures.Find(n->function);
    if (sig == nullptr) Throw(call::NotOfferedError(n->function, signatures.Names()));
    given.clear();
    for (const Arg& a : n->args) given.push_back(ArgType(a, signatures));
    if (absl::Status s = sig->Check(given); !s.ok()) Throw(s);
  }
}

// A large compute, sent as batches of kComputeBatch calls in dependency order, each submitted
// while the next is being encoded, so that the workers start on the first calls while the rest
// are still being encoded and parsed (a 200 000-call tree otherwise idles the cluster for the
// second its one request takes). A call's dependencies in earlier batches are already in the
// cluster when its batch arrives; those batches list them as outputs (held by futures here) so
// that they are not forgotten before their readers arrive, and each is released once the batch
// of its last reader is in. (Released all at the end, the scheduler walked every batch's tasks
// in one go, a fifth of a second on a 200 000-call tree with the workers waiting.) Returns one
// future per key of `outputs`.
std::vector<Future> SubmitInBatches(const std::shared_ptr<Connection>& conn,
                                    const std::vector<const Delayed::Node*>& order,
                                    const std::vector<size_t>& last_read,
                                    const std::vector<std::string>& outputs,
                                    const SubmitOptions& options) {
  // The calls are checked while the first batch is encoded; it is sent only if they pass.
  std::future<void> checked =
      std::async(std::launch::async, [&conn, &order] { CheckCalls(*conn, order); });
  const absl::flat_hash_set<std::string_view> wanted(outputs.begin(), outputs.end());

  struct Batch {
    google::protobuf::Arena arena;
    v1::SubmitRequest* req = google::protobuf::Arena::CreateMessage<v1::SubmitRequest>(&arena);
    std::vector<std::string> outputs;
    std::vector<std::string_view> functions;  // parallel to outputs: their calls' functions
    std::vector<size_t> last_reader_batch;    // parallel to outputs
    size_t index = 0;
  };
  CallGraphBuilder builder(nullptr, options);
  absl::flat_hash_map<std::string, Future> by_key;  // the wanted outputs
  // holds[b]: keys later batches read, the last of them in batch b; dropped once b is in.
  std::vector<std::vector<Future>> holds((order.size() + kComputeBatch - 1) / kComputeBatch);
  std::unique_ptr<Batch> sending;
  std::future<std::vector<Future>> in_flight;
  auto collect = [&] {
    std::vector<Future> got = in_flight.get();  // rethrows the batch's error
    for (size_t k = 0; k < got.size(); ++k) {
      const std::string& key = sending->outputs[k];
      if (wanted.contains(key)) {
        by_key.emplace(key, std::move(got[k]));
      } else {
        holds[sending->last_reader_batch[k]].push_back(std::move(got[k]));
      }
    }
    // The readers of these are in the cluster now: their releases go with the next batch.
    holds[sending->index].clear();
    sending.reset();
  };
  for (size_t start = 0; start < order.size(); start += kComputeBatch) {
    const size_t end = std::min(order.size(), start + kComputeBatch);
    auto batch = std::make_unique<Batch>();
    batch->index = start / kComputeBatch;
    batch->req->mutable_calls()->Reserve(static_cast<int>(end - start));
    builder.set_request(batch->req);
    for (size_t i = start; i < end; ++i) {
      builder.EmitNode(order[i]);
      if (wanted.contains(order[i]->key) || last_read[i] >= end) {
        batch->outputs.push_back(order[i]->key);
        batch->functions.push_back(order[i]->function);
        batch->last_reader_batch.push_back(last_read[i] / kComputeBatch);
      }
    }
    if (checked.valid()) checked.get();  // rethrows a bad call's error
    // In order: a batch's inputs must be in the cluster before it is submitted.
    if (in_flight.valid()) collect();
    sending = std::move(batch);
    in_flight = std::async(std::launch::async, [&conn, b = sending.get()] {
      return SubmitCalls(conn, *b->req, b->outputs, b->functions);
    });
  }
  collect();
  std::vector<Future> out;
  out.reserve(outputs.size());
  for (const auto& key : outputs) out.push_back(by_key.at(key));
  return out;
}

}  // namespace

std::vector<Future> Client::compute(const std::vector<Delayed>& xs, const SubmitOptions& options) {
  CallGraphBuilder planner(nullptr, options);
  std::vector<const Delayed::Node*> order;
  std::vector<size_t> last_read;  // see Plan
  std::vector<std::string> outputs;
  std::vector<std::string_view> functions;  // parallel to outputs
  std::unordered_set<std::string> seen;
  for (const Delayed& x : xs) {
    for (const Delayed::Node* n : planner.Plan(x.node().get(), &last_read)) order.push_back(n);
    if (x.node()->future == nullptr && seen.insert(x.key()).second) {
      outputs.push_back(x.key());
      functions.push_back(x.node()->function);
    }
  }
  std::vector<Future> submitted;
  if (order.size() > kComputeBatch) {
    submitted = SubmitInBatches(impl_->conn, order, last_read, outputs, options);
  } else if (!outputs.empty()) {
    // A graph may hold thousands of calls: its messages live in an arena, freed as a few blocks
    // rather than one object at a time.
    google::protobuf::Arena arena;
    v1::SubmitRequest& req = *google::protobuf::Arena::CreateMessage<v1::SubmitRequest>(&arena);
    CallGraphBuilder builder(&req, options);
    for (const Delayed::Node* n : order) builder.EmitNode(n);
    submitted = SubmitCalls(impl_->conn, req, outputs, functions);
  }
  std::unordered_map<std::string, Future> by_key;
  for (size_t k = 0; k < outputs.size(); ++k) by_key.emplace(outputs[k], submitted[k]);
  std::vector<Future> out;
  out.reserve(xs.size());
  for (const Delayed& x : xs) {
    out.push_back(x.node()->future != nullptr ? Future(x.node()->future) : by_key.at(x.key()));
  }
  return out;
}

Future Client::compute(const Delayed& x, const SubmitOptions& options) {
  return compute(std::vector<Delayed>{x}, options)[0];
}

std::vector<Delayed> Client::persist(const std::vector<Delayed>& xs, const SubmitOptions& options) {
  std::vector<Future> futures = compute(xs, options);
  std::vector<Delayed> out;
  out.reserve(xs.size());
  for (size_t k = 0; k < xs.size(); ++k) {
    auto node = std::make_shared<Delayed::Node>();
    node->key = futures[k].key();
    node->future = futures[k].state();
    out.emplace_back(std::move(node));
  }
  return out;
}

Delayed Client::persist(const Delayed& x, const SubmitOptions& options) {
  return persist(std::vector<Delayed>{x}, options)[0];
}

void Client::cancel(const std::vector<Future>& futures) {
  for (Future f : futures) f.cancel();
}

std::vector<std::string> Client::functions() {
  v1::InfoRequest req;
  v1::InfoResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const grpc::Status status = impl_->conn->stub()->Info(&ctx, req, &resp);
  if (!status.ok()) ThrowGrpc(status, absl::StrCat("functions from ", impl_->conn->address()));
  std::vector<std::string> out;
  for (const auto& f : resp.functions()) {
    auto sig = wire::SignatureFromProto(f);
    if (sig.ok()) out.push_back(sig->ToString());
  }
  return out;
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
    wi.spilled_count = w.spilled_count();
    wi.paused = w.paused();
    wi.last_seen_ago = w.last_seen_ago();
    wi.retiring = w.retiring();
    info.workers.push_back(std::move(wi));
  }
  for (const auto& d : resp.desired_workers()) info.desired_workers[d.kind()] = d.count();
  info.scale_events = resp.scale_events();
  return info;
}


std::vector<RetiredWorker> Client::retire_workers(const std::vector<std::string>& workers,
                                                  double timeout_seconds) {
  v1::RetireRequest req;
  for (const auto& w : workers) {
    // A proto string: a name that is not UTF-8 could not be sent (the scheduler's names are).
    const absl::Status s = wire::ValidateStringNamed(w, wire::RequestLimits{}, [&] {
      return absl::StrCat("retire_workers: worker ", wire::QuotedForMessage(w));
    });
    if (!s.ok()) throw Error(static_cast<int>(s.code()), std::string(s.message()));
    req.add_workers(w);
  }
  return Retire(*impl_->conn, std::move(req), timeout_seconds);
}

std::vector<RetiredWorker> Client::retire_idle_workers(const std::string& kind, int64_t count,
                                                       double timeout_seconds) {
  if (count <= 0) return {};
  v1::RetireRequest req;
  req.set_kind(kind);
  req.set_count(count);
  return Retire(*impl_->conn, std::move(req), timeout_seconds);
}

std::string Client::address() const { return impl_->conn->address(); }

}  // namespace tessera
