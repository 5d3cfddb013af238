/**
 * The README's CLI reference is what the commands print: `scripts/cli-reference.mjs --check`
 * regenerates it from every command's --help and fails on any difference, so it cannot go stale.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { commands } from '../../cli/commands/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const script = join(root, 'scripts', 'cli-reference.mjs');
const reference = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', cwd: root });

describe('the CLI reference in README.md', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'itl-cli-reference-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('equals the generated one (npm run cli-reference regenerates it)', () => {
    const result = reference('--check');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('holds every command\'s --help between the markers', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = readme.slice(readme.indexOf('<!-- cli-reference:start -->'), readme.indexOf('<!-- cli-reference:end -->'));
    for (const command of commands) {
      const usage = [command.command].flat()[0];
      expect(block).toContain(`### \`itl ${usage.split(' ')[0]}\``);
      expect(block).toContain(`itl ${usage}`);
    }
    expect(block).toContain('--only');  // the options themselves, not only the names
  });

  it('fails on a stale block and rewrites it', () => {
    const copy = join(dir, 'README.md');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    writeFileSync(copy, readme.replace('select steps: TERM', 'select some steps: TERM'));
    const stale = reference('--check', '--readme', copy);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('the CLI reference is stale');
    expect(reference('--readme', copy).status).toBe(0);
    expect(readFileSync(copy, 'utf8')).toBe(readme);
    writeFileSync(copy, '# no markers\n');
    const noBlock = reference('--check', '--readme', copy);
    expect(noBlock.status).toBe(2);
    expect(noBlock.stderr).toContain('has no <!-- cli-reference:start --> … <!-- cli-reference:end --> block');
  });
});
