#include "common/chunk.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tessera {
namespace {

// The VmFlags of the mapping of this process that holds `addr`, from /proc/self/smaps.
std::string VmFlagsAt(uintptr_t addr) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= addr && addr < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}

TEST(ResizeZeroed, GivesZerosAndKeepsABufferLargeEnough) {
  std::vector<uint8_t> v(16, 7);
  ResizeZeroed(v, size_t{8} << 20);
  ASSERT_EQ(v.size(), size_t{8} << 20);
  EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](uint8_t b) { return b == 0; }));

  // A smaller size reuses the buffer, and what it held is zeroed.
  std::fill(v.begin(), v.end(), 9);
  const uint8_t* before = v.data();
  ResizeZeroed(v, size_t{3} << 20);
  EXPECT_EQ(v.data(), before);
  ASSERT_EQ(v.size(), size_t{3} << 20);
  EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](uint8_t b) { return b == 0; }));

  std::vector<double> d = {1.5, 2.5};
  ResizeZeroed(d, 3);
  EXPECT_EQ(d, (std::vector<double>{0, 0, 0}));
  ResizeZeroed(d, 0);
  EXPECT_TRUE(d.empty());
}

TEST(ResizeZeroed, AdvisesTheWholeHugePagesOfALargeBuffer) {
  if (!std::filesystem::exists("/sys/kernel/mm/transparent_hugepage")) {
    GTEST_SKIP() << "this kernel has no transparent huge pages";
  }
  std::vector<double> v;
  ResizeZeroed(v, size_t{3} << 20);  // 24 MiB
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const auto begin = reinterpret_cast<uintptr_t>(v.data());
  const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
  ASSERT_LT(first + kHuge, begin + v.size() * sizeof(double));
  const std::string flags = VmFlagsAt(first);
  ASSERT_FALSE(flags.empty()) << "no mapping holds the buffer";
  EXPECT_NE(flags.find(" hg"), std::string::npos) << flags;

  // A small buffer is left alone (no system call for less than two huge pages).
  std::vector<uint8_t> small;
  ResizeZeroed(small, 4096);
  EXPECT_EQ(small.size(), 4096u);
  AdviseHugePages(nullptr, size_t{64} << 20);  // harmless
}

}  // namespace
}  // namespace tessera
