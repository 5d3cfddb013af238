/**
 * Rows of the same runs trained with different seeds, as one table: per (run, checkpoint), each
 * metric's mean over the seeds that have it, and in its stderr column the standard error of that
 * mean across seeds (sample standard deviation ÷ √n) — the error bars the study draws over seeds.
 * The `seeds` column says how many seeds a row averages. A base-model row is one model evaluated
 * once per seed folder: when every seed's row is the same it is kept as it is (with the
 * evaluation's own standard errors); otherwise it is averaged like the others.
 */
import { ItlError } from '../errors.js';
import { isBaseRow, METRICS, type Metric, type ResultRow } from './ResultRow.js';

/** Each metric whose spread a stderr column carries, with that column. */
const STDERR_OF: Partial<Record<Metric, Metric>> = Object.fromEntries(
  METRICS.filter((m) => METRICS.includes(`${m}_stderr` as Metric)).map((m) => [m, `${m}_stderr` as Metric]),
);
const STDERR_COLUMNS = new Set(Object.values(STDERR_OF));

/** Mean and standard error of the mean (sample standard deviation ÷ √n; undefined for n < 2). */
export function meanAndStderr(values: readonly number[]): { mean: number; stderr?: number } {
  if (values.length === 0) throw new ItlError('ITL_INTERNAL', 'meanAndStderr of no values');
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length < 2) return { mean };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, stderr: Math.sqrt(variance / values.length) };
}

function aggregateRow(rows: readonly ResultRow[]): ResultRow {
  const first = rows[0]!;
  if (isBaseRow(first) && rows.every((r) => JSON.stringify(r.metrics) === JSON.stringify(first.metrics))) {
    return { ...first, metrics: { ...first.metrics, seeds: rows.length } };
  }
  const metrics: Partial<Record<Metric, number>> = {};
  for (const metric of METRICS) {
    if (STDERR_COLUMNS.has(metric) || metric === 'seeds') continue;
    const values = rows.map((r) => r.metrics[metric]).filter((v): v is number => v !== undefined);
    if (values.length === 0) continue;
    const { mean, stderr } = meanAndStderr(values);
    metrics[metric] = mean;
    const stderrColumn = STDERR_OF[metric];
    if (stderrColumn === undefined) continue;
    // One seed has no spread across seeds: its evaluation's own standard error is the only one there is.
    const own = values.length === 1 ? rows.find((r) => r.metrics[metric] !== undefined)!.metrics[stderrColumn] : stderr;
    if (own !== undefined) metrics[stderrColumn] = own;
  }
  metrics.seeds = rows.length;
  return { ...first, metrics };
}

/**
 * One table from one table per seed. Rows are matched by run and checkpoint; a row only some seeds
 * have (a checkpoint one seed has not reached yet) averages the seeds that have it, and says so in
 * its `seeds` column. Order: the first table's rows, then rows only later tables have.
 */
export function aggregateSeeds(tables: readonly (readonly ResultRow[])[]): ResultRow[] {
  const groups = new Map<string, ResultRow[]>();
  for (const table of tables) {
    for (const row of table) {
      const key = `${row.run}\u0000${row.checkpoint_nbr}`;
      const group = groups.get(key) ?? [];
      group.push(row);
      groups.set(key, group);
    }
  }
  return [...groups.values()].map(aggregateRow);
}
