// The GPU lists of `cuda-worker --device` and `tessera cluster --gpus`: one parser, one set of
// messages, with no CUDA dependency (the CLI learns the device count from
// `cuda-worker --list-devices`).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera {

/// Parses a device list ("0,2"; "all" or "" for every device) against `count` visible devices,
/// numbered 0 to count - 1. INVALID_ARGUMENT names `flag` and the list: an entry that is not an
/// index, an index that is not visible (with the devices there are), or one named twice.
absl::StatusOr<std::vector<int>> ParseDeviceList(const std::string& flag, const std::string& text,
                                                 int count);

}  // namespace tessera
