/** The grid's runs are exactly the study's: the `run` column of its results table, in its order. */
import { readFileSync } from 'node:fs';

import { formatRunName, parseRunName } from '../../train/runName.js';
import { STUDY_RUN_NAMES, STUDY_RUNS } from '../studyGrid.js';

const STUDY_CSV = '../shared/reference/paper-results/large_scale_results.csv';

/** The table's run names in order of first appearance, base-model rows left out (the file has no quoted fields). */
function tableRunNames(): string[] {
  const lines = readFileSync(STUDY_CSV, 'utf8').trim().split('\n');
  const column = lines[0].split(',').indexOf('run');
  const names = new Set(lines.slice(1).map((line) => line.split(',')[column]));
  return [...names].filter((name) => !name.endsWith('_base'));
}

describe('the study grid', () => {
  it('is the 36 runs of the results table, in its order', () => {
    expect(tableRunNames()).toHaveLength(36);
    expect([...STUDY_RUN_NAMES]).toEqual(tableRunNames());
    expect(STUDY_RUNS.map((run) => run.index)).toEqual([...Array(36).keys()]);
  });

  it('parses every name, and each formats back to itself', () => {
    for (const run of STUDY_RUNS) {
      expect(formatRunName(parseRunName(run.name))).toBe(run.name);
      expect(run).toMatchObject(parseRunName(run.name));
    }
  });

  it('has the settings of docs/design.md: 5 in-weight sizes and 1 in-tool run per model, full fine-tuning', () => {
    const byModel = new Map<string, (typeof STUDY_RUNS)[number][]>();
    for (const run of STUDY_RUNS) byModel.set(run.model, [...(byModel.get(run.model) ?? []), run]);
    expect([...byModel.keys()].sort()).toEqual(['Lam1B', 'Lam3B', 'Lam8B', 'Smol1.7B', 'Smol135M', 'Smol360M']);
    for (const runs of byModel.values()) {
      expect(runs.filter((r) => r.mode === 'weight').map((r) => r.facts)).toEqual([500, 1000, 5000, 10000, 50000]);
      expect(runs.filter((r) => r.mode === 'tool')).toHaveLength(1);
    }
    expect(STUDY_RUNS.every((r) => r.loraR === 0 && r.loraAlpha === 0)).toBe(true);
    const tool = (model: string) => STUDY_RUNS.find((r) => r.model === model && r.mode === 'tool')!;
    expect(tool('Smol360M')).toMatchObject({ facts: 1000, epochs: 15, batch: 64, gradAcc: 1, lr: 1e-4 });
    expect(tool('Lam8B')).toMatchObject({ facts: 500, epochs: 40, batch: 4, gradAcc: 32, lr: 2e-5 });
    const lam8b = STUDY_RUNS.filter((r) => r.model === 'Lam8B' && r.mode === 'weight').map((r) => [r.facts, r.epochs, r.batch, r.gradAcc]);
    expect(lam8b).toEqual([
      [500, 50, 4, 32],
      [1000, 80, 4, 64],
      [5000, 40, 4, 32],
      [10000, 80, 4, 64],
      [50000, 80, 4, 64],
    ]);
  });
});
