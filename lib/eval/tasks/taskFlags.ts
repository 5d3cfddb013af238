/** Small checks a task's `settings` applies to its flags (yargs gives numbers unchecked). */
import { ItlError } from '../../errors.js';

/** A positive integer flag, or undefined when it was not given. */
export function optionalPositiveInteger(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new ItlError('ITL_USAGE', `expected a positive integer for ${flag} but received ${String(value)}`);
  }
  return value as number;
}

export function positiveInteger(value: unknown, flag: string): number {
  const checked = optionalPositiveInteger(value, flag);
  if (checked === undefined) throw new ItlError('ITL_USAGE', `${flag} is required`);
  return checked;
}

export function nonNegativeInteger(value: unknown, flag: string): number {
  if (!Number.isInteger(value) || (value as number) < 0) {
    throw new ItlError('ITL_USAGE', `expected an integer ≥ 0 for ${flag} but received ${String(value)}`);
  }
  return value as number;
}

/** A file flag a task cannot run without. */
export function requiredPath(value: unknown, flag: string, task: string, what: string): string {
  if (typeof value !== 'string' || value === '') throw new ItlError('ITL_USAGE', `${task} needs ${flag} ${what}`);
  return value;
}
