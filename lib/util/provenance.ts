/**
 * What produced an artefact, cheap enough to compute before every reuse: a model by its resolved
 * path, its config.json and the headers of its safetensors files (names, dtypes, shapes, offsets —
 * no weights are read), a file by its sha256, a `data build` folder by its manifest. Records are
 * plain JSON objects; `differences` names what changed between two of them, for the message that
 * refuses a reuse.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

import { ItlError } from '../errors.js';

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** sha256 of a file's bytes. */
export function fileDigest(path: string): string {
  try {
    return sha256(readFileSync(path));
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** sha256 of a file, or of a folder's files (names, in order, and their sha256s): a jsonl file or an on-disk dataset. */
export function pathDigest(path: string): string {
  let entries;
  try {
    if (!statSync(path).isDirectory()) return fileDigest(path);
    entries = readdirSync(path, { recursive: true, withFileTypes: true });
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  const files = entries.filter((e) => e.isFile()).map((e) => relative(path, join(e.parentPath, e.name))).sort();
  const digest = createHash('sha256');
  for (const file of files) digest.update(`${file}\0${fileDigest(join(path, file))}\n`);
  return digest.digest('hex');
}

/** A safetensors file's header (its 8-byte length and JSON), which fixes every tensor's name, dtype, shape and place. */
function safetensorsHeader(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = Buffer.alloc(8);
    if (readSync(fd, size, 0, 8, 0) !== 8) throw new ItlError('ITL_CHECKPOINT_FORMAT', `${path}: shorter than a safetensors header`);
    const length = Number(size.readBigUInt64LE(0));
    const fileSize = statSync(path).size;
    if (length > fileSize - 8) throw new ItlError('ITL_CHECKPOINT_FORMAT', `${path}: header length ${length} exceeds the file (${fileSize} bytes)`);
    const header = Buffer.alloc(8 + length);
    size.copy(header);
    readSync(fd, header, 8, length, 8);
    return header;
  } finally {
    closeSync(fd);
  }
}

/** The safetensors files of a model or adapter folder: the single file, or the shards its index lists. */
function weightFiles(folder: string): string[] {
  for (const single of ['model.safetensors', 'adapter_model.safetensors']) if (existsSync(join(folder, single))) return [single];
  const index = join(folder, 'model.safetensors.index.json');
  if (!existsSync(index)) return [];
  const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
  return [...new Set(Object.values(map))].sort();
}

export interface ModelIdentity {
  path: string;
  /** sha256 of config.json (adapter_config.json for an adapter folder); null when there is none. */
  config: string | null;
  /** sha256 over the safetensors headers and sizes of its weight files. */
  weights: string | null;
}

/** The identity of a model (or LoRA adapter) folder. */
export function modelIdentity(folder: string): ModelIdentity {
  const path = resolve(folder);
  const configFile = ['config.json', 'adapter_config.json'].map((f) => join(path, f)).find((f) => existsSync(f));
  const files = weightFiles(path);
  const weights = createHash('sha256');
  for (const file of files) {
    weights.update(file).update(String(statSync(join(path, file)).size)).update(safetensorsHeader(join(path, file)));
  }
  return { path, config: configFile ? fileDigest(configFile) : null, weights: files.length > 0 ? weights.digest('hex') : null };
}

/** A facts dataset (an `itl data build` folder: its manifest) or a JSON Lines file (its bytes). */
export function dataIdentity(data: string): { path: string; digest: string } {
  const path = resolve(data);
  const manifest = join(path, 'manifest.json');
  if (existsSync(manifest)) return { path, digest: fileDigest(manifest) };
  // The dataset/ folder of a build: its parent holds the manifest.
  const parentManifest = join(path, '..', 'manifest.json');
  if (existsSync(parentManifest)) return { path, digest: fileDigest(parentManifest) };
  return { path, digest: fileDigest(path) };
}

/** Canonical JSON: keys sorted at every level, so equal records compare equal as text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What differs between a recorded provenance and the one asked for now: "key.path: recorded → now" lines. */
export function differences(recorded: unknown, now: unknown, prefix = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(recorded) && isObject(now)) {
    const keys = [...new Set([...Object.keys(recorded), ...Object.keys(now)])].sort();
    return keys.flatMap((key) => differences(recorded[key], now[key], prefix ? `${prefix}.${key}` : key));
  }
  if (canonicalJson(recorded ?? null) === canonicalJson(now ?? null)) return [];
  const show = (v: unknown) => (v === undefined || v === null ? 'none' : typeof v === 'string' ? v : canonicalJson(v));
  return [`${prefix || 'value'}: ${show(recorded)} → ${show(now)}`];
}
