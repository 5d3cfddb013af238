// itl::Error: the one exception type the core throws on purpose. Its code is stable and crosses
// into JavaScript as `err.code`, so callers can branch on the kind of failure, not on the text.
#pragma once

#include <stdexcept>
#include <string>

namespace itl {

enum class ErrorCode {
  kInvalidArgument,    // a caller passed a value outside the documented range
  kConfig,             // a model/run config the core does not implement or cannot parse
  kCheckpointFormat,   // a weights file (safetensors, index) that is malformed
  kCheckpointDamaged,  // a training checkpoint whose files cannot be read back (truncated, missing): resume from an earlier one
  kIo,                 // a file that cannot be opened, read or written
  kOutOfMemory,        // an allocation failed (host or device)
  kCuda,               // a CUDA runtime failure
  kAborted,            // the caller asked to stop
  kDistributed,        // a collective or rendezvous failed: a peer rank exited, hung past the timeout, or was unreachable
  kInternal,           // a bug: an invariant of the core itself was broken
};

// "ITL_INVALID_ARGUMENT", "ITL_CONFIG", …: the names JavaScript sees.
const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message);
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Throws kInvalidArgument with `message` unless `condition` holds.
void require(bool condition, const std::string& message);

}  // namespace itl
