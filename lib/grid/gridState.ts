/**
 * What of the grid is already done, read from the files the steps write, so a rerun of `itl grid`
 * (after a failure, a time limit, a pre-emption) starts where the last one stopped:
 * - data: the output folder has its manifest (a build is renamed into place only when complete);
 * - train: the run's latest complete checkpoint is at the schedule's last step (`global_step` =
 *   `max_steps` in its trainer_state.json); an unfinished run is run again, with --resume;
 * - recall, kl, hellaswag: the run is finished and every checkpoint has its result;
 * - base: the model's base_models/<model>/ folder has a results file;
 * - analyze: never (it is cheap, and its inputs may have changed).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { MANIFEST_FILE } from '../data/outputLayout.js';
import { hellaswagFolder } from '../eval/checkpointEvaluators.js';
import { BASE_MODELS_FOLDER, hasResultsFile, keyedFilePath, metricFolder, readKeyedFile } from '../eval/resultFiles.js';
import { type CheckpointFolder, listCheckpoints } from '../train/checkpoints.js';
import type { GridOptions, GridStep } from './gridPlan.js';

type Paths = Pick<GridOptions, 'data' | 'runs' | 'evalDir'>;

/** The run's checkpoints when its last one is the schedule's last step; undefined while unfinished. */
async function finishedCheckpoints(runDir: string): Promise<CheckpointFolder[] | undefined> {
  const checkpoints = listCheckpoints(runDir);
  const last = checkpoints.at(-1);
  if (!last) return undefined;
  let state: { global_step?: unknown; max_steps?: unknown };
  try {
    state = JSON.parse(await readFile(join(last.path, 'trainer_state.json'), 'utf8'));
  } catch {
    return undefined;  // unreadable: let the step run and report it
  }
  const done = typeof state.global_step === 'number' && typeof state.max_steps === 'number' && state.global_step >= state.max_steps;
  return done ? checkpoints : undefined;
}

const checkpointName = (checkpoint: CheckpointFolder) => `checkpoint-${checkpoint.step}`;

/** Why the step needs no running (a short reason for the log), or undefined when it must run. */
export async function stepDone(step: GridStep, paths: Paths): Promise<string | undefined> {
  switch (step.stage) {
    case 'data':
      return existsSync(join(paths.data, MANIFEST_FILE)) ? `${paths.data} is built` : undefined;
    case 'train': {
      const checkpoints = await finishedCheckpoints(join(paths.runs, step.run!.name));
      return checkpoints ? `finished at step ${checkpoints.at(-1)!.step}` : undefined;
    }
    case 'recall':
    case 'kl': {
      const checkpoints = await finishedCheckpoints(join(paths.runs, step.run!.name));
      if (!checkpoints) return undefined;
      const results = await readKeyedFile(keyedFilePath(paths.evalDir, step.stage, step.run!.name)).catch(() => undefined);
      if (!results || !checkpoints.every((c) => Object.hasOwn(results, checkpointName(c)))) return undefined;
      return `all ${checkpoints.length} checkpoints evaluated`;
    }
    case 'hellaswag': {
      const checkpoints = await finishedCheckpoints(join(paths.runs, step.run!.name));
      if (!checkpoints) return undefined;
      for (const checkpoint of checkpoints) {
        const folder = hellaswagFolder({ evalDir: paths.evalDir, run: step.run!.name, checkpoint: checkpointName(checkpoint) });
        if (!(await hasResultsFile(folder).catch(() => false))) return undefined;
      }
      return `all ${checkpoints.length} checkpoints evaluated`;
    }
    case 'base':
      // `itl eval --base` names the folder after the runs' model label, the short name.
      return (await hasResultsFile(join(metricFolder(paths.evalDir, 'hellaswag'), BASE_MODELS_FOLDER, step.model!)).catch(() => false))
        ? 'evaluated' : undefined;
    case 'analyze':
      return undefined;
  }
}
