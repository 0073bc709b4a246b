// MakeSpillDirectory: a fresh directory per worker, locked for the life of its process, and the
// directories of workers that died without cleaning up (SIGKILL, the OOM killer) purged.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "worker/worker.h"

namespace tessera::worker {
namespace {

namespace fs = std::filesystem;

class SpillDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tessera-spill-dir-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    base_ = tmpl;
  }
  void TearDown() override { fs::remove_all(base_); }

  // A worker directory holding one spill file and a lock file named `lock` ("" for none).
  fs::path Directory(const std::string& name, const std::string& lock) {
    const fs::path dir = base_ / name;
    fs::create_directories(dir);
    std::ofstream(dir / "spilled-1") << "bytes";
    if (!lock.empty()) std::ofstream(dir / lock).flush();
    return dir;
  }

  fs::path base_;
};

TEST_F(SpillDirectoryTest, RemovesOnlyTheDirectoriesOfWorkersThatAreGone) {
  const fs::path stale = Directory("tessera-worker-stale1", ".lock");
  const fs::path starting = Directory("tessera-worker-start1", ".lock-new");
  const fs::path unlocked = Directory("tessera-worker-nolock", "");
  const fs::path unrelated = Directory("unrelated-dir", ".lock");
  const fs::path live = Directory("tessera-worker-live01", ".lock");
  // A running worker holds its lock (flock: another open file description cannot take it).
  const int held = open((live / ".lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX | LOCK_NB), 0);

  auto made = MakeSpillDirectory(base_.string());
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_FALSE(fs::exists(stale)) << "its lock was free";
  EXPECT_TRUE(fs::exists(starting / "spilled-1")) << "a worker is taking its lock";
  EXPECT_TRUE(fs::exists(unlocked / "spilled-1")) << "no lock file: not provably stale";
  EXPECT_TRUE(fs::exists(unrelated / "spilled-1")) << "not a worker directory";
  EXPECT_TRUE(fs::exists(live / "spilled-1")) << "its worker holds the lock";

  // The new directory is locked by this process for as long as it lives.
  const fs::path mine = *made;
  EXPECT_EQ(mine.parent_path(), base_);
  EXPECT_EQ(mine.filename().string().rfind("tessera-worker-", 0), 0u) << mine;
  const int probe = open((mine / ".lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(probe, 0);
  EXPECT_NE(flock(probe, LOCK_EX | LOCK_NB), 0);
  close(probe);
  EXPECT_FALSE(fs::exists(mine / ".lock-new"));
  // So a later worker's purge keeps it.
  auto second = MakeSpillDirectory(base_.string());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(*second, *made);
  EXPECT_TRUE(fs::exists(mine));
  EXPECT_TRUE(fs::exists(live / "spilled-1"));

  // Once the live worker is gone (its descriptor closed), the next start purges its directory.
  close(held);
  ASSERT_TRUE(MakeSpillDirectory(base_.string()).ok());
  EXPECT_FALSE(fs::exists(live));
}

}  // namespace
}  // namespace tessera::worker
