/**
 * The shared child helper: children in their own process group, told their parent's pid, which they do
 * not outlive (followParent), and exit statuses as a shell reports them. The launcher tests cover the
 * same through `itl launch`'s workers (a SIGKILLed launcher leaves none running).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { exitStatus, followParent, ItlChild, PARENT_PID_ENV } from '../itlChild.js';
import { finished, killChildren, nodeSnippet, printed, root } from './processes.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'itl-child-'));
});
afterEach(() => {
  killChildren();
  rmSync(dir, { recursive: true, force: true });
});

test('exit statuses read as a shell reports them', () => {
  expect(exitStatus(0, null)).toBe(0);
  expect(exitStatus(3, null)).toBe(3);
  expect(exitStatus(null, 'SIGINT')).toBe(130);
  expect(exitStatus(null, 'SIGKILL')).toBe(137);
});

test("followParent: asks for SIGTERM on the parent's death and removes the variable so grandchildren do not inherit it", () => {
  const calls: [number, number][] = [];
  const env: NodeJS.ProcessEnv = { [PARENT_PID_ENV]: String(process.ppid), OTHER: 'x' };
  followParent(env, () => (signal, parent) => {
    calls.push([signal, parent]);
    return 'armed';
  });
  expect(calls).toEqual([[15, process.ppid]]);
  expect(env).toEqual({ OTHER: 'x' });
  followParent(env, () => {
    throw new Error('not called without the variable');
  });
});

test('a child started with ItlChild runs in its own process group, knows its parent, and reports its exit', async () => {
  const entry = join(dir, 'entry.mjs');
  writeFileSync(
    entry,
    `
    import { execFileSync } from 'node:child_process';
    const group = execFileSync('ps', ['-o', 'pgid=', '-p', String(process.pid)], { encoding: 'utf8' }).trim();
    console.log(JSON.stringify({ parent: process.env.${PARENT_PID_ENV}, ownGroup: Number(group) === process.pid, args: process.argv.slice(2) }));
    process.exit(7);
  `,
  );
  const child = new ItlChild({ args: ['train', '--x'], entry, stdio: 'pipe' });
  let stdout = '';
  child.process.stdout!.on('data', (d) => (stdout += d));
  expect(await child.exited).toEqual({ code: 7, signal: null, status: 7 });
  expect(JSON.parse(stdout)).toEqual({ parent: String(process.pid), ownGroup: true, args: ['train', '--x'] });
  expect(child.running).toBe(false);
});

test('a child whose parent is already gone when it starts ends at once (through the real addon)', async () => {
  // Pid 1 is never this process's parent: the check after prctl sees another parent and stops.
  const child = nodeSnippet(
    `
    import { followParent } from '@dist/util/itlChild.js';
    import { loadAddon } from '@dist/native/addon.js';
    followParent(process.env, () => (signal, parent) => loadAddon().addon.watchParent(signal, parent));
    console.log('still running');
    setInterval(() => {}, 1000);
  `,
    { [PARENT_PID_ENV]: '1' },
  );
  const result = await finished(child);
  expect(result.signal).toBe('SIGTERM');
  expect(result.stdout).toBe('');
});

test('a child of a SIGKILLed parent receives SIGTERM and ends (through the real addon)', async () => {
  const entry = join(dir, 'entry.mjs');
  const pidFile = join(dir, 'child.pid');
  writeFileSync(
    entry,
    `
    import { writeFileSync } from 'node:fs';
    import { followParent } from ${JSON.stringify(join(root, 'dist', 'util', 'itlChild.js'))};
    import { loadAddon } from ${JSON.stringify(join(root, 'dist', 'native', 'addon.js'))};
    followParent(process.env, () => (signal, parent) => loadAddon().addon.watchParent(signal, parent));
    process.on('SIGTERM', () => { writeFileSync(${JSON.stringify(pidFile)} + '.term', 'SIGTERM'); process.exit(0); });
    writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
    setInterval(() => {}, 1000);
  `,
  );
  const parent = nodeSnippet(`
    import { existsSync } from 'node:fs';
    import { ItlChild } from '@dist/util/itlChild.js';
    new ItlChild({ args: [], entry: ${JSON.stringify(entry)}, stdio: 'inherit' });
    const timer = setInterval(() => { if (existsSync(${JSON.stringify(pidFile)})) { clearInterval(timer); console.log('child up'); } }, 20);
    setInterval(() => {}, 1000);
  `);
  const parentDone = finished(parent);
  await printed(parent, 'child up');
  parent.kill('SIGKILL');
  await parentDone;
  for (let i = 0; i < 100 && !existsSync(`${pidFile}.term`); ++i) await new Promise((r) => setTimeout(r, 50));
  expect(existsSync(`${pidFile}.term`)).toBe(true);
});
