import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { injectedWriteFault, parseWriteFaults } from '../faultInjection.js';
import { checkOutputFolder, makeFolder } from '../outputFolder.js';
import { writeFileAtomic } from '../writeFileAtomic.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'itl-write-'));
});
afterEach(() => {
  delete process.env.ITL_FAULT_WRITE;
  rmSync(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  test('writes text and bytes, making missing folders, leaving no temporary file', async () => {
    await writeFileAtomic(join(dir, 'a', 'b', 'x.json'), '{"a":1}\n');
    await writeFileAtomic(join(dir, 'y.bin'), new Uint8Array([1, 2, 3]));
    expect(readFileSync(join(dir, 'a', 'b', 'x.json'), 'utf8')).toBe('{"a":1}\n');
    expect([...readFileSync(join(dir, 'y.bin'))]).toEqual([1, 2, 3]);
    expect(readdirSync(dir).sort()).toEqual(['a', 'y.bin']);
  });

  test('under ITL_FAULT_WRITE only the matching path fails, half-written and then removed; the old file stays', async () => {
    const target = join(dir, 'keep.json');
    writeFileSync(target, 'old');
    process.env.ITL_FAULT_WRITE = 'EIO:keep.json,ENOSPC:nothing-matches';
    await expect(writeFileAtomic(target, 'new text')).rejects.toMatchObject({
      code: 'ITL_IO',
      message: `cannot write ${target}: input/output error (a failing disk or a lost network mount) (EIO)`,
    });
    await writeFileAtomic(join(dir, 'other.json'), 'fine');
    expect(readFileSync(target, 'utf8')).toBe('old');
    expect(readdirSync(dir).sort()).toEqual(['keep.json', 'other.json']);
  });

  test('the injection spec is checked: an unknown code or an empty substring is a usage error', () => {
    expect(parseWriteFaults('ENOSPC:checkpoint-4/,EROFS:x')).toEqual([
      { code: 'ENOSPC', substring: 'checkpoint-4/' },
      { code: 'EROFS', substring: 'x' },
    ]);
    expect(() => parseWriteFaults('ENOPE:x')).toThrow(/expected ITL_FAULT_WRITE entries like ENOSPC:checkpoint-4\//);
    expect(() => parseWriteFaults('ENOSPC:')).toThrow(/received 'ENOSPC:'/);
    expect(injectedWriteFault('/a/checkpoint-4/optimizer.pt', { ITL_FAULT_WRITE: 'EDQUOT:checkpoint-4/' })).toMatchObject({
      code: 'EDQUOT',
      errno: -122,
    });
    expect(injectedWriteFault('/a/checkpoint-6/optimizer.pt', { ITL_FAULT_WRITE: 'EDQUOT:checkpoint-4/' })).toBeNull();
  });
});

describe('output folders', () => {
  test('special file systems are refused at once instead of spinning', () => {
    for (const path of ['/proc/itl-out/x', '/sys/itl-out', '/proc/self/itl']) {
      expect(() => makeFolder(path, 'the output folder')).toThrow(
        /on the kernel's (proc|sysfs) file system, which holds no ordinary files/,
      );
    }
  });

  test('a file in the way is named, whether it is the folder itself or a parent', () => {
    writeFileSync(join(dir, 'f'), '');
    expect(() => makeFolder(join(dir, 'f'), 'the output folder')).toThrow(
      `cannot use ${join(dir, 'f')} as the output folder: it is a file, and a folder is expected`,
    );
    expect(() => checkOutputFolder(join(dir, 'f', 'g', 'h'))).toThrow(
      `cannot use ${join(dir, 'f')} as the output folder (inside ${join(dir, 'f', 'g', 'h')})`,
    );
  });

  test('a writable folder passes and keeps nothing of the check', () => {
    checkOutputFolder(join(dir, 'out', 'deep'));
    expect(readdirSync(join(dir, 'out', 'deep'))).toEqual([]);
  });
});

describe('raw file-system errors reaching the CLI', () => {
  test('become ITL_IO naming the path and the cause, not ITL_INTERNAL', async () => {
    const { asItlError } = await import('../../errors.js');
    const { writeFileSync: write } = await import('node:fs');
    let thrown: unknown;
    try {
      write('/dev/full', 'x');
    } catch (error) {
      thrown = error;
    }
    // A write error carries no path (Node records one only for open): callers that know it wrap it themselves.
    expect(asItlError(thrown)).toMatchObject({ code: 'ITL_IO', message: 'cannot write: no space left on the device (ENOSPC)' });
    let opened: unknown;
    try {
      write('/proc/itl-no-such/file', 'x');
    } catch (error) {
      opened = error;
    }
    expect(asItlError(opened)).toMatchObject({
      code: 'ITL_IO',
      message: 'cannot open /proc/itl-no-such/file: no such file or folder (ENOENT)',
    });
    expect(asItlError(Object.assign(new Error('x'), { code: 'ITL_CONFIG' }))).toMatchObject({ code: 'ITL_CONFIG' });
  });
});
