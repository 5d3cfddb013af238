/**
 * Data files checked against their build's manifest (manifest.json lists every output file with its
 * size and sha256) before they are read: a flipped byte in a shard, a truncated or swapped-in
 * facts.sqlite is refused at open, naming the file, instead of being trained or evaluated on. Each
 * file is hashed once per process; the result is kept by (path, size, mtime), so a file changed
 * afterwards is hashed again. A folder without a manifest (a dataset saved by Python's datasets) has
 * nothing to check against and is read as is.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

import { ItlError } from '../errors.js';
import { hashFile } from './hashFile.js';
import { DATABASE_FILE, DATASET_DIR, MANIFEST_FILE } from './outputLayout.js';

interface ManifestFiles {
  files: Record<string, { bytes: number; sha256: string }>;
}

/** The `data build` folder (the one holding manifest.json) that `folder` is, or whose dataset/ folder it is. */
export function buildFolderOf(folder: string): string | undefined {
  const full = resolve(folder);
  if (existsSync(join(full, MANIFEST_FILE))) return full;
  if (basename(full) === DATASET_DIR && existsSync(join(dirname(full), MANIFEST_FILE))) return dirname(full);
  return undefined;
}

/**
 * The dataset's own tool database: DATA/facts.sqlite for a `data build` folder DATA, or for its
 * dataset/ folder. Never a neighbour's: a folder that is neither is an error naming it.
 */
export function factsDatabasePath(data: string): string {
  const full = resolve(data);
  if (existsSync(join(full, MANIFEST_FILE)) || existsSync(join(full, DATABASE_FILE))) return join(full, DATABASE_FILE);
  if (basename(full) === DATASET_DIR && existsSync(join(dirname(full), MANIFEST_FILE))) return join(dirname(full), DATABASE_FILE);
  throw new ItlError(
    'ITL_DATA',
    `${full} is not the output folder of itl data build (no ${MANIFEST_FILE}, no ${DATABASE_FILE}): the tool database must be the dataset's own`,
  );
}

const verified = new Map<string, string>();

/** Checks `file` against the manifest of the build it belongs to, if any (once per process per version of the file). */
export function verifyDataFile(file: string): void {
  const path = resolve(file);
  const build = buildFolderOf(dirname(path));
  if (build === undefined) return;
  const key = relative(build, path).split(sep).join('/');
  const manifestPath = join(build, MANIFEST_FILE);
  const record = readManifest(manifestPath).files[key];
  if (!record) throw new ItlError('ITL_DATA', `${path} is not listed in ${manifestPath}: not a file this build wrote`);
  let stats;
  try {
    stats = statSync(path);
  } catch (error) {
    throw new ItlError(
      'ITL_DATA',
      `${path} is missing from the dataset (${(error as NodeJS.ErrnoException).code}); rebuild it with itl data build`,
    );
  }
  const version = `${stats.size}:${stats.mtimeMs}:${stats.ino}`;
  if (verified.get(path) === version) return;
  if (stats.size !== record.bytes) {
    throw new ItlError(
      'ITL_DATA',
      `${path} has ${stats.size} bytes, the manifest says ${record.bytes}: the file is damaged or replaced; rebuild the dataset with itl data build`,
    );
  }
  const { sha256 } = hashFile(path);
  if (sha256 !== record.sha256) {
    throw new ItlError(
      'ITL_DATA',
      `${path} does not match ${manifestPath} (sha256 ${sha256.slice(0, 12)}… vs ${record.sha256.slice(0, 12)}…): ` +
        'the file is damaged or replaced; rebuild the dataset with itl data build',
    );
  }
  verified.set(path, version);
}

/** `name` (a file named by state.json's _data_files) as a path inside `folder`, or an error: a list cannot send the reader elsewhere. */
export function fileInsideFolder(folder: string, name: string, listedIn: string): string {
  const path = resolve(folder, name);
  const inside = (base: string, target: string) => {
    const rel = relative(base, target);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  };
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // A missing file is reported when it is opened; only where the name points is checked here.
  }
  if (isAbsolute(name) || !inside(folder, path) || !inside(realpathOr(folder), real)) {
    throw new ItlError('ITL_DATA', `${listedIn}: data file '${name}' lies outside the dataset folder ${folder}`);
  }
  return path;
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function readManifest(path: string): ManifestFiles {
  let manifest: ManifestFiles;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ItlError(
      'ITL_DATA',
      `${path}: not a readable manifest (${(error as Error).message}); rebuild the dataset with itl data build`,
    );
  }
  if (typeof manifest?.files !== 'object' || manifest.files === null) throw new ItlError('ITL_DATA', `${path}: expected a 'files' object`);
  return manifest;
}
