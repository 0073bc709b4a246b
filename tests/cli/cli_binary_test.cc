// The `tessera` binary end to end: flags, exit codes, one-line errors, and evaluation on the
// embedded local cluster and on a cluster of real processes.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "integration/subprocess.h"

namespace tessera {
namespace {

// A TMPDIR of this test process's own for the embedded clusters' spill directories. Under the
// shared /tmp, an embedded worker removes the spill directories that other tests' killed workers
// left there, and logs a WARNING line for each on the CLI's stderr, which the tests here compare
// whole ("error: ...\n"): a flake seen under `ctest -j2`.
const std::string& PrivateTmpdir() {
  static const std::string dir = [] {
    std::string pattern = ::testing::TempDir() + "/tessera_cli_test_XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) return std::string();
    return "TMPDIR=" + pattern;
  }();
  return dir;
}

// Runs `tessera` with `args` (and extra environment, which may set its own TMPDIR) to
// completion.
testing::RunResult Tessera(const std::vector<std::string>& args,
                           const std::vector<std::string>& env = {}) {
  std::vector<std::string> with_tmp;
  if (!PrivateTmpdir().empty()) with_tmp.push_back(PrivateTmpdir());
  with_tmp.insert(with_tmp.end(), env.begin(), env.end());
  return testing::Run("tessera", args, with_tmp);
}

TEST(CliBinaryTest, VersionAndHelp) {
  auto version = Tessera({"--version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.out, "tessera 0.1.0\n");
  auto help = Tessera({"--help"});
  EXPECT_EQ(help.code, 0);
  for (const char* word : {"--scheduler", "info", "eval", "run"}) {
    EXPECT_NE(help.out.find(word), std::string::npos) << word;
  }
}

TEST(CliBinaryTest, BadFlagsExitWithTwo) {
  EXPECT_EQ(Tessera({"--no-such-flag", "info"}).code, 2);
  EXPECT_EQ(Tessera({}).code, 2);
  EXPECT_EQ(Tessera({"eval"}).code, 2);
}

TEST(CliBinaryTest, ErrorsAreOneLineWithExitOne) {
  auto syntax = Tessera({"eval", "x = (1 + )"});
  EXPECT_EQ(syntax.code, 1);
  EXPECT_EQ(syntax.err, "error: line 1, column 10: unexpected token ')'\n");
  auto name = Tessera({"eval", "x = 1\nfoo(x)"});
  EXPECT_EQ(name.code, 1);
  EXPECT_EQ(name.err, "error: line 2, column 1: name 'foo' is not defined\n");
  auto file = Tessera({"run", "/nonexistent/program.py"});
  EXPECT_EQ(file.code, 1);
  EXPECT_EQ(file.err.rfind("error: cannot read '/nonexistent/program.py'", 0), 0u) << file.err;
  auto unreachable = Tessera({"info"}, {"TESSERA_SCHEDULER=127.0.0.1:1"});
  EXPECT_EQ(unreachable.code, 1);
  EXPECT_EQ(unreachable.err.rfind("error: ", 0), 0u) << unreachable.err;
  EXPECT_EQ(unreachable.err.find('\n'), unreachable.err.size() - 1) << unreachable.err;
}

TEST(CliBinaryTest, EvalWithoutArraysStartsNoCluster) {
  auto r = Tessera({"eval", "(50000, 50000), 2 ** 0.5"}, {"TESSERA_SCHEDULER=127.0.0.1:1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "((50000, 50000), 1.4142135623730951)\n");
}

TEST(CliBinaryTest, ChunkSizeSetsTheAutoChunkTarget) {
  const std::vector<std::string> no_cluster = {"TESSERA_SCHEDULER=127.0.0.1:1"};
  auto r = Tessera({"eval", "da.ones((200000, 200000)).chunksize"}, no_cluster);
  EXPECT_EQ(r.out, "(4000, 4000)\n") << r.err;  // 128 MiB, as dask
  r = Tessera({"--chunk-size", "8MiB", "eval", "da.ones((200000, 200000)).chunksize"}, no_cluster);
  EXPECT_EQ(r.out, "(1000, 1000)\n") << r.err;
  auto env = no_cluster;
  env.push_back("TESSERA_ARRAY_CHUNK_SIZE=32MiB");
  r = Tessera({"eval", "da.random.random((200000, 200000)).chunksize"}, env);
  EXPECT_EQ(r.out, "(2000, 2000)\n") << r.err;
  r = Tessera({"--chunk-size", "lots", "eval", "1"}, no_cluster);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("'lots'"), std::string::npos) << r.err;
}

TEST(CliBinaryTest, EvalAndRunOnTheEmbeddedCluster) {
  auto r =
      Tessera({"eval", "x = da.ones((2000, 2000), chunks=(500, 500)); (x * x[::-1, ::-1]).sum()"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "4000000.0\n");

  const std::string path = ::testing::TempDir() + "/tessera_cli_program.py";
  {
    std::ofstream program(path);
    program << "import dask.array as da\n"
               "x = da.arange(2000, chunks=300)\n"
               "print('total', x.sum().compute())\n"
               "x\n";
  }
  auto summary = Tessera({"run", path});
  EXPECT_EQ(summary.code, 0) << summary.err;
  EXPECT_EQ(summary.out, "total 1999000\narray([   0,    1,    2, ..., 1997, 1998, 1999])\n");
  auto full = Tessera({"run", "--print-array", path});
  EXPECT_EQ(full.code, 0) << full.err;
  EXPECT_EQ(full.out.find("..."), std::string::npos);
  EXPECT_NE(full.out.find("1998, 1999])"), std::string::npos);
  std::remove(path.c_str());
}

// Looking at a large array (a notebook's `x`) computes only the elements its summary shows:
// the whole of this one would be 8 TB.
TEST(CliBinaryTest, ShowingAHugeArrayComputesOnlyWhatIsShown) {
  auto r = Tessera({"eval", "x = da.arange(10**6)[:, None] * 10**6 + da.arange(10**6); x"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "array([[           0,            1,            2, ...,       999997,\n"
            "              999998,       999999],\n"
            "       [     1000000,      1000001,      1000002, ...,      1999997,\n"
            "             1999998,      1999999],\n"
            "       [     2000000,      2000001,      2000002, ...,      2999997,\n"
            "             2999998,      2999999],\n"
            "       ...,\n"
            "       [999997000000, 999997000001, 999997000002, ..., 999997999997,\n"
            "        999997999998, 999997999999],\n"
            "       [999998000000, 999998000001, 999998000002, ..., 999998999997,\n"
            "        999998999998, 999998999999],\n"
            "       [999999000000, 999999000001, 999999000002, ..., 999999999997,\n"
            "        999999999998, 999999999999]])\n");
  r = Tessera({"eval", "print(da.random.random((50000, 50000), seed=5) > 2)"});
  EXPECT_EQ(r.code, 0) << r.err;
  const std::string row = "[False, False, False, ..., False, False, False]";
  EXPECT_EQ(r.out, "array([" + row + ",\n       " + row + ",\n       " + row +
                       ",\n       ...,\n       " + row + ",\n       " + row + ",\n       " + row +
                       "])\n");
}

TEST(CliBinaryTest, InfoAndEvalOnAClusterOfProcesses) {
  testing::LocalProcessCluster cluster(2, 1);
  ASSERT_TRUE(cluster.ok());
  auto info = Tessera({"--scheduler", cluster.address(), "info"});
  EXPECT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("Workers:   2"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("w0"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("2.00 GiB"), std::string::npos) << info.out;
  std::string env = "TESSERA_SCHEDULER=";
  env += cluster.address();
  auto eval = Tessera({"eval", "da.arange(10, chunks=3).astype('float32')[::-1][:3] * 2"}, {env});
  EXPECT_EQ(eval.code, 0) << eval.err;
  EXPECT_EQ(eval.out, "array([18., 16., 14.], dtype=float32)\n");
}

TEST(CliBinaryTest, InfoAsJsonListsTheWorkersTableFacts) {
  testing::LocalProcessCluster cluster(2, 1, /*dashboard=*/true);
  ASSERT_TRUE(cluster.ok());
  auto info = Tessera({"--scheduler", cluster.address(), "info", "--json"});
  ASSERT_EQ(info.code, 0) << info.err;
  const auto doc = nlohmann::json::parse(info.out);
  EXPECT_EQ(doc["dashboard"],
            "http://127.0.0.1:" + std::to_string(cluster.dashboard_port()) + "/status");
  ASSERT_EQ(doc["workers"].size(), 2u);
  std::set<std::string> names;
  for (const auto& w : doc["workers"]) {
    names.insert(w["name"].get<std::string>());
    EXPECT_EQ(w["kind"], "cpu");
    EXPECT_EQ(w["nthreads"], 1);
    EXPECT_EQ(w["memory_limit"], int64_t{2} << 30);
    for (const char* field :
         {"address", "device", "memory_used", "device_memory_used", "device_memory_limit",
          "spilled_bytes", "spilled_count", "paused", "tasks_executing", "tasks_ready",
          "tasks_processing", "tasks_in_memory", "last_seen_ago"}) {
      EXPECT_TRUE(w.contains(field)) << field;
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"w0", "w1"}));
  // The table names the dashboard too.
  auto table = Tessera({"--scheduler", cluster.address(), "info"});
  EXPECT_NE(table.out.find("Dashboard: http://127.0.0.1:"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("LAST SEEN"), std::string::npos) << table.out;
}

TEST(CliBinaryTest, ProgressLinesOffATerminalAndNoProgress) {
  const std::string expr = "da.ones((400, 400), chunks=100).sum()";
  // With no minimum duration, a computation off a terminal prints a progress line.
  auto shown = Tessera({"eval", expr}, {"TESSERA_PROGRESS_MINIMUM=0"});
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_EQ(shown.out, "160000.0\n");
  EXPECT_NE(shown.err.find("progress: "), std::string::npos) << shown.err;
  EXPECT_NE(shown.err.find(" tasks | "), std::string::npos) << shown.err;
  auto quiet = Tessera({"eval", "--no-progress", expr}, {"TESSERA_PROGRESS_MINIMUM=0"});
  ASSERT_EQ(quiet.code, 0) << quiet.err;
  EXPECT_EQ(quiet.out, "160000.0\n");
  EXPECT_EQ(quiet.err.find("progress: "), std::string::npos) << quiet.err;
}

}  // namespace
TEST(CliBinaryTest, RegisteredFunctionsRunOnTheCluster) {
  auto r = Tessera({"eval", "add(inc(1), dec(2))"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "3\n");
  r = Tessera({"eval", "sum([add(inc(i), dec(inc(i))) for i in range(256)])"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "65536\n");
  r = Tessera({"eval", "xs = [inc(i) for i in range(6) if i % 2 == 0]\nprint(xs)\ninc(2) * 10"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "[1, 3, 5]\n30\n");
  // The language's own add / sum stay NumPy's when no argument is a function call.
  r = Tessera({"eval", "print(add(1, 2))\nsum(da.ones(4))"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "3\n4.0\n");
  r = Tessera({"eval", "inc('a')"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "error: inc expects inc(number) -> number; given (string)\n");
  r = Tessera({"eval", "sum([1, inc('x')])"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "error: inc expects inc(number) -> number; given (string)\n");
}

// A notebook's first lines, unchanged: dask.distributed's Client and LocalCluster start the
// session's local cluster with the shape they ask for, and their methods run on it.
TEST(CliBinaryTest, DaskDistributedClientLinesRun) {
  auto r = Tessera({"eval",
                    "from dask.distributed import Client\n"
                    "client = Client(n_workers=1, threads_per_worker=1, memory_limit='2GB')\n"
                    "print(client)\n"
                    "x = da.random.random((2000, 2000), chunks=500, seed=1)\n"
                    "y = client.persist(x)\n"
                    "print(client.compute(da.allclose((y + y.T).sum(), 2 * y.sum())))\n"
                    "print(client.submit(inc, 1), client.gather(client.map(inc, [1, 2, 3])))\n"
                    "client.close()"});
  EXPECT_EQ(r.code, 0) << r.err;
  const std::string prefix = "<Client: 'tcp://127.0.0.1:";
  ASSERT_EQ(r.out.substr(0, prefix.size()), prefix) << r.out;
  EXPECT_NE(r.out.find("' processes=1 threads=1, memory=1.86 GiB>\nTrue\n2 [2, 3, 4]\n"),
            std::string::npos)
      << r.out;
  r = Tessera({"eval",
               "from dask.distributed import Client, LocalCluster\n"
               "cluster = LocalCluster(n_workers=3)\nclient = Client(cluster)\nclient"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("processes=3 threads=3"), std::string::npos) << r.out;
  // Once the cluster runs, a Client asking for another shape is refused, naming why.
  r = Tessera({"eval", "from dask.distributed import Client\nda.ones(3).sum().compute()\n"
                       "Client(n_workers=4)"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("create the Client before the first computation"), std::string::npos)
      << r.err;
  r = Tessera({"eval", "from dask.distributed import futures_of"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "error: line 1, column 1: cannot import name 'futures_of' from 'dask.distributed' (the "
            "tessera language has Client, LocalCluster, wait and progress)\n");
  // With --scheduler, Client(address) must name that scheduler.
  r = Tessera({"--scheduler", "127.0.0.1:1", "eval",
               "import dask.distributed\ndask.distributed.Client('tcp://10.0.0.1:8786')"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("this session uses the scheduler 127.0.0.1:1"), std::string::npos) << r.err;
}

}  // namespace tessera
