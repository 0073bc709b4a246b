// `tessera cluster`: an adaptive cluster on this machine. Runs a scheduler in this process and
// starts and stops `cpu-worker` and `cuda-worker` processes as the scheduler's adaptive
// recommendation says (Dask's LocalCluster(...).adapt(minimum, maximum)).
#pragma once

#include <cstdint>
#include <string>

namespace tessera::cli {

struct ClusterOptions {
  int64_t min_workers = 1;
  int64_t max_workers = 0;        ///< 0: the number of cores
  std::string gpus = "none";      ///< "none", "all" or a list of device indices "0,1"
  int threads_per_worker = 1;
  std::string memory_limit;       ///< per cpu-worker; "" lets the worker choose
  std::string host = "127.0.0.1";
  int port = 8786;                ///< 0: any free port
  std::string dashboard_address = ":8787";  ///< "none" for no dashboard
  double adapt_target = 5;        ///< seconds
  double adapt_interval = 1;      ///< seconds
  int adapt_wait_count = 3;
  std::string bin_dir;            ///< where cpu-worker / cuda-worker are; default: next to tessera
};

/// Runs until SIGINT or SIGTERM; returns the process exit code (2 for bad options, each with a
/// message on stderr naming the flag and the value).
int RunCluster(const ClusterOptions& options);

}  // namespace tessera::cli
