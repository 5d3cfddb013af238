/**
 * The report's figures as Vega-Lite specs, each with the data points it draws (which tests read
 * to check a figure against the study's conclusions). Conventions throughout: one colour per model,
 * ordered by size (the study's viridis-like palette); line dash and marker per mode (in-weight solid
 * with circles, in-tool dashed with triangles); error bars from the stderr columns; a log-scaled
 * facts axis. A figure whose data the table lacks is returned with `skipped` instead of a spec,
 * never drawn empty.
 */
import type { TopLevelSpec } from 'vega-lite';

import type { TrainingMode } from '../tokenize/labelMask.js';
import { KNOWN_MODELS } from '../train/models.js';
import { identifyRow, isBaseRow, type Metric, type ResultRow } from './ResultRow.js';
import { finalCheckpoints } from './selectCheckpoints.js';

export interface FigurePoint {
  run: string;
  /** Model short name, e.g. Smol360M. */
  model: string;
  mode: TrainingMode;
  facts: number;
  parameters: number;
  checkpoint: number;
  x: number;
  y: number;
  /** Standard error of y, when the table has it. */
  stderr?: number;
}

export interface Figure {
  id: string;
  title: string;
  description: string;
  points: FigurePoint[];
  spec?: TopLevelSpec;
  /** Why the figure is not drawn (the table lacks its data). */
  skipped?: string;
}

// The study's colours (its CMAP), from the smallest model to the largest.
const MODEL_COLOURS: Record<string, string> = {
  Demo: '#d95f02',
  Smol135M: '#7ad151',
  Smol360M: '#22a884',
  Lam1B: '#2a788e',
  'Smol1.7B': '#414487',
  Lam3B: '#440154',
  Lam8B: '#270031',
};

const WIDTH = 360;
const HEIGHT = 240;

/** A y axis: its column, the column of its standard error, its short title and its longer description. */
type Axis = { field: Metric; stderr?: Metric; title: string; describe?: string };

/** What the report calls the columns whose content varies: hellaswag_* hold HellaSwag in the study, a generated task in the demo. */
export interface FigureLabels {
  hellaswag: string;
}

export const DEFAULT_LABELS: FigureLabels = { hellaswag: 'HellaSwag' };

const AXES = {
  recall: {
    field: 'recall',
    stderr: 'recall_stderr',
    title: 'recall',
    describe: 'Recall (of training facts for in-weight runs, of unseen people for in-tool runs)',
  },
  general: { field: 'general_relative', stderr: 'general_relative_stderr', title: 'exact-match general ability (% of base model)' },
  kl: { field: 'kl', stderr: 'kl_stderr', title: 'KL to the base model' },
  tv: { field: 'tv', stderr: 'tv_stderr', title: 'total variation to the base model' },
  loss: { field: 'train_loss', title: 'training loss' },
} satisfies Record<string, Axis>;

/** A point for each row that has the x and y metrics; base-model rows are left out. */
function pointsOf(rows: readonly ResultRow[], x: (row: ResultRow) => number | undefined, y: Axis): FigurePoint[] {
  const points: FigurePoint[] = [];
  for (const row of rows) {
    if (isBaseRow(row)) continue;
    const { model, mode, facts } = identifyRow(row);
    const xValue = x(row);
    const yValue = row.metrics[y.field];
    if (xValue === undefined || yValue === undefined) continue;
    const stderr = y.stderr ? row.metrics[y.stderr] : undefined;
    points.push({
      run: row.run,
      model: model.shortName,
      mode,
      facts,
      parameters: model.parameters,
      checkpoint: row.checkpoint_nbr,
      x: xValue,
      y: yValue,
      ...(stderr === undefined ? {} : { stderr }),
    });
  }
  // Marks are drawn in data order: in-tool points last, so they are not hidden under in-weight ones.
  return points.sort((a, b) => (a.mode === b.mode ? 0 : a.mode === 'weight' ? -1 : 1));
}

function modelColour(points: readonly FigurePoint[]) {
  const present = KNOWN_MODELS.map((m) => m.shortName).filter((name) => points.some((p) => p.model === name));
  return {
    field: 'model',
    type: 'nominal',
    title: 'model (by size)',
    sort: present,
    scale: { domain: present, range: present.map((name) => MODEL_COLOURS[name]) },
  } as const;
}

const MODE_DASH = {
  field: 'mode',
  type: 'nominal',
  title: 'mode',
  scale: {
    domain: ['weight', 'tool'],
    range: [
      [1, 0],
      [6, 4],
    ],
  },
} as const;

const MODE_SHAPE = {
  field: 'mode',
  type: 'nominal',
  title: 'mode',
  scale: { domain: ['weight', 'tool'], range: ['circle', 'triangle-up'] },
} as const;

interface LayerOptions {
  x: Record<string, unknown>;
  yTitle: string;
  yScale?: Record<string, unknown>;
  colour: Record<string, unknown>;
  /** Which points one line joins. */
  lineDetail: string;
  lines: boolean;
}

/** Lines (optional), markers and error bars over the same x/y fields. */
function layers(o: LayerOptions): Record<string, unknown>[] {
  const y = { field: 'y', type: 'quantitative', title: o.yTitle, scale: o.yScale ?? { zero: false } };
  const tooltip = [
    { field: 'run' },
    { field: 'checkpoint', title: 'checkpoint (step)' },
    { field: 'x', format: '.4~g' },
    { field: 'y', format: '.4~g' },
  ];
  const result: Record<string, unknown>[] = [];
  if (o.lines) {
    result.push({
      mark: { type: 'line', strokeWidth: 1.5 },
      encoding: { x: o.x, y, color: o.colour, strokeDash: MODE_DASH, detail: { field: o.lineDetail } },
    });
  }
  result.push({
    mark: { type: 'point', filled: true, size: 45, opacity: 1 },
    encoding: { x: o.x, y, color: o.colour, shape: MODE_SHAPE, tooltip },
  });
  result.push({
    transform: [{ filter: 'isValid(datum.stderr)' }],
    mark: { type: 'errorbar', ticks: true },
    encoding: { x: o.x, y, yError: { field: 'stderr' }, color: o.colour },
  });
  return result;
}

const BASE_SPEC = {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  background: 'white',
  config: { font: 'DejaVu Sans', axis: { grid: true }, legend: { orient: 'right' } },
} as const;

/** A log axis ticked at the numbers of facts the runs used (the study's 500 … 50k, the demo's 128 … 2k). */
function factsAxis(points: readonly FigurePoint[], title = 'number of facts (log scale)') {
  const ticks = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  return {
    field: 'x',
    type: 'quantitative',
    title,
    scale: { type: 'log', domain: [ticks[0]! / 1.6, ticks.at(-1)! * 1.6], nice: false },
    axis: { values: ticks, format: '~s' },
  } as const;
}

function chart(title: string, points: FigurePoint[], body: Record<string, unknown>): TopLevelSpec {
  return { ...BASE_SPEC, title, data: { values: points }, width: WIDTH, height: HEIGHT, ...body } as unknown as TopLevelSpec;
}

function skip(id: string, title: string, description: string, reason: string): Figure {
  return { id, title, description, points: [], skipped: reason };
}

/** One metric at each run's final selected checkpoint against the number of facts. */
function versusFacts(id: string, title: string, finals: readonly ResultRow[], axis: Axis, yScale?: Record<string, unknown>): Figure {
  const description = `${axis.describe ?? axis.title} at each run's last selected checkpoint, against the number of facts it was trained on.`;
  const points = pointsOf(finals, (row) => identifyRow(row).facts, axis);
  if (points.length === 0) return skip(id, title, description, `no run has a '${axis.field}' value`);
  const spec = chart(title, points, {
    layer: layers({ x: factsAxis(points), yTitle: axis.title, yScale, colour: modelColour(points), lineDetail: 'series', lines: true }),
    transform: [{ calculate: "datum.model + '-' + datum.mode", as: 'series' }],
  });
  return { id, title, description, points, spec };
}

/** Recall or HellaSwag over training, one small chart per number of facts. */
function versusTraining(id: string, title: string, selected: readonly ResultRow[], axis: Axis): Figure {
  const trained = selected.filter((row) => !isBaseRow(row));
  const byEpoch = trained.length > 0 && trained.every((row) => row.metrics.epoch !== undefined);
  const xTitle = byEpoch ? 'epoch' : 'training step';
  const description =
    `${axis.describe ?? axis.title} at every selected checkpoint of each run, one panel per number of facts.` +
    (byEpoch ? '' : ' The table has no epoch for some checkpoints, so the x axis is the global training step.');
  const points = pointsOf(trained, (row) => (byEpoch ? row.metrics.epoch : row.checkpoint_nbr), axis);
  if (points.length === 0) return skip(id, title, description, `no checkpoint has a '${axis.field}' value`);
  const x = { field: 'x', type: 'quantitative', title: xTitle };
  const spec = {
    ...BASE_SPEC,
    title,
    data: { values: points },
    facet: { field: 'facts', type: 'ordinal', title: 'number of facts' },
    columns: 3,
    spec: {
      width: 220,
      height: 150,
      layer: layers({ x, yTitle: axis.title, colour: modelColour(points), lineDetail: 'run', lines: true }),
    },
    resolve: { scale: { x: 'independent' } },
  } as unknown as TopLevelSpec;
  return { id, title, description, points, spec };
}

function recallVersusModelSize(finals: readonly ResultRow[]): Figure {
  const id = 'recall_vs_model_size';
  const title = 'Recall vs model size';
  const description =
    "Recall at each run's last selected checkpoint against the model's parameter count; one colour per number of facts " +
    '(here the x axis carries the model size), dashed lines for in-tool runs.';
  const points = pointsOf(finals, (row) => identifyRow(row).model.parameters, AXES.recall);
  if (points.length === 0) return skip(id, title, description, "no run has a 'recall' value");
  const colour = { field: 'facts', type: 'ordinal', title: 'number of facts', scale: { scheme: 'viridis', reverse: true } };
  const x = {
    field: 'x',
    type: 'quantitative',
    title: 'parameters (log scale)',
    scale: { type: 'log' },
    axis: { labelExpr: "replace(format(datum.value, '~s'), 'G', 'B')" },
  };
  const spec = chart(title, points, {
    transform: [{ calculate: "datum.facts + '-' + datum.mode", as: 'series' }],
    layer: layers({ x, yTitle: AXES.recall.title, yScale: { domain: [0, 1] }, colour, lineDetail: 'series', lines: true }),
  });
  return { id, title, description, points, spec };
}

/** A scatter of one metric against KL (symmetric-log x axis: KL spans 0.005 to 10). */
function versusKl(id: string, title: string, rows: readonly ResultRow[], axis: Axis, description: string, missing: string): Figure {
  const points = pointsOf(rows, (row) => row.metrics.kl, axis);
  if (points.length === 0) return skip(id, title, description, missing);
  const x = {
    field: 'x',
    type: 'quantitative',
    title: 'KL to the base model (symlog scale)',
    scale: { type: 'symlog', constant: 0.01 },
    axis: { values: [0, 0.01, 0.03, 0.1, 0.3, 1, 3, 10], format: '~r' },
  };
  const spec = chart(title, points, {
    layer: layers({ x, yTitle: axis.title, colour: modelColour(points), lineDetail: 'run', lines: false }),
  });
  return { id, title, description, points, spec };
}

/** The hellaswag_relative axis, named for what the column holds. */
function hellaswagAxis(labels: FigureLabels): Axis {
  return { field: 'hellaswag_relative', stderr: 'hellaswag_relative_stderr', title: `${labels.hellaswag} (% of base model)` };
}

/**
 * Every figure of the report, from the selected rows (base rows included). Order is the report's.
 */
export function buildFigures(selected: readonly ResultRow[], labels: FigureLabels = DEFAULT_LABELS): Figure[] {
  const finals = finalCheckpoints(selected);
  const hellaswag = hellaswagAxis(labels);
  return [
    versusFacts('recall_vs_facts', 'Recall vs number of facts', finals, AXES.recall, { domain: [0, 1] }),
    versusFacts('hellaswag_vs_facts', `${labels.hellaswag} (relative) vs number of facts`, finals, hellaswag),
    versusFacts('kl_vs_facts', 'KL divergence vs number of facts', finals, AXES.kl),
    versusFacts('tv_vs_facts', 'Total variation vs number of facts', finals, AXES.tv),
    versusTraining('recall_vs_epoch', 'Recall during training', selected, AXES.recall),
    versusTraining('hellaswag_vs_epoch', `${labels.hellaswag} (relative) during training`, selected, hellaswag),
    recallVersusModelSize(finals),
    versusKl(
      'loss_vs_kl',
      'Final training loss vs KL',
      finals,
      AXES.loss,
      "Training loss logged at each run's last selected checkpoint against its KL to the base model.",
      "the table has no training loss ('train_loss' column; it is read from RUNS/<run>/checkpoint-<step>/trainer_state.json when --runs-dir is given)",
    ),
    versusKl(
      'hellaswag_vs_kl',
      `${labels.hellaswag} (relative) vs KL`,
      selected,
      hellaswag,
      `${labels.hellaswag} relative to the base model against KL to the base model, at every selected checkpoint.`,
      "no checkpoint has both 'kl' and 'hellaswag_relative'",
    ),
    versusFacts('general_vs_facts', 'Exact-match general ability (relative) vs number of facts', finals, AXES.general),
    versusKl(
      'general_vs_kl',
      'Exact-match general ability (relative) vs KL',
      selected,
      AXES.general,
      'Accuracy on held-out general questions (itl eval general) relative to the base model against KL to the base model, at every selected checkpoint.',
      "no checkpoint has both 'kl' and 'general_relative'",
    ),
  ];
}
