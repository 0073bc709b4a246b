#include "worker/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace tessera::worker {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kMagic[4] = {'T', 'S', 'P', 'L'};
constexpr uint32_t kVersion = 1;
constexpr int kMaxDims = 64;

// The fixed part of a spill file; the shape (ndim int64s) and the bytes follow.
struct Header {
  char magic[4];
  uint32_t version;
  uint32_t dtype;
  uint32_t encoded_value;
  uint32_t ndim;
  uint32_t reserved;
  int64_t nbytes;
};

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, const void* data, size_t n, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write spill file", path);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

absl::Status ReadAll(int fd, void* data, size_t n, const std::string& path) {
  auto* p = static_cast<uint8_t*>(data);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot read spill file", path);
    }
    if (r == 0) return absl::DataLossError(absl::StrCat("spill file ", path, " is truncated"));
    p += r;
    n -= static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

}  // namespace

namespace detail {

absl::Status WriteChunkFile(const std::string& path, const ChunkBuffer& chunk) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create spill file", path);
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.dtype = static_cast<uint32_t>(chunk.dtype);
  h.encoded_value = chunk.encoded_value ? 1 : 0;
  h.ndim = static_cast<uint32_t>(chunk.shape.size());
  h.nbytes = chunk.nbytes();
  absl::Status status = WriteAll(fd, &h, sizeof h, path);
  if (status.ok() && !chunk.shape.empty()) {
    status = WriteAll(fd, chunk.shape.data(), chunk.shape.size() * sizeof(int64_t), path);
  }
  if (status.ok()) status = WriteAll(fd, chunk.bytes.data(), chunk.bytes.size(), path);
  // close() reports the errors of delayed writes (NFS, quotas).
  if (::close(fd) != 0 && status.ok()) status = Errno("cannot write spill file", path);
  if (!status.ok()) ::unlink(path.c_str());
  return status;
}

absl::StatusOr<ChunkBuffer> ReadChunkFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open spill file", path);
  ChunkBuffer chunk;
  Header h{};
  absl::Status status = ReadAll(fd, &h, sizeof h, path);
  if (status.ok() && (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.version != kVersion ||
                      h.ndim > kMaxDims || h.nbytes < 0)) {
    status = absl::DataLossError(absl::StrCat("spill file ", path, " has a bad header"));
  }
  if (status.ok()) {
    chunk.dtype = static_cast<DType>(h.dtype);
    chunk.encoded_value = h.encoded_value != 0;
    chunk.shape.resize(h.ndim);
    if (h.ndim > 0) status = ReadAll(fd, chunk.shape.data(), h.ndim * sizeof(int64_t), path);
  }
  if (status.ok()) {
    ResizeZeroed(chunk.bytes, static_cast<size_t>(h.nbytes));
    status = ReadAll(fd, chunk.bytes.data(), chunk.bytes.size(), path);
  }
  ::close(fd);
  if (!status.ok()) return status;
  return chunk;
}

}  // namespace detail

Store::Store(StoreOptions options)
    : options_(std::move(options)),
      target_bytes_(options_.directory.empty() || options_.memory_limit <= 0
                        ? -1
                        : static_cast<int64_t>(options_.target *
                                               static_cast<double>(options_.memory_limit))) {}

Store::~Store() { Clear(); }

std::string Store::PathOf(uint64_t id) const {
  return absl::StrCat(options_.directory, "/", id, ".chunk");
}

void Store::RemoveFile(uint64_t id) const {
  if (id != 0 && ::unlink(PathOf(id).c_str()) != 0 && errno != ENOENT) {
    TESSERA_LOG(kWarning, "cannot delete spill file ", PathOf(id), ": ", std::strerror(errno));
  }
}

uint64_t Store::Forget(const std::string& key, Entry& e) {
  if (inuse_keys_.erase(key) != 0) inuse_bytes_ -= e.nbytes;
  if (e.spilled) {
    spilled_bytes_ -= e.nbytes;
    --spilled_count_;
    return e.id;
  }
  memory_bytes_ -= e.nbytes;
  // A chunk being written stays counted in writing_bytes_ until its writer, finding the entry
  // gone, deletes the file and subtracts it.
  if (!e.writing) lru_.erase(e.lru);
  return 0;
}

void Store::Put(const std::string& key, ChunkPtr chunk, bool spill) {
  uint64_t old_file = 0;
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = entries_.try_emplace(key);
    Entry& e = it->second;
    if (!inserted) old_file = Forget(key, e);
    e = Entry{};
    e.id = next_id_++;
    e.nbytes = chunk->nbytes();
    e.chunk = std::move(chunk);
    lru_.push_front(key);
    e.lru = lru_.begin();
    memory_bytes_ += e.nbytes;
  }
  RemoveFile(old_file);
  if (spill) SpillDownTo(target_bytes_);
}

ChunkPtr Store::Get(const std::string& key) {
  // A few rounds: between reading a file without the lock and taking the lock again, another
  // thread may have read the key back and spilled it anew (under a new file name).
  for (int round = 0; round < 3; ++round) {
    uint64_t id = 0;
    ChunkPtr chunk;
    {
      absl::MutexLock lock(&mu_);
      auto it = entries_.find(key);
      if (it == entries_.end()) return nullptr;
      Entry& e = it->second;
      if (!e.spilled) {
        if (!e.writing) lru_.splice(lru_.begin(), lru_, e.lru);
        return e.chunk;
      }
      id = e.id;
      // Spilled while a task still held it: that very buffer comes back, no file read.
      chunk = e.inuse.lock();
      if (chunk != nullptr) Readmit(key, e, chunk);
    }
    if (chunk != nullptr) {
      RemoveFile(id);
      SpillDownTo(target_bytes_);
      return chunk;
    }
    // Read without the lock, so that other keys are served meanwhile.
    auto read = detail::ReadChunkFile(PathOf(id));
    {
      absl::MutexLock lock(&mu_);
      auto it = entries_.find(key);
      if (it == entries_.end()) {  // erased meanwhile
        return read.ok() ? std::make_shared<const ChunkBuffer>(*std::move(read)) : nullptr;
      }
      Entry& e = it->second;
      if (!e.spilled) {  // read back (or replaced) by another thread meanwhile
        if (!e.writing) lru_.splice(lru_.begin(), lru_, e.lru);
        return e.chunk;
      }
      if (e.id != id) continue;  // spilled anew
      if (!read.ok()) {
        TESSERA_LOG(kError, "cannot read back spilled key ", key, ": ", read.status().message());
        return nullptr;
      }
      chunk = std::make_shared<const ChunkBuffer>(*std::move(read));
      Readmit(key, e, chunk);
    }
    RemoveFile(id);
    SpillDownTo(target_bytes_);
    return chunk;
  }
  TESSERA_LOG(kError, "cannot read back spilled key ", key, ": it keeps being spilled anew");
  return nullptr;
}

void Store::Readmit(const std::string& key, Entry& e, ChunkPtr chunk) {
  if (inuse_keys_.erase(key) != 0) inuse_bytes_ -= e.nbytes;
  e.inuse.reset();
  e.spilled = false;
  e.chunk = std::move(chunk);
  spilled_bytes_ -= e.nbytes;
  --spilled_count_;
  memory_bytes_ += e.nbytes;
  lru_.push_front(key);
  e.lru = lru_.begin();
  e.id = next_id_++;  // its old file is deleted; a later spill writes a new one
}

void Store::Erase(const std::string& key) {
  uint64_t file = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    file = Forget(key, it->second);
    entries_.erase(it);
  }
  RemoveFile(file);
}

void Store::Clear() {
  std::vector<uint64_t> files;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, e] : entries_) {
      if (uint64_t f = Forget(key, e)) files.push_back(f);
    }
    entries_.clear();
  }
  for (uint64_t f : files) RemoveFile(f);
}

int64_t Store::SpillBytes(int64_t bytes) {
  if (target_bytes_ < 0 || bytes <= 0) return 0;
  int64_t held;
  {
    absl::MutexLock lock(&mu_);
    SweepInUse();
    held = memory_bytes_ - writing_bytes_ + inuse_bytes_;
  }
  return SpillDownTo(std::max<int64_t>(0, held - bytes));
}

int64_t Store::SpillDownTo(int64_t goal) {
  if (target_bytes_ < 0) return 0;
  int64_t freed = 0;
  while (true) {
    std::string key;
    uint64_t id;
    ChunkPtr chunk;
    {
      absl::MutexLock lock(&mu_);
      SweepInUse();
      // Chunks other threads are writing already count as gone.
      if (memory_bytes_ - writing_bytes_ + inuse_bytes_ <= goal || lru_.empty()) return freed;
      if (Clock::now() < retry_after_) return freed;
      key = lru_.back();
      lru_.pop_back();
      Entry& e = entries_.at(key);
      e.writing = true;
      writing_bytes_ += e.nbytes;
      id = e.id;
      chunk = e.chunk;
    }
    // Written without the lock: other keys stay readable meanwhile, and Get of this one still
    // returns the in-memory chunk.
    const absl::Status status = detail::WriteChunkFile(PathOf(id), *chunk);
    bool delete_file = false;
    {
      absl::MutexLock lock(&mu_);
      writing_bytes_ -= chunk->nbytes();
      auto it = entries_.find(key);
      if (it == entries_.end() || it->second.id != id) {
        delete_file = status.ok();  // erased or replaced meanwhile
      } else if (!status.ok()) {
        Entry& e = it->second;
        e.writing = false;
        lru_.push_back(key);
        e.lru = std::prev(lru_.end());
        // Do not hammer a full or broken disk on every Put; say so now and then.
        const auto now = Clock::now();
        retry_after_ = now + std::chrono::seconds(1);
        if (now >= next_error_log_) {
          TESSERA_LOG(kError, "spilling to ", options_.directory, " failed, keeping ", e.nbytes,
                      " bytes in memory: ", status.message());
          next_error_log_ = now + std::chrono::seconds(10);
        }
        return freed;
      } else {
        Entry& e = it->second;
        e.writing = false;
        e.spilled = true;
        e.chunk.reset();
        memory_bytes_ -= e.nbytes;
        spilled_bytes_ += e.nbytes;
        ++spilled_count_;
        // `chunk` here plus anyone else: the memory is freed only when they let go.
        if (chunk.use_count() > 1) {
          e.inuse = chunk;
          inuse_keys_.insert(key);
          inuse_bytes_ += e.nbytes;
        } else {
          freed += e.nbytes;
        }
      }
    }
    if (delete_file) RemoveFile(id);
  }
}

void Store::SweepInUse() {
  for (auto it = inuse_keys_.begin(); it != inuse_keys_.end();) {
    Entry& e = entries_.at(*it);
    if (e.inuse.expired()) {
      inuse_bytes_ -= e.nbytes;
      e.inuse.reset();
      it = inuse_keys_.erase(it);
    } else {
      ++it;
    }
  }
}

int64_t Store::bytes() {
  absl::MutexLock lock(&mu_);
  SweepInUse();
  return memory_bytes_ + inuse_bytes_;
}

int64_t Store::spilled_bytes() const {
  absl::MutexLock lock(&mu_);
  return spilled_bytes_;
}

int64_t Store::spilled_count() const {
  absl::MutexLock lock(&mu_);
  return spilled_count_;
}

int64_t Store::count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(entries_.size());
}

}  // namespace tessera::worker
