/**
 * `itl data build`: people → rows → a datasets on-disk dataset, a preview, the SQLite tool database
 * and a manifest. Everything is built in a temporary sibling folder that is renamed to the output
 * only once complete, so an interrupted or failed build never leaves output that looks finished.
 * One build per output folder at a time (the lock `.<name>.lock` beside it); a build's leftovers
 * (`.<name>.partial-<pid>`, `.<name>.old-<pid>` of processes that died) are removed by the next one;
 * `force` replaces only a folder every file of which an earlier build's manifest lists.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';

import { ItlError } from '../errors.js';
import { acquireLock, isRunning } from '../util/fileLock.js';
import { errnoCode, ioError } from '../util/ioError.js';
import { makeFolder } from '../util/outputFolder.js';
import { describeDifferences, type Provenance, provenanceDifferences } from '../util/provenance.js';
import { datasetInfoJson, DATASET_INFO_FILE, factsArrowSchema, RECORD_BATCH_ROWS, STATE_FILE, stateJson } from './datasetsLayout.js';
import { drawPeople } from './drawPeople.js';
import { ATTRIBUTES, type FactRow } from './facts.js';
import { createFactsDatabase } from './factsDatabase.js';
import { factRows } from './factRows.js';
import { factsRecordBatch } from './factsRecordBatch.js';
import { ATOM_FILES, loadAtoms } from './loadAtoms.js';
import { loadTemplates, templateFiles } from './loadTemplates.js';
import { type FileRecord, hashFile } from './hashFile.js';
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
  /** Messages for the user: leftovers removed, a stale lock taken over. */
  log?: (message: string) => void;
  /** How long to wait for another build of the same folder, in ms (default 0: fail naming it). */
  lockWaitMs?: number;
}

export type { FileRecord } from './hashFile.js';

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
  makeFolder(dirname(outDir));
  const lock = await acquireLock(join(dirname(outDir), `.${basename(outDir)}.lock`), {
    what: `the dataset output folder ${outDir}`,
    waitMs: options.lockWaitMs ?? 0,
    log: options.log,
  });
  try {
    removeLeftovers(outDir, options.log);
    const atoms = loadAtoms(options.atomsDir);
    const templates = loadTemplates(options.templatesDir);
    const inputs = describeInputs(options, atoms);
    checkReplaceable(outDir, options.force, buildProvenance(options.seed, options.people, inputs));
    return await build(options, outDir, atoms, templates, inputs);
  } finally {
    lock.release();
  }
}

async function build(
  options: BuildOptions,
  outDir: string,
  atoms: ReturnType<typeof loadAtoms>,
  templates: ReturnType<typeof loadTemplates>,
  inputs: FactsManifest['inputs'],
): Promise<FactsManifest> {
  const people = drawPeople(atoms, options.people, options.seed);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ seed: options.seed, people: options.people, inputs }))
    .digest('hex')
    .slice(0, 16);

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
    writeFileSync(join(workDir, PREVIEW_FILE), preview.map((line) => `${line}\n`).join(''));

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
    writeFileSync(join(workDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    replaceFolder(workDir, outDir);
    return manifest;
  } catch (error) {
    rmSync(workDir, { recursive: true, force: true });
    // A full disk or a lost mount mid-build: name the build's folder (a raw write error has no path).
    if (errnoCode(error)) throw ioError('write the dataset into', (error as NodeJS.ErrnoException).path ?? workDir, error);
    const sqlite = (error as { code?: unknown }).code;
    if (typeof sqlite === 'string' && /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN)/.test(sqlite)) {
      const cause = sqlite === 'SQLITE_FULL' ? 'no space left on the device' : (error as Error).message;
      throw new ItlError('ITL_IO', `cannot write the dataset into ${join(workDir, DATABASE_FILE)}: ${cause} (${sqlite})`, { cause: error });
    }
    throw error;
  }
}

/** What decides a build's content, as provenance: two builds with none of these different are byte-identical. */
function buildProvenance(seed: number, people: number, inputs: FactsManifest['inputs'] | undefined): Provenance {
  const digest = createHash('sha256')
    .update(JSON.stringify(inputs ?? null))
    .digest('hex')
    .slice(0, 12);
  return { options: { seed, people, 'atoms and templates (sha256)': digest } };
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

/**
 * An existing output folder may be replaced when it is empty, or with `force` when every file in it is
 * one an earlier build wrote (its manifest lists it): unrelated files are never deleted.
 */
function checkReplaceable(outDir: string, force: boolean, asked: Provenance): void {
  if (!existsSync(outDir)) return;
  if (!statSync(outDir).isDirectory())
    throw new ItlError('ITL_IO', `cannot use ${outDir} as the output folder: it is a file, and a folder is expected`);
  const files = filesUnder(outDir);
  if (files.length === 0) return;
  let manifest: FactsManifest | undefined;
  try {
    manifest = JSON.parse(readFileSync(join(outDir, MANIFEST_FILE), 'utf8')) as FactsManifest;
  } catch {
    manifest = undefined;
  }
  if (!force) {
    let holds = '';
    if (manifest) {
      const differences = provenanceDifferences(buildProvenance(manifest.seed, manifest.people, manifest.inputs), asked);
      holds =
        differences.length === 0
          ? `: it holds this very build (seed ${manifest.seed}, ${manifest.people} people, the same atoms and templates)`
          : `: it holds another build (${describeDifferences(differences)})`;
    }
    throw new ItlError('ITL_IO', `output folder ${outDir} already exists (pass --force to replace it)${holds}`);
  }
  let listed: Set<string>;
  try {
    if (!manifest) throw new Error('no manifest');
    listed = new Set([MANIFEST_FILE, ...Object.keys(manifest.files ?? {})]);
  } catch {
    throw new ItlError(
      'ITL_IO',
      `--force will not replace ${outDir}: it has no readable ${MANIFEST_FILE}, so it is not the output of itl data build ` +
        `(it holds ${describeFiles(files)}); move those files away or choose another --out`,
    );
  }
  const unrelated = files.filter((file) => !listed.has(file));
  if (unrelated.length > 0) {
    throw new ItlError(
      'ITL_IO',
      `--force will not replace ${outDir}: it holds files no data build wrote (${describeFiles(unrelated)}); ` +
        'move them away or choose another --out',
    );
  }
}

/** Every file below `folder` (not folders), relative, '/'-separated. */
function filesUnder(folder: string): string[] {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(folder, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

function describeFiles(files: string[]): string {
  const shown = files.slice(0, 5).join(', ');
  return files.length > 5 ? `${shown} and ${files.length - 5} more` : shown;
}

/** `.<name>.partial-<pid>` and `.<name>.old-<pid>` of builds whose process is gone (killed mid-build). */
function removeLeftovers(outDir: string, log: ((message: string) => void) | undefined): void {
  const prefix = `.${basename(outDir)}.`;
  for (const name of readdirSync(dirname(outDir))) {
    if (!name.startsWith(prefix)) continue;
    const match = /^(partial|old)-(\d+)$/.exec(name.slice(prefix.length));
    if (!match) continue;
    const pid = Number(match[2]);
    if (pid === process.pid || isRunning(pid)) continue;
    rmSync(join(dirname(outDir), name), { recursive: true, force: true });
    log?.(`removed ${join(dirname(outDir), name)}, left by a build that did not finish (pid ${pid})`);
  }
}

/** Swaps the finished folder in; an existing one (with --force) is moved aside first, then removed. */
function replaceFolder(workDir: string, outDir: string): void {
  if (!existsSync(outDir) || readdirSync(outDir).length === 0) {
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
