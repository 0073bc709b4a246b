// The .npy writer behind `tessera eval --save`: the header bytes are those of NumPy 1.24's
// np.save (checked against its output), so np.load reads the file back exactly.
#include "cli/npy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tessera::cli {
namespace {

// np.save(f, np.arange(6, dtype=np.float64).reshape(2, 3)): 128 header bytes, then 48 of data.
TEST(NpyTest, HeaderOfASmallFloat64MatrixIsNumpys) {
  std::vector<double> values = {0, 1, 2, 3, 4, 5};
  std::vector<uint8_t> bytes(values.size() * sizeof(double));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  const std::string file = NpyBytes(NDArray(DType::kFloat64, {2, 3}, bytes));

  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
  ASSERT_EQ(file.size(), 128u + 48u);
  EXPECT_EQ(file.substr(0, 6), "\x93NUMPY");
  EXPECT_EQ(file[6], '\x01');  // format version 1.0
  EXPECT_EQ(file[7], '\x00');
  EXPECT_EQ(static_cast<uint8_t>(file[8]), 118);  // header length 118 (0x0076), little-endian
  EXPECT_EQ(static_cast<uint8_t>(file[9]), 0);
  EXPECT_EQ(file.substr(10, dict.size()), dict);
  // Spaces (NumPy's room to grow the first axis, then the alignment) up to a '\n' at byte 127.
  EXPECT_EQ(file.substr(10 + dict.size(), 128 - 1 - 10 - dict.size()),
            std::string(128 - 1 - 10 - dict.size(), ' '));
  EXPECT_EQ(file[127], '\n');
  EXPECT_EQ(std::memcmp(file.data() + 128, bytes.data(), bytes.size()), 0);
}

TEST(NpyTest, DescrAndShapeOfEachDType) {
  EXPECT_EQ(NpyDescr(DType::kFloat64), "<f8");
  EXPECT_EQ(NpyDescr(DType::kFloat32), "<f4");
  EXPECT_EQ(NpyDescr(DType::kInt64), "<i8");
  EXPECT_EQ(NpyDescr(DType::kInt32), "<i4");
  EXPECT_EQ(NpyDescr(DType::kBool), "|b1");
  // 0-d and 1-d shapes are written as Python tuples: () and (n,).
  const std::string scalar = NpyHeader(DType::kFloat64, {});
  EXPECT_NE(scalar.find("'shape': (), }"), std::string::npos) << scalar;
  const std::string vector = NpyHeader(DType::kBool, {2});
  EXPECT_NE(vector.find("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }"),
            std::string::npos)
      << vector;
}

TEST(NpyTest, HeaderIsAlwaysAMultipleOf64Bytes) {
  for (const Shape& shape : std::vector<Shape>{{}, {0}, {7}, {3, 4, 5, 6, 7, 8, 9, 10},
                                               {1234567890123, 1}}) {
    for (DType d : {DType::kFloat64, DType::kFloat32, DType::kInt64, DType::kInt32, DType::kBool}) {
      const std::string h = NpyHeader(d, shape);
      EXPECT_EQ(h.size() % 64, 0u);
      EXPECT_EQ(h.back(), '\n');
      EXPECT_EQ(static_cast<size_t>(static_cast<uint8_t>(h[8]) | static_cast<uint8_t>(h[9]) << 8),
                h.size() - 10);
    }
  }
}

TEST(NpyTest, SaveWritesTheFileAndNamesAnUnwritablePath) {
  const std::string path = ::testing::TempDir() + "npy_test_int32.npy";
  const std::vector<uint8_t> bytes = {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};  // [1, -1]
  SaveNpy(path, NDArray(DType::kInt32, {2}, bytes));
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  EXPECT_EQ(s.str(), NpyBytes(NDArray(DType::kInt32, {2}, bytes)));
  std::remove(path.c_str());

  try {
    SaveNpy("/nonexistent/dir/x.npy", NDArray(DType::kInt32, {2}, bytes));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'/nonexistent/dir/x.npy'"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tessera::cli
