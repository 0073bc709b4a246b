#include "graph/expr.h"
// Implementation pending.
