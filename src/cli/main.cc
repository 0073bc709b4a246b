// `tessera`: the command line of a Tessera cluster.
//
//   tessera info [--json]                 scheduler address, dashboard and workers
//   tessera eval 'da.ones((1000, 1000)).sum()'
//   tessera run notebook.py               a file of the tessera language (Python subset)
//   tessera eval --save out.npy 'da.arange(10).sum()'   also write the last value as a .npy file
//
// The scheduler comes from --scheduler, else $TESSERA_SCHEDULER, else an embedded local cluster
// started in this process. Exit status: 0 on success, 1 with "error: <reason>" on stderr when
// anything fails, 2 for bad flags.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cluster.h"
#include "cli/interpreter.h"
#include "cli/npy.h"
#include "common/process.h"
#include "common/shape.h"
#include "graph/rpc/limits.h"
#include "tessera/tessera.h"

namespace {


// The cluster connection, made on first use so that `tessera eval '1 + 1'` starts nothing.
class Session {
 public:
  explicit Session(std::string scheduler) : scheduler_(std::move(scheduler)) {}

  tessera::Client& client() {
    if (!client_) {
      if (scheduler_.empty()) {
        client_.emplace(tessera::Client::local(local_));
      } else {
        client_.emplace(tessera::Client::connect(scheduler_));
      }
    }
    return *client_;
  }

  tessera::NDArray Compute(const tessera::Array& x) {
    tessera::Client& c = client();
    try {
      tessera::NDArray result = c.compute(x, progress_.callback()).get();
      progress_.finish();
      return result;
    } catch (...) {
      progress_.finish();
      throw;
    }
  }

  // Client(...) / LocalCluster(...) in a program: the cluster is started on first use, so
  // options given before any computation choose the local cluster's shape (dask's Client(
  // n_workers=2)); once it runs, only a Client() that asks for nothing new is accepted.
  void Connect(const tessera::cli::ClientSpec& spec) {
    if (!spec.address.empty() && spec.local_options()) {
      throw tessera::Error(3, "Client(): n_workers, threads_per_worker and memory_limit are for "
                              "a local cluster, not for one at " + spec.address);
    }
    // tcp://host:port and host:port name the same scheduler.
    auto bare = [](const std::string& a) { return a.rfind("tcp://", 0) == 0 ? a.substr(6) : a; };
    if (!spec.address.empty() && !scheduler_.empty() && bare(spec.address) != bare(scheduler_)) {
      throw tessera::Error(3, "Client('" + spec.address + "'): this session uses the scheduler " +
                                  scheduler_ + " (--scheduler / TESSERA_SCHEDULER)");
    }
    if (client_) {
      const bool other_address = !spec.address.empty() && bare(spec.address) != bare(scheduler_);
      if (spec.local_options() || other_address) {
        throw tessera::Error(
            3, "Client(...) asks for a new cluster, but this session's is already running (" +
                   client_->address() + "); create the Client before the first computation");
      }
      return;
    }
    if (!spec.address.empty()) {
      scheduler_ = spec.address;
    } else if (!scheduler_.empty() && spec.local_options()) {
      throw tessera::Error(3, "Client(n_workers=...) starts a local cluster, but this session "
                              "uses the scheduler " + scheduler_ + " (--scheduler)");
    }
    local_.n_workers = spec.n_workers;
    local_.threads_per_worker = spec.threads_per_worker;
    local_.memory_limit = spec.memory_limit;
    (void)client();
  }

  // dask's repr: <Client: 'tcp://127.0.0.1:8786' processes=2 threads=2, memory=23.47 GiB>.
  std::string DescribeClient() {
    tessera::Client& c = client();
    const tessera::SchedulerInfo info = c.scheduler_info();
    int64_t threads = 0, memory = 0;
    for (const tessera::WorkerInfo& w : info.workers) {
      threads += w.nthreads;
      memory += w.memory_limit;
    }
    const std::string address = info.address.empty() ? c.address() : info.address;
    return "<Client: '" + address + "' processes=" + std::to_string(info.workers.size()) +
           " threads=" + std::to_string(threads) + ", memory=" + tessera::FormatBytes(memory) +
           ">";
  }
  std::string DashboardLink() { return client().scheduler_info().dashboard; }

  tessera::Array Persist(const tessera::Array& x) { return client().persist(x); }
  void set_progress(bool enabled) { progress_.set_enabled(enabled); }
  tessera::Value ComputeDelayed(const tessera::Delayed& d) { return client().compute(d).result(); }
  std::vector<std::string> Functions() {
    std::vector<std::string> names;
    for (const std::string& sig : client().functions()) names.push_back(sig.substr(0, sig.find('(')));
    return names;
  }

 private:
  std::string scheduler_;
  tessera::LocalClusterOptions local_;  // the embedded cluster's shape (Client(n_workers=...))
  std::optional<tessera::Client> client_;
  tessera::ProgressBar progress_;  // on stderr; --no-progress disables it
};

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string Bytes(int64_t used, int64_t limit) {
  if (limit <= 0) return used > 0 ? tessera::FormatBytes(used) : "-";
  return tessera::FormatBytes(used) + " / " + tessera::FormatBytes(limit);
}

// `tessera info --json`: the facts of the dashboard's workers table (docs/dashboard.md).
void PrintInfoJson(const std::string& scheduler, const tessera::SchedulerInfo& info) {
  nlohmann::json workers = nlohmann::json::array();
  for (const tessera::WorkerInfo& w : info.workers) {
    workers.push_back({
        {"name", w.name},
        {"address", w.address},
        {"kind", w.kind},
        {"device", w.device},
        {"nthreads", w.nthreads},
        {"memory_used", w.memory_used},
        {"memory_limit", w.memory_limit},
        {"device_memory_used", w.device_memory_used},
        {"device_memory_limit", w.device_memory_limit},
        {"spilled_bytes", w.spilled_bytes},
        {"spilled_count", w.spilled_count},
        {"paused", w.paused},
        {"tasks_executing", w.tasks_executing},
        {"tasks_ready", std::max<int64_t>(0, w.tasks_processing - w.tasks_executing)},
        {"tasks_processing", w.tasks_processing},
        {"tasks_in_memory", w.tasks_stored},
        {"last_seen_ago", w.last_seen_ago},
        {"retiring", w.retiring},
    });
  }
  const nlohmann::json doc = {{"scheduler", scheduler},
                              {"id", info.id},
                              {"dashboard", info.dashboard},
                              {"workers", workers},
                              {"desired_workers", info.desired_workers}};
  std::cout << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void PrintInfo(Session& session, bool as_json) {
  tessera::Client& client = session.client();
  const tessera::SchedulerInfo info = client.scheduler_info();
  const std::string scheduler = info.address.empty() ? client.address() : info.address;
  if (as_json) {
    PrintInfoJson(scheduler, info);
    return;
  }
  std::cout << "Scheduler: " << scheduler << "\n";
  if (!info.dashboard.empty()) std::cout << "Dashboard: " << info.dashboard << "\n";
  std::cout << "Workers:   " << info.workers.size() << "\n";
  if (!info.desired_workers.empty()) {
    std::cout << "Desired:  ";  // the adaptive recommendation (docs/scaling.md)
    for (const auto& [kind, n] : info.desired_workers) std::cout << " " << kind << " " << n;
    std::cout << "\n";
  }
  if (info.workers.empty()) return;
  std::vector<std::vector<std::string>> rows = {{"NAME", "ADDRESS", "KIND", "DEVICE", "THREADS",
                                                 "MEMORY", "DEVICE MEMORY", "SPILLED", "EXEC",
                                                 "READY", "IN MEMORY", "LAST SEEN"}};
  for (const tessera::WorkerInfo& w : info.workers) {
    char seen[32];
    std::snprintf(seen, sizeof seen, "%.1fs ago", w.last_seen_ago);
    rows.push_back({w.paused ? w.name + " (paused)" : w.name, w.address, w.kind,
                    w.device.empty() ? "-" : w.device, std::to_string(w.nthreads),
                    Bytes(w.memory_used, w.memory_limit),
                    Bytes(w.device_memory_used, w.device_memory_limit),
                    tessera::FormatBytes(w.spilled_bytes), std::to_string(w.tasks_executing),
                    std::to_string(std::max<int64_t>(0, w.tasks_processing - w.tasks_executing)),
                    std::to_string(w.tasks_stored), seen});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += c + 1 == row.size() ? row[c] : Pad(row[c], widths[c] + 2);
    }
    std::cout << line << "\n";
  }
}

// The value of the last expression as a computed array for --save: a lazy array is computed, a
// Python number becomes a 0-d array of NumPy's type for it (int64, float64, bool).
tessera::NDArray SaveableValue(Session& session, const tessera::cli::Value& v,
                               const std::string& path) {
  using Kind = tessera::cli::Value::Kind;
  auto scalar = [](tessera::DType dtype, const void* p, size_t n) {
    std::vector<uint8_t> bytes(n);
    std::memcpy(bytes.data(), p, n);
    return tessera::NDArray(dtype, {}, std::move(bytes));
  };
  switch (v.kind) {
    case Kind::kArray:
      return session.Compute(*v.array);
    case Kind::kNDArray:
      return *v.ndarray;
    case Kind::kInt:
      return scalar(tessera::DType::kInt64, &v.i, sizeof v.i);
    case Kind::kFloat:
      return scalar(tessera::DType::kFloat64, &v.f, sizeof v.f);
    case Kind::kBool: {
      const uint8_t b = v.b ? 1 : 0;
      return scalar(tessera::DType::kBool, &b, 1);
    }
    default:
      throw tessera::Error(3, "cannot save to '" + path + "': the last value is " +
                                  (v.kind == Kind::kNone ? std::string("None")
                                                         : "a " + v.TypeName()) +
                                  ", not an array or a number");
  }
}

void RunSource(Session& session, const std::string& source, bool print_array,
               const std::string& save_path) {
  tessera::cli::InterpreterOptions options;
  options.compute = [&session](const tessera::Array& x) { return session.Compute(x); };
  options.persist = [&session](const tessera::Array& x) { return session.Persist(x); };
  options.functions = [&session] { return session.Functions(); };
  options.compute_delayed = [&session](const tessera::Delayed& d) {
    return session.ComputeDelayed(d);
  };
  options.connect = [&session](const tessera::cli::ClientSpec& spec) { session.Connect(spec); };
  options.describe_client = [&session] { return session.DescribeClient(); };
  options.dashboard_link = [&session] { return session.DashboardLink(); };
  options.print_array = print_array;
  tessera::cli::Interpreter interpreter(std::move(options));
  if (save_path.empty()) {
    std::optional<std::string> out = interpreter.Run(source);
    if (out) std::cout << *out << "\n";
    std::cout.flush();
    return;
  }
  // --save: compute the last value once, print it as without the flag, then write it.
  const tessera::cli::Value last = interpreter.Evaluate(source);
  const tessera::NDArray result = SaveableValue(session, last, save_path);
  const tessera::cli::Value shown =
      last.kind == tessera::cli::Value::Kind::kArray ? tessera::cli::Value::FromNDArray(result)
                                                     : last;
  std::cout << interpreter.Repr(shown) << "\n";
  std::cout.flush();
  tessera::cli::SaveNpy(save_path, result);
}

std::string ReadSource(const std::string& path) {
  if (path == "-") {
    std::ostringstream s;
    s << std::cin.rdbuf();
    return s.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw tessera::Error(5, "cannot read '" + path + "': no such file or not readable");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// One line, whatever the message holds.
std::string OneLine(std::string message) {
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return message;
}

}  // namespace

int main(int argc, char** argv) {
  // The embedded cluster and `tessera cluster` lower graphs on this process's threads (see the
  // scheduler's main).
  tessera::EnsureThreadStackSize(tessera::wire::kLoweringThreadStackBytes);
  tessera::DisableMutexDeadlockDetection();
  CLI::App app{"Tessera: distributed chunked arrays (dask.array in C++).", "tessera"};
  app.set_version_flag("--version", "tessera " + tessera::version());
  app.require_subcommand(1);

  std::string scheduler;
  app.add_option("--scheduler", scheduler,
                 "scheduler address (tcp://host:port, host:port or [v6]:port); default: "
                 "$TESSERA_SCHEDULER, else an embedded local cluster")
      ->envname("TESSERA_SCHEDULER");
  std::string chunk_size;
  app.add_option("--chunk-size", chunk_size,
                 "target size of \"auto\" chunks, as dask's array.chunk-size (e.g. 64MiB); "
                 "default 128MiB")
      ->envname("TESSERA_ARRAY_CHUNK_SIZE");

  CLI::App* info = app.add_subcommand("info", "Print the scheduler address and its workers.");
  bool info_json = false;
  info->add_flag("--json", info_json,
                 "print the workers as JSON (the dashboard's workers table; docs/dashboard.md)");

  CLI::App* retire = app.add_subcommand(
      "retire",
      "Retire workers gracefully (as dask's client.retire_workers): their results move to other "
      "workers, then they exit.");
  std::vector<std::string> retire_names;
  retire->add_option("WORKER", retire_names, "worker names or addresses (see `tessera info`)")
      ->required();
  double retire_timeout = 60;
  retire->add_option("--timeout", retire_timeout, "seconds to wait for them to close")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  CLI::App* cluster = app.add_subcommand(
      "cluster",
      "Run an adaptive cluster on this machine: a scheduler here, and cpu-worker / cuda-worker "
      "processes started and retired as the work needs (dask's LocalCluster(...).adapt()).");
  tessera::cli::ClusterOptions cluster_options;
  cluster->add_option("--min-workers", cluster_options.min_workers, "workers kept at all times")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cluster->add_option("--max-workers", cluster_options.max_workers,
                      "most workers at once (default: the number of cores)")
      ->check(CLI::NonNegativeNumber);
  cluster->add_option("--gpus", cluster_options.gpus,
                      "GPUs to run one cuda-worker each on: all, none or 0,1; they are started "
                      "first and kept")
      ->capture_default_str();
  cluster->add_option("--threads-per-worker", cluster_options.threads_per_worker,
                      "threads of each worker")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cluster->add_option("--memory-limit", cluster_options.memory_limit,
                      "memory of each cpu-worker (default: this machine's shared by "
                      "--max-workers)");
  cluster->add_option("--host", cluster_options.host, "the scheduler's interface")
      ->capture_default_str();
  cluster->add_option("--port", cluster_options.port, "the scheduler's port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cluster->add_option("--dashboard-address", cluster_options.dashboard_address,
                      "[HOST]:PORT of the dashboard, or none")
      ->capture_default_str();
  cluster->add_option("--adapt-target", cluster_options.adapt_target,
                      "enough workers to finish the queued work in this many seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cluster->add_option("--adapt-interval", cluster_options.adapt_interval,
                      "seconds between two decisions")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cluster->add_option("--adapt-wait-count", cluster_options.adapt_wait_count,
                      "decisions a lower worker count must hold before workers are retired")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  CLI::App* eval = app.add_subcommand(
      "eval",
      "Evaluate an expression of the tessera language (dask.array's Python subset) and "
      "print the value of the last expression.");
  std::string expression;
  bool eval_print_array = false;
  eval->add_option("EXPR", expression, "statements separated by ';' or newlines")->required();
  eval->add_flag("--print-array", eval_print_array, "print arrays in full, not summarised");
  bool no_progress = false;
  eval->add_flag("--no-progress", no_progress,
                 "no progress on stderr (by default shown for computations over a second)");
  std::string eval_save;
  eval->add_option("--save", eval_save,
                   "also write the value of the last expression (array or number) to this path "
                   "in NumPy's .npy format");

  CLI::App* run = app.add_subcommand("run", "Run a file of the tessera language ('-': stdin).");
  std::string file;
  bool run_print_array = false;
  run->add_option("FILE", file, "the program")->required();
  run->add_flag("--print-array", run_print_array, "print arrays in full, not summarised");
  run->add_flag("--no-progress", no_progress,
                "no progress on stderr (by default shown for computations over a second)");
  std::string run_save;
  run->add_option("--save", run_save,
                  "also write the value of the last expression (array or number) to this path "
                  "in NumPy's .npy format");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  try {
    if (!chunk_size.empty()) {
      absl::StatusOr<int64_t> bytes = tessera::ParseBytes(chunk_size);
      if (!bytes.ok() || *bytes <= 0) {
        std::cerr << "error: --chunk-size '" << chunk_size
                  << "' is not a positive size such as 128MiB" << std::endl;
        return 2;
      }
      tessera::set_chunk_size(*bytes);
    }
    if (cluster->parsed()) return tessera::cli::RunCluster(cluster_options);
    if (retire->parsed() && scheduler.empty()) {
      std::cerr << "error: retire needs --scheduler (or $TESSERA_SCHEDULER): an embedded cluster "
                   "has no workers to retire"
                << std::endl;
      return 2;
    }
    Session session(scheduler);
    session.set_progress(!no_progress);
    if (info->parsed()) {
      PrintInfo(session, info_json);
    } else if (retire->parsed()) {
      for (const auto& w : session.client().retire_workers(retire_names, retire_timeout)) {
        std::cout << "retired " << w.name << " (" << w.address << "): " << w.keys_moved
                  << " results, " << tessera::FormatBytes(w.bytes_moved)
                  << " moved to other workers\n";
      }
    } else if (eval->parsed()) {
      RunSource(session, expression, eval_print_array, eval_save);
    } else if (run->parsed()) {
      RunSource(session, ReadSource(file), run_print_array, run_save);
    }
  } catch (const tessera::Error& e) {
    std::cout.flush();
    std::cerr << "error: " << OneLine(e.what()) << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "error: " << OneLine(e.what()) << std::endl;
    return 1;
  }
  return 0;
}
