#!/usr/bin/env node
// docs/cli.md, the CLI reference, generated whole from yargs: `itl --help` and every command's `--help`.
//   node scripts/cli-reference.mjs            write docs/cli.md (npm run cli-reference)
//   node scripts/cli-reference.mjs --check    exit 1 when docs/cli.md differs from the generated text (or is missing)
//   --out FILE                                another file than docs/cli.md
// Each help text comes from the built `itl` entry (bin/itl.js, `npm run build` first) in a child
// process with a pipe as stdout, so yargs wraps at its fixed width (110) whatever the terminal.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const GENERATED =
  "<!-- generated from the commands' --help by scripts/cli-reference.mjs (npm run cli-reference); edit the yargs options, not this file -->";

function fail(message, status = 2) {
  process.stderr.write(`cli-reference: ${message}\n`);
  process.exit(status);
}

function parseArguments(argv) {
  const options = { check: false, out: join(ROOT, 'docs', 'cli.md') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--check') options.check = true;
    else if (argv[i] === '--out' && i + 1 < argv.length) options.out = resolve(argv[++i]);
    else fail(`unknown argument '${argv[i]}' (expected --check, --out FILE)`);
  }
  return options;
}

async function helpOf(args) {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'itl.js'), ...args, '--help'], {
      encoding: 'utf8',
      cwd: ROOT,
      env: { ...process.env, ITL_DEBUG: '' },
    });
    return stdout.trimEnd();
  } catch (error) {
    fail(`itl ${[...args, '--help'].join(' ')} failed: ${String(error.stderr ?? error.message).trim()}`);
  }
}

async function commandNames() {
  let commands;
  try {
    ({ commands } = await import(join(ROOT, 'dist', 'cli', 'commands', 'index.js')));
  } catch (error) {
    fail(`cannot load the built commands (run npm run build first): ${error.message}`);
  }
  return commands.map((command) => [command.command].flat()[0].split(' ')[0]);
}

async function generate() {
  // The processes run side by side: each spends most of its time loading modules.
  const names = await commandNames();
  const [top, ...helps] = await Promise.all([helpOf([]), ...names.map((name) => helpOf([name]))]);
  const sections = [
    GENERATED,
    '',
    '# CLI reference',
    '',
    "Every command's `--help`, as the commands print it. This file is generated from the yargs definitions by",
    '`npm run cli-reference` (`scripts/cli-reference.mjs`), and a test fails when it differs from what the commands',
    'print. What the commands are for: [README](../README.md) and the [docs](../README.md#documentation).',
    '',
    '## `itl`',
    '',
    '```text',
    top,
    '```',
  ];
  for (const [i, name] of names.entries()) sections.push('', `## \`itl ${name}\``, '', '```text', helps[i], '```');
  return `${sections.join('\n')}\n`;
}

const options = parseArguments(process.argv.slice(2));
const current = existsSync(options.out) ? readFileSync(options.out, 'utf8') : undefined;
const updated = await generate();
if (options.check) {
  if (current === undefined) fail(`${options.out} does not exist; generate it with npm run cli-reference`, 1);
  if (updated !== current) {
    fail(`${options.out}: the CLI reference is stale; regenerate it with npm run cli-reference`, 1);
  }
  process.stdout.write(`cli-reference: ${options.out} is up to date\n`);
} else if (updated === current) {
  process.stdout.write(`cli-reference: ${options.out} already up to date\n`);
} else {
  // Through a temporary sibling and a rename: an interrupted run never leaves half a reference.
  const temporary = `${options.out}.tmp-${process.pid}`;
  writeFileSync(temporary, updated);
  renameSync(temporary, options.out);
  process.stdout.write(`cli-reference: wrote ${options.out}\n`);
}
