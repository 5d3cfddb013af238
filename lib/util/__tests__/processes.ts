/**
 * Test helper: real Node processes running a snippet of ES module code against the compiled modules
 * (dist/, built by `npm run build`), for tests of what only separate processes show (locks, signals).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const running = new Set<ChildProcess>();

/** `import … from '@dist/util/fileLock.js'` in `code` is rewritten to the compiled file's URL. */
export function nodeSnippet(code: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const source = code.replaceAll('@dist/', `${pathToFileURL(resolve(root, 'dist')).href}/`);
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  return child;
}

/** For afterEach: a failed expectation must not leave a child holding the test run open. */
export function killChildren(): void {
  for (const child of running) child.kill('SIGKILL');
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Collects a child's output until it exits. */
export function finished(child: ChildProcess): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => (stdout += chunk));
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  return new Promise((done) => child.on('close', (code, signal) => done({ code, signal, stdout, stderr })));
}

/** Resolves once the child has printed `line` (a whole line) on stdout. */
export function printed(child: ChildProcess, line: string): Promise<void> {
  return new Promise((done, fail) => {
    let seen = '';
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      if (seen.split('\n').includes(line)) {
        child.stdout?.off('data', onData);
        done();
      }
    };
    child.stdout?.on('data', onData);
    child.on('close', (code, signal) =>
      fail(new Error(`child exited (${code ?? signal}) before printing '${line}'; it printed '${seen}'`)),
    );
  });
}
