// The adaptive-scaling policy (Dask's `adapt`): how many workers of each kind would finish the
// work the scheduler has right now within a target duration, bounded per kind, with hysteresis.
//
// Plain C++ with no clock: the service calls Update() once per interval with the load
// SchedulerState::Workload() reports, and publishes the recommendation (scheduler_info, the JSON
// API, /metrics); a launcher (`tessera cluster`) or an outside autoscaler acts on it.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::scheduler {

/// The unfinished work as one worker kind would see it.
struct KindLoad {
  std::string kind;      ///< "cpu", "cuda"
  int64_t workers = 0;   ///< connected and not retiring
  int64_t threads = 0;   ///< their threads, in total
  double seconds = 0;    ///< estimated compute seconds of the unfinished tasks on this kind
};

struct KindBounds {
  int64_t min = 0;
  int64_t max = std::numeric_limits<int64_t>::max();
};

struct AdaptiveOptions {
  /// Workers enough to finish the current work in this many seconds (Dask's adapt: 5 s).
  double target_seconds = 5;
  /// Per kind; a kind not listed is bounded by [0, unbounded).
  std::map<std::string, KindBounds> bounds;
  /// A lower recommendation must hold for this many consecutive updates before it is adopted
  /// (scaling up is immediate), so that a pause between two bursts does not retire workers.
  int wait_count = 3;
  /// Threads assumed per worker of a kind that has none connected.
  int64_t default_threads = 1;
};

/// Parses a bound flag: "N" (the kind `default_kind`) or "kind=N[,kind=N...]". Errors name the
/// flag and the bad part.
absl::StatusOr<std::map<std::string, int64_t>> ParseKindCounts(const std::string& flag,
                                                               const std::string& text,
                                                               const std::string& default_kind);
/// Combines --min-workers and --max-workers into bounds; INVALID_ARGUMENT when a minimum is
/// above its maximum.
absl::StatusOr<std::map<std::string, KindBounds>> MakeBounds(
    const std::map<std::string, int64_t>& min, const std::map<std::string, int64_t>& max);

/// A change of the recommendation, for the log and /metrics.
struct ScaleEvent {
  std::string kind;
  int64_t from = 0;
  int64_t to = 0;
  double seconds_of_work = 0;  ///< on that kind, when it changed
};

class AdaptivePolicy {
 public:
  explicit AdaptivePolicy(AdaptiveOptions options = {});

  /// One evaluation. Kinds are filled fastest first (least estimated seconds; "cuda" before
  /// "cpu" on a tie): each covers what it can of the remaining work within its bounds, and the
  /// next kind the rest. Returns the recommendation after hysteresis, by kind.
  const std::map<std::string, int64_t>& Update(const std::vector<KindLoad>& load);
  const std::map<std::string, int64_t>& desired() const { return desired_; }
  /// The recommendation before hysteresis, from the last Update (for observers).
  const std::map<std::string, int64_t>& raw() const { return raw_; }
  std::vector<ScaleEvent> TakeEvents();
  int64_t events_total() const { return events_total_; }
  const AdaptiveOptions& options() const { return options_; }

 private:
  KindBounds BoundsOf(const std::string& kind) const;

  AdaptiveOptions options_;
  std::map<std::string, int64_t> desired_, raw_;
  std::map<std::string, int> lower_for_;  ///< consecutive updates below desired_
  std::vector<ScaleEvent> events_;
  int64_t events_total_ = 0;
};

}  // namespace tessera::scheduler
