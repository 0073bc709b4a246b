#include "graph/expr.h"
