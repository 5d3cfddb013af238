#include "io/write_fault.h"

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "util/error.h"

namespace itl {

int injected_write_fault(const std::string& path) {
  const char* spec = std::getenv("ITL_FAULT_WRITE");
  if (!spec || !*spec) return 0;
  std::stringstream entries(spec);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    if (entry.empty()) continue;
    const size_t colon = entry.find(':');
    const std::string code = colon == std::string::npos ? entry : entry.substr(0, colon);
    const std::string substring = colon == std::string::npos ? "" : entry.substr(colon + 1);
    int value = 0;
    if (code == "ENOSPC")
      value = ENOSPC;
    else if (code == "EDQUOT")
      value = EDQUOT;
    else if (code == "EIO")
      value = EIO;
    else if (code == "EROFS")
      value = EROFS;
    else if (code == "EACCES")
      value = EACCES;
    if (value == 0 || substring.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "expected ITL_FAULT_WRITE entries like ENOSPC:checkpoint-4/ (codes ENOSPC, EDQUOT, EIO, EROFS, "
                  "EACCES) but received '" +
                      entry + "'");
    }
    if (path.find(substring) != std::string::npos) return value;
  }
  return 0;
}

}  // namespace itl
