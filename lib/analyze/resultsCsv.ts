/**
 * results.csv: the study's columns in the study's order (after pandas' unnamed index column, which
 * its plotting script expects), then ours. Numbers are written in JavaScript's shortest round-trip
 * form; a missing metric is an empty cell.
 */
import { ItlError } from '../errors.js';
import { formatCsv, parseCsvTable } from './csv.js';
import { METRICS, STUDY_METRICS, identifyRow, type Metric, type ResultRow } from './ResultRow.js';

const KEY_COLUMNS = ['run', 'model', 'dataset_size', 'checkpoint_nbr'] as const;
const INDEX_COLUMN = '';

export function formatResultsCsv(rows: readonly ResultRow[]): string {
  const header = [INDEX_COLUMN, ...KEY_COLUMNS, ...METRICS];
  const records = rows.map((row, index) => [
    String(index),
    row.run,
    row.model,
    row.dataset_size,
    String(row.checkpoint_nbr),
    ...METRICS.map((metric) => {
      const value = row.metrics[metric];
      return value === undefined ? '' : String(value);
    }),
  ]);
  return formatCsv([header, ...records]);
}

function parseNumber(text: string, where: string): number {
  // Number('') is 0 and Number(' 1') is 1: only a plain decimal or exponential literal is a number here.
  if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    throw new ItlError('ITL_DATA', `${where}: '${text}' is not a number`);
  }
  return Number(text);
}

/**
 * Reads a results table written by formatResultsCsv or by the study. Every study column must be
 * there; our extra columns are optional; rows whose run, model and size disagree are errors naming
 * the file and line.
 */
export function parseResultsCsv(text: string, source: string): ResultRow[] {
  const table = parseCsvTable(text, source);
  const missing = [...KEY_COLUMNS, ...STUDY_METRICS].filter((c) => !table.header.includes(c));
  if (missing.length > 0) {
    throw new ItlError('ITL_DATA', `${source}: missing column(s) ${missing.join(', ')}`);
  }
  const present = METRICS.filter((m) => table.header.includes(m));
  return table.rows.map(({ line, values }) => {
    const where = `${source}:${line}`;
    const checkpointText = values.checkpoint_nbr;
    if (!/^(0|[1-9]\d*)$/.test(checkpointText)) {
      throw new ItlError('ITL_DATA', `${where}: checkpoint_nbr '${checkpointText}' is not a global step`);
    }
    const metrics: Partial<Record<Metric, number>> = {};
    for (const metric of present) {
      const cell = values[metric];
      if (cell !== '') metrics[metric] = parseNumber(cell, `${where}: ${metric}`);
    }
    const row: ResultRow = {
      run: values.run,
      model: values.model,
      dataset_size: values.dataset_size,
      checkpoint_nbr: Number(checkpointText),
      metrics,
    };
    try {
      identifyRow(row);
    } catch (error) {
      throw new ItlError('ITL_DATA', `${where}: ${(error as Error).message}`);
    }
    return row;
  });
}
