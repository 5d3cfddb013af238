import { formatRunName, type RunName } from '../../train/runName.js';
import { buildFigures, type Figure } from '../figures.js';
import { renderSvg } from '../renderFigure.js';
import type { ResultRow } from '../ResultRow.js';

function run(model: string, facts: number, mode: 'weight' | 'tool'): RunName {
  return { model, facts, epochs: 30, batch: 64, gradAcc: 2, lr: 1e-3, loraR: 0, loraAlpha: 0, mode };
}

function row(r: RunName, step: number, metrics: ResultRow['metrics']): ResultRow {
  return { run: formatRunName(r), model: `${r.model}-${r.mode}`, dataset_size: String(r.facts), checkpoint_nbr: step, metrics };
}

// Lam8B listed before Smol135M on purpose: colours follow model size, not input order.
const rows: ResultRow[] = [
  row(run('Lam8B', 500, 'weight'), 10, { recall: 0.5, recall_stderr: 0.03, kl: 0.1, epoch: 1, train_loss: 1.0 }),
  row(run('Lam8B', 500, 'weight'), 20, { recall: 1, recall_stderr: 0, kl: 0.2, epoch: 2, train_loss: 0.5 }),
  row(run('Smol135M', 5000, 'weight'), 40, { recall: 0.99, kl: 1.5, epoch: 1 }),
  row(run('Smol135M', 1000, 'tool'), 8, { recall: 1, recall_stderr: 0, kl: 0.01, epoch: 1 }),
];

function find(figures: Figure[], id: string): Figure {
  return figures.find((f) => f.id === id)!;
}

describe('buildFigures', () => {
  const figures = buildFigures(rows);

  it('colours models in order of size and marks modes by dash and shape, on a log facts axis', () => {
    const spec = JSON.stringify(find(figures, 'recall_vs_facts').spec);
    expect(spec).toContain('"domain":["Smol135M","Lam8B"],"range":["#7ad151","#270031"]');
    expect(spec).toContain('"strokeDash":{"field":"mode"');
    expect(spec).toContain('"shape":{"field":"mode"');
    expect(spec).toContain('"scale":{"type":"log"');
    expect(spec).toContain('"yError":{"field":"stderr"}');
  });

  it('places each run at its last checkpoint with the stderr column', () => {
    const points = find(figures, 'recall_vs_facts').points;
    expect(points.map((p) => [p.model, p.mode, p.x, p.y, p.checkpoint, p.stderr])).toEqual([
      ['Lam8B', 'weight', 500, 1, 20, 0],
      ['Smol135M', 'weight', 5000, 0.99, 40, undefined],
      ['Smol135M', 'tool', 1000, 1, 8, 0],
    ]);
  });

  it('draws training curves against epochs when every checkpoint has one', () => {
    const curves = find(figures, 'recall_vs_epoch');
    expect(curves.points.map((p) => p.x)).toEqual([1, 2, 1, 1]);
    expect(JSON.stringify(curves.spec)).toContain('"title":"epoch"');
  });

  it('draws loss vs KL only from runs that logged a loss, and recall vs parameter count', () => {
    expect(find(figures, 'loss_vs_kl').points.map((p) => [p.model, p.x, p.y])).toEqual([['Lam8B', 0.2, 0.5]]);
    expect(find(figures, 'recall_vs_model_size').points.map((p) => p.x)).toEqual([8_030_261_248, 134_515_008, 134_515_008]);
  });

  it('skips figures without data instead of drawing them empty', () => {
    const hellaswag = find(figures, 'hellaswag_vs_facts');
    expect(hellaswag.spec).toBeUndefined();
    expect(hellaswag.skipped).toBe("no run has a 'hellaswag_relative' value");
  });

  it('renders to an SVG with one symbol per point', async () => {
    const svg = await renderSvg(find(figures, 'recall_vs_facts').spec!, 'recall_vs_facts');
    expect(svg.startsWith('<svg')).toBe(true);
    const symbols = svg.match(/<g class="mark-symbol role-mark[^"]*"[^>]*>(.*?)<\/g>/)![1];
    expect(symbols.match(/<path /g)).toHaveLength(3);
  });
});
