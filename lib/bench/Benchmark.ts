/**
 * A benchmark adds named figures to the one JSON report `itl bench [NAME…] --json` prints.
 * The matmul peak is measured once per report and shared, so every utilisation figure divides by
 * a peak taken in the same run.
 */
import type { MatmulResult } from '../native/addon.js';
import type { Runtime } from '../native/Runtime.js';

export type Figures = Record<string, unknown>;

export interface BenchContext {
  runtime(): Runtime;
  /** The fp32 CPU matmul peak of this run, measured on first use. */
  matmulPeak(): Promise<MatmulResult>;
  /** Progress lines for humans (stderr); the report itself goes to stdout. */
  log(message: string): void;
}

export interface Benchmark {
  name: string;
  describe: string;
  run(context: BenchContext): Promise<Figures>;
}
