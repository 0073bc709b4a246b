#include "common/process.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/synchronization/mutex.h"

namespace tessera {

int64_t SystemMemoryBytes() {
  return static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

sigset_t BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

void EnsureThreadStackSize(size_t bytes) {
  pthread_attr_t attr;
  if (pthread_getattr_default_np(&attr) != 0) return;
  size_t current = 0;
  pthread_attr_getstacksize(&attr, &current);
  if (current < bytes && pthread_attr_setstacksize(&attr, bytes) == 0) {
    pthread_setattr_default_np(&attr);
  }
  pthread_attr_destroy(&attr);
}

void DisableMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

pid_t SpawnProcess(const std::string& path, const std::vector<std::string>& argv,
                   const std::string& exec_error) {
  const pid_t pid = fork();
  if (pid != 0) return pid;  // parent, or -1
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(path.c_str(), args.data());
  std::fprintf(stderr, "error: %s: %s\n", exec_error.c_str(), std::strerror(errno));
  _exit(127);
}

std::string DescribeExit(int wait_status) {
  if (WIFSIGNALED(wait_status)) return std::string("signal ") + strsignal(WTERMSIG(wait_status));
  return "exit code " + std::to_string(WEXITSTATUS(wait_status));
}

int RestartDelaySeconds(int failures) { return std::min(30, 1 << std::min(std::max(failures, 0), 5)); }

const char* WaitForTerminationSignal(const sigset_t& signals) {
  int sig = 0;
  sigwait(&signals, &sig);
  return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

const char* WaitForTerminationSignal(const sigset_t& signals, double seconds) {
  const auto nanos = static_cast<int64_t>(seconds * 1e9);
  timespec wait{static_cast<time_t>(nanos / 1'000'000'000),
                static_cast<long>(nanos % 1'000'000'000)};
  const int sig = sigtimedwait(&signals, nullptr, &wait);
  if (sig == SIGINT) return "SIGINT";
  if (sig == SIGTERM) return "SIGTERM";
  return nullptr;
}

}  // namespace tessera
