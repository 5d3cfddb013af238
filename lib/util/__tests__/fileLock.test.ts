import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

import { acquireLock, processStartTime, readLockOwner } from '../fileLock.js';
import { finished, killChildren, nodeSnippet, printed } from './processes.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'itl-lock-'));
});
afterEach(() => {
  killChildren();
  rmSync(dir, { recursive: true, force: true });
});

/** A process that takes the lock, prints "held", and keeps it until it is told to go (a line on stdin) or killed. */
function holder(lock: string, extra = '') {
  const child = nodeSnippet(`
    import { acquireLock } from '@dist/util/fileLock.js';
    ${extra}
    const lock = await acquireLock(${JSON.stringify(lock)}, { command: 'holder for the test' });
    console.log('held');
    process.stdin.once('data', () => { lock.release(); console.log('released'); process.exit(0); });
  `);
  const done = finished(child);
  return { child, done, held: printed(child, 'held') };
}

describe('fileLock between processes', () => {
  test('a live holder makes a second process fail at once, naming its pid, host and command', async () => {
    const path = join(dir, 'x.lock');
    const a = holder(path);
    await a.held;
    const error = await acquireLock(path, { what: 'the test folder' }).catch((e) => e);
    expect(error).toMatchObject({ code: 'ITL_LOCKED' });
    expect(error.message).toContain(`the test folder is in use by pid ${a.child.pid} on ${hostname()}`);
    expect(error.message).toContain('holder for the test');
    a.child.stdin!.write('go\n');
    expect((await a.done).code).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  test('a waiter gets the lock once the holder releases it, and says whom it waits for', async () => {
    const path = join(dir, 'x.lock');
    const a = holder(path);
    await a.held;
    const messages: string[] = [];
    const waiting = acquireLock(path, { waitMs: 60_000, pollMs: 10, log: (m) => messages.push(m) });
    setTimeout(() => a.child.stdin!.write('go\n'), 300);
    const lock = await waiting;
    expect(messages).toEqual([expect.stringContaining(`is in use by pid ${a.child.pid}`)]);
    expect(messages[0]).toContain('waiting for it');
    expect(readLockOwner(path)?.pid).toBe(process.pid);
    lock.release();
    expect(existsSync(path)).toBe(false);
  });

  test('a wait that times out is an error naming the holder', async () => {
    const path = join(dir, 'x.lock');
    const a = holder(path);
    await a.held;
    const error = await acquireLock(path, { waitMs: 300, pollMs: 20 }).catch((e) => e);
    expect(error).toMatchObject({ code: 'ITL_LOCKED' });
    expect(error.message).toMatch(new RegExp(`in use by pid ${a.child.pid} .*; waited 0 s`));
    a.child.kill('SIGKILL');
    await a.done;
  });

  test('the lock of a SIGKILLed holder is stale: taken over with a message', async () => {
    const path = join(dir, 'x.lock');
    const a = holder(path);
    await a.held;
    a.child.kill('SIGKILL');
    expect((await a.done).signal).toBe('SIGKILL');
    const left = readLockOwner(path)!; // left behind
    expect(left.pid).toBe(a.child.pid);
    const messages: string[] = [];
    const lock = await acquireLock(path, { what: 'folder F', log: (m) => messages.push(m) });
    expect(messages).toEqual([
      `folder F: took over a stale lock (pid ${a.child.pid} is no longer running; it was taken ${left.started} by holder for the test)`,
    ]);
    expect(readLockOwner(path)?.pid).toBe(process.pid);
    lock.release();
  });

  test('SIGTERM and SIGINT release the lock and still end the process by the signal', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const path = join(dir, `${signal}.lock`);
      const a = holder(path);
      await a.held;
      a.child.kill(signal);
      expect((await a.done).signal).toBe(signal);
      expect(existsSync(path)).toBe(false);
    }
  });

  test('a process with its own SIGINT handler keeps it; the lock goes when that handler exits', async () => {
    const path = join(dir, 'x.lock');
    const a = holder(path, `process.on('SIGINT', () => { console.log('own handler'); setTimeout(() => process.exit(7), 50); });`);
    await a.held;
    a.child.kill('SIGINT');
    const result = await a.done;
    expect(result.code).toBe(7);
    expect(result.stdout).toContain('own handler');
    expect(existsSync(path)).toBe(false);
  });

  test('6 processes × 25 increments of a shared counter under the lock lose none', async () => {
    const path = join(dir, 'counter.lock');
    const counter = join(dir, 'counter');
    writeFileSync(counter, '0');
    const workers = Array.from({ length: 6 }, () =>
      finished(
        nodeSnippet(`
        import { readFileSync, writeFileSync } from 'node:fs';
        import { withLock } from '@dist/util/fileLock.js';
        for (let i = 0; i < 25; i++) {
          await withLock(${JSON.stringify(path)}, { waitMs: 60000, pollMs: 1 }, async () => {
            const n = Number(readFileSync(${JSON.stringify(counter)}, 'utf8'));
            await new Promise((r) => setImmediate(r));
            writeFileSync(${JSON.stringify(counter)}, String(n + 1));
          });
        }
      `),
      ),
    );
    const results = await Promise.all(workers);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Number(readFileSync(counter, 'utf8'))).toBe(150);
  });
});

describe('fileLock staleness within this host', () => {
  const write = (path: string, owner: object) =>
    writeFileSync(path, JSON.stringify({ started: '2020-01-01T00:00:00.000Z', command: 'itl x', nonce: 'n0', ...owner }));

  test('a pid now running another process (its start time differs) is stale', async () => {
    const path = join(dir, 'x.lock');
    write(path, { pid: process.pid, host: hostname(), boot_id: null, pid_start: '1' });
    expect(processStartTime(process.pid)).not.toBe('1');
    const messages: string[] = [];
    (await acquireLock(path, { log: (m) => messages.push(m) })).release();
    expect(messages[0]).toContain(`pid ${process.pid} is now another process`);
  });

  test('a lock from before a reboot is stale', async () => {
    const path = join(dir, 'x.lock');
    write(path, { pid: process.pid, host: hostname(), boot_id: 'another-boot', pid_start: null });
    const messages: string[] = [];
    (await acquireLock(path, { log: (m) => messages.push(m) })).release();
    expect(messages[0]).toContain('the machine has restarted');
  });

  test('a lock held on another host is never taken over; the error names the host and the file', async () => {
    const path = join(dir, 'x.lock');
    write(path, { pid: 1, host: 'node-17', boot_id: null, pid_start: null });
    const error = await acquireLock(path).catch((e) => e);
    expect(error).toMatchObject({ code: 'ITL_LOCKED' });
    expect(error.message).toContain('in use by pid 1 on node-17');
    expect(error.message).toContain(`another host: if that process is gone, remove ${path}`);
  });

  test('a file that is not a lock is refused, not removed', async () => {
    const path = join(dir, 'x.lock');
    writeFileSync(path, 'precious');
    await expect(acquireLock(path)).rejects.toMatchObject({ code: 'ITL_IO', message: expect.stringContaining('is not an itl lock file') });
    expect(readFileSync(path, 'utf8')).toBe('precious');
  });

  test('a release never removes a lock someone else took over meanwhile', async () => {
    const path = join(dir, 'x.lock');
    const lock = await acquireLock(path);
    write(path, { pid: process.pid, host: hostname(), boot_id: null, pid_start: null, nonce: 'someone-else' });
    lock.release();
    expect(readLockOwner(path)?.nonce).toBe('someone-else');
  });

  test('a folder that does not exist is an ITL_IO error naming the lock file', async () => {
    const path = join(dir, 'missing', 'x.lock');
    await expect(acquireLock(path)).rejects.toMatchObject({
      code: 'ITL_IO',
      message: expect.stringContaining(`cannot create the lock file ${path}`),
    });
  });
});
