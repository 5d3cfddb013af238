/**
 * The study's checkpoint selection: per run, the checkpoints up to and including the first whose
 * recall reaches threshold × 0.99, so HellaSwag and KL are read when the facts have just been
 * learned rather than after further over-training. A run that never gets there keeps all its
 * checkpoints. The `recall` column already holds the split selection uses (training facts for
 * in-weight runs, unseen people for in-tool runs).
 */
import { isBaseRow, type ResultRow } from './ResultRow.js';

export interface Selection {
  threshold: number;
  allCheckpoints: boolean;
}

/** The factor the study applies, so that 297/300 counts as having learned every fact. */
const TOLERANCE = 0.99;

/** Rows sorted by run then checkpoint, keeping the selected checkpoints and every base row. */
export function selectCheckpoints(rows: readonly ResultRow[], selection: Selection): ResultRow[] {
  const byRun = new Map<string, ResultRow[]>();
  for (const row of rows) {
    const list = byRun.get(row.run) ?? [];
    list.push(row);
    byRun.set(row.run, list);
  }
  const kept: ResultRow[] = [];
  for (const run of [...byRun.keys()].sort()) {
    const checkpoints = byRun.get(run)!.sort((a, b) => a.checkpoint_nbr - b.checkpoint_nbr);
    if (selection.allCheckpoints) {
      kept.push(...checkpoints);
      continue;
    }
    const target = selection.threshold * TOLERANCE;
    const first = checkpoints.findIndex((r) => r.metrics.recall !== undefined && r.metrics.recall >= target);
    kept.push(...(first < 0 ? checkpoints : checkpoints.slice(0, first + 1)));
  }
  return kept;
}

/** The last kept checkpoint of each trained run (base rows excluded), in run order. */
export function finalCheckpoints(rows: readonly ResultRow[]): ResultRow[] {
  const last = new Map<string, ResultRow>();
  for (const row of rows) {
    if (isBaseRow(row)) continue;
    const seen = last.get(row.run);
    if (!seen || row.checkpoint_nbr > seen.checkpoint_nbr) last.set(row.run, row);
  }
  return [...last.keys()].sort().map((run) => last.get(run)!);
}
