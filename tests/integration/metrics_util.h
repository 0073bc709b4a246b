// Reading the scheduler's /metrics from integration tests (cpp-httplib's client).
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

namespace tessera::testing {

/// A sample without labels of the dashboard's /metrics, e.g. "tessera_tasks_recomputed_total";
/// -1 when it cannot be read. The dashboard publishes a snapshot every 100 ms: this waits for a
/// fresh one first.
inline int64_t ReadMetric(int dashboard_port, const std::string& name) {
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  httplib::Client http("127.0.0.1", dashboard_port);
  auto res = http.Get("/metrics");
  if (!res || res->status != 200) return -1;
  const std::string needle = std::string("\n").append(name).append(" ");
  const size_t at = res->body.find(needle);
  return at == std::string::npos ? -1 : std::atoll(res->body.c_str() + at + needle.size());
}

}  // namespace tessera::testing
