#include "common/chunk.h"

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace tessera {
namespace {

constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
// Below this a buffer is not worth a system call: it spans at most one whole huge page.
constexpr size_t kAdviseFrom = 2 * kHugePage;

}  // namespace

void AdviseHugePages(void* p, size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p == nullptr || n < kAdviseFrom) return;
  // madvise needs page-aligned bounds: only the whole huge pages inside the buffer.
  const auto begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t last = (begin + n) & ~(kHugePage - 1);
  // Best effort: where it fails the pages are faulted in 4 KiB at a time, as without it.
  if (last > first) (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#else
  (void)p;
  (void)n;
#endif
}

}  // namespace tessera
