/**
 * The project's error type. `code` is stable (scripts and tests branch on it); the message names
 * the thing that is wrong. Native failures arrive as plain Errors with a `.code` and are wrapped here.
 */
export type ErrorCode =
  | 'ITL_USAGE'
  | 'ITL_INVALID_ARGUMENT'
  | 'ITL_CONFIG'
  | 'ITL_CHECKPOINT_FORMAT'
  /** A training checkpoint whose files cannot be read back (truncated, missing): an earlier complete one may be used. */
  | 'ITL_CHECKPOINT_DAMAGED'
  | 'ITL_IO'
  | 'ITL_DATA'
  | 'ITL_OUT_OF_MEMORY'
  | 'ITL_CUDA'
  | 'ITL_TORCH'
  | 'ITL_ABORTED'
  | 'ITL_DISTRIBUTED'
  | 'ITL_NATIVE_MISSING'
  /** A stage of a pipeline (`itl demo`) failed; its own error was printed before. */
  | 'ITL_STAGE'
  /** Another live process holds the lock of what was asked for (a run, a result file, a dataset folder). */
  | 'ITL_LOCKED'
  | 'ITL_INTERNAL';

export class ItlError extends Error {
  readonly code: ErrorCode;
  /** The process's exit status when this error ends a command (default: 2 for usage errors, else 1). */
  readonly exitStatus: number | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; exitStatus?: number }) {
    super(message, options);
    this.name = 'ItlError';
    this.code = code;
    this.exitStatus = options?.exitStatus;
  }
}

const ERRNO_CAUSES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a file stands where a folder is expected',
  EISDIR: 'a folder stands where a file is expected',
  EEXIST: 'it already exists',
  ENOENT: 'no such file or folder',
  EIO: 'input/output error (a failing disk or a lost network mount)',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
  EXDEV: 'not on the same file system',
  ENOTEMPTY: 'the folder is not empty',
  EBUSY: 'device or resource busy',
};

/** "no space left on the device (ENOSPC)": an errno code in words, or the system's message. */
export function describeErrno(code: string, message: string): string {
  return `${ERRNO_CAUSES[code] ?? message} (${code})`;
}

/**
 * An Error from the native addon (or any other thrown value) as an ItlError, keeping its code. A
 * file-system error that reached here unwrapped (ENOSPC from a write deep in a library) becomes
 * ITL_IO naming the path and the cause, not ITL_INTERNAL.
 */
export function asItlError(error: unknown): ItlError {
  if (error instanceof ItlError) return error;
  const errno = error as NodeJS.ErrnoException | undefined;
  if (typeof errno?.code === 'string' && /^E[A-Z0-9]+$/.test(errno.code) && typeof errno.syscall === 'string') {
    const where = typeof errno.path === 'string' ? ` ${errno.path}` : '';
    return new ItlError('ITL_IO', `cannot ${errno.syscall}${where}: ${describeErrno(errno.code, errno.message)}`, { cause: error });
  }
  // Duck-typed, not `instanceof Error`: errors made by the addon (or in another vm context, as under
  // jest) come from a different realm's Error constructor.
  if (typeof error === 'object' && error !== null && typeof (error as Error).message === 'string') {
    const code = (error as { code?: unknown }).code;
    const known = typeof code === 'string' && code.startsWith('ITL_') ? (code as ErrorCode) : 'ITL_INTERNAL';
    return new ItlError(known, (error as Error).message, { cause: error });
  }
  return new ItlError('ITL_INTERNAL', String(error));
}
