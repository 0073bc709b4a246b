// The device lists of `cuda-worker --device` and `tessera cluster --gpus`.
#include "common/device_list.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tessera {
namespace {

TEST(DeviceList, AllOrEmptyIsEveryVisibleDevice) {
  EXPECT_EQ(*ParseDeviceList("--device", "", 2), (std::vector<int>{0, 1}));
  EXPECT_EQ(*ParseDeviceList("--device", "all", 3), (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(ParseDeviceList("--gpus", "all", 0)->empty());
}

TEST(DeviceList, KeepsTheOrderGiven) {
  EXPECT_EQ(*ParseDeviceList("--device", "1,0", 2), (std::vector<int>{1, 0}));
  EXPECT_EQ(*ParseDeviceList("--gpus", "2", 4), (std::vector<int>{2}));
}

TEST(DeviceList, ErrorsNameTheFlagTheListAndTheDevicesThereAre) {
  auto message = [](const std::string& flag, const std::string& text, int count) {
    auto r = ParseDeviceList(flag, text, count);
    EXPECT_FALSE(r.ok()) << flag << " " << text;
    return std::string(r.status().message());
  };
  EXPECT_EQ(message("--device", "7", 1),
            "--device 7: device 7 is not visible (this machine shows 1 CUDA device: 0)");
  EXPECT_EQ(message("--gpus", "0,4", 4),
            "--gpus 0,4: device 4 is not visible (this machine shows 4 CUDA devices: 0-3)");
  EXPECT_EQ(message("--gpus", "0", 0),
            "--gpus 0: device 0 is not visible (this machine shows 0 CUDA devices)");
  EXPECT_EQ(message("--device", "0,0", 2), "--device 0,0: device 0 is named twice");
  EXPECT_EQ(message("--device", "gpu1", 2),
            "--device gpu1: 'gpu1' is not a device index (or use all)");
  EXPECT_EQ(message("--device", "-1", 2), "--device -1: '-1' is not a device index (or use all)");
  EXPECT_EQ(message("--device", "1,", 2), "--device 1,: '' is not a device index (or use all)");
}

}  // namespace
}  // namespace tessera
