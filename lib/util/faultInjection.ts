/**
 * The write-failure injection hook for tests: `ITL_FAULT_WRITE=CODE:SUBSTRING[,CODE:SUBSTRING…]` makes
 * every write whose destination path contains SUBSTRING fail with the errno CODE (ENOSPC, EDQUOT, EIO,
 * EROFS, EACCES) after half of its bytes are written, as a disk filling mid-write would. Honoured by
 * writeFileAtomic here and by the native writers (safetensors, JSON, optimizer.pt: native/core/io/
 * write_fault.h), so one variable reaches a checkpoint written by `itl train` as well as a result file
 * written by `itl eval`. Unset, it costs one environment lookup per write.
 */
import { ItlError } from '../errors.js';

const CODES: Record<string, number> = { ENOSPC: 28, EDQUOT: 122, EIO: 5, EROFS: 30, EACCES: 13 };

export interface WriteFault {
  code: string;
  substring: string;
}

export function parseWriteFaults(spec: string | undefined): WriteFault[] {
  if (!spec) return [];
  return spec
    .split(',')
    .filter(Boolean)
    .map((part) => {
      const colon = part.indexOf(':');
      const code = colon > 0 ? part.slice(0, colon) : '';
      if (!(code in CODES) || colon === part.length - 1) {
        throw new ItlError(
          'ITL_USAGE',
          `expected ITL_FAULT_WRITE entries like ENOSPC:checkpoint-4/ (codes ${Object.keys(CODES).join(', ')}) but received '${part}'`,
        );
      }
      return { code, substring: part.slice(colon + 1) };
    });
}

/** The error a write to `path` must fail with under ITL_FAULT_WRITE, or null. */
export function injectedWriteFault(path: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ErrnoException | null {
  const fault = parseWriteFaults(env.ITL_FAULT_WRITE).find((f) => path.includes(f.substring));
  if (!fault) return null;
  const error: NodeJS.ErrnoException = new Error(`${fault.code}: injected write failure (ITL_FAULT_WRITE), write '${path}'`);
  error.code = fault.code;
  error.errno = -CODES[fault.code];
  error.syscall = 'write';
  error.path = path;
  return error;
}
