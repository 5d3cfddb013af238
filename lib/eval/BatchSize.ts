/**
 * The batch size of an evaluation, backed off when the device runs out of memory: a failed native
 * call is retried with half the rows (128 → 64 → … → 1), logged, and the smaller size is kept for
 * the rest of the evaluation. Work is cut into chunks, one native call each, so an out-of-memory
 * error costs only the chunk in progress: chunks already computed are kept.
 */
import { asItlError } from '../errors.js';

export class BatchSize {
  private size: number;
  private readonly log: (message: string) => void;

  constructor(initial: number, log: (message: string) => void) {
    this.size = initial;
    this.log = log;
  }

  get current(): number {
    return this.size;
  }

  /** `work(batchRows)`, retried with half the rows after each out-of-memory error. */
  async run<T>(what: string, work: (batchRows: number) => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await work(this.size);
      } catch (thrown) {
        const error = asItlError(thrown);
        if (error.code !== 'ITL_OUT_OF_MEMORY' || this.size === 1) throw error;
        const next = Math.max(1, Math.floor(this.size / 2));
        this.log(`${what}: out of memory at batch size ${this.size}, retrying with ${next} (${error.message})`);
        this.size = next;
      }
    }
  }

  /** Runs `work` on consecutive chunks of `items`, each through `run`, and concatenates the results. */
  async chunked<I, R>(
    what: string,
    items: readonly I[],
    chunk: number,
    work: (part: readonly I[], batchRows: number) => Promise<R[]>,
    onChunk?: (done: number, total: number) => void,
  ): Promise<R[]> {
    const out: R[] = [];
    for (let start = 0; start < items.length; start += chunk) {
      const part = items.slice(start, start + chunk);
      out.push(...(await this.run(what, (rows) => work(part, rows))));
      onChunk?.(Math.min(items.length, start + chunk), items.length);
    }
    return out;
  }
}
