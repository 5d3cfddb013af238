/**
 * `itl data build`: people → rows → a datasets on-disk dataset, a preview, the SQLite tool database
 * and a manifest. Everything is built in a temporary sibling folder that is renamed to the output
 * only once complete, so an interrupted or failed build never leaves output that looks finished.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { ItlError } from '../errors.js';
import { datasetInfoJson, DATASET_INFO_FILE, factsArrowSchema, RECORD_BATCH_ROWS, STATE_FILE, stateJson } from './datasetsLayout.js';
import { drawPeople } from './drawPeople.js';
import { ATTRIBUTES, type FactRow } from './facts.js';
import { createFactsDatabase } from './factsDatabase.js';
import { factRows } from './factRows.js';
import { factsRecordBatch } from './factsRecordBatch.js';
import { ATOM_FILES, loadAtoms } from './loadAtoms.js';
import { loadTemplates, templateFiles } from './loadTemplates.js';
import { DATABASE_FILE, DATASET_DIR, MANIFEST_FILE, PREVIEW_FILE } from './outputLayout.js';
import { ShardedArrowWriter } from './ShardedArrowWriter.js';

export interface BuildOptions {
  people: number;
  seed: number;
  atomsDir: string;
  templatesDir: string;
  outDir: string;
  /** Replace an existing output folder. */
  force: boolean;
  /** How many leading rows go to preview.jsonl. */
  previewRows: number;
  maxShardBytes: number;
  /** Called now and then with the number of people written so far. */
  onProgress?: (peopleDone: number) => void;
}

export interface FileRecord {
  bytes: number;
  sha256: string;
}

export interface FactsManifest {
  format: 'itl-facts/1';
  seed: number;
  people: number;
  rows: number;
  attributes: readonly string[];
  preview_rows: number;
  /** The datasets `_fingerprint` in state.json, derived from the inputs so builds are reproducible. */
  fingerprint: string;
  shards: { file: string; rows: number }[];
  /** Atom and template files by name, with their content hashes. */
  inputs: Record<string, FileRecord & { lines?: number }>;
  /** Every output file, relative to the output folder. */
  files: Record<string, FileRecord>;
}

const PROGRESS_EVERY_PEOPLE = 50_000;

export async function buildFactsDataset(options: BuildOptions): Promise<FactsManifest> {
  const outDir = resolve(options.outDir);
  if (existsSync(outDir) && !options.force) {
    throw new ItlError('ITL_IO', `output folder ${outDir} already exists (pass --force to replace it)`);
  }
  const atoms = loadAtoms(options.atomsDir);
  const templates = loadTemplates(options.templatesDir);
  const people = drawPeople(atoms, options.people, options.seed);
  const inputs = describeInputs(options, atoms);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ seed: options.seed, people: options.people, inputs }))
    .digest('hex')
    .slice(0, 16);

  mkdirSync(dirname(outDir), { recursive: true });
  const workDir = join(dirname(outDir), `.${basename(outDir)}.partial-${process.pid}`);
  rmSync(workDir, { recursive: true, force: true });
  try {
    mkdirSync(join(workDir, DATASET_DIR), { recursive: true });
    const schema = factsArrowSchema();
    const writer = new ShardedArrowWriter(join(workDir, DATASET_DIR), schema, options.maxShardBytes);
    const database = createFactsDatabase(join(workDir, DATABASE_FILE));
    const preview: string[] = [];
    let pending: FactRow[] = [];
    let done = 0;
    try {
      for (const person of people) {
        database.insert(person);
        for (const row of factRows(person, templates)) {
          if (preview.length < options.previewRows) preview.push(JSON.stringify(row));
          pending.push(row);
        }
        if (pending.length >= RECORD_BATCH_ROWS) {
          await writer.write(factsRecordBatch(schema, pending.slice(0, RECORD_BATCH_ROWS)));
          pending = pending.slice(RECORD_BATCH_ROWS);
        }
        if (++done % PROGRESS_EVERY_PEOPLE === 0) options.onProgress?.(done);
      }
      if (pending.length > 0) await writer.write(factsRecordBatch(schema, pending));
    } finally {
      database.close();
    }
    const shards = await writer.finish();
    writeFileSync(join(workDir, DATASET_DIR, DATASET_INFO_FILE), datasetInfoJson());
    writeFileSync(join(workDir, DATASET_DIR, STATE_FILE), stateJson(shards.length, fingerprint));
    writeFileSync(join(workDir, PREVIEW_FILE), preview.map((line) => line + '\n').join(''));

    const files: Record<string, FileRecord> = {};
    for (const shard of shards) files[`${DATASET_DIR}/${shard.file}`] = { bytes: shard.bytes, sha256: shard.sha256 };
    for (const file of [`${DATASET_DIR}/${DATASET_INFO_FILE}`, `${DATASET_DIR}/${STATE_FILE}`, PREVIEW_FILE, DATABASE_FILE]) {
      files[file] = hashFile(join(workDir, file));
    }
    const manifest: FactsManifest = {
      format: 'itl-facts/1',
      seed: options.seed,
      people: options.people,
      rows: options.people * ATTRIBUTES.length,
      attributes: ATTRIBUTES,
      preview_rows: preview.length,
      fingerprint,
      shards: shards.map((s) => ({ file: s.file, rows: s.rows })),
      inputs,
      files,
    };
    writeFileSync(join(workDir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    replaceFolder(workDir, outDir);
    return manifest;
  } catch (error) {
    rmSync(workDir, { recursive: true, force: true });
    throw error;
  }
}

function describeInputs(options: BuildOptions, atoms: ReturnType<typeof loadAtoms>): FactsManifest['inputs'] {
  const inputs: FactsManifest['inputs'] = {};
  for (const [key, file] of Object.entries(ATOM_FILES) as [keyof typeof atoms, string][]) {
    inputs[`atoms/${file}`] = { ...hashBytes(readFileSync(join(options.atomsDir, file))), lines: atoms[key].length };
  }
  for (const attribute of ATTRIBUTES) {
    for (const file of Object.values(templateFiles(attribute))) {
      inputs[`templates/${file}`] = hashBytes(readFileSync(join(options.templatesDir, file)));
    }
  }
  return inputs;
}

/** Swaps the finished folder in; an existing one (with --force) is moved aside first, then removed. */
function replaceFolder(workDir: string, outDir: string): void {
  if (!existsSync(outDir)) {
    renameSync(workDir, outDir);
    return;
  }
  const old = join(dirname(outDir), `.${basename(outDir)}.old-${process.pid}`);
  renameSync(outDir, old);
  renameSync(workDir, outDir);
  rmSync(old, { recursive: true, force: true });
}

function hashBytes(bytes: Uint8Array): FileRecord {
  return { bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

export function hashFile(path: string): FileRecord {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(1 << 20);
  const fd = openSync(path, 'r');
  let bytes = 0;
  try {
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; bytes += n) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return { bytes, sha256: hash.digest('hex') };
}
