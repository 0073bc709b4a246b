// Starting the real Tessera binaries from tests: a child process with its stdout and stderr
// captured, killed (SIGTERM, then SIGKILL) when the object goes away, and killed by the kernel
// when the test process dies without running destructors (a crash, CTest's timeout, a closed
// pipe), so that no scheduler or worker outlives its test to load the machine under later ones.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace tessera::testing {

/// Directory of the built programs: $TESSERA_BIN_DIR (set by CTest) or ./bin.
inline std::string BinDir() {
  const char* dir = std::getenv("TESSERA_BIN_DIR");
  return dir != nullptr ? dir : "bin";
}

class Subprocess {
 public:
  Subprocess(const std::string& program, const std::vector<std::string>& args,
             const std::vector<std::string>& env = {}) {
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) std::abort();
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      // Tests start processes from their main thread, whose exit is the process's.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // the test died before prctl
      dup2(out[1], 1);
      dup2(err[1], 2);
      close(out[0]);
      close(err[0]);
      for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> argv;
      std::string path = BinDir();
      path.append("/").append(program);
      argv.push_back(const_cast<char*>(path.c_str()));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(path.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    out_ = out[0];
    err_ = err[0];
    fcntl(out_, F_SETFL, O_NONBLOCK);
    fcntl(err_, F_SETFL, O_NONBLOCK);
  }
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess() {
    Stop();
    close(out_);
    close(err_);
  }

  /// Reads what the child printed so far.
  const std::string& stdout_text() {
    Drain();
    return stdout_;
  }
  const std::string& stderr_text() {
    Drain();
    return stderr_;
  }

  /// Waits until stdout or stderr contains `needle`; false on timeout or exit.
  bool WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      Drain();
      if (stdout_.find(needle) != std::string::npos || stderr_.find(needle) != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  /// Whether the child has exited (without waiting).
  bool Exited() {
    if (status_ < 0) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
    }
    return status_ >= 0;
  }

  /// Waits for the child to exit and returns its exit code (or 128 + signal); -1 on timeout.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      Drain();
      if (Exited()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    Drain();
    return status_;
  }

  /// SIGTERM, wait up to 5 s, then SIGKILL. Returns the exit code.
  int Stop() {
    if (status_ >= 0 || pid_ <= 0) return status_;
    kill(pid_, SIGTERM);
    if (Wait(std::chrono::seconds(5)) < 0) {
      kill(pid_, SIGKILL);
      Wait(std::chrono::seconds(5));
    }
    return status_;
  }
  void Kill() {
    if (status_ < 0) kill(pid_, SIGKILL);
    Wait(std::chrono::seconds(5));
  }
  pid_t pid() const { return pid_; }

 private:
  void Drain() {
    char buf[4096];
    for (auto [fd, text] : {std::pair<int, std::string*>{out_, &stdout_}, {err_, &stderr_}}) {
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) text->append(buf, static_cast<size_t>(n));
    }
  }
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  int status_ = -1;
  std::string stdout_, stderr_;
};

/// Runs a program to completion: {exit code, stdout, stderr}.
struct RunResult {
  int code;
  std::string out, err;
};
inline RunResult Run(const std::string& program, const std::vector<std::string>& args,
                     const std::vector<std::string>& env = {},
                     std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
  Subprocess p(program, args, env);
  const int code = p.Wait(timeout);
  return RunResult{code, p.stdout_text(), p.stderr_text()};
}

/// What a scheduler (or `tessera cluster`) prints when it starts: "Scheduler at
/// tcp://127.0.0.1:PORT" and, with a dashboard, "Dashboard at http://127.0.0.1:PORT/status".
struct Announcement {
  std::string address;     ///< 127.0.0.1:PORT; "" when not printed
  int dashboard_port = 0;  ///< 0 when not printed
};
inline Announcement ParseAnnouncement(const std::string& out) {
  Announcement a;
  auto port_after = [&](const std::string& marker) {
    const size_t at = out.find(marker);
    if (at == std::string::npos) return 0;
    const size_t colon = out.find(':', at + marker.size());
    return colon == std::string::npos ? 0 : std::atoi(out.c_str() + colon + 1);
  };
  if (const int port = port_after("Scheduler at tcp://"); port > 0) {
    a.address = std::string("127.0.0.1:").append(std::to_string(port));
  }
  a.dashboard_port = port_after("Dashboard at http://");
  return a;
}

/// Waits until the process has printed its announcement on stdout: the scheduler's address and,
/// with `dashboard`, the dashboard's port. Not WaitForOutput: the log line on stderr says the
/// same words a moment before stdout does, and parsing stdout then would find nothing.
inline Announcement WaitForAnnouncement(Subprocess& process, bool dashboard,
                                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const Announcement a = ParseAnnouncement(process.stdout_text());
    if (!a.address.empty() && (!dashboard || a.dashboard_port > 0)) return a;
    if (std::chrono::steady_clock::now() >= deadline || process.Exited()) return Announcement{};
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

/// A scheduler and `workers` cpu-workers on an ephemeral loopback port. With `dashboard`, the
/// scheduler also serves its HTTP dashboard on an ephemeral loopback port (dashboard_port()).
class LocalProcessCluster {
 public:
  /// `worker_args` are appended to every cpu-worker's command line (e.g. --preload lib.so).
  LocalProcessCluster(int workers, int threads, const std::vector<std::string>& worker_args)
      : LocalProcessCluster(workers, threads, /*dashboard=*/false, worker_args) {}
  explicit LocalProcessCluster(int workers = 2, int threads = 1, bool dashboard = false,
                               const std::vector<std::string>& worker_args = {}) {
    scheduler_ = std::make_unique<Subprocess>(
        "scheduler",
        std::vector<std::string>{"--host", "127.0.0.1", "--port", "0", "--dashboard-address",
                                 dashboard ? "127.0.0.1:0" : "none"});
    const Announcement announced =
        WaitForAnnouncement(*scheduler_, dashboard, std::chrono::seconds(20));
    address_ = announced.address;  // with the dashboard's port when asked for, or empty
    if (address_.empty()) return;
    dashboard_port_ = announced.dashboard_port;
    for (int i = 0; i < workers; ++i) {
      std::vector<std::string> args{"--scheduler", address_, "--nthreads",
                                    std::to_string(threads), "--name",
                                    std::string("w").append(std::to_string(i)),
                                    "--memory-limit", "2GiB"};
      args.insert(args.end(), worker_args.begin(), worker_args.end());
      workers_.push_back(std::make_unique<Subprocess>("cpu-worker", args));
    }
    for (auto& w : workers_) {
      if (!w->WaitForOutput("registered with scheduler", std::chrono::seconds(20))) return;
    }
    ok_ = true;
  }
  bool ok() const { return ok_; }
  const std::string& address() const { return address_; }
  int dashboard_port() const { return dashboard_port_; }
  Subprocess& scheduler() { return *scheduler_; }
  Subprocess& worker(int i) { return *workers_[static_cast<size_t>(i)]; }

 private:
  std::unique_ptr<Subprocess> scheduler_;
  std::vector<std::unique_ptr<Subprocess>> workers_;
  std::string address_;
  int dashboard_port_ = 0;
  bool ok_ = false;
};

}  // namespace tessera::testing
