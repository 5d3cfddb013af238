/**
 * The report page: one self-contained HTML file (inline SVG figures, inline CSS and script, no
 * network), so it opens from disk and can be mailed or archived as is. Sections: figures, a sortable
 * table of each run's last selected checkpoint, the run configurations, and what was skipped.
 */
import { findModel } from '../train/models.js';
import { formatLearningRate } from '../train/runName.js';
import { identifyRow, type Metric, type ResultRow } from './ResultRow.js';
import { DEFAULT_LABELS, type Figure, type FigureLabels } from './figures.js';

export interface ReportInput {
  figures: { figure: Figure; svg?: string }[];
  /** Each run's last selected checkpoint. */
  finals: ResultRow[];
  /** Where the numbers came from, e.g. the evaluation folder or CSV path. */
  source: string;
  selectionNote: string;
  problems: string[];
  /** What the hellaswag columns hold (default: HellaSwag). */
  labels?: FigureLabels;
}

function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function formatNumber(value: number | undefined, digits = 4): string {
  if (value === undefined) return '';
  return Number.isInteger(value) ? String(value) : value.toPrecision(digits);
}

type TableMetric = { metric: Metric; stderr?: Metric; label: string };

/** The finals table's metric columns; the hellaswag ones named for what they hold, the seeds column only when rows average seeds. */
function tableMetrics(labels: FigureLabels, finals: readonly ResultRow[]): TableMetric[] {
  return [
    { metric: 'recall', stderr: 'recall_stderr', label: 'recall' },
    { metric: 'hellaswag_absolute', stderr: 'hellaswag_absolute_stderr', label: `${labels.hellaswag} acc` },
    { metric: 'hellaswag_relative', stderr: 'hellaswag_relative_stderr', label: `${labels.hellaswag} %` },
    { metric: 'general_relative', stderr: 'general_relative_stderr', label: 'exact-match general %' },
    { metric: 'kl', stderr: 'kl_stderr', label: 'KL' },
    { metric: 'tv', stderr: 'tv_stderr', label: 'TV' },
    { metric: 'epoch', label: 'epoch' },
    { metric: 'train_loss', label: 'train loss' },
    ...(finals.some((row) => row.metrics.seeds !== undefined) ? [{ metric: 'seeds', label: 'seeds' } as const] : []),
  ];
}

/** A cell carrying its sort key: numbers sort numerically, empty cells last. */
function cell(text: string, sortKey: number | string | undefined): string {
  const key = sortKey === undefined ? '' : ` data-sort="${escapeHtml(String(sortKey))}"`;
  return `<td${key}>${escapeHtml(text)}</td>`;
}

function header(label: string, numeric: boolean): string {
  return `<th data-type="${numeric ? 'number' : 'text'}" tabindex="0" role="columnheader" aria-sort="none">${escapeHtml(label)}</th>`;
}

function finalsTable(finals: readonly ResultRow[], labels: FigureLabels): string {
  const columns = tableMetrics(labels, finals);
  const head = [header('run', false), header('model', false), header('mode', false), header('facts', true), header('checkpoint', true)]
    .concat(columns.map((m) => header(m.label, true)))
    .join('');
  const body = finals
    .map((row) => {
      const id = identifyRow(row);
      const metrics = columns.map(({ metric, stderr }) => {
        const value = row.metrics[metric];
        const error = stderr ? row.metrics[stderr] : undefined;
        const text = value === undefined ? '' : formatNumber(value) + (error === undefined ? '' : ` ± ${formatNumber(error, 2)}`);
        return cell(text, value);
      });
      return (
        '<tr>' +
        cell(row.run, row.run) +
        cell(id.model.shortName, id.model.parameters) +
        cell(id.mode, id.mode) +
        cell(String(id.facts), id.facts) +
        cell(String(row.checkpoint_nbr), row.checkpoint_nbr) +
        metrics.join('') +
        '</tr>'
      );
    })
    .join('\n');
  return `<div class="scroll"><table id="finals" class="sortable"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

function configurationsTable(finals: readonly ResultRow[]): string {
  const columns = [
    'run',
    'model',
    'Hugging Face id',
    'parameters',
    'mode',
    'facts',
    'epochs',
    'batch',
    'grad. acc.',
    'LR',
    'LoRA r',
    'LoRA α',
  ];
  const rows = finals.map((row) => {
    const run = identifyRow(row).runName!;
    const model = findModel(run.model)!;
    const values = [
      row.run,
      run.model,
      model.hfId,
      model.parameters.toLocaleString('en-US'),
      run.mode,
      String(run.facts),
      String(run.epochs),
      String(run.batch),
      String(run.gradAcc),
      formatLearningRate(run.lr),
      String(run.loraR),
      String(run.loraAlpha),
    ];
    return `<tr>${values.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`;
  });
  return `<div class="scroll"><table id="configurations"><thead><tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

function figureSection({ figure, svg }: { figure: Figure; svg?: string }): string {
  const body = svg
    ? `<div class="plot" data-figure="${figure.id}">${svg}</div>`
    : `<p class="skipped" data-figure="${figure.id}">Not drawn: ${escapeHtml(figure.skipped ?? 'no data')}.</p>`;
  return `<figure id="fig-${figure.id}"><figcaption><strong>${escapeHtml(figure.title)}.</strong> ${escapeHtml(figure.description)}</figcaption>${body}</figure>`;
}

const STYLE = `
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1300px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.figures { display: flex; flex-wrap: wrap; gap: 1.5em; }
figure { margin: 0; max-width: 100%; }
figcaption { font-size: 0.85em; max-width: 560px; margin-bottom: 0.4em; }
.plot svg { max-width: 100%; height: auto; }
.skipped { color: #8a5a00; font-style: italic; }
table { border-collapse: collapse; font-size: 0.8em; }
.scroll { overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; white-space: nowrap; }
td:first-child, th:first-child { text-align: left; }
table.sortable th { cursor: pointer; background: #f3f3f3; user-select: none; }
th[aria-sort="ascending"]::after { content: " ▲"; } th[aria-sort="descending"]::after { content: " ▼"; }
.problems li { color: #a00; font-family: monospace; }
`;

// Sorting by the cells' data-sort keys; empty cells stay at the bottom whatever the direction.
const SCRIPT = `
document.querySelectorAll('table.sortable').forEach(function (table) {
  var headers = table.querySelectorAll('th');
  headers.forEach(function (th, column) {
    function sort() {
      var ascending = th.getAttribute('aria-sort') !== 'ascending';
      headers.forEach(function (other) { other.setAttribute('aria-sort', 'none'); });
      th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
      var numeric = th.dataset.type === 'number';
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.sort, y = b.cells[column].dataset.sort;
        var xe = x === undefined || x === '', ye = y === undefined || y === '';
        if (xe || ye) return xe === ye ? 0 : (xe ? 1 : -1);
        var order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (event) { if (event.key === 'Enter') sort(); });
  });
});
`;

export function reportHtml(input: ReportInput): string {
  const problems =
    input.problems.length === 0
      ? ''
      : `<h2>Skipped inputs</h2><ul class="problems">${input.problems.map((p) => `<li>${escapeHtml(p)}</li>`).join('')}</ul>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>itl results: in-weight vs in-tool learning</title>
<style>${STYLE}</style>
</head>
<body>
<h1>In-weight vs in-tool learning: results</h1>
<p>Source: <code>${escapeHtml(input.source)}</code>. ${escapeHtml(input.selectionNote)} ${input.finals.length} runs.</p>
<h2>Figures</h2>
<div class="figures">
${input.figures.map(figureSection).join('\n')}
</div>
<h2>Last selected checkpoint of each run</h2>
<p>Click a column header to sort.</p>
${finalsTable(input.finals, input.labels ?? DEFAULT_LABELS)}
<h2>Run configurations</h2>
${configurationsTable(input.finals)}
${problems}
<script>${SCRIPT}</script>
</body>
</html>
`;
}
