// The Array part of tessera.h: expression building over src/graph, and NDArray.
#include "tessera/tessera.h"
