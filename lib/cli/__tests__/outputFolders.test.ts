/**
 * Every command that writes checks its output folder before any work, with ITL_IO naming the path and
 * the cause (issue 24: under /proc data build, train, eval and analyze spun at 95 % CPU for ever; a file
 * where the folder should be gave a raw EEXIST/ENOTDIR as ITL_INTERNAL; an unwritable --eval-dir showed
 * only after everything was evaluated). Read-only and full file systems: `npm run test:faults`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { main } from '../main.js';

async function itl(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) }, process.env);
  return { code, stdout, stderr };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'itl-out-'));
  writeFileSync(join(dir, 'file'), 'a file, not a folder');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RUN = 'sft_Smol135M_facts=8-epochs=1-batch=4-gradAcc=1-LR=1e-3-loraR=0-loraA=0-weight';
const commands: [string, (out: string) => string[], string][] = [
  ['data build', (out) => ['data', 'build', '--people', '5', '--out', join(out, 'facts')], 'the folder of --out'],
  [
    'train',
    (out) => ['train', '--run-name', RUN, '--model', '/nonexistent/model', '--data', dir, '--save-dir', out],
    'the --save-dir folder',
  ],
  ['eval', (out) => ['eval', 'recall', '--model', '/nonexistent/model', '--eval-dir', out], 'the --eval-dir folder'],
  ['analyze', (out) => ['analyze', '--eval-dir', dir, '--out', out], 'the --out folder'],
];

test.each(commands)('%s refuses an output under /proc at once, naming it', async (_name, args, what) => {
  const result = await itl(...args('/proc/itl-out'));
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(
    new RegExp(
      `cannot use /proc/itl-out(/facts)? as ${what}: /proc is on the kernel's proc file system, which holds no ordinary files \\[ITL_IO\\]`,
    ),
  );
});

test.each(commands)('%s names a file standing where its output folder should be', async (_name, args, what) => {
  const result = await itl(...args(join(dir, 'file', 'sub')));
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(`cannot use ${join(dir, 'file')} as ${what} (inside ${join(dir, 'file', 'sub')}`);
  expect(result.stderr).toContain('it is a file, and a folder is expected [ITL_IO]');
});
