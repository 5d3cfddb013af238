/**
 * The study's published grid: the 36 runs named in the `run` column of its results table
 * (../shared/reference/paper-results/large_scale_results.csv, in that file's order, base-model rows
 * left out). That table is authoritative: the shell scripts of the study's repository differ from it
 * in places. Each name carries the run's settings (lib/train/runName.ts); docs/design.md ("The study's
 * settings") summarises them. The order is the grid's run index (`itl grid --index I`, a SLURM array task id).
 */
import { parseRunName, type RunName } from '../train/runName.js';

export const STUDY_RUN_NAMES: readonly string[] = [
  'sft_Lam1B_facts=500-epochs=30-batch=8-gradAcc=16-LR=5e-5-loraR=0-loraA=0-weight',
  'sft_Lam1B_facts=1000-epochs=20-batch=4-gradAcc=32-LR=5e-5-loraR=0-loraA=0-weight',
  'sft_Lam1B_facts=5000-epochs=25-batch=8-gradAcc=16-LR=5e-5-loraR=0-loraA=0-weight',
  'sft_Lam1B_facts=10000-epochs=20-batch=4-gradAcc=32-LR=5e-5-loraR=0-loraA=0-weight',
  'sft_Lam1B_facts=50000-epochs=20-batch=4-gradAcc=32-LR=5e-5-loraR=0-loraA=0-weight',
  'sft_Lam3B_facts=500-epochs=50-batch=4-gradAcc=32-LR=4e-5-loraR=0-loraA=0-weight',
  'sft_Lam3B_facts=1000-epochs=30-batch=4-gradAcc=32-LR=4e-5-loraR=0-loraA=0-weight',
  'sft_Lam3B_facts=5000-epochs=30-batch=4-gradAcc=32-LR=4e-5-loraR=0-loraA=0-weight',
  'sft_Lam3B_facts=10000-epochs=30-batch=4-gradAcc=32-LR=4e-5-loraR=0-loraA=0-weight',
  'sft_Lam3B_facts=50000-epochs=30-batch=4-gradAcc=32-LR=4e-5-loraR=0-loraA=0-weight',
  'sft_Lam8B_facts=500-epochs=50-batch=4-gradAcc=32-LR=2e-5-loraR=0-loraA=0-weight',
  'sft_Lam8B_facts=1000-epochs=80-batch=4-gradAcc=64-LR=2e-5-loraR=0-loraA=0-weight',
  'sft_Lam8B_facts=5000-epochs=40-batch=4-gradAcc=32-LR=2e-5-loraR=0-loraA=0-weight',
  'sft_Lam8B_facts=10000-epochs=80-batch=4-gradAcc=64-LR=2e-5-loraR=0-loraA=0-weight',
  'sft_Lam8B_facts=50000-epochs=80-batch=4-gradAcc=64-LR=2e-5-loraR=0-loraA=0-weight',
  'sft_Lam1B_facts=500-epochs=15-batch=4-gradAcc=32-LR=5e-5-loraR=0-loraA=0-tool',
  'sft_Lam3B_facts=500-epochs=15-batch=4-gradAcc=32-LR=4e-5-loraR=0-loraA=0-tool',
  'sft_Lam8B_facts=500-epochs=40-batch=4-gradAcc=32-LR=2e-5-loraR=0-loraA=0-tool',
  'sft_Smol135M_facts=500-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight',
  'sft_Smol135M_facts=1000-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight',
  'sft_Smol135M_facts=5000-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight',
  'sft_Smol135M_facts=10000-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight',
  'sft_Smol135M_facts=50000-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight',
  'sft_Smol360M_facts=500-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight',
  'sft_Smol360M_facts=1000-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight',
  'sft_Smol360M_facts=5000-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight',
  'sft_Smol360M_facts=10000-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight',
  'sft_Smol360M_facts=50000-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight',
  'sft_Smol1.7B_facts=500-epochs=30-batch=64-gradAcc=2-LR=3e-4-loraR=0-loraA=0-weight',
  'sft_Smol1.7B_facts=1000-epochs=30-batch=64-gradAcc=2-LR=3e-4-loraR=0-loraA=0-weight',
  'sft_Smol1.7B_facts=5000-epochs=30-batch=64-gradAcc=2-LR=3e-4-loraR=0-loraA=0-weight',
  'sft_Smol1.7B_facts=10000-epochs=30-batch=64-gradAcc=2-LR=3e-4-loraR=0-loraA=0-weight',
  'sft_Smol1.7B_facts=50000-epochs=30-batch=64-gradAcc=2-LR=3e-4-loraR=0-loraA=0-weight',
  'sft_Smol135M_facts=1000-epochs=15-batch=64-gradAcc=2-LR=1e-4-loraR=0-loraA=0-tool',
  'sft_Smol360M_facts=1000-epochs=15-batch=64-gradAcc=1-LR=1e-4-loraR=0-loraA=0-tool',
  'sft_Smol1.7B_facts=1000-epochs=15-batch=64-gradAcc=2-LR=5e-5-loraR=0-loraA=0-tool',
];

export interface GridRun extends RunName {
  name: string;
  /** Position in the study's table: the value of `--index`. */
  index: number;
}

/** The study's runs, parsed (a malformed name would fail here, at load, not half-way through a grid). */
export const STUDY_RUNS: readonly GridRun[] = STUDY_RUN_NAMES.map((name, index) => ({ ...parseRunName(name), name, index }));
