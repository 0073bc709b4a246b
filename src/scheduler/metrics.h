// Prometheus metrics of the scheduler: a lock-free latency histogram and the text exposition
// format (https://prometheus.io/docs/instrumenting/exposition_formats/) of a Snapshot.
// docs/dashboard.md lists every metric.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/dashboard.h"

namespace tessera::scheduler {

/// A histogram of durations in seconds with fixed buckets. Observe() is lock-free and
/// thread-safe; Read() gives a consistent-enough copy (each bucket is read atomically).
class LatencyHistogram {
 public:
  /// Upper bounds in seconds, from 10 µs to 1 s: scheduler handlers take microseconds when
  /// healthy and milliseconds when the lock is contended.
  static constexpr std::array<double, 12> kBounds = {1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
                                                     1e-3, 2.5e-3, 5e-3, 1e-2, 1e-1,   1.0};
  struct Counts {
    std::array<uint64_t, kBounds.size() + 1> buckets{};  ///< per bucket, last one is +Inf
    uint64_t count = 0;
    double sum = 0;  ///< seconds
  };

  void Observe(double seconds);
  Counts Read() const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
};

/// The /metrics document.
std::string RenderMetrics(const Snapshot& s, const LatencyHistogram::Counts& event_latency);

/// Escapes a label value: backslash, double quote and newline.
std::string EscapeLabel(const std::string& value);

}  // namespace tessera::scheduler
