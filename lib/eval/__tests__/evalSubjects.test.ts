/** Finding runs and checkpoints, reading run_config.json, resolving full and LoRA checkpoints, atomic result writes. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { listRuns, readRunConfig } from '../../train/runFolder.js';
import { resolveCheckpoint, singleFolderTarget } from '../evalSubjects.js';
import { readKeyedFile, writeKeyedEntry } from '../resultFiles.js';

describe('checkpoints and result files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'itl-checkpoints-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('complete checkpoints only, by step', async () => {
    const run = join(dir, 'runs', 'a');
    for (const name of ['checkpoint-10', 'checkpoint-2', 'checkpoint-30.tmp-99', 'checkpoint-x', 'logs', 'checkpoint-40'])
      mkdirSync(join(run, name), { recursive: true });
    // Complete = trainer_state.json written (last); checkpoint-40 has none.
    for (const name of ['checkpoint-10', 'checkpoint-2', 'checkpoint-30.tmp-99'])
      writeFileSync(join(run, name, 'trainer_state.json'), '{}');
    mkdirSync(join(dir, 'runs', '.hidden'));
    expect(await listRuns(join(dir, 'runs'))).toEqual([
      {
        name: 'a',
        dir: run,
        checkpoints: [
          { step: 2, name: 'checkpoint-2', path: join(run, 'checkpoint-2') },
          { step: 10, name: 'checkpoint-10', path: join(run, 'checkpoint-10') },
        ],
      },
    ]);
    await expect(listRuns(join(dir, 'nope'))).rejects.toMatchObject({ code: 'ITL_IO' });
  });

  test('run_config.json is checked field by field', async () => {
    const run = join(dir, 'config');
    mkdirSync(run);
    await expect(readRunConfig(run)).rejects.toThrow(/run_config.json: missing/);
    const good = {
      format_version: 1,
      run_name: 'r',
      model_label: 'Smol135M',
      model: '/m',
      data: '/d',
      facts: 10,
      mode: 'tool',
      date_string: '26 Jul 2024',
    };
    writeFileSync(join(run, 'run_config.json'), JSON.stringify(good));
    expect(await readRunConfig(run)).toEqual(good);
    writeFileSync(join(run, 'run_config.json'), JSON.stringify({ ...good, mode: 'both' }));
    await expect(readRunConfig(run)).rejects.toMatchObject({
      code: 'ITL_CONFIG',
      message: expect.stringContaining('\'mode\' must be "weight" or "tool"'),
    });
    writeFileSync(join(run, 'run_config.json'), JSON.stringify({ ...good, facts: 0 }));
    await expect(readRunConfig(run)).rejects.toThrow(/'facts' must be a positive integer/);
  });

  test('a full checkpoint is its own model; a LoRA checkpoint is its base plus the adapter', async () => {
    const full = join(dir, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'config.json'), '{}');
    expect(await resolveCheckpoint(full)).toEqual({ model: full });
    const lora = join(dir, 'lora');
    mkdirSync(lora);
    writeFileSync(join(lora, 'adapter_config.json'), JSON.stringify({ base_model_name_or_path: '/models/base', r: 8 }));
    expect(await resolveCheckpoint(lora)).toEqual({ model: '/models/base', adapter: lora });
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await expect(resolveCheckpoint(empty)).rejects.toMatchObject({ code: 'ITL_CHECKPOINT_FORMAT' });
    expect(singleFolderTarget('/x/runs/sft_a/checkpoint-4')).toEqual({ name: 'sft_a', checkpoint: 'checkpoint-4', flat: false });
    expect(singleFolderTarget('/x/models/SmolLM-135M')).toEqual({ name: 'SmolLM-135M', checkpoint: 'checkpoint-0', flat: true });
  });

  test('keyed result files gain entries atomically, in step order; a corrupt one is never overwritten', async () => {
    const path = join(dir, 'eval', 'recall', 'r', 'checkpoints_recall_results.json');
    await writeKeyedEntry(path, 'checkpoint-10', { a: 1 });
    await writeKeyedEntry(path, 'checkpoint-2', { a: 2 });
    expect(Object.keys(JSON.parse(readFileSync(path, 'utf8')))).toEqual(['checkpoint-2', 'checkpoint-10']);
    expect(readdirSync(join(dir, 'eval', 'recall', 'r'))).toEqual(['checkpoints_recall_results.json']);
    writeFileSync(path, '{"checkpoint-2": ');
    await expect(writeKeyedEntry(path, 'checkpoint-4', {})).rejects.toMatchObject({ code: 'ITL_DATA' });
    expect(readFileSync(path, 'utf8')).toBe('{"checkpoint-2": ');
    expect(await readKeyedFile(join(dir, 'absent.json'))).toEqual({});
  });
});
