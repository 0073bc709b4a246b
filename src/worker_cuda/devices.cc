#include "worker_cuda/devices.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/shape.h"

namespace tessera::cuda {

std::string DeviceInfo::Describe() const {
  char memory[32];
  std::snprintf(memory, sizeof(memory), "%.1f GiB",
                static_cast<double>(total_memory) / (1024.0 * 1024.0 * 1024.0));
  return absl::StrCat(name, " (sm_", major, minor, ", ", memory, ")");
}

absl::StatusOr<std::vector<DeviceInfo>> ListDevices() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorInsufficientDriver && dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD) == nullptr &&
      dlopen("libcuda.so.1", RTLD_LAZY) == nullptr) {
    // The runtime says "driver version is insufficient" when there is no driver at all.
    return absl::FailedPreconditionError(
        "no usable CUDA device: the NVIDIA driver is not installed (libcuda.so.1 not found)");
  }
  if (err != cudaSuccess) {
    return absl::FailedPreconditionError(
        absl::StrCat("no usable CUDA device: ", cudaGetErrorString(err), " (", cudaGetErrorName(err),
                     ")"));
  }
  if (count == 0) return absl::FailedPreconditionError("no CUDA device is visible");
  std::vector<DeviceInfo> out;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    const cudaError_t e = cudaGetDeviceProperties(&prop, i);
    if (e != cudaSuccess) {
      return absl::FailedPreconditionError(
          absl::StrCat("CUDA device ", i, ": ", cudaGetErrorString(e)));
    }
    DeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.major = prop.major;
    d.minor = prop.minor;
    d.total_memory = static_cast<int64_t>(prop.totalGlobalMem);
    d.multiprocessors = prop.multiProcessorCount;
    out.push_back(std::move(d));
  }
  return out;
}

absl::StatusOr<int64_t> ParseDeviceBytes(const std::string& flag, const std::string& text,
                                         int64_t total) {
  char* end = nullptr;
  const double fraction = std::strtod(text.c_str(), &end);
  if (end != nullptr && *end == '\0' && text.find('.') != std::string::npos) {
    if (!(fraction > 0 && fraction <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " ", text, ": a fraction of the device's memory must be in (0, 1]"));
    }
    return static_cast<int64_t>(fraction * static_cast<double>(total));
  }
  auto bytes = ParseBytes(text);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", text, ": ", bytes.status().message()));
  }
  if (*bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", text, " must be positive"));
  }
  return *bytes;
}

}  // namespace tessera::cuda
