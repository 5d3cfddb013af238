import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { finished, killChildren, nodeSnippet } from '../../util/__tests__/processes.js';
import { readKeyedFile, writeKeyedEntry } from '../resultFiles.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'itl-results-'));
});
afterEach(() => {
  killChildren();
  rmSync(dir, { recursive: true, force: true });
});

describe('writeKeyedEntry', () => {
  test('6 concurrent writer processes keep all 6 entries, in each of 20 repetitions', async () => {
    const rounds = 20;
    // Six long-lived processes, so the repetitions cost no process starts; each round is its own file,
    // and every process writes its entry into every round's file, so all six race on each file.
    const writers = Array.from({ length: 6 }, (_, w) =>
      finished(
        nodeSnippet(`
        import { writeKeyedEntry } from '@dist/eval/resultFiles.js';
        for (let round = 0; round < ${rounds}; round++) {
          await writeKeyedEntry(${JSON.stringify(dir)} + '/round-' + round + '/results.json', 'checkpoint-${w + 1}', { writer: ${w}, round });
        }
      `),
      ),
    );
    const results = await Promise.all(writers);
    expect(results.map((r) => [r.code, r.stderr])).toEqual(Array.from({ length: 6 }, () => [0, '']));
    for (let round = 0; round < rounds; round++) {
      const document = await readKeyedFile(join(dir, `round-${round}`, 'results.json'));
      expect(Object.keys(document)).toEqual([
        'checkpoint-1',
        'checkpoint-2',
        'checkpoint-3',
        'checkpoint-4',
        'checkpoint-5',
        'checkpoint-6',
      ]);
      expect(readdirSync(join(dir, `round-${round}`))).toEqual(['results.json']); // no lock or temporary file left
    }
  });

  test('concurrent writes from one process also keep every entry', async () => {
    const path = join(dir, 'r', 'results.json');
    await Promise.all(Array.from({ length: 8 }, (_, i) => writeKeyedEntry(path, `checkpoint-${i}`, { i })));
    expect(Object.keys(await readKeyedFile(path))).toHaveLength(8);
  });

  test('a failed write (ENOSPC injected) leaves the previous file whole, no temporary file and no lock', async () => {
    const path = join(dir, 'results.json');
    await writeKeyedEntry(path, 'checkpoint-1', { a: 1 });
    const before = readFileSync(path, 'utf8');
    process.env.ITL_FAULT_WRITE = 'ENOSPC:results.json';
    try {
      const error = await writeKeyedEntry(path, 'checkpoint-2', { a: 2 }).catch((e) => e);
      expect(error).toMatchObject({ code: 'ITL_IO', message: `cannot write ${path}: no space left on the device (ENOSPC)` });
    } finally {
      delete process.env.ITL_FAULT_WRITE;
    }
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(readdirSync(dir)).toEqual(['results.json']);
  });

  test("temporary files of writers killed mid-write are removed by the next writer; a live writer's are kept", async () => {
    const path = join(dir, 'results.json');
    const dead = await new Promise<number>((resolve) => {
      const child = nodeSnippet('process.exit(0)');
      child.on('exit', () => resolve(child.pid!));
    });
    writeFileSync(`${path}.tmp-${dead}-0a1b2c3d`, '{"half": ');
    writeFileSync(`${path}.tmp-1-0a1b2c3d`, 'pid 1 is running');
    await writeKeyedEntry(path, 'checkpoint-1', {});
    expect(readdirSync(dir).sort()).toEqual(['results.json', 'results.json.tmp-1-0a1b2c3d']);
  });

  test('a file where the result folder should be is ITL_IO naming it', async () => {
    writeFileSync(join(dir, 'recall'), 'not a folder');
    const path = join(dir, 'recall', 'run', 'results.json');
    await expect(writeKeyedEntry(path, 'checkpoint-1', {})).rejects.toMatchObject({
      code: 'ITL_IO',
      message: `cannot use ${join(dir, 'recall')} as a folder (inside ${join(dir, 'recall', 'run')}): it is a file, and a folder is expected`,
    });
  });
});
