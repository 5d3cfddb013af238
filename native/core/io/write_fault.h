// The write-failure injection hook for tests: ITL_FAULT_WRITE=CODE:SUBSTRING[,CODE:SUBSTRING…] makes
// every write whose destination path contains SUBSTRING fail with the errno CODE (ENOSPC, EDQUOT, EIO,
// EROFS, EACCES) partway through, as a disk filling mid-write would. The TypeScript writer honours the
// same variable (lib/util/faultInjection.ts), so one setting reaches checkpoints and result files.
// Unset, it costs one getenv per file written.
#pragma once

#include <string>

namespace itl {

// The errno a write to `path` must fail with under ITL_FAULT_WRITE, or 0. Error(kInvalidArgument)
// for a malformed setting.
int injected_write_fault(const std::string& path);

}  // namespace itl
