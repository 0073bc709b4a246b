#include "graph/lowering.h"
// Implementation pending.
