/**
 * Tokenised datasets cached on disk, keyed by (dataset manifest, tokenizer files, mode, date
 * string, selection). One entry is a folder of flat little-endian files:
 *
 *   ids.i32      every example's token ids, concatenated
 *   labels.i32   the matching labels (-100 where masked)
 *   offsets.i32  count + 1 start offsets: example k is [offsets[k], offsets[k+1])
 *   meta.json    the key, counts and format version (written last)
 *
 * An entry is built in a temporary sibling folder and renamed into place, so a reader sees a
 * complete entry or none. The input is any iterable of dialogues, so this module does not depend
 * on how the dataset is stored.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { ItlError } from '../errors.js';
import { DEFAULT_DATE_STRING, type ChatMessage, type ChatTokenizer } from './ChatTokenizer.js';
import type { TrainingMode } from './labelMask.js';

// 2: Mistral's rows end with the template's </s>, no longer followed by a second one; entries of
// version 1 are tokenised anew.
export const CACHE_FORMAT_VERSION = 2;

export interface TokenizedCacheKey {
  /** sha256 of the dataset's manifest.json (see `sha256OfFile`). */
  manifestSha: string;
  /** ChatTokenizer.filesHash. */
  tokenizerHash: string;
  mode: TrainingMode;
  /** The template's date_string (changes Llama 3's system header). */
  dateString: string;
  /** Which dialogues of the dataset, e.g. "train:0-1000" (free text, part of the key). */
  selection: string;
}

export interface TokenizedDataset {
  ids: Int32Array;
  labels: Int32Array;
  offsets: Int32Array;
  count: number;
}

export interface CacheEntry {
  dataset: TokenizedDataset;
  /** The entry's folder. */
  path: string;
  /** Whether it was read from disk rather than built now. */
  hit: boolean;
}

interface CacheMeta {
  format_version: number;
  key: TokenizedCacheKey;
  count: number;
  tokens: number;
  byte_order: 'little-endian';
}

/** Example `index` of a tokenised dataset, as views (no copy). */
export function exampleAt(dataset: TokenizedDataset, index: number): { ids: Int32Array; labels: Int32Array } {
  if (!Number.isInteger(index) || index < 0 || index >= dataset.count) {
    throw new ItlError('ITL_INVALID_ARGUMENT', `example ${index} out of range: the dataset has ${dataset.count}`);
  }
  const start = dataset.offsets[index]!;
  const end = dataset.offsets[index + 1]!;
  return { ids: dataset.ids.subarray(start, end), labels: dataset.labels.subarray(start, end) };
}

export async function sha256OfFile(file: string): Promise<string> {
  try {
    return createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** The entry folder name: a digest of the whole key, so any change makes a new entry. */
export function cacheKeyDigest(key: TokenizedCacheKey): string {
  const canonical = JSON.stringify([CACHE_FORMAT_VERSION, key.manifestSha, key.tokenizerHash, key.mode, key.dateString, key.selection]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

/** An Int32Array that grows by doubling, so tokenising needs no second pass. */
class Int32Builder {
  private data = new Int32Array(1 << 16);
  length = 0;

  append(values: Int32Array): void {
    if (this.length + values.length > this.data.length) {
      let size = this.data.length;
      while (size < this.length + values.length) size *= 2;
      const grown = new Int32Array(size);
      grown.set(this.data.subarray(0, this.length));
      this.data = grown;
    }
    this.data.set(values, this.length);
    this.length += values.length;
  }

  push(value: number): void {
    this.append(Int32Array.of(value));
  }

  result(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

/** Tokenises every dialogue into one flat dataset (no disk). */
export async function tokenizeDialogues(
  dialogues: Iterable<ChatMessage[]> | AsyncIterable<ChatMessage[]>,
  tokenizer: ChatTokenizer,
  mode: TrainingMode,
  dateString: string = DEFAULT_DATE_STRING,
): Promise<TokenizedDataset> {
  const ids = new Int32Builder();
  const labels = new Int32Builder();
  const offsets = new Int32Builder();
  offsets.push(0);
  let count = 0;
  for await (const messages of dialogues) {
    let example;
    try {
      example = tokenizer.buildTrainingExample(messages, mode, { dateString });
    } catch (error) {
      const message = typeof error === 'object' && error !== null ? String((error as Error).message) : String(error);
      throw new ItlError('ITL_DATA', `dialogue ${count}: ${message}`, { cause: error });
    }
    if (ids.length + example.ids.length > 0x7fffffff) {
      throw new ItlError('ITL_DATA', `dialogue ${count}: the tokenised dataset would exceed 2^31 tokens (offsets are int32)`);
    }
    ids.append(example.ids);
    labels.append(example.labels);
    offsets.push(ids.length);
    count++;
  }
  return { ids: ids.result(), labels: labels.result(), offsets: offsets.result(), count };
}

function bytesOf(array: Int32Array): Buffer {
  // Typed arrays use the host's byte order; every platform we build for is little-endian.
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

function int32sOf(bytes: Buffer, file: string): Int32Array {
  if (bytes.byteLength % 4 !== 0) throw new ItlError('ITL_DATA', `${file}: ${bytes.byteLength} bytes is not a whole number of int32`);
  const copy = new Int32Array(bytes.byteLength / 4);
  new Uint8Array(copy.buffer).set(bytes);
  return copy;
}

async function readEntry(dir: string, key: TokenizedCacheKey): Promise<TokenizedDataset> {
  const meta = await readMeta(dir);
  if (meta.format_version !== CACHE_FORMAT_VERSION || JSON.stringify(meta.key) !== JSON.stringify(key)) {
    throw new ItlError('ITL_DATA', `${path.join(dir, 'meta.json')}: the cache entry does not match its key (delete ${dir} to rebuild)`);
  }
  return readEntryFiles(dir, meta);
}

/**
 * The rows of a cache entry folder whatever its key or format version (a run's recorded entry, read
 * back to compare with today's). Its files must agree with its meta.json.
 */
export async function readCacheEntry(dir: string): Promise<TokenizedDataset> {
  return readEntryFiles(dir, await readMeta(dir));
}

async function readMeta(dir: string): Promise<CacheMeta> {
  const metaFile = path.join(dir, 'meta.json');
  try {
    return JSON.parse(await readFile(metaFile, 'utf8')) as CacheMeta;
  } catch (error) {
    throw new ItlError('ITL_DATA', `${metaFile}: unreadable cache metadata (delete ${dir} to rebuild): ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function readEntryFiles(dir: string, meta: CacheMeta): Promise<TokenizedDataset> {
  const read = async (name: string): Promise<Int32Array> => {
    const file = path.join(dir, name);
    try {
      return int32sOf(await readFile(file), file);
    } catch (error) {
      if ((error as ItlError).code === 'ITL_DATA') throw error;
      throw new ItlError('ITL_IO', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
    }
  };
  const [ids, labels, offsets] = await Promise.all([read('ids.i32'), read('labels.i32'), read('offsets.i32')]);
  const consistent =
    offsets.length === meta.count + 1 &&
    ids.length === meta.tokens &&
    labels.length === meta.tokens &&
    offsets[0] === 0 &&
    offsets[meta.count] === meta.tokens;
  if (!consistent) {
    throw new ItlError(
      'ITL_DATA',
      `${dir}: cache files disagree with meta.json (${meta.count} examples, ${meta.tokens} tokens); delete it to rebuild`,
    );
  }
  return { ids, labels, offsets, count: meta.count };
}

async function writeEntry(dir: string, key: TokenizedCacheKey, dataset: TokenizedDataset): Promise<void> {
  const temp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    await mkdir(temp, { recursive: true });
    await writeFile(path.join(temp, 'ids.i32'), bytesOf(dataset.ids));
    await writeFile(path.join(temp, 'labels.i32'), bytesOf(dataset.labels));
    await writeFile(path.join(temp, 'offsets.i32'), bytesOf(dataset.offsets));
    const meta: CacheMeta = {
      format_version: CACHE_FORMAT_VERSION,
      key,
      count: dataset.count,
      tokens: dataset.ids.length,
      byte_order: 'little-endian',
    };
    await writeFile(path.join(temp, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    if (existsSync(path.join(dir, 'meta.json'))) {
      // Another process built the same entry meanwhile: its content is identical, keep it.
      await rm(temp, { recursive: true, force: true });
      return;
    }
    // A folder without meta.json is not an entry (nothing renames one into place half-written).
    await rm(dir, { recursive: true, force: true });
    try {
      await rename(temp, dir);
    } catch (error) {
      // Another process (a data-parallel rank tokenising the same rows) renamed its identical
      // entry into place between our check and our rename: keep theirs.
      if (!existsSync(path.join(dir, 'meta.json'))) throw error;
      await rm(temp, { recursive: true, force: true });
    }
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw new ItlError('ITL_IO', `cannot write the tokenised-dataset cache ${dir}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The tokenised dataset for `key`: read from `cacheDir` when present, else built from
 * `dialogues` with `tokenizer` and stored. `tokenizer.filesHash` must equal `key.tokenizerHash`.
 */
export async function loadOrBuildTokenized(
  cacheDir: string,
  key: TokenizedCacheKey,
  dialogues: () => Iterable<ChatMessage[]> | AsyncIterable<ChatMessage[]>,
  tokenizer: ChatTokenizer,
): Promise<CacheEntry> {
  if (tokenizer.filesHash !== key.tokenizerHash) {
    throw new ItlError(
      'ITL_INVALID_ARGUMENT',
      `cache key names tokenizer ${key.tokenizerHash} but the tokenizer of ${tokenizer.modelDir} is ${tokenizer.filesHash}`,
    );
  }
  const dir = path.join(cacheDir, cacheKeyDigest(key));
  if (existsSync(path.join(dir, 'meta.json'))) {
    return { dataset: await readEntry(dir, key), path: dir, hit: true };
  }
  const dataset = await tokenizeDialogues(dialogues(), tokenizer, key.mode, key.dateString);
  await mkdir(cacheDir, { recursive: true });
  await writeEntry(dir, key, dataset);
  return { dataset, path: dir, hit: false };
}
