#include "common/device_list.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tessera {

absl::StatusOr<std::vector<int>> ParseDeviceList(const std::string& flag, const std::string& text,
                                                 int count) {
  std::vector<int> out;
  if (text.empty() || text == "all") {
    for (int i = 0; i < count; ++i) out.push_back(i);
    return out;
  }
  for (const std::string& part : std::vector<std::string>(absl::StrSplit(text, ','))) {
    int v = -1;
    if (!absl::SimpleAtoi(part, &v) || v < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " ", text, ": '", part, "' is not a device index (or use all)"));
    }
    if (v >= count) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, " ", text, ": device ", v, " is not visible (this machine shows ", count,
          " CUDA device", count == 1 ? "" : "s",
          count == 0   ? ""
          : count == 1 ? ": 0"
                       : absl::StrCat(": 0-", count - 1),
          ")"));
    }
    if (std::find(out.begin(), out.end(), v) != out.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " ", text, ": device ", v, " is named twice"));
    }
    out.push_back(v);
  }
  return out;
}

}  // namespace tessera
