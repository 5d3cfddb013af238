/**
 * One run-folder convention (lib/train/runFolder.ts) for train, eval, grid and analyze: a checkpoint
 * folder is complete when it holds trainer_state.json (written last); leftovers of a dead writer are
 * cleaned, a live writer's never. A real run with a half-written latest checkpoint is then treated the
 * same by every stage: eval skips it, the grid sees an unfinished run, analysis has no row for it,
 * and `itl train --resume` continues from the previous complete checkpoint.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { collectResults } from '../../analyze/collectResults.js';
import { stepDone } from '../../grid/gridState.js';
import { parseRunName } from '../runName.js';
import {
  checkpointStep,
  finishedCheckpoints,
  incompleteCheckpoints,
  latestCheckpoint,
  listCheckpoints,
  orphanedTemporaries,
  removeOrphanedTemporaries,
} from '../runFolder.js';
import { runItl as itl, initTinySmolLM } from '../../cli/__tests__/runItl.js';

const RUN = 'sft_Smol135M_facts=8-epochs=4-batch=8-gradAcc=1-LR=1e-3-loraR=0-loraA=0-weight';

/** A pid that no process has now: a child that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('the run folder', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-runfolder-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('checkpoint names, completeness, and leftovers removed only when their writer is dead', () => {
    const run = join(scratch, 'unit');
    const dead = deadPid();
    for (const name of [
      'checkpoint-4',
      'checkpoint-12',
      'checkpoint-8',
      `.checkpoint-16.tmp-${dead}`,
      `.checkpoint-4.old-${dead}`,
      `.checkpoint-20.tmp-${process.pid}`,
      'checkpoint-08',
      'logs',
    ])
      mkdirSync(join(run, name), { recursive: true });
    for (const name of ['checkpoint-4', 'checkpoint-8'])
      writeFileSync(join(run, name, 'trainer_state.json'), JSON.stringify({ global_step: 8, max_steps: 8 }));
    expect(checkpointStep('checkpoint-12')).toBe(12);
    expect(checkpointStep('checkpoint-08')).toBeUndefined();
    expect(listCheckpoints(run).map((c) => c.name)).toEqual(['checkpoint-4', 'checkpoint-8']);
    expect(incompleteCheckpoints(run)).toEqual([join(run, 'checkpoint-12')]);
    expect(latestCheckpoint(run)?.step).toBe(8);
    expect(finishedCheckpoints(run)?.map((c) => c.step)).toEqual([4, 8]);
    expect(orphanedTemporaries(run).sort()).toEqual(
      [join(run, `.checkpoint-16.tmp-${dead}`), join(run, `.checkpoint-4.old-${dead}`)].sort(),
    );
    removeOrphanedTemporaries(run);
    expect(existsSync(join(run, `.checkpoint-16.tmp-${dead}`))).toBe(false);
    expect(existsSync(join(run, `.checkpoint-20.tmp-${process.pid}`))).toBe(true); // a live writer's
    expect(listCheckpoints(join(scratch, 'absent'))).toEqual([]);
  });

  test('a half-written checkpoint is treated the same by train, eval, grid and analyze', async () => {
    const model = join(scratch, 'tiny');
    const data = join(scratch, 'data');
    const saveDir = join(scratch, 'runs');
    await initTinySmolLM(model, 3);
    expect((await itl(['data', 'build', '--people', '12', '--seed', '1', '--out', data])).code).toBe(0);
    const train = ['train', '--run-name', RUN, '--data', data, '--save-dir', saveDir, '--model', model, '--save-steps', '2'];
    expect((await itl(train)).code).toBe(0);
    const runDir = join(saveDir, RUN);
    expect(listCheckpoints(runDir).map((c) => c.step)).toEqual([2, 4]);

    // The latest checkpoint loses its state file (a copy cut short); a dead writer left a staging folder.
    rmSync(join(runDir, 'checkpoint-4', 'trainer_state.json'));
    const orphan = join(runDir, `.checkpoint-6.tmp-${deadPid()}`);
    mkdirSync(orphan);

    const evalDir = join(scratch, 'eval');
    const evaluated = await itl([
      'eval',
      'recall',
      '--models-dir',
      saveDir,
      '--eval-dir',
      evalDir,
      '--train-examples',
      '2',
      '--test-examples',
      '1',
      '--json',
    ]);
    expect(JSON.parse(evaluated.stdout)).toMatchObject({ evaluated: [`${RUN}/checkpoint-2`], failures: [] });
    expect(
      await stepDone({ stage: 'train', run: { name: RUN, run: parseRunName(RUN), index: 0 } } as never, { data, runs: saveDir, evalDir }),
    ).toBeUndefined();
    const collected = await collectResults({ evalDir, runsDir: saveDir });
    expect(collected.rows.map((r) => r.checkpoint_nbr)).toEqual([2]);

    const resumed = await itl([...train, '--resume']);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain('resuming at step 2');
    expect(existsSync(orphan)).toBe(false);
    expect(listCheckpoints(runDir).map((c) => c.step)).toEqual([2, 4]);
    expect(incompleteCheckpoints(runDir)).toEqual([]);
  }, 180_000);
});
