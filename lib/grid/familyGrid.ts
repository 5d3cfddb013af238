/**
 * The study's grid for a model family it did not run (`itl grid --family qwen3`): each of the
 * family's models (lib/train/models.ts's FAMILY_MODELS) gets the runs of the study model closest to
 * it in size — nearest in log parameter count — with that model's settings unchanged: the same
 * facts counts, epochs, batch, gradient accumulation and learning rate, in-weight and in-tool.
 *
 * Why matched and not interpolated: the study's learning rates depend more on the family than on
 * size (SmolLM 1.7B trained at 3e-4, Llama 1B at 5e-5), so a curve through its six points would be
 * an invention; its settings are ones that worked at that size. The rule, and the match it gives
 * each model, are printed by `itl grid --family F --dry-run` (one line per run) and in the docs.
 */
import { ItlError } from '../errors.js';
import { FAMILY_MODELS, MODELS, type ModelFamily, type ModelInfo } from '../train/models.js';
import { formatRunName } from '../train/runName.js';
import type { GridScope } from './gridFilter.js';
import { type GridRun, STUDY_RUNS } from './studyGrid.js';

/** `--family` values: the families beside the study's, as lower-case names. */
export const GRID_FAMILIES: Record<string, ModelFamily> = { 'qwen2.5': 'Qwen2.5', qwen3: 'Qwen3', smollm3: 'SmolLM3', mistral: 'Mistral' };

/** The study model whose settings `model` takes: the nearest in log parameter count (the smaller one on a tie). */
export function matchedStudyModel(model: ModelInfo): ModelInfo {
  const distance = (m: ModelInfo) => Math.abs(Math.log(m.parameters / model.parameters));
  return [...MODELS].sort((a, b) => distance(a) - distance(b) || a.parameters - b.parameters)[0]!;
}

/** The family's runs: for each of its models (smallest first), the matched study model's runs in the study's order. */
export function familyGridRuns(family: ModelFamily): GridRun[] {
  const runs: GridRun[] = [];
  for (const model of FAMILY_MODELS.filter((m) => m.family === family)) {
    const study = matchedStudyModel(model);
    for (const run of STUDY_RUNS.filter((r) => r.model === study.shortName)) {
      const settings = { ...run, model: model.shortName };
      runs.push({ ...settings, name: formatRunName(settings), index: runs.length });
    }
  }
  return runs;
}

/** The grid scope of `--family NAME` (case-insensitive), or a usage error listing the families. */
export function familyGridScope(name: string): GridScope {
  const family = GRID_FAMILIES[name.toLowerCase()];
  if (family === undefined) {
    throw new ItlError('ITL_USAGE', `--family ${name}: expected one of ${Object.keys(GRID_FAMILIES).join(', ')}`);
  }
  return { runs: familyGridRuns(family), models: FAMILY_MODELS.filter((m) => m.family === family) };
}
