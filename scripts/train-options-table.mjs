#!/usr/bin/env node
// The docs' table of `itl train`'s options, generated from the option schema (lib/train/trainOptions.ts,
// built into dist/): every Markdown file under docs/ holding the markers
// <!-- train-options:start --> … <!-- train-options:end --> gets the table between them.
//   node scripts/train-options-table.mjs            rewrite the blocks
//   node scripts/train-options-table.mjs --check    exit 1 when a block differs from the generated table
// `npm run build` first (the schema is read from dist/).
import { readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const START = '<!-- train-options:start -->';
const END = '<!-- train-options:end -->';

function fail(message, status = 2) {
  process.stderr.write(`train-options-table: ${message}\n`);
  process.exit(status);
}

const args = process.argv.slice(2);
for (const arg of args) if (arg !== '--check') fail(`unknown argument '${arg}' (expected --check)`);
const check = args.includes('--check');

let trainOptionsTable;
try {
  ({ trainOptionsTable } = await import(join(ROOT, 'dist', 'train', 'trainOptions.js')));
} catch (error) {
  fail(`cannot load the built option schema (run npm run build first): ${error.message}`);
}
const block = [
  START,
  '<!-- generated from lib/train/trainOptions.ts by scripts/train-options-table.mjs; edit the schema, not this -->',
  '',
  trainOptionsTable(),
  '',
  END,
].join('\n');

function markdownFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? markdownFiles(join(dir, entry.name)) : entry.name.endsWith('.md') ? [join(dir, entry.name)] : [],
  );
}

const files = markdownFiles(join(ROOT, 'docs')).filter((file) => readFileSync(file, 'utf8').includes(START));
if (files.length === 0) fail(`no Markdown file under docs/ holds ${START}`);
let stale = 0;
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (end < start) fail(`${relative(ROOT, file)}: ${START} without ${END} after it`);
  const updated = text.slice(0, start) + block + text.slice(end + END.length);
  if (updated === text) continue;
  stale++;
  if (check) {
    process.stderr.write(
      `train-options-table: ${relative(ROOT, file)}: the options table is stale; ` +
        'regenerate it with node scripts/train-options-table.mjs\n',
    );
  } else {
    // Through a temporary sibling and a rename: an interrupted run never leaves half a file.
    writeFileSync(`${file}.tmp-${process.pid}`, updated);
    renameSync(`${file}.tmp-${process.pid}`, file);
    process.stdout.write(`train-options-table: wrote ${relative(ROOT, file)}\n`);
  }
}
if (check && stale > 0) process.exit(1);
if (stale === 0) process.stdout.write(`train-options-table: ${files.length} file(s) up to date\n`);
