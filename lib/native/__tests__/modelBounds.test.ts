/**
 * A config.json that contradicts its weights, or a model that cannot fit, is refused before the
 * engine allocates anything, through the commands a user runs (issue 24: num_hidden_layers 1e9 ran
 * into the OOM killer, and `itl model info` printed 7,177B parameters for hidden_size 1e9).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { main } from '../../cli/main.js';
import { Model } from '../Model.js';
import { Runtime } from '../Runtime.js';

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, process.env);
  return { code, stdout, stderr };
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const runtime = Runtime.open({ torchThreads: 1, blasThreads: 0 });
let dir: string;
let model: string;
let config: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'itl-bounds-'));
  model = join(dir, 'model');
  (await Model.init(runtime, 'tiny-smollm', 1, model)).dispose();
  config = readFileSync(join(model, 'config.json'), 'utf8');
});
afterEach(() => {
  writeFileSync(join(model, 'config.json'), config);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const withConfig = (field: string, value: number) =>
  writeFileSync(join(model, 'config.json'), JSON.stringify({ ...JSON.parse(config), [field]: value }));

test('model info and loading refuse num_hidden_layers 1000000000 against a 2-layer checkpoint', async () => {
  withConfig('num_hidden_layers', 1e9);
  const info = await cli(['model', 'info', model]);
  expect(info).toMatchObject({ code: 1, stdout: '' });
  expect(info.stderr).toContain(`num_hidden_layers is 1000000000 but the checkpoint in ${model} holds 2 layers [ITL_CONFIG]`);
  await expect(Model.load(runtime, model)).rejects.toMatchObject({ code: 'ITL_CONFIG' });
});

test('model info refuses hidden_size 1000000000 instead of printing a parameter count', async () => {
  withConfig('hidden_size', 1e9);
  const info = await cli(['model', 'info', model, '--json']);
  expect(info.code).toBe(1);
  expect(info.stdout).toBe('');
  expect(info.stderr).toContain(
    'imply model.embed_tokens.weight of shape [49152, 1000000000] but the checkpoint has [49152, 64] [ITL_CONFIG]',
  );
});

test('a model larger than the memory left is refused with the estimate and what is available (model init, in a child process)', () => {
  // The limit is read by the engine from the real environment, which jest's process.env does not reach.
  const run = (limit: string) =>
    spawnSync(
      process.execPath,
      [join(root, 'bin', 'itl.js'), 'model', 'init', '--preset', 'tiny-smollm', '--out', join(dir, `init-${limit}`)],
      {
        env: { ...process.env, ITL_MEMORY_LIMIT_BYTES: limit },
        encoding: 'utf8',
      },
    );
  const refused = run('1000000');
  expect(refused.status).toBe(1);
  expect(refused.stderr).toContain(
    `the model for ${join(dir, 'init-1000000')} needs about 13.0 MB for its weights (0.00324B parameters in Float) but 1.0 MB is available on cpu`,
  );
  expect(refused.stderr).toContain('[ITL_OUT_OF_MEMORY]');
  expect(existsSync(join(dir, 'init-1000000', 'config.json'))).toBe(false);
  expect(run('100000000').status).toBe(0);
});
