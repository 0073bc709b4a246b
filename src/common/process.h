// Process-level helpers shared by the binaries and the embedded cluster.
#pragma once

#include <csignal>
#include <cstdint>

namespace tessera {

/// Physical memory of this machine, in bytes.
int64_t SystemMemoryBytes();

/// Blocks SIGINT and SIGTERM in the calling thread (and the threads it starts afterwards), so
/// that WaitForTerminationSignal can take them outside a signal handler. Call before starting
/// threads.
sigset_t BlockTerminationSignals();
/// Waits for one of the signals blocked by BlockTerminationSignals; returns its name.
const char* WaitForTerminationSignal(const sigset_t& signals);

}  // namespace tessera
