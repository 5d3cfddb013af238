/** `itl data build` / `itl data show` through the real CLI entry, as a user runs them. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { main } from '../../cli/main.js';

const root = mkdtempSync(join(tmpdir(), 'itl-data-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function itl(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) }, {});
  return { code, stdout, stderr };
}

test('data build writes the dataset and reports it; data show reads rows back', async () => {
  const out = join(root, 'facts');
  const built = await itl('data', 'build', '--people', '25', '--seed', '3', '--out', out, '--json');
  expect(built.stderr).toBe('');
  expect(built.code).toBe(0);
  const report = JSON.parse(built.stdout);
  expect(report.manifest).toMatchObject({ seed: 3, people: 25, rows: 100 });
  expect(report.peak_rss_mb).toBeGreaterThan(0);
  expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'))).toEqual(report.manifest);

  const shown = await itl('data', 'show', out, '--start', '98', '--count', '5', '--json');
  expect(shown.code).toBe(0);
  const preview = readFileSync(join(out, 'preview.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(JSON.parse(shown.stdout)).toEqual({ num_rows: 100, start: 98, rows: preview.slice(98, 100) });
});

test('usage errors exit 2, work errors exit 1, each with a message naming the problem', async () => {
  expect(await itl('data', 'build', '--out', join(root, 'x'))).toMatchObject({
    code: 2,
    stderr: expect.stringContaining('data build needs --people N'),
  });
  expect(await itl('data', 'build', '--people', '0', '--out', join(root, 'x'))).toMatchObject({
    code: 2,
    stderr: expect.stringContaining('expected a positive integer for --people but received 0'),
  });
  expect(await itl('data', 'build', '--people', '2.5', '--out', join(root, 'x'))).toMatchObject({ code: 2 });
  expect(await itl('data', 'build', '--people', '5', '--out', join(root, 'x'), '--max-shard-size', 'lots')).toMatchObject({
    code: 2,
    stderr: expect.stringContaining("--max-shard-size like 500MB or 1GiB but received 'lots'"),
  });
  expect(await itl('data', 'frobnicate')).toMatchObject({ code: 2 });
  expect(existsSync(join(root, 'x'))).toBe(false);

  const tooMany = await itl('data', 'build', '--people', '2000000', '--out', join(root, 'x'));
  expect(tooMany.code).toBe(1);
  expect(tooMany.stderr).toMatch(
    /2000000 people requested but the atoms give only 1200 first names × 1200 last names = 1440000 distinct .*\[ITL_DATA\]/,
  );
  expect(existsSync(join(root, 'x'))).toBe(false);

  const out = join(root, 'twice');
  expect((await itl('data', 'build', '--people', '3', '--out', out)).code).toBe(0);
  expect(await itl('data', 'build', '--people', '3', '--out', out)).toMatchObject({
    code: 1,
    stderr: expect.stringContaining('already exists (pass --force'),
  });
  expect((await itl('data', 'build', '--people', '4', '--out', out, '--force')).code).toBe(0);
  expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).people).toBe(4);
});
