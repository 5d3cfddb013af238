#include "util/progress.h"

#include "util/error.h"

namespace itl {

void RunControl::check_abort() const {
  if (abort && abort->load(std::memory_order_relaxed)) throw Error(ErrorCode::kAborted, "aborted by the caller");
}

}  // namespace itl
