#include "scheduler/scheduler_service.h"

#include <atomic>
#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <thread>
#include <unordered_map>

#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/address.h"
#include "common/log.h"
#include "common/rpc/grpc_util.h"
#include "common/status.h"
#include "graph/lowering.h"
#include "graph/rpc/wire.h"
#include "scheduler.grpc.pb.h"
#include "scheduler/dashboard.h"
#include "scheduler/dashboard_server.h"
#include "scheduler/metrics.h"
#include "scheduler/requests.h"
#include "scheduler/state.h"

namespace tessera::scheduler {
namespace {

using grpc::ServerContext;
using grpc::Status;

WorkerSpec SpecFromProto(const v1::RegisterWorker& r) {
  WorkerSpec s;
  s.name = r.name();
  s.address = r.address();
  s.kind = r.kind().empty() ? "cpu" : r.kind();
  s.nthreads = r.nthreads();
  s.memory_limit = r.memory_limit();
  s.device = r.device();
  s.device_memory = r.device_memory();
  for (const auto& f : r.functions()) {
    auto sig = wire::SignatureFromProto(f);
    if (sig.ok()) s.functions.push_back(*std::move(sig));  // validated by ValidateRegistration
  }
  return s;
}

void CommandsToProto(const WorkerCommands& commands, v1::Assign* assign,
                     v1::SchedulerMessage* release_msg) {
  for (const auto& p : commands.programs) wire::ProgramToProto(p->program, p->id, assign->add_programs());
  for (const auto& a : commands.tasks) {
    v1::Task* t = assign->add_tasks();
    wire::TaskToProto(*a.spec, a.program_id, t);
    t->set_handle(a.handle);
    for (size_t i = 0; i < a.inputs.size() && i < static_cast<size_t>(t->inputs_size()); ++i) {
      v1::TaskInput* in = t->mutable_inputs(static_cast<int>(i));
      for (const auto& h : a.inputs[i].holders) in->add_holders(h);
      if (a.inputs[i].inline_data != nullptr) {
        in->set_has_inline(true);
        wire::ChunkToProto(*a.inputs[i].inline_data, in->mutable_inline_data());
      }
    }
  }
  for (const auto& key : commands.releases) release_msg->mutable_release()->add_keys(key);
}

void FetchesToProto(const WorkerCommands& commands, v1::SchedulerMessage* msg) {
  auto* fetch = msg->mutable_fetch();
  for (const auto& f : commands.fetches) {
    v1::TaskInput* in = fetch->add_keys();
    in->set_key(f.key);
    for (const auto& h : f.holders) in->add_holders(h);
  }
}

// An arena for one message or batch of them: blocks from `start_block` up to 1 MiB.
google::protobuf::ArenaOptions MessageArena(size_t start_block) {
  google::protobuf::ArenaOptions options;
  options.start_block_size = start_block;
  options.max_block_size = 1 << 20;
  return options;
}

}  // namespace

// Reads a unary request into an arena, handles it and answers from the same arena: Submit,
// Locate and Release carry thousands of keys (8192-call batches), and parsing them into
// heap-allocated messages cost several mallocs per key, then as many frees.
template <typename Request, typename Response, typename Handle>
Status ServeInArena(grpc::ServerUnaryStreamer<Request, Response>* stream, Handle&& handle) {
  google::protobuf::Arena arena(MessageArena(16 << 10));
  auto* request = google::protobuf::Arena::CreateMessage<Request>(&arena);
  auto* response = google::protobuf::Arena::CreateMessage<Response>(&arena);
  if (!stream->Read(request)) {
    return Status(grpc::StatusCode::CANCELLED, "the request did not arrive");
  }
  const Status status = handle(*request, response);
  if (status.ok() && !stream->Write(*response)) {
    return Status(grpc::StatusCode::CANCELLED, "the client went away");
  }
  return status;
}

// Submit, Locate and Release as streamed unary methods (one request, one response, as before on
// the wire) so that their messages can live in an arena; see ServeInArena.
using SchedulerServiceBase = v1::Scheduler::WithStreamedUnaryMethod_Submit<
    v1::Scheduler::WithStreamedUnaryMethod_Locate<
        v1::Scheduler::WithStreamedUnaryMethod_Release<v1::Scheduler::Service>>>;

class SchedulerServer::Impl final : public SchedulerServiceBase {
 public:
  explicit Impl(const ServerOptions& options)
      : options_(options),
        state_(StateOptions{.allowed_failures = options.allowed_failures, .defer_freeing = true}),
        policy_(options.adaptive) {
    std::random_device rd;
    id_ = absl::StrCat("scheduler-", absl::Hex(static_cast<uint64_t>(rd()) << 32 | rd()));
    started_ = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  }

  // Starts the HTTP dashboard; returns its bound port. `address` is the scheduler's, as shown.
  absl::StatusOr<int> StartDashboard(const std::string& host, int port, bool any_if_taken,
                                     const std::string& address, const std::string& shown_host) {
    {
      absl::MutexLock lock(&mu_);
      address_ = address;
      record_events_ = true;
    }
    Publish();
    DashboardSource source;
    source.snapshot = [this] {
      absl::MutexLock lock(&snapshot_mu_);
      return snapshot_;
    };
    source.stream = &stream_;
    source.event_latency = &event_latency_;
    source.now = [] { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); };
    auto server = DashboardServer::Start(host, port, source);
    if (!server.ok() && any_if_taken && port != 0) {
      TESSERA_LOG(kWarning, "dashboard port ", port, " is taken; serving it on another port");
      server = DashboardServer::Start(host, 0, source);
    }
    if (!server.ok()) return server.status();
    dashboard_ = *std::move(server);
    {
      absl::MutexLock lock(&mu_);
      dashboard_url_ =
          absl::StrCat("http://", Address{shown_host, dashboard_->port()}.HostPort(), "/status");
    }
    Publish();
    publisher_ = std::thread([this] { PublisherLoop(); });
    return dashboard_->port();
  }

  void StartReaper() {
    reaper_ = std::thread([this] { ReaperLoop(); });
    adapter_ = std::thread([this] { AdaptLoop(); });
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      stopping_ = true;
      // End worker sessions now rather than at the server's shutdown deadline.
      for (auto& [id, session] : sessions_) session.ctx->TryCancel();
    }
    if (reaper_.joinable()) reaper_.join();
    if (adapter_.joinable()) adapter_.join();
    if (publisher_.joinable()) publisher_.join();
    if (dashboard_ != nullptr) dashboard_->Stop();
  }

  // ------------------------------------------------------------ client side

  Status ClientSession(ServerContext* ctx, const v1::ClientHello* req,
                       grpc::ServerWriter<v1::ClientNotice>* writer) override {
    if (auto s = ValidateClientId("client session", req->client_id()); !s.ok()) {
      return rpc::ToGrpc(s);
    }
    v1::ClientNotice hello;
    hello.set_message(id_);
    writer->Write(hello);
    SchedulerState::Forgotten forgotten;  // freed after the lock is released
    absl::MutexLock lock(&mu_);
    ++client_sessions_[req->client_id()];
    while (!stopping_ && !ctx->IsCancelled()) {
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(200));
    }
    if (--client_sessions_[req->client_id()] == 0) {
      client_sessions_.erase(req->client_id());
      state_.RemoveClient(req->client_id());
      forgotten = state_.TakeForgotten();
      TESSERA_LOG(kDebug, "client ", req->client_id(), " left; its keys are released");
    }
    return Status::OK;
  }

  Status StreamedSubmit(
      ServerContext*,
      grpc::ServerUnaryStreamer<v1::SubmitRequest, v1::SubmitResponse>* stream) override {
    return ServeInArena(stream, [this](v1::SubmitRequest& req, v1::SubmitResponse* resp) {
      return Submit(&req, resp);  // moves the calls' strings out of `req`
    });
  }
  Status StreamedLocate(
      ServerContext*,
      grpc::ServerUnaryStreamer<v1::LocateRequest, v1::LocateResponse>* stream) override {
    return ServeInArena(stream, [this](v1::LocateRequest& req, v1::LocateResponse* resp) {
      return Locate(&req, resp);
    });
  }
  Status StreamedRelease(
      ServerContext*,
      grpc::ServerUnaryStreamer<v1::ReleaseRequest, v1::ReleaseResponse>* stream) override {
    return ServeInArena(stream, [this](v1::ReleaseRequest& req, v1::ReleaseResponse*) {
      return Release(&req);
    });
  }

  // Validation, conversion and lowering happen outside the lock (TaskGraphFromSubmit, pure);
  // the state machine checks the rest (inputs in the cluster, functions offered, chunk sizes).
  Status Submit(v1::SubmitRequest* req, v1::SubmitResponse* resp) {
    auto graph = TaskGraphFromSubmit(req);
    if (!graph.ok()) return rpc::ToGrpc(graph.status());
    const bool calls = req->calls_size() > 0;
    if (!calls) {
      resp->set_name(graph->output_name);
      for (int64_t e : graph->shape) resp->add_shape(e);
      resp->set_dtype(wire::DTypeToProto(graph->dtype));
      wire::ChunksToProto(graph->chunks, resp->mutable_chunks());
    }
    absl::MutexLock lock(&mu_);
    auto result = state_.Submit(req->client_id(), *std::move(graph));
    if (!result.ok()) return rpc::ToGrpc(result.status());
    // Calls: the request named every key already (a map batch has 8192 of them).
    if (!calls) {
      for (auto& k : result->keys) resp->add_keys(std::move(k));
    }
    resp->set_num_tasks(result->num_tasks);
    resp->set_computation_id(result->computation);
    if (!calls) TESSERA_LOG(kDebug, "submitted ", resp->name(), ": ", result->num_tasks, " tasks");
    return Status::OK;
  }

  Status Wait(ServerContext* ctx, const v1::WaitRequest* req,
              grpc::ServerWriter<v1::WaitUpdate>* writer) override {
    if (auto s = ValidateWait(*req); !s.ok()) return rpc::ToGrpc(s);
    std::vector<std::string> keys(req->keys().begin(), req->keys().end());
    uint64_t seen = ~uint64_t{0};
    int64_t last_done = -1;
    auto last_write = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    while (true) {
      Progress p;
      {
        absl::MutexLock lock(&mu_);
        auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || state_.version() != seen;
        };
        mu_.AwaitWithTimeout(absl::Condition(&changed), absl::Milliseconds(100));
        if (stopping_) return Status(grpc::StatusCode::UNAVAILABLE, "scheduler is shutting down");
        seen = state_.version();
        p = req->computation_id() != 0 ? state_.GetProgress(req->computation_id())
                                       : state_.GetKeysProgress(keys);
        if (req->computation_id() != 0 && p.finished) {
          // Progress counts tasks; completion is what the keys say.
          Progress k = state_.GetKeysProgress(keys);
          if (k.erred) p = k;
          p.finished = k.finished && !k.erred;
        }
      }
      if (ctx->IsCancelled()) return Status(grpc::StatusCode::CANCELLED, "wait cancelled");
      const auto now = std::chrono::steady_clock::now();
      const bool final = p.finished || p.erred;
      // At most ~20 progress messages a second; the final one always.
      if (final || (p.done != last_done && now - last_write > std::chrono::milliseconds(50))) {
        v1::WaitUpdate u;
        u.set_done(p.done);
        u.set_total(p.total);
        u.set_finished(p.finished);
        if (p.erred) {
          u.set_error(p.error);
          u.set_erred_key(p.erred_key);
        }
        if (!writer->Write(u)) return Status(grpc::StatusCode::CANCELLED, "client went away");
        last_done = p.done;
        last_write = now;
      }
      if (final) return Status::OK;
    }
  }

  Status Locate(const v1::LocateRequest* req, v1::LocateResponse* resp) {
    if (auto s = ValidateLocate(*req); !s.ok()) return rpc::ToGrpc(s);
    std::vector<KeyLocation> locations;  // their keys are views of the request's
    {
      absl::MutexLock lock(&mu_);
      locations.reserve(static_cast<size_t>(req->keys_size()));
      for (const auto& key : req->keys()) locations.push_back(state_.Locate(key));
    }
    resp->mutable_locations()->Reserve(static_cast<int>(locations.size()));
    for (auto& loc : locations) {
      if (!loc.known) {
        return Status(grpc::StatusCode::NOT_FOUND,
                      absl::StrCat("key '", std::string(loc.key), "' is not known"));
      }
      if (loc.status != TaskStatus::kMemory) {
        return Status(grpc::StatusCode::FAILED_PRECONDITION,
                      absl::StrCat("key '", std::string(loc.key), "' is ",
                                   std::string(TaskStatusName(loc.status)),
                                   loc.error.empty() ? "" : absl::StrCat(": ", loc.error)));
      }
      // In the request's order; the key itself is not repeated (see docs/protocol.md).
      auto* l = resp->add_locations();
      for (auto& h : loc.holders) l->add_holders(std::move(h));
      if (loc.inline_data != nullptr) {
        l->set_has_inline(true);
        wire::ChunkToProto(*loc.inline_data, l->mutable_inline_data());
      }
    }
    return Status::OK;
  }

  Status Release(const v1::ReleaseRequest* req) {
    if (auto s = ValidateRelease(*req); !s.ok()) return rpc::ToGrpc(s);
    SchedulerState::Forgotten forgotten;  // freed after the lock is released
    absl::MutexLock lock(&mu_);
    state_.Release(req->client_id(),
                   std::vector<std::string_view>(req->keys().begin(), req->keys().end()));
    forgotten = state_.TakeForgotten();
    return Status::OK;
  }

  Status Info(ServerContext*, const v1::InfoRequest*, v1::InfoResponse* resp) override {
    absl::MutexLock lock(&mu_);
    resp->set_id(id_);
    resp->set_version("0.1.0");
    for (const auto& w : state_.Workers()) {
      auto* s = resp->add_workers();
      s->set_name(w.spec.name);
      s->set_address(w.spec.address);
      s->set_kind(w.spec.kind);
      s->set_nthreads(w.spec.nthreads);
      s->set_memory_limit(w.spec.memory_limit);
      s->set_memory_used(w.metrics.memory_used);
      s->set_executing(w.metrics.executing);
      s->set_processing(w.processing);
      s->set_stored(w.stored_keys);
      s->set_device(w.spec.device);
      s->set_device_memory(w.spec.device_memory);
      s->set_device_memory_used(w.metrics.device_memory_used);
      s->set_retiring(w.retiring);
      s->set_spilled_bytes(w.metrics.spilled_bytes);
      s->set_spilled_count(w.metrics.spilled_count);
      s->set_paused(w.metrics.paused);
      auto session = sessions_.find(w.id);
      if (session != sessions_.end()) {
        s->set_last_seen_ago(absl::ToDoubleSeconds(absl::Now() - session->second.last_seen));
      }
    }
    resp->set_dashboard(dashboard_url_);
    resp->set_tasks_total(state_.NumTasks());
    resp->set_tasks_in_memory(state_.NumInMemory());
    for (const auto& [load, n] : DesiredWorkers()) {
      auto* d = resp->add_desired_workers();
      d->set_kind(load.kind);
      d->set_count(n);
      d->set_workers(load.workers);
      d->set_seconds_of_work(load.seconds);
    }
    resp->set_scale_events(policy_.events_total());
    for (const auto& f : state_.Functions()) wire::SignatureToProto(f, resp->add_functions());
    return Status::OK;
  }

  // ------------------------------------------------------------ worker side

  Status WorkerSession(
      ServerContext* ctx,
      grpc::ServerReaderWriter<v1::SchedulerMessage, v1::WorkerMessage>* stream) override {
    v1::WorkerMessage first;
    if (!stream->Read(&first)) return Status(grpc::StatusCode::CANCELLED, "worker went away");
    if (!first.has_register_()) {
      return Status(grpc::StatusCode::INVALID_ARGUMENT,
                    "the first message of a worker session must be RegisterWorker");
    }
    if (auto s = ValidateRegistration(first.register_()); !s.ok()) return rpc::ToGrpc(s);
    const WorkerSpec spec = SpecFromProto(first.register_());
    WorkerId id;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return Status(grpc::StatusCode::UNAVAILABLE, "scheduler is shutting down");
      id = state_.AddWorker(spec);
      sessions_[id] = Session{ctx, absl::Now()};
    }
    // A worker's default name is its address; say it once then.
    const std::string who = spec.name == absl::StrCat("tcp://", spec.address)
                                ? spec.name
                                : absl::StrCat(spec.name, " at tcp://", spec.address);
    TESSERA_LOG(kInfo, "register worker ", who, " (", spec.kind, ", ", spec.nthreads, " threads, ",
                FormatBytes(spec.memory_limit), ")");
    v1::SchedulerMessage ack;
    ack.mutable_ack()->set_worker_id(absl::StrCat(id));
    ack.mutable_ack()->set_scheduler_id(id_);
    ack.mutable_ack()->set_heartbeat_seconds(HeartbeatSeconds());
    ack.mutable_ack()->set_timeout_seconds(SchedulerSilenceSeconds());
    stream->Write(ack);

    std::atomic<bool> reader_done{false};
    std::thread writer([&] {
      const absl::Duration heartbeat = absl::Seconds(HeartbeatSeconds());
      // Each batch of assignments is built in this arena, reset after it is written: a few
      // blocks per batch rather than objects per task, input and inline value. (Reusing one
      // cleared message does not save them: proto3's Clear frees singular submessages such as
      // an input's inline value.)
      google::protobuf::Arena arena(MessageArena(64 << 10));
      while (true) {
        WorkerCommands commands;
        {
          absl::MutexLock lock(&mu_);
          auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return stopping_ || reader_done.load() || state_.HasCommands(id);
          };
          mu_.AwaitWithTimeout(absl::Condition(&ready), heartbeat);
          if (stopping_ || reader_done.load()) return;
          commands = state_.TakeCommands(id);
        }
        if (commands.empty()) {
          // Nothing to say for a while: a heartbeat, so the worker knows the scheduler is there.
          v1::SchedulerMessage hb;
          hb.mutable_heartbeat();
          if (!stream->Write(hb)) return;
          continue;
        }
        v1::SchedulerMessage release, fetch;
        auto* assign = google::protobuf::Arena::CreateMessage<v1::SchedulerMessage>(&arena);
        CommandsToProto(commands, assign->mutable_assign(), &release);
        const bool written =
            (commands.tasks.empty() && commands.programs.empty()) || stream->Write(*assign);
        arena.Reset();
        if (!written) return;
        if (!commands.releases.empty()) {
          if (!stream->Write(release)) return;
        }
        if (!commands.fetches.empty()) {
          FetchesToProto(commands, &fetch);
          if (!stream->Write(fetch)) return;
        }
        if (!commands.steals.empty()) {
          v1::SchedulerMessage steal;
          for (auto& key : commands.steals) steal.mutable_steal()->add_keys(std::move(key));
          if (!stream->Write(steal)) return;
        }
        if (commands.close) {
          // Retired: the worker exits on this and ends the stream, which removes it below.
          v1::SchedulerMessage close;
          close.mutable_close()->set_reason("retired");
          stream->Write(close);
          return;
        }
      }
    });

    // Each message is parsed into an arena that is reset after it is handled: a batch of a few
    // hundred task events costs a few block allocations instead of several per event. Nothing
    // keeps a pointer into the message past HandleWorkerMessage.
    google::protobuf::Arena arena(MessageArena(64 << 10));
    while (true) {
      auto* msg = google::protobuf::Arena::CreateMessage<v1::WorkerMessage>(&arena);
      if (!stream->Read(msg)) break;
      const auto received = std::chrono::steady_clock::now();
      PreparedDone done = PrepareDone(spec.name, *msg);
      SchedulerState::Forgotten forgotten;  // freed after the lock is released
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) break;
        HandleWorkerMessage(id, spec.name, *msg, done);
        forgotten = state_.TakeForgotten();
        event_latency_.Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - received).count());
      }
      arena.Reset();
    }
    {
      absl::MutexLock lock(&mu_);
      reader_done = true;
    }
    writer.join();
    bool retired = false;
    {
      SchedulerState::Forgotten forgotten;  // freed after the lock is released
      absl::MutexLock lock(&mu_);
      if (auto r = state_.Retirement(id); r.has_value() && r->done) {
        retired = true;
        retirements_[id] = *r;
        if (retirements_.size() > 1000) retirements_.erase(retirements_.begin());
      }
      state_.RemoveWorker(id);
      forgotten = state_.TakeForgotten();
      sessions_.erase(id);
    }
    TESSERA_LOG(kInfo, retired ? "retired worker " : "remove worker ", who);
    return Status::OK;
  }

  // `tessera retire`: retires the named workers gracefully and waits until they are gone.
  Status Retire(ServerContext* ctx, const v1::RetireRequest* req,
                v1::RetireResponse* resp) override {
    if (auto s = ValidateRetire(*req); !s.ok()) return rpc::ToGrpc(s);
    const double timeout = req->timeout_seconds() > 0 ? req->timeout_seconds() : 60;
    std::vector<WorkerId> ids;
    absl::MutexLock lock(&mu_);
    if (req->workers_size() == 0) {
      ids = state_.WorkersToClose(req->kind(), req->count());  // may be fewer, or none
    }
    for (const auto& name : req->workers()) {
      auto id = state_.FindWorker(name);
      if (!id.has_value()) {
        std::string known;
        for (const auto& w : state_.Workers()) {
          absl::StrAppend(&known, known.empty() ? "" : ", ", w.spec.name);
        }
        return Status(grpc::StatusCode::NOT_FOUND,
                      absl::StrCat("retire: no worker named '", name, "' (workers: ",
                                   known.empty() ? "none" : known, ")"));
      }
      ids.push_back(*id);
    }
    for (WorkerId id : ids) {
      if (auto s = state_.RetireWorker(id); !s.ok()) {
        return rpc::ToGrpc(absl::Status(s.code(), absl::StrCat("retire: ", s.message())));
      }
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(timeout);
    auto gone = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (stopping_) return true;
      for (WorkerId id : ids) {
        if (sessions_.count(id) != 0) return false;
      }
      return true;
    };
    while (!gone() && absl::Now() < deadline && !ctx->IsCancelled()) {
      mu_.AwaitWithTimeout(absl::Condition(&gone), absl::Milliseconds(100));
    }
    for (WorkerId id : ids) {
      auto r = retirements_.find(id);
      if (r == retirements_.end()) {
        return Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                      absl::StrCat("retire: worker ", id, " did not close within ", timeout,
                                   " s; it stays retiring (no new tasks)"));
      }
      auto* w = resp->add_workers();
      w->set_name(r->second.name);
      w->set_address(r->second.address);
      w->set_keys_moved(r->second.keys_moved);
      w->set_bytes_moved(r->second.bytes_moved);
    }
    return Status::OK;
  }

 private:
  struct Session {
    ServerContext* ctx = nullptr;
    absl::Time last_seen;
  };

  // How often the scheduler speaks to a quiet worker.
  double HeartbeatSeconds() const {
    return std::clamp(options_.worker_timeout_seconds / 5, 0.05, 1.0);
  }
  // How long a worker waits for a word from the scheduler before it reconnects: longer than the
  // scheduler waits for workers, because reconnecting costs the worker everything it holds, and
  // a scheduler busy with a huge submit may be quiet for a while. Still far below what a cut
  // network costs without it (forever).
  double SchedulerSilenceSeconds() const {
    return std::max(15.0, 3 * options_.worker_timeout_seconds);
  }

  // A worker message's finished tasks, made ready for the state machine before taking the lock:
  // inline results converted, dashboard events built (the key moved into the event).
  struct PreparedDone {
    std::vector<TaskResult> results;  // keys view the message's, or the events'
    std::vector<std::string> errors;  // non-empty: the result was bad, the task fails
    std::vector<TaskEvent> events;    // when recording; their groups are filled under the lock
    int64_t fetched_bytes = 0;
  };

  // `msg` is the caller's to discard afterwards: keys may be moved out of it.
  PreparedDone PrepareDone(const std::string& worker_name, v1::WorkerMessage& msg) const {
    PreparedDone p;
    if (!msg.has_events()) return p;
    auto& done = *msg.mutable_events()->mutable_done();
    const bool record = record_events_;
    p.results.resize(static_cast<size_t>(done.size()));
    p.errors.resize(p.results.size());
    // Reserved: results view the events' keys, which must not move.
    if (record) p.events.reserve(p.results.size());
    for (int i = 0; i < done.size(); ++i) {
      v1::TaskDone& d = done[i];
      TaskResult& r = p.results[static_cast<size_t>(i)];
      if (record) {
        TaskEvent& e = p.events.emplace_back();
        e.key.swap(*d.mutable_key());
        e.worker = worker_name;
        e.thread = d.thread();
        if (d.start_time() > 0) {
          e.start = d.start_time();
          e.stop = d.start_time() + d.seconds();
        } else {  // an older worker: the stop is when the result arrived
          e.stop = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
          e.start = e.stop - d.seconds();
          e.thread = -1;
        }
        e.status = "memory";
        e.nbytes = d.nbytes();
        r.key = e.key;
      } else {
        r.key = d.key();
      }
      r.handle = d.handle();
      r.nbytes = d.nbytes();
      r.seconds = d.seconds();
      p.fetched_bytes += d.fetched_bytes();
      if (d.has_inline()) {
        auto chunk = wire::ChunkFromProto(d.inline_data());
        if (!chunk.ok()) {
          p.errors[static_cast<size_t>(i)] =
              absl::StrCat("bad inline result: ", chunk.status().message());
          continue;
        }
        r.inline_data = std::make_shared<const ChunkBuffer>(*std::move(chunk));
      }
    }
    return p;
  }

  void HandleWorkerMessage(WorkerId id, const std::string& worker_name, v1::WorkerMessage& msg,
                           PreparedDone& done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    sessions_[id].last_seen = absl::Now();
    if (msg.has_retire()) {
      // SIGTERM on the worker: it leaves whether or not its results can move.
      if (auto s = state_.RetireWorker(id, /*force=*/true); !s.ok()) {
        TESSERA_LOG(kWarning, "worker ", worker_name, " asked to retire: ", s.message());
      }
      return;
    }
    if (msg.has_heartbeat()) {
      const v1::Heartbeat& hb = msg.heartbeat();
      state_.UpdateMetrics(
          id, WorkerMetrics{hb.memory_used(), hb.executing(), hb.stored(), hb.device_memory_used(),
                            hb.spilled_bytes(), hb.spilled_count(), hb.paused()});
    } else if (msg.has_events()) {
      for (size_t i = 0; i < done.results.size(); ++i) {
        if (!done.errors[i].empty()) {
          state_.TaskFailed(id, std::string(done.results[i].key), done.errors[i]);
          continue;
        }
        if (record_events_) {
          std::string group;
          state_.TaskFinished(id, done.results[i], &group);
          done.events[i].group = std::move(group);
          AddEvent(std::move(done.events[i]));
        } else {
          state_.TaskFinished(id, done.results[i]);
        }
      }
      transfer_bytes_ += done.fetched_bytes;
      for (const auto& f : msg.events().failed()) {
        if (record_events_) {
          const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
          AddEvent(
              TaskEvent{f.key(), state_.GroupOf(f.key()), worker_name, -1, now, now, "erred", 0});
        }
        // 0 is the field's default: a worker too old to send a code.
        const auto code =
            f.code() == 0 ? absl::StatusCode::kUnknown : static_cast<absl::StatusCode>(f.code());
        state_.TaskFailed(id, f.key(), f.message(), code);
      }
      for (const auto& key : msg.events().acquired()) state_.KeyAcquired(id, key);
      for (const auto& key : msg.events().stolen()) state_.TaskStolen(id, key);
      for (const auto& f : msg.events().acquire_failed()) {
        state_.AcquireFailed(id, f.key(), f.message());
      }
    }
  }

  // ---------------------------------------------------------------- dashboard

  void AddEvent(TaskEvent e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // The publisher drains this every 100 ms; the bound only matters if it stalls.
    if (pending_events_.size() < 200'000) pending_events_.push_back(std::move(e));
  }

  std::shared_ptr<Snapshot> BuildSnapshot() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto s = std::make_shared<Snapshot>();
    s->id = id_;
    s->version = "0.1.0";
    s->address = address_;
    s->dashboard = dashboard_url_;
    s->started = started_;
    s->taken = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
    for (const auto& [client, n] : client_sessions_) s->clients += n;
    for (const WorkerView& w : state_.Workers()) {
      WorkerSnapshot ws;
      ws.id = w.id;
      ws.name = w.spec.name;
      ws.address = absl::StrCat("tcp://", w.spec.address);
      ws.kind = w.spec.kind;
      ws.device = w.spec.device;
      ws.nthreads = w.spec.nthreads;
      ws.memory_used = w.metrics.memory_used;
      ws.memory_limit = w.spec.memory_limit;
      ws.device_memory_limit = w.spec.device_memory;
      ws.device_memory_used = w.metrics.device_memory_used;
      ws.spilled_bytes = w.metrics.spilled_bytes;
      ws.paused = w.metrics.paused;
      ws.tasks_executing = w.metrics.executing;
      ws.tasks_processing = w.processing;
      ws.tasks_in_memory = w.stored_keys;
      auto it = sessions_.find(w.id);
      if (it != sessions_.end()) {
        ws.last_seen = absl::ToDoubleSeconds(it->second.last_seen - absl::UnixEpoch());
      }
      s->workers.push_back(std::move(ws));
    }
    s->groups = state_.Groups();
    s->tasks = state_.TaskCounts();
    s->counters = state_.counters();
    s->transfer_bytes = transfer_bytes_;
    s->desired_workers = DesiredWorkers();
    s->scale_events = policy_.events_total();
    s->worker_counts = worker_counts_;
    return s;
  }

  // Takes a snapshot (under the scheduler's lock, O(workers + groups)) and publishes it and the
  // task events gathered since the last one; the HTTP threads only ever see what is published.
  void Publish() {
    std::shared_ptr<Snapshot> snapshot;
    std::vector<TaskEvent> events;
    {
      absl::MutexLock lock(&mu_);
      snapshot = BuildSnapshot();
      events.swap(pending_events_);
      // The next 100 ms of events go into room for as many as the last: not moved from buffer
      // to growing buffer under the lock (10 000 and more per 100 ms at B5's rate).
      pending_events_.reserve(std::min<size_t>(events.size(), 200'000));
    }
    if (!events.empty()) stream_.Append(std::move(events), snapshot->taken);
    absl::MutexLock lock(&snapshot_mu_);
    snapshot_ = std::move(snapshot);
  }

  void PublisherLoop() {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(100));
        if (stopping_) return;
      }
      Publish();
    }
  }

  // The recommendation with each kind's load, for Info, the snapshot and /metrics.
  std::vector<std::pair<KindLoad, int64_t>> DesiredWorkers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<std::pair<KindLoad, int64_t>> out;
    for (const auto& [kind, n] : policy_.desired()) {
      KindLoad load{kind, 0, 0, 0};
      for (const auto& l : last_load_) {
        if (l.kind == kind) load = l;
      }
      out.emplace_back(load, n);
    }
    return out;
  }

  void AdaptLoop() {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                           absl::Seconds(options_.adapt_interval_seconds));
      if (stopping_) break;
      last_load_ = state_.Workload();
      policy_.Update(last_load_);
      // The dashboard's worker-count timeline: copied on write, so snapshots share it.
      auto points = std::make_shared<std::vector<WorkerCountPoint>>(
          worker_counts_ != nullptr ? *worker_counts_ : std::vector<WorkerCountPoint>{});
      WorkerCountPoint point;
      point.time = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
      for (const KindLoad& l : last_load_) point.workers[l.kind] = l.workers;
      point.desired = policy_.desired();
      points->push_back(std::move(point));
      while (!points->empty() && points->front().time < points->back().time - 900) {
        points->erase(points->begin());
      }
      worker_counts_ = std::move(points);
      // With --min-workers / --max-workers someone scales by the recommendation: each change is
      // news. Without them it is only the Desired column of `tessera info`: debug level.
      const bool scaling = !options_.adaptive.bounds.empty();
      for (const ScaleEvent& e : policy_.TakeEvents()) {
        const std::string line =
            absl::StrCat("adaptive: ", e.kind, " workers ", e.from, " -> ", e.to, " (",
                         absl::StrFormat("%.1f", e.seconds_of_work), " s of work, target ",
                         options_.adaptive.target_seconds, " s)");
        if (scaling) {
          TESSERA_LOG(kInfo, line);
        } else {
          TESSERA_LOG(kDebug, line);
        }
      }
    }
  }

  void ReaperLoop() {
    absl::Time last = absl::Now();
    while (true) {
      // What paths other than worker messages and releases forgot, freed after the lock is
      // released (it is declared first, so destroyed last).
      SchedulerState::Forgotten forgotten;
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(1));
      if (stopping_) return;
      forgotten = state_.TakeForgotten();
      const absl::Time now = absl::Now();
      if (now - last > absl::Seconds(3)) {
        // The scheduler itself was stalled (a huge submit held the lock, or the machine): the
        // workers' messages waited for it, so their silence is ours. A fresh timeout for all.
        TESSERA_LOG(kWarning, "scheduler stalled for ", absl::ToDoubleSeconds(now - last),
                    " s; not timing workers out for it");
        for (auto& [id, s] : sessions_) s.last_seen = now;
      }
      last = now;
      for (auto& [id, s] : sessions_) {
        if (now - s.last_seen > absl::Seconds(options_.worker_timeout_seconds)) {
          TESSERA_LOG(kWarning, "worker ", id, " silent for ", options_.worker_timeout_seconds,
                      " s; removing it");
          s.ctx->TryCancel();
          s.last_seen = now;  // cancel once
        }
      }
    }
  }

  ServerOptions options_;
  std::string id_;
  absl::Mutex mu_;
  SchedulerState state_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::unordered_map<WorkerId, Session> sessions_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, int> client_sessions_ ABSL_GUARDED_BY(mu_);
  /// Workers that closed after a graceful retirement, for the Retire RPC's answer.
  std::map<WorkerId, RetirementView> retirements_ ABSL_GUARDED_BY(mu_);
  AdaptivePolicy policy_ ABSL_GUARDED_BY(mu_);
  std::vector<KindLoad> last_load_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const std::vector<WorkerCountPoint>> worker_counts_ ABSL_GUARDED_BY(mu_);
  std::thread adapter_;
  std::thread reaper_;

  // Dashboard.
  double started_ = 0;  // Unix seconds
  std::string address_ ABSL_GUARDED_BY(mu_);
  std::string dashboard_url_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> record_events_{false};  // only with a dashboard; set once, at its start
  std::vector<TaskEvent> pending_events_ ABSL_GUARDED_BY(mu_);
  int64_t transfer_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  LatencyHistogram event_latency_;
  TaskStream stream_;
  absl::Mutex snapshot_mu_;
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(snapshot_mu_);
  std::thread publisher_;
  std::unique_ptr<DashboardServer> dashboard_;
};

absl::StatusOr<std::unique_ptr<SchedulerServer>> SchedulerServer::Start(
    const ServerOptions& options) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port ", options.port, " out of range"));
  }
  auto server = std::unique_ptr<SchedulerServer>(new SchedulerServer());
  server->impl_ = std::make_unique<Impl>(options);
  grpc::ServerBuilder builder;
  rpc::ConfigureServer(&builder, wire::kMaxSchedulerMessageBytes);
  const std::string listen =
      Address{options.host, options.port}.HostPort();
  int bound = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(server->impl_.get());
  server->grpc_ = builder.BuildAndStart();
  if (server->grpc_ == nullptr || bound == 0) {
    return absl::UnavailableError(
        absl::StrCat("could not listen on tcp://", listen, " (port in use or bad host?)"));
  }
  server->port_ = bound;
  server->impl_->StartReaper();
  if (options.dashboard_port >= 0) {
    const std::string shown =
        options.host == "0.0.0.0" || options.host == "::" ? LocalIpForDisplay() : options.host;
    const std::string dash_host =
        options.dashboard_host.empty() ? options.host : options.dashboard_host;
    const std::string dash_shown =
        dash_host == "0.0.0.0" || dash_host == "::" ? LocalIpForDisplay() : dash_host;
    auto port = server->impl_->StartDashboard(dash_host, options.dashboard_port,
                                              options.dashboard_any_port_if_taken,
                                              Address{shown, bound}.ToString(), dash_shown);
    if (!port.ok()) {
      server->Shutdown();
      return port.status();
    }
    server->dashboard_port_ = *port;
  }
  return server;
}

void SchedulerServer::Shutdown() {
  if (impl_ == nullptr) return;
  impl_->Stop();
  if (grpc_ != nullptr) grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

void SchedulerServer::Wait() {
  if (grpc_ != nullptr) grpc_->Wait();
}

SchedulerServer::~SchedulerServer() {
  Shutdown();
  if (grpc_ != nullptr) grpc_->Wait();
}

}  // namespace tessera::scheduler
