/**
 * File-system failures as `ITL_IO` errors that name the path and say what the errno means in words,
 * so "EROFS" reads "read-only file system" and a raw ENOTDIR says a file stands where a folder was expected.
 */
import { ItlError } from '../errors.js';

const CAUSES: Record<string, string> = {
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

/** The errno code of a Node file-system error (undefined for anything else). */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** "cannot write /x/y: read-only file system (EROFS)". An ItlError passes through unchanged. */
export function ioError(action: string, path: string, error: unknown): ItlError {
  if (error instanceof ItlError) return error;
  const code = errnoCode(error);
  const cause = code ? `${CAUSES[code] ?? (error as Error).message} (${code})` : (error as Error)?.message ?? String(error);
  return new ItlError('ITL_IO', `cannot ${action} ${path}: ${cause}`, { cause: error });
}
