// tessera-bench end to end: a quick run on its embedded cluster writes checked JSON records, and
// bad flags are refused with exit status 2 and a message that names the bad value.
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/subprocess.h"

namespace tessera::testing {
namespace {

TEST(TesseraBench, QuickRunWritesCheckedRecords) {
  const RunResult r = testing::Run("tessera-bench",
                                   {"--quick", "--repeat", "3", "--workload", "B2,B4,B5", "--size",
                                    "B2=20000,B4=100000,B5=2000"},
                                   {}, std::chrono::seconds(60));
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::map<std::string, int> per_workload;
  while (std::getline(lines, line)) {
    const nlohmann::json record = nlohmann::json::parse(line);  // throws on a bad line
    EXPECT_EQ(record["engine"], "tessera") << line;
    EXPECT_EQ(record["ok"], true) << line;
    EXPECT_EQ(record["seconds"]["runs"].size(), 3u) << line;
    EXPECT_LE(record["seconds"]["min"].get<double>(), record["seconds"]["median"].get<double>());
    EXPECT_LE(record["seconds"]["median"].get<double>(), record["seconds"]["max"].get<double>());
    EXPECT_GT(record["rate"]["value"].get<double>(), 0) << line;
    EXPECT_EQ(record["workers"]["cpu"], 2) << line;
    EXPECT_FALSE(record["cpu_model"].get<std::string>().empty());
    const std::string workload = record["workload"];
    if (workload == "B2") {
      EXPECT_EQ(record["result"].get<double>(), 4e8);
    }
    if (workload == "B5" && record["configuration"] == "tree n=2000") {
      EXPECT_EQ(record["result"].get<int64_t>(), 2000 * 2001 / 2);
    }
    ++per_workload[workload];
  }
  EXPECT_EQ(per_workload["B2"], 1);
  EXPECT_EQ(per_workload["B4"], 3);  // chunks 1e3, 1e4 and 1e5 of 1e5 elements
  EXPECT_EQ(per_workload["B5"], 2);  // noop and tree
  EXPECT_EQ(per_workload.size(), 3u);
}

TEST(TesseraBench, BadFlagsExitTwoNamingTheValue) {
  for (const auto& [args, named] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--workload", "B9"}, "B9"},
           {{"--repeat", "2"}, "2"},
           {{"--size", "B4=lots"}, "lots"},
           {{"--size", "B8=10"}, "B8"},
           {{"--chunks=-5"}, "-5"},
           {{"--no-such-flag"}, "--no-such-flag"}}) {
    const RunResult r = testing::Run("tessera-bench", args, {}, std::chrono::seconds(20));
    EXPECT_EQ(r.code, 2) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(named), std::string::npos) << args[0] << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

}  // namespace
}  // namespace tessera::testing
