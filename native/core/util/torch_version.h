// ITL_TORCH_AT_LEAST(major, minor): whether the libtorch being compiled against is at least that
// version. The code compiles against Debian's libtorch 1.13 and against 2.x builds; paths that need
// a newer operator are chosen with this at compile time.
#pragma once

#include <torch/version.h>

#define ITL_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))
