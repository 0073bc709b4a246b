// tessera::ProgressBar (tessera.h): a text progress bar for compute()'s progress callback.
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "tessera/tessera.h"

namespace tessera {

using Clock = std::chrono::steady_clock;

ProgressBar::ProgressBar(std::FILE* out, double minimum_seconds)
    : out_(out != nullptr ? out : stderr), tty_(isatty(fileno(out_)) == 1) {
  double minimum = 1;
  if (minimum_seconds >= 0) {
    minimum = minimum_seconds;
  } else if (const char* env = std::getenv("TESSERA_PROGRESS_MINIMUM")) {
    char* end = nullptr;
    const double v = std::strtod(env, &end);
    if (end != env && *end == '\0' && v >= 0 && v < 1e6) minimum = v;
  }
  minimum_ = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(minimum));
  start_ = Clock::now();
}

ProgressCallback ProgressBar::callback() {
  start_ = Clock::now();
  last_draw_ = {};
  drawn_ = false;
  return [this](int64_t done, int64_t total) { update(done, total); };
}

void ProgressBar::update(int64_t done, int64_t total) {
  if (!enabled_ || total <= 0) return;
  const Clock::time_point now = Clock::now();
  if (now - start_ < minimum_) return;
  const auto every = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (now - last_draw_ < every && !(tty_ && done == total)) return;
  last_draw_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const int percent = static_cast<int>(100 * done / total);
  if (!tty_) {
    std::fprintf(out_, "progress: %3d%% | %lld/%lld tasks | %.1fs\n", percent,
                 static_cast<long long>(done), static_cast<long long>(total), seconds);
    std::fflush(out_);
    return;
  }
  drawn_ = true;
  constexpr int kWidth = 40;
  const int filled = static_cast<int>(kWidth * done / total);
  std::fprintf(out_, "\r[%s%s] %3d%% | %lld/%lld tasks | %.1fs",
               std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(kWidth - filled), '-').c_str(), percent,
               static_cast<long long>(done), static_cast<long long>(total), seconds);
  std::fflush(out_);
}

void ProgressBar::finish() {
  if (drawn_) std::fputs("\n", out_);
  drawn_ = false;
}

}  // namespace tessera
