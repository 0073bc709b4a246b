#include "scheduler/adaptive.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tessera::scheduler {

absl::StatusOr<std::map<std::string, int64_t>> ParseKindCounts(const std::string& flag,
                                                               const std::string& text,
                                                               const std::string& default_kind) {
  std::map<std::string, int64_t> out;
  auto count = [&](const std::string& kind, const std::string& v) -> absl::Status {
    int64_t n = 0;
    if (!absl::SimpleAtoi(v, &n) || n < 0) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " ", text, ": '", v,
                                                     "' is not a count of workers (0 or more)"));
    }
    if (kind != "cpu" && kind != "cuda") {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " ", text, ": unknown worker kind '", kind, "' (cpu or cuda)"));
    }
    out[kind] = n;
    return absl::OkStatus();
  };
  if (text.find('=') == std::string::npos) {
    if (auto s = count(default_kind, text); !s.ok()) return s;
    return out;
  }
  for (const std::string& part : std::vector<std::string>(absl::StrSplit(text, ','))) {
    const size_t eq = part.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " ", text, ": '", part, "' is not KIND=COUNT"));
    }
    if (auto s = count(part.substr(0, eq), part.substr(eq + 1)); !s.ok()) return s;
  }
  return out;
}

absl::StatusOr<std::map<std::string, KindBounds>> MakeBounds(
    const std::map<std::string, int64_t>& min, const std::map<std::string, int64_t>& max) {
  std::map<std::string, KindBounds> out;
  for (const auto& [kind, n] : min) out[kind].min = n;
  for (const auto& [kind, n] : max) out[kind].max = n;
  for (const auto& [kind, b] : out) {
    if (b.min > b.max) {
      return absl::InvalidArgumentError(absl::StrCat("--min-workers ", b.min, " is above --max-workers ",
                                                     b.max, " for ", kind, " workers"));
    }
  }
  return out;
}

AdaptivePolicy::AdaptivePolicy(AdaptiveOptions options) : options_(std::move(options)) {}

KindBounds AdaptivePolicy::BoundsOf(const std::string& kind) const {
  auto it = options_.bounds.find(kind);
  return it == options_.bounds.end() ? KindBounds{} : it->second;
}

const std::map<std::string, int64_t>& AdaptivePolicy::Update(const std::vector<KindLoad>& load) {
  // Every kind that is loaded or bounded gets a recommendation.
  std::vector<KindLoad> kinds = load;
  for (const auto& bound : options_.bounds) {
    const std::string& kind = bound.first;
    const bool known = std::any_of(kinds.begin(), kinds.end(),
                                   [&](const KindLoad& k) { return k.kind == kind; });
    if (!known) {
      // It has measured nothing yet: as fast as the fastest kind (SchedulerState's optimism).
      double fastest = 0;
      for (const auto& k : load) {
        if (k.seconds > 0 && (fastest == 0 || k.seconds < fastest)) fastest = k.seconds;
      }
      kinds.push_back(KindLoad{kind, 0, 0, fastest});
    }
  }
  std::stable_sort(kinds.begin(), kinds.end(), [](const KindLoad& a, const KindLoad& b) {
    if (a.seconds != b.seconds) return a.seconds < b.seconds;
    return (a.kind == "cuda") > (b.kind == "cuda");
  });
  raw_.clear();
  double remaining = 1;  // fraction of the work not yet covered by a faster kind
  const double target = std::max(options_.target_seconds, 1e-3);
  for (const KindLoad& k : kinds) {
    const KindBounds b = BoundsOf(k.kind);
    const double per_worker =
        k.workers > 0 ? static_cast<double>(k.threads) / static_cast<double>(k.workers)
                      : static_cast<double>(options_.default_threads);
    const double need = std::ceil(remaining * k.seconds / (target * std::max(per_worker, 1.0)) - 1e-9);
    const int64_t n = std::clamp<int64_t>(static_cast<int64_t>(std::max(need, 0.0)), b.min, b.max);
    raw_[k.kind] = n;
    if (need > 0) remaining *= 1 - std::min(1.0, static_cast<double>(n) / need);
  }
  for (const auto& [kind, n] : raw_) {
    auto it = desired_.find(kind);
    const int64_t current = it == desired_.end() ? -1 : it->second;
    double seconds = 0;
    for (const auto& k : kinds) {
      if (k.kind == kind) seconds = k.seconds;
    }
    if (n > current || current < 0) {
      lower_for_[kind] = 0;
      if (current >= 0 || n > 0) {
        events_.push_back(ScaleEvent{kind, std::max<int64_t>(current, 0), n, seconds});
        ++events_total_;
      }
      desired_[kind] = n;
    } else if (n < current) {
      if (++lower_for_[kind] >= options_.wait_count) {
        lower_for_[kind] = 0;
        events_.push_back(ScaleEvent{kind, current, n, seconds});
        ++events_total_;
        desired_[kind] = n;
      }
    } else {
      lower_for_[kind] = 0;
    }
  }
  return desired_;
}

std::vector<ScaleEvent> AdaptivePolicy::TakeEvents() {
  std::vector<ScaleEvent> out;
  out.swap(events_);
  return out;
}

}  // namespace tessera::scheduler
