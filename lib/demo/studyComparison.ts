/**
 * The study's own numbers for the model the demo stands in for (Smol135M, the smallest it trained):
 * each run's last checkpoint in its published table (lib/demo/study/large_scale_results.csv, copied
 * byte for byte, PROVENANCE.md there), in the columns the demo reports — recall (trained facts for
 * in-weight runs, unseen people for in-tool ones), HellaSwag in % of the base model, KL to the base.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseResultsCsv } from '../analyze/resultsCsv.js';
import { isBaseRow } from '../analyze/ResultRow.js';
import { parseRunName, type TrainingMode } from '../train/runName.js';

export const STUDY_RESULTS_FILE = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'lib',
  'demo',
  'study',
  'large_scale_results.csv',
);

export interface StudyRow {
  run: string;
  mode: TrainingMode;
  facts: number;
  checkpoint: number;
  recall?: number;
  hellaswagRelative?: number;
  kl?: number;
}

/** The last checkpoint of each of `model`'s runs, in-weight by number of facts, then in-tool. */
export function studyRows(model = 'Smol135M', file = STUDY_RESULTS_FILE): StudyRow[] {
  const last = new Map<string, StudyRow>();
  for (const row of parseResultsCsv(readFileSync(file, 'utf8'), file)) {
    if (isBaseRow(row) || !row.model.startsWith(`${model}-`)) continue;
    const previous = last.get(row.run);
    if (previous && previous.checkpoint >= row.checkpoint_nbr) continue;
    const run = parseRunName(row.run);
    last.set(row.run, {
      run: row.run,
      mode: run.mode,
      facts: run.facts,
      checkpoint: row.checkpoint_nbr,
      recall: row.metrics.recall,
      hellaswagRelative: row.metrics.hellaswag_relative,
      kl: row.metrics.kl,
    });
  }
  return [...last.values()].sort((a, b) => (a.mode === b.mode ? a.facts - b.facts : a.mode === 'weight' ? -1 : 1));
}
