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
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ItlError';
    this.code = code;
  }
}

/** An Error from the native addon (or any other thrown value) as an ItlError, keeping its code. */
export function asItlError(error: unknown): ItlError {
  if (error instanceof ItlError) return error;
  // Duck-typed, not `instanceof Error`: errors made by the addon (or in another vm context, as under
  // jest) come from a different realm's Error constructor.
  if (typeof error === 'object' && error !== null && typeof (error as Error).message === 'string') {
    const code = (error as { code?: unknown }).code;
    const known = typeof code === 'string' && code.startsWith('ITL_') ? (code as ErrorCode) : 'ITL_INTERNAL';
    return new ItlError(known, (error as Error).message, { cause: error });
  }
  return new ItlError('ITL_INTERNAL', String(error));
}
