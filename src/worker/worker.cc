#include "worker/worker.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <optional>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/rpc/grpc_util.h"
#include "common/shape.h"
#include "common/status.h"
#include "graph/rpc/wire.h"
#include "scheduler.grpc.pb.h"
#include "worker.grpc.pb.h"
#include "worker/data_client.h"
#include "worker/function_registry.h"
#include "worker/store.h"

namespace tessera::worker {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

bool IsLoopback(const std::string& host) {
  return host == "localhost" || absl::StartsWith(host, "127.") || host == "::1";
}

// The process's resident set size: results held, running tasks' buffers, and whatever the
// allocator keeps. 0 when /proc is not there.
int64_t ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// Hands freed heap pages back to the kernel. glibc keeps the multi-megabyte buffers of spilled
// chunks in its arenas otherwise, and the resident size would not fall after a spill.
void TrimHeap() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

constexpr char kSpillPrefix[] = "tessera-worker-";
constexpr char kLockName[] = ".lock";
/// The lock file's name until its lock is taken (then it is renamed to kLockName), so that a
/// purge never finds a new worker's lock file unlocked.
constexpr char kNewLockName[] = ".lock-new";

// Removes the spill directories in `base` that no running worker holds: each live worker keeps an
// exclusive flock on its directory's lock file for as long as its process lives, so a lock that
// can be taken belongs to a worker that died without cleaning up (SIGKILL, the OOM killer, a
// power cut). flock works across processes and PID namespaces on one machine, which a PID file
// would not. Directories without a lock file (one being made, or not made by this code) are
// left alone.
void PurgeStaleSpillDirectories(const std::string& base) {
  std::error_code ec;
  for (fs::directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind(kSpillPrefix, 0) != 0) continue;
    std::error_code entry_ec;
    if (!it->is_directory(entry_ec)) continue;
    const fs::path lock = it->path() / kLockName;
    const int fd = open(lock.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;
    const bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (free) {
      const auto removed = fs::remove_all(it->path(), entry_ec);
      if (entry_ec) {
        TESSERA_LOG(kWarning, "cannot remove the stale spill directory ", it->path().string(),
                    ": ", entry_ec.message());
      } else {
        TESSERA_LOG(kWarning, "removed the stale spill directory ", it->path().string(), " (",
                    removed, " files; its worker is gone)");
      }
    }
    close(fd);
  }
}

}  // namespace

absl::StatusOr<std::string> MakeSpillDirectory(const std::string& parent) {
  std::string base = parent;
  if (base.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("local directory '", base, "' cannot be created: ", ec.message()));
  }
  PurgeStaleSpillDirectories(base);
  std::string path = (fs::path(base) / absl::StrCat(kSpillPrefix, "XXXXXX")).string();
  if (mkdtemp(path.data()) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("local directory '", base, "' is not writable: ", std::strerror(errno)));
  }
  // Held until the process ends (the descriptor is never closed): the directory is in use.
  const std::string lock = (fs::path(path) / kNewLockName).string();
  const int fd = open(lock.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0 ||
      std::rename(lock.c_str(), (fs::path(path) / kLockName).c_str()) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) close(fd);
    std::error_code ignored;
    fs::remove_all(path, ignored);
    return absl::InvalidArgumentError(
        absl::StrCat("local directory '", base, "': cannot lock ", lock, ": ", why));
  }
  return path;
}

absl::Status CheckMemoryFractions(double target, double pause) {
  if (!(target > 0 && target <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory target ", target, " must be a fraction in (0, 1]"));
  }
  if (!(pause > 0 && pause <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory pause ", pause, " must be a fraction in (0, 1]"));
  }
  if (pause < target) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory pause ", pause, " must not be below the memory target ", target));
  }
  return absl::OkStatus();
}

namespace {

class DataService final : public v1::WorkerData::Service {
 public:
  explicit DataService(Store* store) : store_(store) {}
  grpc::Status GetData(grpc::ServerContext* ctx, const v1::GetDataRequest* req,
                       grpc::ServerWriter<v1::DataPiece>* writer) override {
    ChunkPtr chunk = store_->Get(req->key());
    if (chunk == nullptr) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("key '", req->key(), "' is not held by this worker"));
    }
    const int64_t total = chunk->nbytes();
    int64_t offset = 0;
    // One message for all pieces: its data string keeps its buffer from piece to piece.
    v1::DataPiece piece;
    piece.set_dtype(wire::DTypeToProto(chunk->dtype));
    for (int64_t e : chunk->shape) piece.add_shape(e);
    piece.set_total_bytes(total);
    if (chunk->encoded_value) piece.set_encoded_value(true);
    do {
      const int64_t n = std::min(rpc::kPieceBytes, total - offset);
      piece.set_offset(offset);
      piece.mutable_data()->assign(reinterpret_cast<const char*>(chunk->bytes.data()) + offset,
                                   static_cast<size_t>(n));
      if (!writer->Write(piece)) return grpc::Status(grpc::StatusCode::CANCELLED, "reader gone");
      if (offset == 0) {  // only the first piece carries the header
        piece.clear_dtype();
        piece.clear_shape();
        piece.clear_total_bytes();
        piece.clear_encoded_value();
      }
      offset += n;
    } while (offset < total && !ctx->IsCancelled());
    return grpc::Status::OK;
  }

 private:
  Store* store_;
};

// A batch of task events in an arena of its own whose first block is fixed: Reset() drops the
// message and all it held, and a batch that fits the block (256 tasks' events do) then
// allocates nothing. A cleared heap message would free and allocate every task's inline
// result (proto3's Clear frees singular submessages): a few allocations per task.
class EventBatch {
 public:
  EventBatch() : block_(new char[kBlock]) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block_.get();
    options.initial_block_size = kBlock;
    arena_ = std::make_unique<google::protobuf::Arena>(options);
    events_ = google::protobuf::Arena::CreateMessage<v1::TaskEvents>(arena_.get());
  }
  v1::TaskEvents& events() { return *events_; }
  void Reset() {
    arena_->Reset();
    events_ = google::protobuf::Arena::CreateMessage<v1::TaskEvents>(arena_.get());
  }

 private:
  static constexpr size_t kBlock = 256 << 10;
  std::unique_ptr<char[]> block_;
  std::unique_ptr<google::protobuf::Arena> arena_;
  v1::TaskEvents* events_ = nullptr;
};

}  // namespace

class Worker::Impl {
 public:
  Impl(WorkerOptions options, std::unique_ptr<TaskExecutor> executor)
      : options_(std::move(options)),
        executor_(std::move(executor)),
        store_(
            StoreOptions{options_.spill_directory, options_.memory_limit, options_.memory_target}),
        data_service_(&store_) {}

  absl::Status Start() {
    grpc::ServerBuilder builder;
    rpc::ConfigureServer(&builder);
    const std::string bind_host = options_.host.empty() ? "0.0.0.0" : options_.host;
    int bound = 0;
    builder.AddListeningPort(Address{bind_host, options_.port}.HostPort(),
                             grpc::InsecureServerCredentials(), &bound);
    builder.RegisterService(&data_service_);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || bound == 0) {
      return absl::UnavailableError(absl::StrCat("could not listen on ",
                                                 Address{bind_host, options_.port}.ToString()));
    }
    std::string contact = options_.contact_host;
    if (contact.empty()) {
      if (!options_.host.empty() && options_.host != "0.0.0.0" && options_.host != "::") {
        contact = options_.host;
      } else {
        contact = IsLoopback(options_.scheduler.host) ? "127.0.0.1" : LocalIpForDisplay();
      }
    }
    address_ = Address{contact, bound}.HostPort();
    if (options_.name.empty()) options_.name = Address{contact, bound}.ToString();
    for (int i = 0; i < options_.nthreads; ++i) pool_.emplace_back([this, i] { PoolLoop(i); });
    if (options_.memory_limit > 0) memory_monitor_ = std::thread([this] { MemoryLoop(); });
    session_ = std::thread([this] { SessionLoop(); });
    return absl::OkStatus();
  }

  std::string address() const { return address_; }

  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      if (session_ctx_ != nullptr) session_ctx_->TryCancel();
    }
    cv_.notify_all();
    if (session_.joinable()) session_.join();
    for (auto& t : pool_) t.join();
    pool_.clear();
    if (memory_monitor_.joinable()) memory_monitor_.join();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_->Wait();
    store_.Clear();
    if (!options_.spill_directory.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(options_.spill_directory, ec);
      if (ec) {
        TESSERA_LOG(kWarning, "cannot remove the spill directory ", options_.spill_directory, ": ",
                    ec.message());
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stopped_; });
  }

  bool Retire(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!session_open_) return closed_;
    retire_requested_ = true;
    events_ready_ = true;
    cv_.notify_all();
    cv_.wait_for(lock, timeout, [&] { return closed_ || !session_open_ || stopping_; });
    return closed_;
  }

  bool closed_by_scheduler() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

 private:
  struct Job {
    // The Assign message the task came in was parsed into this arena, which lives until the
    // last of its tasks is done: parsing a batch of tasks allocates a few blocks, not several
    // objects per task, and freeing it is as cheap.
    std::shared_ptr<google::protobuf::Arena> arena;
    v1::Task* task = nullptr;
    uint64_t generation = 0;  // session that assigned it
  };

  // ---------------------------------------------------------------- session

  void SessionLoop() {
    double backoff = 0.1;
    const std::string target = options_.scheduler.ToString();
    while (!IsStopping()) {
      auto stub = v1::Scheduler::NewStub(rpc::BuildChannel(options_.scheduler.HostPort()));
      grpc::ClientContext ctx;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) break;
        session_ctx_ = &ctx;
      }
      auto stream = stub->WorkerSession(&ctx);
      v1::WorkerMessage reg;
      auto* r = reg.mutable_register_();
      r->set_name(options_.name);
      r->set_address(address_);
      r->set_kind(executor_->kind());
      r->set_nthreads(options_.nthreads);
      r->set_memory_limit(options_.memory_limit);
      r->set_device(executor_->device());
      r->set_device_memory(executor_->device_memory());
      for (const auto& sig : functions_->Signatures()) wire::SignatureToProto(sig, r->add_functions());
      v1::SchedulerMessage ack;
      const bool ok = stream->Write(reg) && stream->Read(&ack) && ack.has_ack();
      if (!ok) {
        const grpc::Status status = stream->Finish();
        {
          std::lock_guard<std::mutex> lock(mu_);
          session_ctx_ = nullptr;
        }
        if (IsStopping()) break;
        if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
          TESSERA_LOG(kError, "scheduler at ", target, " refused this worker: ",
                      status.error_message());
        } else {
          TESSERA_LOG(kWarning, "could not connect to scheduler at ", target, " (",
                      status.error_message().empty() ? "no answer" : status.error_message(),
                      "); retrying in ", backoff, " s");
        }
        SleepUnlessStopping(backoff);
        backoff = std::min(backoff * 2, 5.0);
        continue;
      }
      backoff = 0.1;
      TESSERA_LOG(kInfo, "registered with scheduler at ", target, " as worker ",
                  ack.ack().worker_id(), " (", options_.name, ")");
      RunSession(stream.get(), &ctx, ack.ack().timeout_seconds());
      stream->WritesDone();
      const grpc::Status status = stream->Finish();
      {
        std::lock_guard<std::mutex> lock(mu_);
        session_ctx_ = nullptr;
        if (closed_) {
          TESSERA_LOG(kInfo, "retired by the scheduler at ", target, "; closing");
          cv_.notify_all();
          break;
        }
      }
      if (IsStopping()) break;
      TESSERA_LOG(kWarning, "lost the scheduler at ", target, " (", status.error_message(),
                  "); reconnecting");
      // The scheduler forgot this worker and everything it held.
      store_.Clear();
      {
        std::lock_guard<std::mutex> lock(mu_);
        programs_.clear();
      }
    }
  }

  // `timeout_seconds` (from the scheduler's RegisterAck; 0 for none): hearing nothing from the
  // scheduler for that long ends the session, and the worker reconnects.
  void RunSession(grpc::ClientReaderWriter<v1::WorkerMessage, v1::SchedulerMessage>* stream,
                  grpc::ClientContext* ctx, double timeout_seconds) {
    uint64_t generation;
    {
      std::lock_guard<std::mutex> lock(mu_);
      generation = ++generation_;
      session_open_ = true;
    }
    std::atomic<int64_t> last_heard{Clock::now().time_since_epoch().count()};
    const auto timeout = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(timeout_seconds));
    // One writer thread: batched task events every few milliseconds, heartbeats every second.
    std::thread writer([&] {
      auto next_heartbeat = Clock::now();
      // The batch being written; swapped with pending_ and reset after each write.
      auto sending = std::make_unique<EventBatch>();
      bool retire_sent = false;
      std::unique_lock<std::mutex> lock(mu_);
      while (session_open_ && !stopping_) {
        cv_.wait_for(lock, std::chrono::milliseconds(2), [&] {
          return !session_open_ || stopping_ || events_ready_ || heartbeat_due_;
        });
        if (timeout_seconds > 0 &&
            Clock::now() - Clock::time_point(Clock::duration(last_heard.load())) > timeout) {
          TESSERA_LOG(kWarning, "heard nothing from the scheduler for ", timeout_seconds,
                      " s; reconnecting");
          ctx->TryCancel();
          break;
        }
        const v1::TaskEvents& pending = pending_->events();
        const bool have_events = pending.done_size() + pending.failed_size() +
                                     pending.acquired_size() + pending.acquire_failed_size() +
                                     pending.stolen_size() >
                                 0;
        if (have_events) {
          std::swap(sending, pending_);
          events_ready_ = false;
        }
        const bool retire = retire_requested_ && !retire_sent;
        const bool heartbeat = Clock::now() >= next_heartbeat || heartbeat_due_;
        heartbeat_due_ = false;
        const bool paused = paused_;
        lock.unlock();
        bool ok = true;
        if (have_events) {
          v1::WorkerMessage events;
          events.unsafe_arena_set_allocated_events(&sending->events());
          ok = stream->Write(events);
          (void)events.unsafe_arena_release_events();  // lent, not given
          sending->Reset();
        }
        if (ok && retire) {
          v1::WorkerMessage msg;
          msg.mutable_retire();
          ok = stream->Write(msg);
          retire_sent = true;
        }
        if (ok && heartbeat) {
          v1::WorkerMessage hb;
          hb.mutable_heartbeat()->set_memory_used(store_.bytes());
          hb.mutable_heartbeat()->set_executing(executing_.load());
          hb.mutable_heartbeat()->set_stored(store_.count());
          hb.mutable_heartbeat()->set_device_memory_used(executor_->device_memory_used());
          hb.mutable_heartbeat()->set_spilled_bytes(store_.spilled_bytes());
          hb.mutable_heartbeat()->set_spilled_count(store_.spilled_count());
          hb.mutable_heartbeat()->set_paused(paused);
          ok = stream->Write(hb);
          next_heartbeat = Clock::now() + std::chrono::milliseconds(
                                              static_cast<int64_t>(options_.heartbeat_seconds * 1000));
        }
        lock.lock();
        if (!ok) break;
      }
    });
    std::vector<std::thread> fetchers;
    google::protobuf::ArenaOptions arena_options;
    arena_options.start_block_size = 4 << 10;
    arena_options.max_block_size = 256 << 10;
    while (true) {
      auto arena = std::make_shared<google::protobuf::Arena>(arena_options);
      v1::SchedulerMessage& msg =
          *google::protobuf::Arena::CreateMessage<v1::SchedulerMessage>(arena.get());
      if (!stream->Read(&msg)) break;
      last_heard = Clock::now().time_since_epoch().count();
      if (msg.has_close()) {
        std::lock_guard<std::mutex> lock(mu_);
        closed_ = true;
        break;
      }
      if (msg.has_fetch()) {
        // Copies of a retiring worker's results: fetched off the session thread, reported as
        // acquired (or not) with the task events.
        fetchers.emplace_back([this, generation, fetch = std::move(*msg.mutable_fetch())] {
          for (const auto& in : fetch.keys()) {
            int64_t bytes = 0;
            auto chunk = ResolveInput(in, &bytes);
            bool stored = false;
            {
              std::lock_guard<std::mutex> lock(mu_);
              if (generation != generation_ || !session_open_) return;
              if (chunk.ok()) {
                store_.Put(in.key(), *std::move(chunk), /*spill=*/false);
                pending_->events().add_acquired(in.key());
                stored = true;
              } else {
                auto* failed = pending_->events().add_acquire_failed();
                failed->set_key(in.key());
                const absl::string_view m = chunk.status().message();
                failed->set_message(wire::EscapeInvalidUtf8({m.data(), m.size()}));
                failed->set_code(static_cast<int32_t>(chunk.status().code()));
              }
              events_ready_ = true;
              cv_.notify_all();
            }
            if (stored) store_.Spill();  // disk I/O outside the worker's lock
          }
        });
      } else if (msg.has_assign()) {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& p : msg.assign().programs()) {
          auto program = wire::ProgramFromProto(p);
          if (program.ok()) {
            programs_[p.id()] = std::make_shared<const graph::ChunkProgram>(*std::move(program));
          } else {
            bad_programs_[p.id()] = std::string(program.status().message());
          }
        }
        for (auto& t : *msg.mutable_assign()->mutable_tasks()) {
          jobs_.push_back(Job{arena, &t, generation});
        }
        cv_.notify_all();
      } else if (msg.has_release()) {
        for (const auto& key : msg.release().keys()) store_.Erase(key);
      } else if (msg.has_steal()) {
        // Paused: the tasks not started yet go back to the scheduler, which places them on a
        // worker that is not. A task already running is not in jobs_ and finishes here.
        std::lock_guard<std::mutex> lock(mu_);
        const std::unordered_set<std::string> wanted(msg.steal().keys().begin(),
                                                     msg.steal().keys().end());
        std::deque<Job> kept;
        for (Job& job : jobs_) {
          if (job.generation == generation && wanted.count(job.task->key()) != 0) {
            pending_->events().add_stolen(job.task->key());
          } else {
            kept.push_back(std::move(job));
          }
        }
        if (kept.size() != jobs_.size()) {
          TESSERA_LOG(kInfo, "gave back ", jobs_.size() - kept.size(),
                      " queued tasks to the scheduler (paused)");
          jobs_ = std::move(kept);
          events_ready_ = true;
          cv_.notify_all();
        }
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      session_open_ = false;
      jobs_.clear();  // assignments of a dead session are void
      pending_->Reset();
    }
    cv_.notify_all();
    writer.join();
    for (auto& f : fetchers) f.join();
  }

  // ---------------------------------------------------------------- tasks

  void PoolLoop(int lane) {
    while (true) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        // A paused worker finishes what runs but starts nothing new, save the one task that the
        // memory monitor lets through when the pause could otherwise never end (see MemoryLoop).
        cv_.wait(lock, [&] { return stopping_ || (!jobs_.empty() && (!paused_ || trickle_)); });
        trickle_ = false;
        if (stopping_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      ++executing_;
      const auto start = Clock::now();
      const double start_time =
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      int64_t fetched_bytes = 0;
      auto result = RunTask(*job.task, &fetched_bytes);
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      --executing_;
      bool stored = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (job.generation != generation_ || !session_open_) continue;
        stored = ReportLocked(lane, job, std::move(result), seconds, start_time, fetched_bytes);
      }
      // Spilling writes to disk: not while holding mu_, which the session and pool threads share.
      if (stored) store_.Spill();
    }
  }

  // Queues the task's event and stores a large result (without spilling: see PoolLoop). Returns
  // whether a result was stored.
  bool ReportLocked(int lane, Job& job, absl::StatusOr<ChunkBuffer> result, double seconds,
                    double start_time, int64_t fetched_bytes) {
    bool stored = false;
    if (result.ok()) {
      auto* done = pending_->events().add_done();
      done->set_key(std::move(*job.task->mutable_key()));  // the job is done with
      done->set_handle(job.task->handle());
      done->set_nbytes(result->nbytes());
      done->set_dtype(wire::DTypeToProto(result->dtype));
      for (int64_t e : result->shape) done->add_shape(e);
      done->set_seconds(seconds);
      done->set_start_time(start_time);
      done->set_thread(lane);
      done->set_fetched_bytes(fetched_bytes);
      if (result->nbytes() <= options_.inline_limit) {
        done->set_has_inline(true);
        wire::ChunkToProto(*result, done->mutable_inline_data());
      } else {
        store_.Put(done->key(), std::make_shared<const ChunkBuffer>(*std::move(result)),
                   /*spill=*/false);
        stored = true;
      }
    } else {
      auto* failed = pending_->events().add_failed();
      failed->set_key(job.task->key());
      // A proto string: bytes that are not UTF-8 (a function's message quoting its arguments)
      // would make the scheduler refuse this session's whole message and drop the worker.
      const absl::string_view m = result.status().message();
      failed->set_message(wire::EscapeInvalidUtf8({m.data(), m.size()}));
      failed->set_code(static_cast<int32_t>(result.status().code()));
      TESSERA_LOG(kWarning, "task ", job.task->key(), " failed: ", failed->message());
    }
    // Report at once when this worker is about to run dry (the scheduler is waiting to send
    // more) or when a large batch is pending; otherwise the writer flushes every 2 ms, so a
    // stream of short tasks costs one message per batch, not one per task.
    if (jobs_.empty() ||
        pending_->events().done_size() + pending_->events().failed_size() >= 256) {
      events_ready_ = true;
      cv_.notify_all();
    }
    return stored;
  }

  // ---------------------------------------------------------------- memory

  // Every 50 ms: when the process's resident memory is above the pause mark, spill results until
  // it is back under the target (Dask's memory monitor), and pause while it stays above the mark.
  void MemoryLoop() {
    const double limit = static_cast<double>(options_.memory_limit);
    const auto pause_mark = static_cast<int64_t>(options_.memory_pause * limit);
    const auto target_mark = static_cast<int64_t>(options_.memory_target * limit);
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stopping_; })) {
      lock.unlock();
      int64_t rss = ResidentBytes();
      if (rss > pause_mark) {
        TrimHeap();
        rss = ResidentBytes();
      }
      if (rss > pause_mark && store_.SpillBytes(rss - target_mark) > 0) {
        TrimHeap();
        rss = ResidentBytes();
      }
      const bool pause = rss > pause_mark;
      // Nothing running and nothing left to spill: no memory this worker manages can be freed,
      // so waiting would strand its queued tasks for good (the rest is the allocator's and
      // gRPC's). Let one task start per tick, as Dask's nanny-less workers would otherwise hang.
      const bool stuck = pause && executing_.load() == 0 && store_.bytes() == 0;
      lock.lock();
      if (stuck && !jobs_.empty()) {
        trickle_ = true;
        cv_.notify_all();
      }
      if (pause != paused_) {
        paused_ = pause;
        heartbeat_due_ = true;  // tell the scheduler now, not at the next heartbeat
        TESSERA_LOG(kInfo, pause ? "paused" : "resumed", ": memory ", FormatBytes(rss),
                    " of limit ", FormatBytes(options_.memory_limit), " (pause mark ",
                    FormatBytes(pause_mark), ")");
        cv_.notify_all();
      }
    }
  }

  // `*fetched_bytes` counts the input bytes fetched from other workers.
  absl::StatusOr<ChunkBuffer> RunTask(const v1::Task& proto, int64_t* fetched_bytes) {
    if (proto.kind() == v1::Task::CALL) return RunCall(proto, fetched_bytes);
    TESSERA_ASSIGN_OR_RETURN(graph::TaskSpec spec, wire::TaskFromProto(proto));
    std::shared_ptr<const graph::ChunkProgram> program;
    if (spec.kind == graph::TaskKind::kChunk) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = programs_.find(proto.program_id());
      if (it == programs_.end()) {
        auto bad = bad_programs_.find(proto.program_id());
        return absl::InvalidArgumentError(
            bad != bad_programs_.end()
                ? absl::StrCat("task ", spec.key, ": invalid program: ", bad->second)
                : absl::StrCat("task ", spec.key, ": unknown program ", proto.program_id()));
      }
      program = it->second;
    }
    std::vector<ChunkPtr> deps;
    deps.reserve(proto.inputs_size());
    for (const auto& in : proto.inputs()) {
      TESSERA_ASSIGN_OR_RETURN(ChunkPtr chunk, ResolveInput(in, fetched_bytes));
      deps.push_back(std::move(chunk));
    }
    return executor_->Execute(spec, program.get(), deps);
  }

  // A function call runs on the calling pool thread, whatever the device executor. Straight from
  // the assignment: converting the whole task to a TaskSpec first (its key, group and input keys
  // copied) was an eighth of a worker's CPU on B5's microsecond tasks.
  absl::StatusOr<ChunkBuffer> RunCall(const v1::Task& proto, int64_t* fetched_bytes) {
    TESSERA_ASSIGN_OR_RETURN(std::vector<graph::CallArg> call_args,
                             wire::CallArgsFromProto(proto, proto.key()));
    std::vector<call::Value> dep_values;
    dep_values.reserve(static_cast<size_t>(proto.inputs_size()));
    for (const auto& in : proto.inputs()) {
      TESSERA_ASSIGN_OR_RETURN(call::Value v, InputValue(in, fetched_bytes));
      dep_values.push_back(std::move(v));
    }
    std::vector<call::Value> args;
    args.reserve(call_args.size());
    for (const auto& a : call_args) args.push_back(Resolve(a, dep_values));
    TESSERA_ASSIGN_OR_RETURN(call::Value result, functions_->Call(proto.function(), args));
    return call::ToChunk(result);
  }

  // A call's input as a value. One the scheduler holds inline (a small call result: an int or
  // float as a 0-d array, anything else encoded) is read straight from the message, as
  // call::FromChunk would read it, without copying it into a ChunkBuffer first; anything else,
  // and an encoded value that ChunkFromProto would refuse, goes the general way, which names
  // what is wrong.
  absl::StatusOr<call::Value> InputValue(const v1::TaskInput& in, int64_t* fetched_bytes) {
    if (in.has_inline()) {
      const v1::ArrayData& d = in.inline_data();
      const bool well_formed = !d.encoded_value() ||
                               (d.dtype() == wire::DTypeToProto(DType::kBool) &&
                                d.shape_size() == 1 &&
                                d.shape(0) == static_cast<int64_t>(d.data().size()));
      if (well_formed) {
        std::optional<absl::StatusOr<call::Value>> small = call::SmallValueFromChunk(
            static_cast<DType>(d.dtype()), static_cast<size_t>(d.shape_size()), d.data(),
            d.encoded_value());
        if (small.has_value()) return *std::move(small);
      }
    }
    TESSERA_ASSIGN_OR_RETURN(ChunkPtr chunk, ResolveInput(in, fetched_bytes));
    return call::FromChunk(chunk);
  }

  static call::Value Resolve(const graph::CallArg& arg, const std::vector<call::Value>& deps) {
    switch (arg.kind) {
      case graph::CallArg::Kind::kRef:
        return deps[static_cast<size_t>(arg.dep)];  // validated by TaskFromProto
      case graph::CallArg::Kind::kList: {
        std::vector<call::Value> items;
        items.reserve(arg.items.size());
        for (const auto& item : arg.items) items.push_back(Resolve(item, deps));
        return call::Value::List(std::move(items));
      }
      default:
        return arg.literal;
    }
  }

  absl::StatusOr<ChunkPtr> ResolveInput(const v1::TaskInput& in, int64_t* fetched_bytes) {
    if (in.has_inline()) {
      TESSERA_ASSIGN_OR_RETURN(ChunkBuffer chunk, wire::ChunkFromProto(in.inline_data()));
      return std::make_shared<const ChunkBuffer>(std::move(chunk));
    }
    if (ChunkPtr local = store_.Get(in.key())) return local;
    absl::Status last = absl::NotFoundError(absl::StrCat("input ", in.key(), " has no holder"));
    for (const auto& holder : in.holders()) {
      if (holder == address_) continue;
      auto fetched = peers_.Fetch(holder, in.key());
      if (fetched.ok()) {
        *fetched_bytes += fetched->nbytes();
        return std::make_shared<const ChunkBuffer>(*std::move(fetched));
      }
      last = fetched.status();
    }
    return last;
  }

  bool IsStopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }

  void SleepUnlessStopping(double seconds) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)),
                 [&] { return stopping_; });
  }

  WorkerOptions options_;
  std::unique_ptr<TaskExecutor> executor_;
  const FunctionRegistry* functions_ = &FunctionRegistry::Global();
  Store store_;
  DataService data_service_;
  DataClient peers_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::thread session_;
  std::vector<std::thread> pool_;
  std::thread memory_monitor_;
  std::atomic<int64_t> executing_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool stopped_ = false;
  bool retire_requested_ = false;  // SIGTERM: ask the scheduler to move our results first
  bool closed_ = false;            // the scheduler retired this worker
  bool session_open_ = false;
  bool events_ready_ = false;
  bool heartbeat_due_ = false;
  bool paused_ = false;   // memory above the pause mark
  bool trickle_ = false;  // paused, yet one task may start (see MemoryLoop)
  uint64_t generation_ = 0;
  grpc::ClientContext* session_ctx_ = nullptr;
  std::deque<Job> jobs_;
  std::unique_ptr<EventBatch> pending_ = std::make_unique<EventBatch>();
  std::unordered_map<int64_t, std::shared_ptr<const graph::ChunkProgram>> programs_;
  std::unordered_map<int64_t, std::string> bad_programs_;
};

absl::StatusOr<std::unique_ptr<Worker>> Worker::Start(const WorkerOptions& options,
                                                      std::unique_ptr<TaskExecutor> executor) {
  if (options.nthreads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("nthreads ", options.nthreads, " must be >= 1"));
  }
  TESSERA_RETURN_IF_ERROR(CheckMemoryFractions(options.memory_target, options.memory_pause));
  WorkerOptions resolved = options;
  if (resolved.spill_directory.empty() && resolved.memory_limit > 0) {
    TESSERA_ASSIGN_OR_RETURN(resolved.spill_directory, MakeSpillDirectory(""));
  }
  auto worker = std::unique_ptr<Worker>(new Worker());
  worker->impl_ = std::make_unique<Impl>(std::move(resolved), std::move(executor));
  TESSERA_RETURN_IF_ERROR(worker->impl_->Start());
  return worker;
}

Worker::~Worker() {
  if (impl_ != nullptr) impl_->Shutdown();
}
std::string Worker::address() const { return impl_->address(); }
void Worker::Shutdown() { impl_->Shutdown(); }
void Worker::Wait() { impl_->Wait(); }
bool Worker::Retire(std::chrono::milliseconds timeout) { return impl_->Retire(timeout); }
bool Worker::closed_by_scheduler() const { return impl_->closed_by_scheduler(); }

}  // namespace tessera::worker
