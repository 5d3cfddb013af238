/**
 * Provenance: what produced an artefact (a result, a checkpoint, a demo stage), recorded beside it and
 * compared with what is asked now before the artefact is reused. Three parts:
 *   model   — the folder's real path, sha256 of its config file(s), sha256 of its safetensors headers
 *             (names, dtypes, shapes, offsets) and of sampled data blocks (three 64 KiB blocks per
 *             file; files up to 1 MiB, such as LoRA adapters, whole): cheap, no full weights read,
 *             and two trained states of one architecture still differ.
 *   data    — a `data build` folder's manifest digest (a JSON Lines file: its own sha256).
 *   options — every setting that changes the numbers, as display values ({ 'hellaswag limit': 100 }).
 * Identity is by content: the same model copied elsewhere is the same model (its path is still shown
 * in messages), two different models in folders of the same name are not.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { ItlError } from '../errors.js';
import { ioError } from './ioError.js';

export interface ModelIdentity {
  /** The folder's real path (symbolic links resolved). */
  path: string;
  /** sha256 over config.json and adapter_config.json (those present), with their names. */
  config_sha256: string;
  /** sha256 over every top-level *.safetensors file's name and header, and the shard index if any. */
  weights_header_sha256: string;
  /** sha256 over sampled data blocks of the same files. */
  weights_sample_sha256: string;
}

export interface DataIdentity {
  path: string;
  /** sha256 of manifest.json for a `data build` folder, of the file itself for a JSON Lines file. */
  sha256: string;
  /** For messages: "seed 0, 500 people" from the manifest, or "file". */
  summary: string;
}

export type OptionValue = string | number | boolean | null;

export interface Provenance {
  model?: ModelIdentity;
  /** The base model a LoRA adapter (the `model`) was applied to. */
  adapter_base?: ModelIdentity;
  /** The base model of a LoRA checkpoint or of a KL comparison. */
  base_model?: ModelIdentity;
  data?: DataIdentity;
  options?: Record<string, OptionValue>;
}

const CONFIG_FILES = ['config.json', 'adapter_config.json'];
const INDEX_FILES = ['model.safetensors.index.json', 'adapter_model.safetensors.index.json'];
const SAMPLE_BYTES = 64 * 1024;
const WHOLE_FILE_BYTES = 1024 * 1024;
/** safetensors headers are JSON of a few hundred KB at most; anything larger is a damaged file. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export function modelIdentity(folder: string): ModelIdentity {
  const path = realPath(folder);
  const names = listFolder(path);
  const configs = CONFIG_FILES.filter((name) => names.includes(name));
  if (configs.length === 0) throw new ItlError('ITL_IO', `${path} is not a model folder: it has neither ${CONFIG_FILES.join(' nor ')}`);
  const config = createHash('sha256');
  for (const name of configs) config.update(`${name}\0`).update(readFileOrFail(join(path, name)));
  const header = createHash('sha256');
  const sample = createHash('sha256');
  for (const name of INDEX_FILES.filter((n) => names.includes(n))) header.update(`${name}\0`).update(readFileOrFail(join(path, name)));
  for (const name of names.filter((n) => n.endsWith('.safetensors')).sort()) {
    const file = join(path, name);
    header.update(`${name}\0`).update(safetensorsHeader(file));
    sample.update(`${name}\0`);
    for (const block of sampledBlocks(file)) sample.update(block);
  }
  return {
    path,
    config_sha256: config.digest('hex'),
    weights_header_sha256: header.digest('hex'),
    weights_sample_sha256: sample.digest('hex'),
  };
}

/** A `data build` output folder (its manifest.json) or a single data file (JSON Lines). */
export function dataIdentity(pathOrFolder: string): DataIdentity {
  const path = realPath(pathOrFolder);
  if (!statSync(path).isDirectory()) {
    return { path, sha256: createHash('sha256').update(readFileOrFail(path)).digest('hex'), summary: 'file' };
  }
  const manifestPath = join(path, 'manifest.json');
  const bytes = readFileOrFail(manifestPath);
  let summary = 'manifest';
  try {
    const manifest = JSON.parse(bytes.toString('utf8')) as { seed?: number; people?: number };
    summary = `seed ${manifest.seed}, ${manifest.people} people`;
  } catch {
    throw new ItlError('ITL_DATA', `${manifestPath} is not valid JSON: the dataset folder is damaged (rebuild it with itl data build)`);
  }
  return { path, sha256: createHash('sha256').update(bytes).digest('hex'), summary };
}

/**
 * Human-readable differences between what produced an artefact (`recorded`) and what is asked now
 * (`current`), e.g. "model: /a/base vs /b/base", "hellaswag limit: 100 vs all". Empty when the artefact
 * may be reused. A part recorded on one side only is a difference ("(not recorded)"), so results
 * written before provenance was recorded are never taken as matching.
 */
export function provenanceDifferences(recorded: Provenance | undefined, current: Provenance): string[] {
  const differences: string[] = [];
  const before = recorded ?? {};
  for (const key of ['model', 'adapter_base', 'base_model'] as const) {
    const label = { model: 'model', adapter_base: "adapter's base model", base_model: 'base model' }[key];
    const a = before[key];
    const b = current[key];
    if (!a && !b) continue;
    if (!a || !b) differences.push(`${label}: ${a?.path ?? NOT_RECORDED} vs ${b?.path ?? NOT_RECORDED}`);
    else differences.push(...modelDifferences(label, a, b));
  }
  if (before.data || current.data) {
    const a = before.data;
    const b = current.data;
    if (!a || !b) differences.push(`data: ${a?.path ?? NOT_RECORDED} vs ${b?.path ?? NOT_RECORDED}`);
    else if (a.sha256 !== b.sha256) {
      differences.push(
        a.path === b.path
          ? `data: ${a.path} was rebuilt (${a.summary} vs ${b.summary})`
          : `data: ${a.path} (${a.summary}) vs ${b.path} (${b.summary})`,
      );
    }
  }
  const options = { ...before.options, ...current.options };
  for (const key of Object.keys(options).sort()) {
    const a = before.options && Object.hasOwn(before.options, key) ? before.options[key] : undefined;
    const b = current.options && Object.hasOwn(current.options, key) ? current.options[key] : undefined;
    if (a !== b) differences.push(`${key}: ${show(a)} vs ${show(b)}`);
  }
  return differences;
}

/** "the result was made with another …: model: /a vs /b; seed: 1 vs 2" — for refusals and logs. */
export function describeDifferences(differences: readonly string[]): string {
  return differences.join('; ');
}

const NOT_RECORDED = '(not recorded)';

function modelDifferences(label: string, a: ModelIdentity, b: ModelIdentity): string[] {
  const same =
    a.config_sha256 === b.config_sha256 &&
    a.weights_header_sha256 === b.weights_header_sha256 &&
    a.weights_sample_sha256 === b.weights_sample_sha256;
  if (same) return [];
  if (a.path !== b.path) return [`${label}: ${a.path} vs ${b.path}`];
  if (a.config_sha256 !== b.config_sha256) return [`${label}: ${a.path} has another config since`];
  if (a.weights_header_sha256 !== b.weights_header_sha256) return [`${label}: ${a.path} has weights of other names or shapes since`];
  return [`${label}: ${a.path} has other weights since (same shapes)`];
}

function show(value: OptionValue | undefined): string {
  if (value === undefined) return NOT_RECORDED;
  if (value === null) return 'none';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch (error) {
    throw ioError('read', path, error);
  }
}

function listFolder(path: string): string[] {
  try {
    return readdirSync(path);
  } catch (error) {
    throw ioError('list', path, error);
  }
}

function readFileOrFail(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw ioError('read', path, error);
  }
}

/** The 8-byte length and the JSON header of a safetensors file. */
function safetensorsHeader(path: string): Buffer {
  return withFile(path, (fd, size) => {
    const length = readExactly(fd, path, 0, 8);
    const headerBytes = Number(length.readBigUInt64LE(0));
    if (headerBytes > MAX_HEADER_BYTES || 8 + headerBytes > size) {
      throw new ItlError(
        'ITL_CHECKPOINT_FORMAT',
        `${path}: safetensors header of ${headerBytes} bytes in a file of ${size}: the file is truncated or not safetensors`,
      );
    }
    return Buffer.concat([length, readExactly(fd, path, 8, headerBytes)]);
  });
}

function sampledBlocks(path: string): Buffer[] {
  return withFile(path, (fd, size) => {
    if (size <= WHOLE_FILE_BYTES) return [readExactly(fd, path, 0, size)];
    const offsets = [0, Math.floor((size - SAMPLE_BYTES) / 2), size - SAMPLE_BYTES];
    return offsets.map((offset) => readExactly(fd, path, offset, SAMPLE_BYTES));
  });
}

function withFile<T>(path: string, read: (fd: number, size: number) => T): T {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw ioError('read', path, error);
  }
  try {
    return read(fd, fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

function readExactly(fd: number, path: string, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = readSync(fd, buffer, done, length - done, position + done);
    } catch (error) {
      throw ioError('read', path, error);
    }
    if (n === 0)
      throw new ItlError(
        'ITL_CHECKPOINT_FORMAT',
        `${path} ends at byte ${position + done}, before the ${length} bytes expected at ${position}: the file is truncated`,
      );
    done += n;
  }
  return buffer;
}
