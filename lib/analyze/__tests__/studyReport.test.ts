/**
 * Renders the study's published table (../shared/reference/paper-results/large_scale_results.csv)
 * and checks the figures' data against the study's conclusions, then opens the report in headless
 * Chromium (one launch). The outputs and the screenshot stay in OUT for a human to look at.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { chromium } from 'playwright-core';

import { analyze, type AnalyzeResult } from '../analyze.js';
import type { Figure, FigurePoint } from '../figures.js';
import { relativeAccuracy } from '../relativeAccuracy.js';
import { parseResultsCsv } from '../resultsCsv.js';

const STUDY_CSV = '../shared/reference/paper-results/large_scale_results.csv';
const OUT = join(tmpdir(), 'itl-analyze-study-report');

let result: AnalyzeResult;

/** The DOM's `dataset`, typed here because the project compiles without the DOM library. */
type Dataset = { dataset: Record<string, string | undefined> };

beforeAll(async () => {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  result = await analyze({ source: { kind: 'csv', file: STUDY_CSV }, outDir: OUT, selection: { threshold: 1.0, allCheckpoints: false } });
});

function figure(id: string): Figure {
  const found = result.figureData.find((f) => f.id === id);
  if (!found) throw new Error(`no figure ${id}`);
  return found;
}

/** model → facts → y, for one mode of a vs-facts figure. */
function byModelAndFacts(points: FigurePoint[], mode: 'weight' | 'tool'): Map<string, Map<number, number>> {
  const table = new Map<string, Map<number, number>>();
  for (const p of points.filter((q) => q.mode === mode)) {
    const row = table.get(p.model) ?? new Map<number, number>();
    expect(row.has(p.x)).toBe(false);
    row.set(p.x, p.y);
    table.set(p.model, row);
  }
  return table;
}

describe('the study table (--from-csv)', () => {
  it('is already selected at threshold 1.0: re-selecting keeps all 543 rows of 36 runs', () => {
    expect(result.rowsRead).toBe(543);
    expect(result.rowsKept).toBe(543);
    expect(result.runs).toBe(36);
    expect(result.problems).toEqual([]);
  });

  it('has hellaswag_relative = 100·acc/base acc with the ratio stderr, row by row', () => {
    const rows = parseResultsCsv(readFileSync(STUDY_CSV, 'utf8'), STUDY_CSV);
    const base = new Map(rows.filter((r) => r.run.endsWith('_base')).map((r) => [r.model, r.metrics]));
    let checked = 0;
    for (const row of rows.filter((r) => !r.run.endsWith('_base'))) {
      const b = base.get(row.model)!;
      const m = row.metrics;
      const { relative, relativeStderr } = relativeAccuracy(
        m.hellaswag_absolute!,
        m.hellaswag_absolute_stderr,
        b.hellaswag_absolute!,
        b.hellaswag_absolute_stderr,
      );
      // The study's base accuracy differs from its base row in the 8th digit (≈2e-6 on the percentage).
      expect(relative).toBeCloseTo(m.hellaswag_relative!, 4);
      expect(relativeStderr!).toBeCloseTo(m.hellaswag_relative_stderr!, 6);
      checked++;
    }
    expect(checked).toBe(531);
  });

  it('writes a results.csv that reads back to the same rows', () => {
    const written = parseResultsCsv(readFileSync(result.resultsCsv, 'utf8'), result.resultsCsv);
    const original = parseResultsCsv(readFileSync(STUDY_CSV, 'utf8'), STUDY_CSV);
    const key = (r: { run: string; checkpoint_nbr: number }) => `${r.run}@${r.checkpoint_nbr}`;
    const sort = <T extends { run: string; checkpoint_nbr: number }>(rows: T[]) => [...rows].sort((a, b) => (key(a) < key(b) ? -1 : 1));
    expect(sort(written)).toEqual(sort(original));
  });

  it('shows in-weight learning eroding HellaSwag and raising KL as facts grow (Smol135M: ~94 % → 76 %, KL ~1.2 → 7.9)', () => {
    const hellaswag = byModelAndFacts(figure('hellaswag_vs_facts').points, 'weight');
    const kl = byModelAndFacts(figure('kl_vs_facts').points, 'weight');
    expect([...hellaswag.keys()].sort()).toEqual(['Lam1B', 'Lam3B', 'Lam8B', 'Smol1.7B', 'Smol135M', 'Smol360M']);
    for (const [model, series] of hellaswag) {
      expect([...series.keys()].sort((a, b) => a - b)).toEqual([500, 1000, 5000, 10000, 50000]);
      // Every model ends lower on HellaSwag and further from the base model at 50k than at 500 facts.
      expect({ model, drop: series.get(50000)! < series.get(500)! }).toEqual({ model, drop: true });
      const k = kl.get(model)!;
      expect({ model, rise: k.get(50000)! > k.get(500)! }).toEqual({ model, rise: true });
    }
    const smolHellaswag = hellaswag.get('Smol135M')!;
    expect(smolHellaswag.get(500)!).toBeGreaterThan(93);
    expect(smolHellaswag.get(500)!).toBeLessThan(95);
    expect(smolHellaswag.get(50000)!).toBeGreaterThan(75);
    expect(smolHellaswag.get(50000)!).toBeLessThan(77);
    expect(kl.get('Smol135M')!.get(500)!).toBeCloseTo(1.2, 0);
    expect(kl.get('Smol135M')!.get(50000)!).toBeGreaterThan(7.5);
    expect(kl.get('Smol135M')!.get(50000)!).toBeLessThan(8.5);
    // Largest model, gentlest erosion: Lam8B keeps ≥ 97 % at 50k, the smallest loses about a quarter.
    expect(hellaswag.get('Lam8B')!.get(50000)!).toBeGreaterThan(97);
    // Points sit at each run's last selected checkpoint (Smol135M, 50k facts: step 8211).
    const last = figure('kl_vs_facts').points.find((p) => p.model === 'Smol135M' && p.mode === 'weight' && p.facts === 50000)!;
    expect(last.checkpoint).toBe(8211);
    expect(last.stderr).toBeGreaterThan(0);
  });

  it('shows in-tool runs leaving the base model almost untouched (≥ 99.7 % HellaSwag, KL ≤ 0.03)', () => {
    const toolHellaswag = figure('hellaswag_vs_facts').points.filter((p) => p.mode === 'tool');
    const toolKl = figure('kl_vs_facts').points.filter((p) => p.mode === 'tool');
    expect(toolHellaswag).toHaveLength(6);
    for (const p of toolHellaswag) expect({ model: p.model, ok: p.y >= 99.7 }).toEqual({ model: p.model, ok: true });
    // Two in-tool runs have no KL in the table: they are absent from the figure, not drawn at 0.
    expect(toolKl.map((p) => p.model).sort()).toEqual(['Lam1B', 'Lam3B', 'Smol1.7B', 'Smol135M']);
    for (const p of toolKl) expect({ model: p.model, ok: p.y <= 0.03 && p.y > 0 }).toEqual({ model: p.model, ok: true });
  });

  it('skips, with a note, the figures whose data the table lacks (training loss; general ability, which the study did not measure)', () => {
    expect(result.figures.filter((f) => !f.drawn).map((f) => f.id)).toEqual(['loss_vs_kl', 'general_vs_facts', 'general_vs_kl']);
    const html = readFileSync(result.reportHtml, 'utf8');
    expect(html).toContain('<p class="skipped" data-figure="loss_vs_kl">Not drawn: the table has no training loss');
    expect(() => readFileSync(join(result.plotsDir, 'loss_vs_kl.svg'))).toThrow();
    // The table has no epochs, so training curves are drawn against the global step, and say so.
    expect(figure('recall_vs_epoch').description).toContain('x axis is the global training step');
  });

  it('renders in headless Chromium: no console errors, no network, every figure drawn, the table sorts', async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('request', (request) => requests.push(request.url()));
      const url = pathToFileURL(result.reportHtml).href;
      await page.goto(url, { waitUntil: 'load' });

      const plots = await page.$$eval('.plot', (divs) =>
        divs.map((div) => {
          const marks = Array.from(
            div.querySelectorAll('svg g.role-mark[role="graphics-object"] path, svg g.role-mark[role="graphics-object"] line'),
          );
          const drawn = marks.filter((m) => {
            const box = (m as unknown as { getBBox(): { width: number; height: number } }).getBBox();
            return box.width > 0 || box.height > 0;
          });
          const symbols = div.querySelectorAll('svg g.mark-symbol.role-mark path').length;
          return { id: (div as unknown as Dataset).dataset.figure, drawn: drawn.length, symbols };
        }),
      );
      expect(plots.map((p) => p.id)).toEqual(result.figures.filter((f) => f.drawn).map((f) => f.id));
      for (const plot of plots) {
        expect({ id: plot.id, hasMarks: plot.drawn > 0 && plot.symbols > 0 }).toEqual({ id: plot.id, hasMarks: true });
      }

      const column = async (index: number) =>
        page.$$eval(`#finals tbody tr td:nth-child(${index})`, (cells) => cells.map((c) => (c as unknown as Dataset).dataset.sort ?? ''));
      const factsHeader = page.locator('#finals thead th', { hasText: /^facts$/ });
      await factsHeader.click();
      const ascending = (await column(4)).map(Number);
      expect(ascending).toHaveLength(36);
      expect(ascending).toEqual([...ascending].sort((a, b) => a - b));
      expect(ascending[0]).toBe(500);
      await factsHeader.click();
      const descending = (await column(4)).map(Number);
      expect(descending).toEqual([...ascending].sort((a, b) => b - a));
      expect(await factsHeader.getAttribute('aria-sort')).toBe('descending');
      // KL: two in-tool runs have none; empty cells stay last in either direction.
      const klHeader = page.locator('#finals thead th', { hasText: /^KL$/ });
      await klHeader.click();
      const kl = await column(9);
      expect(kl.slice(-2)).toEqual(['', '']);
      const klValues = kl.slice(0, -2).map(Number);
      expect(klValues).toEqual([...klValues].sort((a, b) => a - b));

      await page.screenshot({ path: join(OUT, 'report-screenshot.png'), fullPage: true });
      expect(errors).toEqual([]);
      expect(requests.filter((r) => !r.startsWith('file://'))).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
