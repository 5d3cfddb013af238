/**
 * Chat templates are programs from a model folder: one that loops 10⁸ times (or builds a gigantic
 * string) must fail fast with a clear error, not run the process out of heap after a minute. Jinja
 * rendering is synchronous JavaScript, so the bound is enforced inside the interpreter: every
 * evaluation step of @huggingface/jinja's Interpreter is counted while a bounded render is active
 * (the prototype's `evaluate` is wrapped once; outside a bounded render it only checks a null), the
 * clock is read every 4,096 steps, every value produced is checked against the size limit, and
 * `range()` refuses to build a list longer than the limit before allocating it (the library's global
 * `range` is swapped for a bounded one as the render's environment declares it).
 *
 * The limits are far above what a real chat template needs for one dialogue (Llama 3.2's and SmolLM2's
 * render a five-message dialogue with a tool turn in under 200 steps, about a millisecond), so they
 * never change a legitimate result; the interpreter runs ~1-4 million steps a second here, so a
 * runaway template stops within about two seconds.
 */
import { Environment, Interpreter, type Template } from '@huggingface/jinja';

import { ItlError } from '../errors.js';

export interface RenderLimits {
  /** Evaluation steps of the interpreter (one per node evaluated). */
  maxSteps: number;
  /** Wall-clock time, in ms. */
  maxMs: number;
  /** Characters of any value produced, the output included. */
  maxChars: number;
  /** Elements of a list built by range(). */
  maxRange: number;
}

export const DEFAULT_RENDER_LIMITS: RenderLimits = { maxSteps: 1_000_000, maxMs: 2_000, maxChars: 16_000_000, maxRange: 1_000_000 };

interface Budget {
  limits: RenderLimits;
  steps: number;
  deadline: number;
}

let active: Budget | null = null;

type Evaluate = (this: unknown, statement: unknown, environment: unknown) => { value?: unknown };
const prototype = Interpreter.prototype as unknown as { evaluate: Evaluate; __itlBounded?: boolean };
if (!prototype.__itlBounded) {
  const evaluate = prototype.evaluate;
  prototype.evaluate = function bounded(statement, environment) {
    const budget = active;
    if (budget === null) return evaluate.call(this, statement, environment);
    if (++budget.steps > budget.limits.maxSteps) {
      throw limitError(`it took more than ${budget.limits.maxSteps.toLocaleString('en-US')} evaluation steps`);
    }
    if ((budget.steps & 4095) === 0 && performance.now() > budget.deadline)
      throw limitError(`it ran longer than ${budget.limits.maxMs} ms`);
    const result = evaluate.call(this, statement, environment);
    const value = result?.value;
    if (typeof value === 'string' && value.length > budget.limits.maxChars) {
      throw limitError(
        `it produced a string of ${value.length.toLocaleString('en-US')} characters (limit ${budget.limits.maxChars.toLocaleString('en-US')})`,
      );
    }
    return result;
  };
  const environment = Environment.prototype as unknown as { set: (name: string, value: unknown) => unknown };
  const set = environment.set;
  environment.set = function declare(name, value) {
    return set.call(this, name, active !== null && name === 'range' ? boundedRange(active.limits.maxRange) : value);
  };
  prototype.__itlBounded = true;
}

function limitError(what: string): ItlError {
  return new ItlError('ITL_CONFIG', `rendering one dialogue stopped: ${what}; the chat template loops or grows without bound`);
}

/** Python's range(), as the library's, but refusing a list longer than the limit before building it. */
function boundedRange(maxRange: number) {
  return (start: number, stop?: number, step = 1): number[] => {
    if (stop === undefined) [start, stop] = [0, start];
    if (step === 0) throw new Error('range() step must not be zero');
    const length = Math.max(0, Math.ceil((stop - start) / step));
    if (!(length <= maxRange))
      throw limitError(`range() of ${length.toLocaleString('en-US')} elements (limit ${maxRange.toLocaleString('en-US')})`);
    return Array.from({ length }, (_, i) => start + i * step);
  };
}

/** `render()` under `limits`: ItlError(ITL_CONFIG) when the template it runs exceeds one of them. */
export function withRenderLimits<T>(render: () => T, limits: RenderLimits = DEFAULT_RENDER_LIMITS): T {
  const outer = active;
  active = { limits, steps: 0, deadline: performance.now() + limits.maxMs };
  try {
    return render();
  } finally {
    active = outer;
  }
}

/** `template.render(items)` under `limits`: ItlError(ITL_CONFIG) when the template exceeds one of them. */
export function boundedRender(template: Template, items: Record<string, unknown>, limits: RenderLimits = DEFAULT_RENDER_LIMITS): string {
  return withRenderLimits(() => template.render(items), limits);
}
