// Process-level helpers shared by the binaries and the embedded cluster.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include <sys/types.h>

namespace tessera {

/// Physical memory of this machine, in bytes.
int64_t SystemMemoryBytes();

/// Blocks SIGINT and SIGTERM in the calling thread (and the threads it starts afterwards), so
/// that WaitForTerminationSignal can take them outside a signal handler. Call before starting
/// threads.
sigset_t BlockTerminationSignals();
/// Waits for one of the signals blocked by BlockTerminationSignals; returns its name.
const char* WaitForTerminationSignal(const sigset_t& signals);
/// The same for at most `seconds` (the polling loops of supervisors): the signal's name, or
/// nullptr when none came in time.
const char* WaitForTerminationSignal(const sigset_t& signals, double seconds);

/// Makes threads started afterwards get stacks of at least `bytes` (reserved address space,
/// committed only as used), whatever `ulimit -s` the process inherited, which is otherwise
/// glibc's default for new threads. For processes whose threads recurse along a submitted graph
/// (lowering; wire::kMaxGraphDepth bounds the depth). Call before starting threads.
void EnsureThreadStackSize(size_t bytes);

/// Turns off absl::Mutex's lock-order (deadlock) graph. Debian builds Abseil without NDEBUG, so
/// its Mutex keeps that debug-mode graph, behind a global lock, on every lock and unlock that
/// takes the slow path, including gRPC's own locks: in a worker running the B5 tree it was 10 %
/// of the instructions. Upstream release builds of Abseil have it off. Called by the
/// executables' mains; unit tests keep it on.
void DisableMutexDeadlockDetection();

/// Forks and runs `path` with `argv` (argv[0] included) in the child, with every signal
/// unblocked (callers block SIGINT / SIGTERM to take them with sigwait; the child must get them).
/// If exec fails the child prints "error: <exec_error>: <reason>" and exits 127. Returns the
/// child's pid, or -1 when fork fails (errno set).
pid_t SpawnProcess(const std::string& path, const std::vector<std::string>& argv,
                   const std::string& exec_error);
/// A child's end as waitpid reported it: "exit code 1", "signal Killed".
std::string DescribeExit(int wait_status);
/// Seconds before restarting a process that ended on its own after `failures` earlier ends:
/// 1, 2, 4 ... up to 30, so a process that cannot start is never respawned in a tight loop.
int RestartDelaySeconds(int failures);

}  // namespace tessera
