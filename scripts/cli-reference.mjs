#!/usr/bin/env node
// The README's CLI reference, generated from yargs: `itl --help` and every command's `--help`,
// between the markers <!-- cli-reference:start --> and <!-- cli-reference:end -->.
//   node scripts/cli-reference.mjs            rewrite the block in README.md (npm run cli-reference)
//   node scripts/cli-reference.mjs --check    exit 1 when README.md's block differs from the generated one
//   --readme FILE                             another file than README.md
// Each help text comes from the built `itl` entry (bin/itl.js, `npm run build` first) in a child
// process with a pipe as stdout, so yargs wraps at its fixed width (110) whatever the terminal.
import { execFile } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const START = '<!-- cli-reference:start -->';
const END = '<!-- cli-reference:end -->';

function fail(message, status = 2) {
  process.stderr.write(`cli-reference: ${message}\n`);
  process.exit(status);
}

function parseArguments(argv) {
  const options = { check: false, readme: join(ROOT, 'README.md') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--check') options.check = true;
    else if (argv[i] === '--readme' && i + 1 < argv.length) options.readme = resolve(argv[++i]);
    else fail(`unknown argument '${argv[i]}' (expected --check, --readme FILE)`);
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

async function generateBlock() {
  // The processes run side by side: each spends most of its time loading modules.
  const names = await commandNames();
  const [top, ...helps] = await Promise.all([helpOf([]), ...names.map((name) => helpOf([name]))]);
  const sections = [
    START,
    '<!-- generated from the commands\' --help by scripts/cli-reference.mjs (npm run cli-reference); edit the yargs options, not this -->',
    '',
    '### `itl`',
    '',
    '```text',
    top,
    '```',
  ];
  names.forEach((name, i) => sections.push('', `### \`itl ${name}\``, '', '```text', helps[i], '```'));
  sections.push(END);
  return sections.join('\n');
}

function replaceBlock(text, block, file) {
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) fail(`${file} has no ${START} … ${END} block`);
  return text.slice(0, start) + block + text.slice(end + END.length);
}

const options = parseArguments(process.argv.slice(2));
const current = readFileSync(options.readme, 'utf8');
const updated = replaceBlock(current, await generateBlock(), options.readme);
if (options.check) {
  if (updated !== current) {
    fail(`${options.readme}: the CLI reference is stale; regenerate it with npm run cli-reference`, 1);
  }
  process.stdout.write(`cli-reference: ${options.readme} is up to date\n`);
} else if (updated === current) {
  process.stdout.write(`cli-reference: ${options.readme} already up to date\n`);
} else {
  // Through a temporary sibling and a rename: an interrupted run never leaves half a README.
  const temporary = `${options.readme}.tmp-${process.pid}`;
  writeFileSync(temporary, updated);
  renameSync(temporary, options.readme);
  process.stdout.write(`cli-reference: wrote ${options.readme}\n`);
}
