/**
 * The documentation holds together: every relative link and image in README.md and docs/*.md names a
 * file of the repository (and, for `#anchor`, a heading of that file, slugged as GitHub does), every
 * doc is linked from the README, the README's test command is the line CI runs, and no tracked file
 * cites the design notes that used to sit outside the repository (their content is docs/design.md).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The lines outside fenced code blocks (``` or ~~~, closed by a fence of the same kind at least as long). */
function outsideFences(markdown: string): string {
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker !== undefined) fence = marker;
    else if (
      fence !== undefined &&
      marker !== undefined &&
      marker[0] === fence[0] &&
      marker.length >= fence.length &&
      line.trim() === marker
    )
      fence = undefined;
    else if (fence === undefined) out.push(line);
  }
  return out.join('\n');
}

/** The text outside code: fenced blocks and inline code spans (which may wrap across lines) removed. */
function prose(markdown: string): string {
  return outsideFences(markdown).replace(/(`+)[\s\S]*?\1/g, '');
}

/** GitHub's anchor of a heading: its text lower-cased, punctuation and symbols dropped, spaces as hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/[*`]/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** Every heading's anchor in a markdown file (repeated headings get -1, -2, … as on GitHub). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const line of outsideFences(markdown).split('\n')) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  return found;
}

/** Link and image targets: inline `[text](target)`, reference definitions `[id]: target`, HTML href/src. */
function targets(markdown: string): string[] {
  const text = prose(markdown);
  const found: string[] = [];
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) found.push(m[1]!);
  for (const m of text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) found.push(m[1]!);
  for (const m of text.matchAll(/\b(?:href|src)\s*=\s*"([^"]*)"/g)) found.push(m[1]!);
  return found;
}

/** The problems of one markdown file's links, each naming the file and the link. */
function brokenLinks(file: string, repositoryRoot: string): string[] {
  const markdown = readFileSync(file, 'utf8');
  const name = relative(repositoryRoot, file);
  const problems: string[] = [];
  for (const target of targets(markdown)) {
    if (target === '') {
      problems.push(`${name}: an empty link target`);
      continue;
    }
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // http:, https:, mailto:
    const [path, anchor] = target.split('#', 2) as [string, string | undefined];
    const linked = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
    if (path.startsWith('/')) {
      problems.push(`${name}: '${target}' is absolute; links must be relative to the file`);
      continue;
    }
    if (linked !== repositoryRoot && !linked.startsWith(repositoryRoot + sep)) {
      problems.push(`${name}: '${target}' leaves the repository`);
      continue;
    }
    if (!existsSync(linked)) {
      problems.push(`${name}: '${target}' names no file (${relative(repositoryRoot, linked)})`);
      continue;
    }
    if (anchor !== undefined && linked.endsWith('.md') && statSync(linked).isFile()) {
      if (!anchors(readFileSync(linked, 'utf8')).has(anchor)) {
        problems.push(`${name}: '${target}': ${relative(repositoryRoot, linked)} has no heading with the anchor #${anchor}`);
      }
    }
  }
  return problems;
}

const docs = readdirSync(join(root, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .sort()
  .map((f) => join(root, 'docs', f));

describe('the documentation', () => {
  it('has the docs the README links to', () => {
    expect(docs.map((f) => relative(root, f))).toEqual(expect.arrayContaining(['docs/design.md', 'docs/cli.md', 'docs/extending.md']));
  });

  it.each([join(root, 'README.md'), ...docs].map((f) => [relative(root, f), f]))('%s: every relative link resolves', (_, file) => {
    expect(brokenLinks(file, root)).toEqual([]);
  });

  it('links every doc from the README', () => {
    const linked = new Set(targets(readFileSync(join(root, 'README.md'), 'utf8')).map((t) => resolve(root, t.split('#')[0]!)));
    expect(docs.filter((f) => !linked.has(f)).map((f) => relative(root, f))).toEqual([]);
  });

  it('gives the test command CI runs, verbatim', () => {
    const command = 'bash scripts/setup.sh && npm test';
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8')
      .trim()
      .split('\n');
    expect(ci[ci.length - 1]).toBe(command);
    expect(readFileSync(join(root, 'README.md'), 'utf8').split('\n')).toContain(command);
  });

  it('is the only design document: no tracked file cites one outside the repository', () => {
    const needle = ['DESIGN', 'md'].join('.'); // spelt apart so that this file does not match itself
    const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f !== '');
    expect(tracked.length).toBeGreaterThan(100);
    const citing = tracked.filter((f) => {
      const path = join(root, f);
      if (!existsSync(path) || !statSync(path).isFile()) return false; // deleted in the work tree, or a submodule
      return readFileSync(path).includes(needle);
    });
    expect(citing).toEqual([]);
  });
});

describe('the link check', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'itl-doc-links-'));
    writeFileSync(join(dir, 'other.md'), "# Other page\n\n## The study's settings\n\n## Setup\n\n## Setup\n\n```\n# not a heading\n```\n");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const check = (markdown: string) => {
    writeFileSync(join(dir, 'page.md'), markdown);
    return brokenLinks(join(dir, 'page.md'), dir);
  };

  it('slugs headings as GitHub does', () => {
    expect(slug('`itl train`')).toBe('itl-train');
    expect(slug("The study's settings")).toBe('the-studys-settings');
    expect(slug('What "done" means here')).toBe('what-done-means-here');
    expect(slug('Environment facts (measured)')).toBe('environment-facts-measured');
    expect(slug("libtorch 2.13 (PyTorch wheel, MKL) beside Debian's 1.13")).toBe('libtorch-213-pytorch-wheel-mkl-beside-debians-113');
  });

  it('accepts links to files, headings and the web', () => {
    expect(
      check(
        [
          '# Page',
          '',
          '[o](other.md) [s](other.md#the-studys-settings) [twice](other.md#setup-1) [here](#page)',
          '![figure](other.md) [web](https://example.org/x.md#nothing) <img src="other.md">',
          '',
          '[ref]: other.md#setup',
        ].join('\n'),
      ),
    ).toEqual([]);
  });

  it('reports missing files, missing anchors, absolute paths and links out of the repository', () => {
    const problems = check(
      [
        '# Page',
        '',
        '[a](missing.md) [b](other.md#no-such-heading) [c](#not-here) [d](/etc/passwd) [e](../outside.md)',
        '[f](other.md#not-a-heading) ![g](figures/none.svg) [h]()',
        '',
        '[ref]: gone.md',
      ].join('\n'),
    );
    expect(problems).toEqual([
      "page.md: 'missing.md' names no file (missing.md)",
      "page.md: 'other.md#no-such-heading': other.md has no heading with the anchor #no-such-heading",
      "page.md: '#not-here': page.md has no heading with the anchor #not-here",
      "page.md: '/etc/passwd' is absolute; links must be relative to the file",
      "page.md: '../outside.md' leaves the repository",
      "page.md: 'other.md#not-a-heading': other.md has no heading with the anchor #not-a-heading",
      "page.md: 'figures/none.svg' names no file (figures/none.svg)",
      'page.md: an empty link target',
      "page.md: 'gone.md' names no file (gone.md)",
    ]);
  });

  it('ignores links inside code', () => {
    expect(check('# Page\n\n`[a](missing.md)` and `a\n[c](missing.md)`\n\n````text\n```\n[b](missing.md)\n```\n````\n')).toEqual([]);
  });
});
