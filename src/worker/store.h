// The results a worker holds, in memory or spilled to its local directory (Dask's SpillBuffer).
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/chunk.h"

namespace tessera::worker {

struct StoreOptions {
  /// Where spilled chunks go, one file each. "" never spills.
  std::string directory;
  /// Bytes; 0 means no limit and no spilling.
  int64_t memory_limit = 0;
  /// Spill least-recently-used chunks while the bytes held in memory exceed target * memory_limit
  /// (Dask's distributed.worker.memory.target).
  double target = 0.6;
};

/// A key -> chunk map that keeps at most `target * memory_limit` bytes in memory: beyond that the
/// least recently used chunks are written to files in `directory` and read back, transparently,
/// by Get. Thread-safe; disk I/O runs without the store's lock held, so a Get of one key is not
/// held up by a spill of another.
///
/// Accounting is of what is actually freed: a chunk that is spilled while someone else still
/// holds its ChunkPtr (a running task, a GetData stream) keeps counting in bytes() until that
/// holder lets go, and a Get meanwhile returns the same buffer without reading the file.
///
/// A spill that fails (directory gone, disk full) is logged, the chunk stays in memory, and
/// spilling is not tried again for a second; the store never fails a Put for it.
class Store {
 public:
  explicit Store(StoreOptions options = {});
  /// Deletes the store's files.
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Adds or replaces `key` as the most recently used chunk, then spills down to the target
  /// unless `spill` is false (a caller holding its own lock calls Spill() after releasing it).
  void Put(const std::string& key, ChunkPtr chunk, bool spill = true);
  /// Spills least-recently-used chunks until the bytes in memory are at most the target.
  void Spill() { SpillDownTo(target_bytes_); }
  /// The chunk of `key`, read back from disk if it was spilled (it then counts as most recently
  /// used and others may be spilled to make room); nullptr when the key is not held or its file
  /// cannot be read (logged).
  ChunkPtr Get(const std::string& key);
  /// Forgets `key`, deleting its file if spilled.
  void Erase(const std::string& key);
  /// Forgets every key and deletes every file.
  void Clear();

  /// Spills least-recently-used chunks until at least `bytes` bytes of memory are freed or none
  /// is left to spill (chunks in use elsewhere are written but free nothing yet). Returns the
  /// bytes freed. For the worker's memory monitor, when the process is above its pause mark.
  int64_t SpillBytes(int64_t bytes);

  /// Bytes of the chunks held in memory (including spilled ones still in use elsewhere).
  int64_t bytes();
  /// Bytes and number of the chunks on disk.
  int64_t spilled_bytes() const;
  int64_t spilled_count() const;
  /// Keys held, in memory or on disk.
  int64_t count() const;
  /// target * memory_limit, or -1 when the store never spills.
  int64_t target_bytes() const { return target_bytes_; }
  const std::string& directory() const { return options_.directory; }

 private:
  struct Entry {
    uint64_t id = 0;  ///< names the file: <directory>/<id>.chunk
    int64_t nbytes = 0;
    ChunkPtr chunk;                          ///< set while in memory
    std::weak_ptr<const ChunkBuffer> inuse;  ///< spilled while someone held it
    bool spilled = false;
    bool writing = false;                  ///< being written; out of the LRU list meanwhile
    std::list<std::string>::iterator lru;  ///< valid while in memory and not writing
  };

  std::string PathOf(uint64_t id) const;
  // Spills until the bytes held in memory are at most `goal` or nothing is left to spill.
  // Returns the bytes freed.
  int64_t SpillDownTo(int64_t goal);
  // Drops the in-use marks of spilled chunks whose last holder let go.
  void SweepInUse() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes `e` out of the accounting (it is being erased or replaced); returns the id of its file
  // to delete, or 0.
  uint64_t Forget(const std::string& key, Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveFile(uint64_t id) const;
  // Back in memory as the most recently used chunk.
  void Readmit(const std::string& key, Entry& e, ChunkPtr chunk) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const StoreOptions options_;
  const int64_t target_bytes_;

  mutable absl::Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  ///< in-memory keys, most recent first
  std::unordered_set<std::string> inuse_keys_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t memory_bytes_ ABSL_GUARDED_BY(mu_) = 0;   ///< in-memory entries, writing included
  int64_t writing_bytes_ ABSL_GUARDED_BY(mu_) = 0;  ///< of those, being written now
  int64_t inuse_bytes_ ABSL_GUARDED_BY(mu_) = 0;    ///< spilled but still held elsewhere
  int64_t spilled_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t spilled_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::chrono::steady_clock::time_point retry_after_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point next_error_log_ ABSL_GUARDED_BY(mu_);
};

namespace detail {
/// The spill file format: a header (magic, version, dtype, encoded_value, shape, byte count)
/// then the raw bytes. Errors name the path and the failing operation.
absl::Status WriteChunkFile(const std::string& path, const ChunkBuffer& chunk);
absl::StatusOr<ChunkBuffer> ReadChunkFile(const std::string& path);
}  // namespace detail

}  // namespace tessera::worker
