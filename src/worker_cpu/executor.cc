#include "worker_cpu/executor.h"
// Implementation pending.
