/**
 * `itl data build` and the readers of its output under the failures issue 24 lists: two builds of one
 * folder at once, --force over unrelated files, leftovers of killed builds, damaged or swapped data
 * files, a state.json that points outside the dataset, and a tool database taken from a neighbour.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { buildFactsDataset, type BuildOptions } from '../buildFactsDataset.js';
import { openFactsDatabase } from '../factsDatabase.js';
import { openFactsDataset } from '../openFactsDataset.js';
import { shippedAtomsDir, shippedTemplatesDir } from '../shippedPaths.js';
import { factsDatabasePath } from '../verifyDataFiles.js';
import { finished, killChildren, root } from '../../util/__tests__/processes.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'itl-data-rel-'));
});
afterEach(() => {
  killChildren();
  rmSync(dir, { recursive: true, force: true });
});

const options = (outDir: string, extra: Partial<BuildOptions> = {}): BuildOptions => ({
  people: 30,
  seed: 3,
  atomsDir: shippedAtomsDir,
  templatesDir: shippedTemplatesDir,
  outDir,
  force: false,
  previewRows: 4,
  maxShardBytes: 500e6,
  ...extra,
});

function itlProcess(...args: string[]) {
  const child = spawn(process.execPath, [join(root, 'bin', 'itl.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return { child, done: finished(child) };
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A process id that no longer runs. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('data build: one builder per output folder', () => {
  test('a second concurrent build of the same folder fails naming the first one; the first completes', async () => {
    const out = join(dir, 'facts');
    const first = itlProcess('data', 'build', '--people', '20000', '--seed', '1', '--out', out);
    await waitFor(() => existsSync(join(dir, '.facts.lock')), 'the first build to take its lock');
    const second = await itlProcess('data', 'build', '--people', '10', '--seed', '2', '--out', out).done;
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`itl: the dataset output folder ${out} is in use by pid ${first.child.pid} on `);
    expect(second.stderr).toContain('[ITL_LOCKED]');
    const result = await first.done;
    expect(result.code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'))).toMatchObject({ seed: 1, people: 20000 });
    expect(readdirSync(dir)).toEqual(['facts']); // no lock, no partial folder left
  });

  test('a build killed mid-way leaves a partial folder that the next build removes, reaching the same output', async () => {
    const reference = await buildFactsDataset(options(join(dir, 'reference'), { people: 20000 }));
    const out = join(dir, 'facts');
    const killed = itlProcess('data', 'build', '--people', '20000', '--seed', '3', '--out', out, '--preview-rows', '4');
    const partial = join(dir, `.facts.partial-${killed.child.pid}`);
    await waitFor(() => existsSync(join(partial, 'facts.sqlite')), 'the build to start writing');
    killed.child.kill('SIGKILL');
    await killed.done;
    expect(existsSync(partial)).toBe(true);
    expect(existsSync(out)).toBe(false);
    const messages: string[] = [];
    const manifest = await buildFactsDataset(options(out, { people: 20000, log: (m) => messages.push(m) }));
    expect(messages).toContain(`removed ${partial}, left by a build that did not finish (pid ${killed.child.pid})`);
    expect(manifest.files).toEqual(reference.files);
    expect(readdirSync(dir).sort()).toEqual(['facts', 'reference']);
  });

  test("leftovers of dead processes go; a running process's are kept", async () => {
    const dead = await deadPid();
    for (const name of [`.facts.partial-${dead}`, `.facts.old-${dead}`, '.facts.partial-1', '.other.partial-999999'])
      mkdirSync(join(dir, name));
    await buildFactsDataset(options(join(dir, 'facts')));
    expect(readdirSync(dir).sort()).toEqual(['.facts.partial-1', '.other.partial-999999', 'facts']);
  });
});

describe('data build --force', () => {
  test('without --force, an existing build is described: the same one, or what differs', async () => {
    const out = join(dir, 'facts');
    await buildFactsDataset(options(out));
    await expect(buildFactsDataset(options(out))).rejects.toMatchObject({
      message: `output folder ${out} already exists (pass --force to replace it): it holds this very build (seed 3, 30 people, the same atoms and templates)`,
    });
    await expect(buildFactsDataset(options(out, { seed: 4, people: 31 }))).rejects.toMatchObject({
      message: `output folder ${out} already exists (pass --force to replace it): it holds another build (people: 30 vs 31; seed: 3 vs 4)`,
    });
  });

  test('replaces an earlier build, and an empty folder needs no --force', async () => {
    const out = join(dir, 'facts');
    mkdirSync(out);
    await buildFactsDataset(options(out));
    await buildFactsDataset(options(out, { seed: 4, force: true }));
    expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).seed).toBe(4);
  });

  test('refuses a folder holding files no build wrote, and deletes nothing', async () => {
    const out = join(dir, 'facts');
    await buildFactsDataset(options(out));
    writeFileSync(join(out, 'notes.txt'), 'mine');
    mkdirSync(join(out, 'dataset', 'extra'));
    writeFileSync(join(out, 'dataset', 'extra', 'x.bin'), 'mine too');
    const before = readdirSync(out, { recursive: true }).sort();
    await expect(buildFactsDataset(options(out, { force: true }))).rejects.toMatchObject({
      code: 'ITL_IO',
      message: `--force will not replace ${out}: it holds files no data build wrote (dataset/extra/x.bin, notes.txt); move them away or choose another --out`,
    });
    expect(readdirSync(out, { recursive: true }).sort()).toEqual(before);
  });

  test('refuses a folder without a manifest (a working folder, `--out .`), naming what it holds', async () => {
    const out = join(dir, 'work');
    mkdirSync(out);
    for (const name of ['a.py', 'b.py', 'c.txt', 'd', 'e', 'f']) writeFileSync(join(out, name), name);
    await expect(buildFactsDataset(options(out, { force: true }))).rejects.toMatchObject({
      message: `--force will not replace ${out}: it has no readable manifest.json, so it is not the output of itl data build (it holds a.py, b.py, c.txt, d, e and 1 more); move those files away or choose another --out`,
    });
    expect(readdirSync(out)).toHaveLength(6);
  });

  test('through the CLI, `--out .` with --force in a working folder exits 1 and keeps the files', async () => {
    writeFileSync(join(dir, 'precious.txt'), 'keep me');
    const child = spawn(process.execPath, [join(root, 'bin', 'itl.js'), 'data', 'build', '--people', '5', '--out', '.', '--force'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result = await finished(child);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--force will not replace');
    expect(readFileSync(join(dir, 'precious.txt'), 'utf8')).toBe('keep me');
  });
});

describe('readers check the data files against the manifest', () => {
  let data: string;
  beforeEach(async () => {
    data = join(dir, 'facts');
    await buildFactsDataset(options(data));
  });
  const shard = () => join(data, 'dataset', 'data-00000-of-00001.arrow');

  test('a flipped byte in a shard is refused at open, naming the shard', () => {
    const fd = openSync(shard(), 'r+');
    writeSync(fd, Buffer.from('#'), 0, 1, statSync(shard()).size - 100);
    closeSync(fd);
    expect(() => openFactsDataset(data)).toThrow(new RegExp(`^${shard()} does not match ${join(data, 'manifest.json')} \\(sha256 `));
  });

  test('each file is hashed once per process: a change that keeps size and mtime is not seen again, any other is', () => {
    const mtime = new Date('2030-01-01T00:00:00Z');
    const atime = mtime;
    utimesSync(shard(), atime, mtime); // a whole-second time, so it can be put back exactly
    openFactsDataset(data).close();
    const fd = openSync(shard(), 'r+');
    writeSync(fd, Buffer.from('#'), 0, 1, statSync(shard()).size - 100);
    closeSync(fd);
    utimesSync(shard(), atime, mtime);
    openFactsDataset(data).close(); // the cached verdict stands: not hashed again
    utimesSync(shard(), atime, new Date(mtime.getTime() + 5000));
    expect(() => openFactsDataset(data)).toThrow('does not match');
  });

  test("state.json's _data_files cannot leave the dataset folder, by name or by link", () => {
    unlinkSync(join(data, 'manifest.json')); // a bare dataset: nothing to check the files against
    const state = join(data, 'dataset', 'state.json');
    const original = readFileSync(state, 'utf8');
    writeFileSync(state, original.replace('data-00000-of-00001.arrow', '../../../etc/passwd'));
    expect(() => openFactsDataset(data)).toThrow(
      `${state}: data file '../../../etc/passwd' lies outside the dataset folder ${join(data, 'dataset')}`,
    );
    writeFileSync(state, original.replace('data-00000-of-00001.arrow', '/etc/passwd'));
    expect(() => openFactsDataset(data)).toThrow("data file '/etc/passwd' lies outside");
    symlinkSync('/etc/passwd', join(data, 'dataset', 'link.arrow'));
    writeFileSync(state, original.replace('data-00000-of-00001.arrow', 'link.arrow'));
    expect(() => openFactsDataset(data)).toThrow("data file 'link.arrow' lies outside");
    writeFileSync(state, original);
    expect(openFactsDataset(data).numRows).toBe(120);
  });

  test('garbage, truncated and swapped-in facts.sqlite are refused at open with their path', async () => {
    const db = join(data, 'facts.sqlite');
    const other = join(dir, 'other');
    await buildFactsDataset(options(other, { seed: 9 }));
    const good = readFileSync(db);
    writeFileSync(db, Buffer.alloc(good.length, 'x'));
    expect(() => openFactsDatabase(db)).toThrow(`${db} does not match`);
    truncateSync(db, 4096);
    expect(() => openFactsDatabase(db)).toThrow(`${db} has 4096 bytes, the manifest says ${good.length}`);
    cpSync(join(other, 'facts.sqlite'), db);
    expect(() => openFactsDatabase(db)).toThrow(`${db} `);
    writeFileSync(db, good);
    openFactsDatabase(db).close();
  });

  test('without a manifest, the schema and SQLite quick_check still refuse a garbage or truncated database', () => {
    const db = join(data, 'facts.sqlite');
    unlinkSync(join(data, 'manifest.json'));
    const good = readFileSync(db);
    writeFileSync(db, Buffer.alloc(8192, 'x'));
    expect(() => openFactsDatabase(db)).toThrow(
      new RegExp(`^${db} is not a facts database of itl data build \\(file is not a database\\)`),
    );
    writeFileSync(db, good.subarray(0, good.length >> 1));
    expect(() => openFactsDatabase(db)).toThrow(`${db} is not a facts database of itl data build`);
  });

  test("the tool database is the dataset's own: a missing one is named, never a neighbour's used", () => {
    cpSync(join(data, 'facts.sqlite'), join(dir, 'facts.sqlite')); // a neighbour beside the dataset folder
    expect(factsDatabasePath(data)).toBe(join(data, 'facts.sqlite'));
    expect(factsDatabasePath(join(data, 'dataset'))).toBe(join(data, 'facts.sqlite'));
    unlinkSync(join(data, 'facts.sqlite'));
    expect(() => openFactsDatabase(factsDatabasePath(data))).toThrow(`${join(data, 'facts.sqlite')} is missing from the dataset`);
    expect(() => factsDatabasePath(join(dir, 'elsewhere'))).toThrow(`${join(dir, 'elsewhere')} is not the output folder of itl data build`);
  });
});
