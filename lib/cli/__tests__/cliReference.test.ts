/**
 * docs/cli.md is what the commands print: `scripts/cli-reference.mjs --check` regenerates it from every
 * command's --help and fails on any difference (or a missing file), so it cannot go stale.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { commands } from '../commands/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const script = join(root, 'scripts', 'cli-reference.mjs');
const cliMd = join(root, 'docs', 'cli.md');
const reference = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', cwd: root });

describe('the CLI reference, docs/cli.md', () => {
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

  it("says it is generated and holds every command's --help", () => {
    const text = readFileSync(cliMd, 'utf8');
    expect(text.startsWith("<!-- generated from the commands' --help by scripts/cli-reference.mjs")).toBe(true);
    expect(text).toContain('## `itl`\n');
    for (const command of commands) {
      const usage = [command.command].flat()[0];
      expect(text).toContain(`## \`itl ${usage.split(' ')[0]}\``);
      expect(text).toContain(`itl ${usage}`);
    }
    expect(text).toContain('--only'); // the options themselves, not only the names
  });

  it('fails on a stale or missing file and rewrites it whole', () => {
    const copy = join(dir, 'cli.md');
    const current = readFileSync(cliMd, 'utf8');
    writeFileSync(copy, current.replace('select steps: TERM', 'select some steps: TERM'));
    const stale = reference('--check', '--out', copy);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('the CLI reference is stale');
    expect(reference('--out', copy).status).toBe(0);
    expect(readFileSync(copy, 'utf8')).toBe(current);

    writeFileSync(copy, '# hand-written\n');
    expect(reference('--out', copy).status).toBe(0);
    expect(readFileSync(copy, 'utf8')).toBe(current);

    const missing = join(dir, 'none.md');
    const absent = reference('--check', '--out', missing);
    expect(absent.status).toBe(1);
    expect(absent.stderr).toContain('does not exist; generate it with npm run cli-reference');
    expect(existsSync(missing)).toBe(false);

    const wrong = reference('--readme', copy);
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain("unknown argument '--readme'");
  });
});
