/**
 * `itl analyze` end to end: rows (from the evaluation folder or an existing results CSV) →
 * checkpoint selection → RESULTS/results.csv, RESULTS/plots/<figure>.{svg,png,vl.json},
 * RESULTS/report/index.html. Everything is written into a staging folder inside RESULTS and moved
 * into place at the end, so an interrupted run leaves the previous outputs, never a half-written set;
 * re-running after more evaluation results arrive regenerates all of it.
 */
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ItlError } from '../errors.js';
import { aggregateSeeds } from './aggregateSeeds.js';
import { collectResults } from './collectResults.js';
import { buildFigures, type Figure } from './figures.js';
import { renderPng, renderSvg } from './renderFigure.js';
import { reportHtml } from './reportHtml.js';
import type { ResultRow } from './ResultRow.js';
import { formatResultsCsv, parseResultsCsv } from './resultsCsv.js';
import { finalCheckpoints, selectCheckpoints, type Selection } from './selectCheckpoints.js';

/**
 * An evaluation folder (with its training folder, for epochs and losses), a results table, or one
 * evaluation folder per seed of the same runs, whose rows are averaged (aggregateSeeds.ts).
 */
export type AnalyzeSource =
  | { kind: 'eval'; evalDir: string; runsDir?: string }
  | { kind: 'csv'; file: string }
  | { kind: 'seeds'; folders: { evalDir: string; runsDir?: string }[] };

export interface AnalyzeOptions {
  source: AnalyzeSource;
  outDir: string;
  selection: Selection;
  /** What the hellaswag_* columns hold, for titles and tables (default 'HellaSwag'; the demo's is a generated task). */
  hellaswagLabel?: string;
  /** Progress lines for humans. */
  log?: (message: string) => void;
}

export interface AnalyzeResult {
  /** Rows read (before selection) and kept. */
  rowsRead: number;
  rowsKept: number;
  runs: number;
  figures: { id: string; drawn: boolean; skipped?: string }[];
  /** Skipped inputs, each naming its path. Non-empty means the command exits non-zero. */
  problems: string[];
  resultsCsv: string;
  reportHtml: string;
  plotsDir: string;
  /** The figures themselves (data and specs), for callers that check them. */
  figureData: Figure[];
}

async function readRows(source: AnalyzeSource): Promise<{ rows: ResultRow[]; problems: string[]; label: string }> {
  if (source.kind === 'eval') {
    const { rows, problems } = await collectResults({ evalDir: source.evalDir, runsDir: source.runsDir });
    return { rows, problems, label: source.evalDir };
  }
  if (source.kind === 'seeds') return readSeeds(source.folders);
  let text: string;
  try {
    text = await readFile(source.file, 'utf8');
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot read results table '${source.file}' (${(error as Error).message})`);
  }
  return { rows: parseResultsCsv(text, source.file), problems: [], label: source.file };
}

/** One evaluation folder per seed of the same runs: their rows averaged (mean, and standard error across seeds). */
async function readSeeds(
  folders: { evalDir: string; runsDir?: string }[],
): Promise<{ rows: ResultRow[]; problems: string[]; label: string }> {
  const tables: ResultRow[][] = [];
  const problems: string[] = [];
  for (const folder of folders) {
    const collected = await collectResults(folder);
    tables.push(collected.rows);
    problems.push(...collected.problems);
  }
  const seeds = `${folders.length} seed${folders.length === 1 ? '' : 's'}`;
  const label = `${folders.map((f) => f.evalDir).join(', ')} (mean and standard error across ${seeds})`;
  return { rows: aggregateSeeds(tables), problems, label };
}

function selectionNote(selection: Selection): string {
  return selection.allCheckpoints
    ? 'All checkpoints kept (--all-checkpoints).'
    : `Per run, checkpoints up to the first whose recall reaches ${selection.threshold} × 0.99 (--threshold ${selection.threshold}).`;
}

/** Moves each staged entry over its destination, keeping the old one only until the swap is done. */
async function publish(stage: string, outDir: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const old = join(stage, `previous-${name}`);
    const destination = join(outDir, name);
    try {
      await rename(destination, old);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await rename(join(stage, name), destination);
  }
}

async function writeFigures(figures: Figure[], plotsDir: string, log: (m: string) => void) {
  await mkdir(plotsDir, { recursive: true });
  const rendered: { figure: Figure; svg?: string }[] = [];
  for (const figure of figures) {
    if (!figure.spec) {
      log(`figure ${figure.id}: skipped (${figure.skipped})`);
      rendered.push({ figure });
      continue;
    }
    const svg = await renderSvg(figure.spec, figure.id);
    await writeFile(join(plotsDir, `${figure.id}.svg`), svg);
    await writeFile(join(plotsDir, `${figure.id}.png`), renderPng(svg));
    await writeFile(join(plotsDir, `${figure.id}.vl.json`), JSON.stringify(figure.spec, null, 1));
    rendered.push({ figure, svg });
  }
  return rendered;
}

export async function analyze(options: AnalyzeOptions): Promise<AnalyzeResult> {
  const log = options.log ?? (() => {});
  const { rows, problems, label } = await readRows(options.source);
  const kept = selectCheckpoints(rows, options.selection);
  const finals = finalCheckpoints(kept);
  const labels = { hellaswag: options.hellaswagLabel ?? 'HellaSwag' };
  const figures = buildFigures(kept, labels);

  await mkdir(options.outDir, { recursive: true });
  const stage = await mkdtemp(join(options.outDir, '.analyze-'));
  try {
    await writeFile(join(stage, 'results.csv'), formatResultsCsv(kept));
    const rendered = await writeFigures(figures, join(stage, 'plots'), log);
    await mkdir(join(stage, 'report'));
    const note = selectionNote(options.selection);
    const html = reportHtml({ figures: rendered, finals, source: label, selectionNote: note, problems, labels });
    await writeFile(join(stage, 'report', 'index.html'), html);
    await publish(stage, options.outDir, ['results.csv', 'plots', 'report']);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  return {
    rowsRead: rows.length,
    rowsKept: kept.length,
    runs: finals.length,
    figures: figures.map((f) => ({ id: f.id, drawn: f.spec !== undefined, ...(f.skipped ? { skipped: f.skipped } : {}) })),
    problems,
    resultsCsv: join(options.outDir, 'results.csv'),
    reportHtml: join(options.outDir, 'report', 'index.html'),
    plotsDir: join(options.outDir, 'plots'),
    figureData: figures,
  };
}
