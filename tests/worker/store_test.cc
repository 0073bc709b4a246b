// The worker's store: LRU spilling to a directory, transparent read-back, exact accounting.
#include "worker/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace tessera::worker {
namespace {

namespace fs = std::filesystem;

// A float64 chunk of `n` elements, element i = seed + i.
ChunkPtr Chunk(int64_t n, double seed) {
  auto c = std::make_shared<ChunkBuffer>(ChunkBuffer::Zeros(DType::kFloat64, {n}));
  for (int64_t i = 0; i < n; ++i) c->mutable_data<double>()[i] = seed + static_cast<double>(i);
  return c;
}

int CountFiles(const std::string& dir) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) n += entry.is_regular_file() ? 1 : 0;
  return n;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tessera-store-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Chunk(100, ...) holds 800 bytes; the default target is 2000 bytes.
  StoreOptions Options(int64_t limit = 4000, double target = 0.5) {
    StoreOptions o;
    o.directory = dir_;
    o.memory_limit = limit;
    o.target = target;
    return o;
  }

  std::string dir_;
};

TEST_F(StoreTest, SpillsLeastRecentlyUsedFirstAndCountsExactly) {
  Store store(Options());  // target 2000 bytes: two 800-byte chunks
  store.Put("a", Chunk(100, 0));
  store.Put("b", Chunk(100, 1000));
  EXPECT_EQ(store.bytes(), 1600);
  EXPECT_EQ(store.spilled_bytes(), 0);
  EXPECT_NE(store.Get("a"), nullptr);  // a is now more recent than b
  store.Put("c", Chunk(100, 2000));    // 2400 > 2000: b goes
  EXPECT_EQ(store.bytes(), 1600);
  EXPECT_EQ(store.spilled_bytes(), 800);
  EXPECT_EQ(store.spilled_count(), 1);
  EXPECT_EQ(store.count(), 3);
  EXPECT_EQ(CountFiles(dir_), 1);

  // Reading b back makes it the most recent; the least recent, a, goes instead.
  ChunkPtr b = store.Get("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->data<double>()[7], 1007);
  b.reset();
  EXPECT_EQ(store.bytes(), 1600);
  EXPECT_EQ(store.spilled_bytes(), 800);
  EXPECT_EQ(CountFiles(dir_), 1);
  store.Put("d", Chunk(100, 3000));  // c is least recent now
  EXPECT_EQ(store.spilled_count(), 2);
  EXPECT_EQ(store.Get("a")->data<double>()[99], 99);
  EXPECT_EQ(store.Get("c")->data<double>()[0], 2000);
  EXPECT_EQ(store.spilled_bytes() + store.bytes(), 4 * 800);
}

TEST_F(StoreTest, ReadBackIsByteExactWithDTypeShapeAndEncodedValue) {
  Store store(Options(1000, 0.001));  // target 1 byte: everything spills
  ChunkBuffer v;
  v.dtype = DType::kInt32;
  v.shape = {3, 2};
  v.encoded_value = true;
  for (int i = 0; i < 24; ++i) v.bytes.push_back(static_cast<uint8_t>(i * 37 + 1));
  ChunkBuffer scalar = ChunkBuffer::Zeros(DType::kFloat32, {});
  scalar.mutable_data<float>()[0] = -2.5f;
  store.Put("v", std::make_shared<const ChunkBuffer>(v));
  store.Put("s", std::make_shared<const ChunkBuffer>(scalar));
  EXPECT_EQ(store.bytes(), 0);
  EXPECT_EQ(store.spilled_count(), 2);
  EXPECT_EQ(CountFiles(dir_), 2);

  ChunkPtr v2 = store.Get("v");
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->dtype, DType::kInt32);
  EXPECT_EQ(v2->shape, (Shape{3, 2}));
  EXPECT_TRUE(v2->encoded_value);
  EXPECT_EQ(v2->bytes, v.bytes);
  ChunkPtr s2 = store.Get("s");
  ASSERT_NE(s2, nullptr);
  EXPECT_EQ(s2->dtype, DType::kFloat32);
  EXPECT_TRUE(s2->shape.empty());
  EXPECT_FALSE(s2->encoded_value);
  EXPECT_EQ(s2->data<float>()[0], -2.5f);
}

TEST_F(StoreTest, EraseAndClearDeleteFiles) {
  Store store(Options(1000, 0.001));
  store.Put("a", Chunk(10, 0));
  store.Put("b", Chunk(10, 0));
  store.Put("c", Chunk(10, 0));
  EXPECT_EQ(CountFiles(dir_), 3);
  store.Erase("b");
  EXPECT_EQ(CountFiles(dir_), 2);
  EXPECT_EQ(store.Get("b"), nullptr);
  EXPECT_EQ(store.spilled_bytes(), 160);
  EXPECT_EQ(store.spilled_count(), 2);
  store.Put("a", Chunk(20, 0));  // replacing a spilled key drops its file
  EXPECT_EQ(store.Get("a")->num_elements(), 20);
  EXPECT_EQ(CountFiles(dir_), 2);  // c, and the new a spilled again
  store.Clear();
  EXPECT_EQ(CountFiles(dir_), 0);
  EXPECT_EQ(store.count(), 0);
  EXPECT_EQ(store.bytes(), 0);
  EXPECT_EQ(store.spilled_bytes(), 0);
  EXPECT_EQ(store.spilled_count(), 0);
}

TEST_F(StoreTest, AChunkInUseIsWrittenButCountsUntilReleased) {
  Store store(Options());  // target 2000
  ChunkPtr held = Chunk(100, 5);
  store.Put("held", held);  // the caller keeps a reference, as a running task would
  store.Put("b", Chunk(100, 0));
  store.Put("c", Chunk(100, 0));  // 2400: "held", least recent, is written but frees nothing...
  EXPECT_EQ(store.spilled_count(), 2);  // ...so b goes too
  EXPECT_EQ(store.spilled_bytes(), 1600);
  EXPECT_EQ(store.bytes(), 1600);      // c, and "held" while it is in use
  EXPECT_EQ(store.Get("held"), held);  // the very buffer, not a copy read from disk
  EXPECT_EQ(store.spilled_count(), 1);
  EXPECT_EQ(store.bytes(), 1600);
  EXPECT_EQ(CountFiles(dir_), 1);

  // Spilling everything frees c at once and "held" only when its holder lets go.
  EXPECT_EQ(store.SpillBytes(1600), 800);
  EXPECT_EQ(store.bytes(), 800);
  EXPECT_EQ(store.spilled_bytes(), 2400);
  held.reset();
  EXPECT_EQ(store.bytes(), 0);
  EXPECT_EQ(store.Get("held")->data<double>()[1], 6);  // read from its file this time
}

TEST_F(StoreTest, NoLimitOrNoDirectoryNeverSpills) {
  StoreOptions no_limit = Options(0);
  Store a(no_limit);
  StoreOptions no_dir = Options();
  no_dir.directory.clear();
  Store b(no_dir);
  for (int i = 0; i < 20; ++i) {
    a.Put(std::to_string(i), Chunk(100, i));
    b.Put(std::to_string(i), Chunk(100, i));
  }
  EXPECT_EQ(a.bytes(), 16000);
  EXPECT_EQ(b.bytes(), 16000);
  EXPECT_EQ(a.spilled_bytes() + b.spilled_bytes(), 0);
  EXPECT_EQ(CountFiles(dir_), 0);
}

TEST_F(StoreTest, AnUnwritableDirectoryKeepsChunksInMemoryAndLogsAnError) {
  // A path below a regular file cannot be written to, even by root.
  const std::string file = dir_ + "/plain-file";
  { std::ofstream(file) << "x"; }
  StoreOptions o = Options(1000, 0.001);
  o.directory = file + "/spill";
  Store store(o);
  ::testing::internal::CaptureStderr();
  store.Put("a", Chunk(100, 0));
  store.Put("b", Chunk(100, 1));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("spilling to " + o.directory + " failed"), std::string::npos) << log;
  EXPECT_NE(log.find("Not a directory"), std::string::npos) << log;
  EXPECT_EQ(store.bytes(), 1600);
  EXPECT_EQ(store.spilled_bytes(), 0);
  EXPECT_EQ(store.Get("a")->data<double>()[3], 3);
  EXPECT_EQ(store.Get("b")->data<double>()[3], 4);
}

TEST_F(StoreTest, SpillBytesFreesAtLeastWhatIsAsked) {
  Store store(Options(100000, 0.9));
  for (int i = 0; i < 10; ++i) store.Put(std::to_string(i), Chunk(100, i));
  EXPECT_EQ(store.spilled_count(), 0);
  EXPECT_EQ(store.SpillBytes(2000), 2400);  // three whole chunks
  EXPECT_EQ(store.spilled_count(), 3);
  EXPECT_EQ(store.bytes(), 5600);
  EXPECT_EQ(store.Get("0")->data<double>()[0], 0);  // the first ones were least recent
}

}  // namespace
}  // namespace tessera::worker
