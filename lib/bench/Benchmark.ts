/**
 * A benchmark adds named figures to the one JSON report `itl bench [NAME…] --json` prints.
 * The matmul peak is measured once per report and shared, so every utilisation figure divides by
 * a peak taken in the same run.
 */
import type { MatmulOptions, MatmulResult } from '../native/addon.js';
import type { Runtime } from '../native/Runtime.js';

export type Figures = Record<string, unknown>;

export type MatmulDtype = NonNullable<MatmulOptions['dtype']>;

export interface BenchContext {
  runtime(): Runtime;
  /** The CPU matmul peak of this run in `dtype` (default fp32), measured on first use of that dtype. */
  matmulPeak(dtype?: MatmulDtype): Promise<MatmulResult>;
  /** Progress lines for humans (stderr); the report itself goes to stdout. */
  log(message: string): void;
}

export interface Benchmark {
  name: string;
  describe: string;
  run(context: BenchContext): Promise<Figures>;
}
