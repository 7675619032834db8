#include "operator/app/allocator.h"

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tributary::op::app {

void limitMallocArenas() {
#if defined(__GLIBC__)
  // An operator's own MALLOC_ARENA_MAX (read by glibc itself) wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
#endif
}

}  // namespace tributary::op::app
