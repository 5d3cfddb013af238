/**
 * What of the grid is already done, read from the files the steps write, so a rerun of `itl grid`
 * (after a failure, a time limit, a pre-emption) starts where the last one stopped:
 * - data: the output folder has its manifest (a build is renamed into place only when complete);
 * - train: the run's latest complete checkpoint is at the schedule's last step (`global_step` =
 *   `max_steps` in its trainer_state.json); an unfinished run is run again, with --resume;
 * - recall, kl, hellaswag: the run is finished and every checkpoint has its result (the task's own
 *   rule, lib/eval/tasks/; whether that result was made the same way `itl eval` itself checks);
 * - base: the model's base_models/<model>/ folder has a results file;
 * - analyze: never (it is cheap, and its inputs may have changed).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { MANIFEST_FILE } from '../data/outputLayout.js';
import { findTask } from '../eval/tasks/registry.js';
import { checkpointName, finishedCheckpoints } from '../train/runFolder.js';
import type { GridOptions, GridStep } from './gridPlan.js';

type Paths = Pick<GridOptions, 'data' | 'runs' | 'evalDir'>;

/** Why the step needs no running (a short reason for the log), or undefined when it must run. */
export async function stepDone(step: GridStep, paths: Paths): Promise<string | undefined> {
  switch (step.stage) {
    case 'data':
      return existsSync(join(paths.data, MANIFEST_FILE)) ? `${paths.data} is built` : undefined;
    case 'train': {
      const checkpoints = finishedCheckpoints(join(paths.runs, step.run!.name));
      return checkpoints ? `finished at step ${checkpoints.at(-1)!.step}` : undefined;
    }
    case 'recall':
    case 'kl':
    case 'hellaswag': {
      const checkpoints = finishedCheckpoints(join(paths.runs, step.run!.name));
      if (!checkpoints) return undefined;
      const task = findTask(step.stage);
      for (const checkpoint of checkpoints) {
        const target = { evalDir: paths.evalDir, run: step.run!.name, checkpoint: checkpointName(checkpoint.step) };
        if ((await task.recorded(target).catch(() => undefined)) === undefined) return undefined;
      }
      return `all ${checkpoints.length} checkpoints evaluated`;
    }
    case 'base': {
      // `itl eval --base` names the folder after the runs' model label, the short name.
      const target = { evalDir: paths.evalDir, run: step.model!, checkpoint: checkpointName(0), baseModel: true };
      return (await findTask('hellaswag')
        .recorded(target)
        .catch(() => undefined)) !== undefined
        ? 'evaluated'
        : undefined;
    }
    case 'analyze':
      return undefined;
  }
}
