#include "util/error.h"

namespace itl {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "ITL_INVALID_ARGUMENT";
    case ErrorCode::kConfig:
      return "ITL_CONFIG";
    case ErrorCode::kCheckpointFormat:
      return "ITL_CHECKPOINT_FORMAT";
    case ErrorCode::kCheckpointDamaged:
      return "ITL_CHECKPOINT_DAMAGED";
    case ErrorCode::kIo:
      return "ITL_IO";
    case ErrorCode::kOutOfMemory:
      return "ITL_OUT_OF_MEMORY";
    case ErrorCode::kCuda:
      return "ITL_CUDA";
    case ErrorCode::kAborted:
      return "ITL_ABORTED";
    case ErrorCode::kDistributed:
      return "ITL_DISTRIBUTED";
    case ErrorCode::kInternal:
      return "ITL_INTERNAL";
  }
  return "ITL_INTERNAL";
}

Error::Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}

void require(bool condition, const std::string& message) {
  if (!condition) throw Error(ErrorCode::kInvalidArgument, message);
}

}  // namespace itl
