// The /status page in a real browser: headless Chromium loads it from a real scheduler while a
// computation runs, and the test checks the DOM the page's JavaScript rendered (the workers
// table lists both workers; a finished task group shows 100 %) and saves a screenshot as a test
// artifact ($TESSERA_ARTIFACT_DIR/dashboard.png).
//
// Exits 77 (CTest's SKIP_RETURN_CODE for this test) when Chromium is not installed: it is an
// optional dependency (Debian's `chromium`).
#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "subprocess.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

// $TESSERA_CHROMIUM, else `chromium` or `chromium-browser` on PATH; "" when none.
std::string FindChromium() {
  if (const char* env = std::getenv("TESSERA_CHROMIUM")) return env;
  for (const char* name : {"chromium", "chromium-browser"}) {
    const std::string probe = std::string("command -v ") + name + " > /dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return name;
  }
  return "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs headless Chromium on `url` with `mode` (--dump-dom or --screenshot=PATH); stdout goes to
// `out`. Three seconds of virtual time: the page polls every 500 ms.
int Chromium(const std::string& mode, const std::string& url, const std::string& out,
             const std::string& profile) {
  const std::string cmd = "timeout 90 " + FindChromium() +
                          " --headless --no-sandbox --disable-gpu --disable-background-networking"
                          " --disable-component-update --no-first-run --user-data-dir=" +
                          profile + " --window-size=1280,900 --virtual-time-budget=3000 " + mode +
                          " '" + url + "' > '" + out + "' 2> '" + out + ".stderr'";
  return std::system(cmd.c_str());
}

TEST(BrowserTest, StatusPageShowsWorkersAndProgress) {
  testing::LocalProcessCluster cluster(2, 1, /*dashboard=*/true);
  ASSERT_TRUE(cluster.ok()) << cluster.scheduler().stderr_text();
  httplib::Client http("127.0.0.1", cluster.dashboard_port());
  for (int i = 0; i < 100; ++i) {  // the first snapshot with both workers (100 ms at most)
    auto res = http.Get("/api/v1/info");
    if (res && res->status == 200 && nlohmann::json::parse(res->body)["workers"] == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Client client = Client::connect(cluster.address());
  // A finished computation (its groups at 100 %), then one that runs while the page loads.
  EXPECT_NEAR(client.compute(random::random({2000, 2000}, {.chunks = 250, .seed = 1}).mean())
                  .get()
                  .scalar<double>(),
              0.5, 0.01);
  std::thread running([&] {
    auto x = random::random({12000, 12000}, {.chunks = 500, .seed = 2});
    EXPECT_NEAR(client.compute((x + x.T()).mean()).get().scalar<double>(), 1.0, 0.01);
  });

  const char* artifacts_env = std::getenv("TESSERA_ARTIFACT_DIR");
  const std::string artifacts = artifacts_env != nullptr ? artifacts_env : "test-artifacts";
  std::system(("mkdir -p '" + artifacts + "'").c_str());
  const std::string url =
      "http://127.0.0.1:" + std::to_string(cluster.dashboard_port()) + "/status";
  const std::string profile = artifacts + "/chromium-profile";
  const std::string dom_path = artifacts + "/dashboard-dom.html";
  const std::string png_path = artifacts + "/dashboard.png";
  std::remove(png_path.c_str());
  const int dom_rc = Chromium("--dump-dom", url, dom_path, profile);
  const int png_rc =
      Chromium("--screenshot=" + png_path, url, artifacts + "/screenshot.log", profile);
  running.join();

  ASSERT_EQ(dom_rc, 0) << ReadFile(dom_path + ".stderr");
  const std::string dom = ReadFile(dom_path);
  // The workers table, rendered by the page's script from /api/v1/workers.
  EXPECT_NE(dom.find("<tr data-worker=\"w0\">"), std::string::npos) << dom;
  EXPECT_NE(dom.find("<tr data-worker=\"w1\">"), std::string::npos) << dom;
  EXPECT_NE(dom.find("id=\"t-workers\">2<"), std::string::npos) << dom;
  // The first computation's groups are done.
  EXPECT_NE(dom.find("data-percent=\"100\""), std::string::npos) << dom;
  EXPECT_NE(dom.find("100% · 64/64"), std::string::npos) << dom;  // its 8 x 8 partial means
  EXPECT_NE(dom.find("<span id=\"conn\" class=\"muted\">live"), std::string::npos) << dom;

  ASSERT_EQ(png_rc, 0) << ReadFile(artifacts + "/screenshot.log.stderr");
  const std::string png = ReadFile(png_path);
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (tessera::FindChromium().empty()) {
    std::printf("chromium not found (Debian: apt-get install chromium): skipped\n");
    return 77;
  }
  return RUN_ALL_TESTS();
}
