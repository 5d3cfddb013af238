/**
 * File-system failures as `ITL_IO` errors that name the path and say what the errno means in words,
 * so "EROFS" reads "read-only file system" and a raw ENOTDIR says a file stands where a folder was expected.
 */
import { describeErrno, ItlError } from '../errors.js';

/** The errno code of a Node file-system error (undefined for anything else). */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** "cannot write /x/y: read-only file system (EROFS)". An ItlError passes through unchanged. */
export function ioError(action: string, path: string, error: unknown): ItlError {
  if (error instanceof ItlError) return error;
  const code = errnoCode(error);
  const cause = code ? describeErrno(code, (error as Error).message) : ((error as Error)?.message ?? String(error));
  return new ItlError('ITL_IO', `cannot ${action} ${path}: ${cause}`, { cause: error });
}
