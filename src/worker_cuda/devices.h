// The CUDA devices this process sees, through the CUDA runtime. Plain C++ declarations: callers
// need no CUDA header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::cuda {

/// One visible device (indices honour CUDA_VISIBLE_DEVICES, as the CUDA runtime does).
struct DeviceInfo {
  int index = 0;
  std::string name;              ///< "NVIDIA H200"
  int major = 0, minor = 0;      ///< compute capability
  int64_t total_memory = 0;      ///< bytes
  int64_t free_memory = 0;       ///< bytes, when listed
  int multiprocessors = 0;
  /// "NVIDIA H200 (sm_90, 139.8 GiB)": what scheduler_info and `tessera info` show.
  std::string Describe() const;
};

/// The visible devices. Errors: no driver, no device, or a driver older than the runtime
/// (FAILED_PRECONDITION, with CUDA's own words for it).
absl::StatusOr<std::vector<DeviceInfo>> ListDevices();

/// Parses a memory amount for a device of `total` bytes: a fraction in (0, 1] ("0.8") of total,
/// or bytes with a unit ("24GiB", "512MB"). INVALID_ARGUMENT names the flag and the value.
absl::StatusOr<int64_t> ParseDeviceBytes(const std::string& flag, const std::string& text,
                                         int64_t total);

}  // namespace tessera::cuda
