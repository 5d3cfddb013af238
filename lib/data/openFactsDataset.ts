/**
 * Reads rows of a facts dataset by index range without loading it: opening scans each shard's
 * message headers (a few bytes per record batch) to index where every batch starts, and
 * `rows(start, end)` then reads and decodes only the record batches that overlap the range.
 * Opening checks state.json and every shard against the build's manifest (verifyDataFiles: once per
 * process), and refuses a state.json whose `_data_files` point outside the dataset folder.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';

import { Message, MessageHeader, type RecordBatch, RecordBatchReader } from 'apache-arrow';

import { ItlError } from '../errors.js';
import { STATE_FILE } from './datasetsLayout.js';
import type { FactRow } from './facts.js';
import { factRowAt } from './factsRecordBatch.js';
import { DATASET_DIR } from './outputLayout.js';
import { fileInsideFolder, verifyDataFile } from './verifyDataFiles.js';

export interface FactsDataset {
  readonly numRows: number;
  /** Rows start ≤ i < end, as plain objects. */
  rows(start: number, end: number): FactRow[];
  /** Closes the shard files. */
  close(): void;
}

interface BatchLocation {
  shard: number;
  /** Byte offset of the batch's message in its shard, and the message's full length (metadata + body). */
  offset: number;
  length: number;
  firstRow: number;
  numRows: number;
}

interface Shard {
  path: string;
  fd: number;
  /** The stream's schema message, prepended to each batch read so apache-arrow can decode it alone. */
  schemaMessage: Uint8Array;
}

const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** `dir` is a `data build` output folder or its `dataset/` folder. */
export function openFactsDataset(dir: string): FactsDataset {
  const datasetDir = resolveDatasetDir(dir);
  const files = readDataFiles(datasetDir);
  for (const path of files) verifyDataFile(path);
  const shards: Shard[] = [];
  const batches: BatchLocation[] = [];
  let numRows = 0;
  try {
    for (const path of files) {
      const fd = openOrThrow(path);
      const index = indexShard(fd, path);
      shards.push({ path, fd, schemaMessage: index.schemaMessage });
      for (const batch of index.batches) {
        batches.push({ shard: shards.length - 1, offset: batch.offset, length: batch.length, firstRow: numRows, numRows: batch.numRows });
        numRows += batch.numRows;
      }
    }
  } catch (error) {
    for (const shard of shards) closeSync(shard.fd);
    throw error;
  }
  // Training reads small consecutive ranges; keeping the last decoded batch saves re-reading and
  // re-decoding the same ~400 kB batch for every few rows.
  let cached: { location: BatchLocation; batch: RecordBatch } | undefined;
  const decode = (location: BatchLocation): RecordBatch => {
    if (cached?.location !== location) cached = { location, batch: readBatch(shards[location.shard]!, location) };
    return cached.batch;
  };
  return {
    numRows,
    rows(start, end) {
      if (shards.length === 0) throw new ItlError('ITL_INVALID_ARGUMENT', `the dataset ${datasetDir} is closed`);
      if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= numRows)) {
        throw new ItlError('ITL_INVALID_ARGUMENT', `row range [${start}, ${end}) is outside the dataset's ${numRows} rows`);
      }
      const out: FactRow[] = [];
      for (const location of overlapping(batches, start, end)) {
        const batch = decode(location);
        const from = Math.max(start, location.firstRow) - location.firstRow;
        const to = Math.min(end, location.firstRow + location.numRows) - location.firstRow;
        for (let i = from; i < to; i++) out.push(factRowAt(batch, i));
      }
      return out;
    },
    close() {
      cached = undefined;
      for (const shard of shards.splice(0)) closeSync(shard.fd);
    },
  };
}

function resolveDatasetDir(dir: string): string {
  const nested = join(dir, DATASET_DIR);
  return existsSync(join(nested, STATE_FILE)) ? nested : dir;
}

/** The shards state.json lists, as paths inside `datasetDir` (state.json itself checked first). */
function readDataFiles(datasetDir: string): string[] {
  const path = join(datasetDir, STATE_FILE);
  if (existsSync(path)) verifyDataFile(path);
  let state: { _data_files?: { filename?: unknown }[] };
  try {
    state = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ItlError('ITL_IO', `${path}: not a readable datasets state file (${(error as Error).message})`);
  }
  const files = state._data_files?.map((f) => f.filename);
  if (!Array.isArray(files) || files.length === 0 || !files.every((f): f is string => typeof f === 'string')) {
    throw new ItlError('ITL_DATA', `${path}: expected _data_files to list the Arrow shards`);
  }
  return files.map((file) => fileInsideFolder(datasetDir, file, path));
}

function openOrThrow(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot open dataset shard ${path}: ${(error as Error).message}`);
  }
}

function readExactly(fd: number, position: number, length: number, path: string): Uint8Array {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) throw new ItlError('ITL_DATA', `${path}: truncated Arrow stream (wanted ${length} bytes at offset ${position})`);
    done += n;
  }
  return buffer;
}

/**
 * Walks the encapsulated IPC messages: [0xFFFFFFFF][int32 metadata length][metadata][body], reading
 * only the prefix and the metadata flatbuffer of each, which carries the body length and row count.
 */
function indexShard(
  fd: number,
  path: string,
): { schemaMessage: Uint8Array; batches: { offset: number; length: number; numRows: number }[] } {
  let schemaMessage: Uint8Array | undefined;
  const batches: { offset: number; length: number; numRows: number }[] = [];
  for (let offset = 0; ; ) {
    const prefix = new DataView(readExactly(fd, offset, 8, path).buffer);
    const continuation = prefix.getInt32(0, true) === -1;
    const metadataLength = continuation ? prefix.getInt32(4, true) : prefix.getInt32(0, true);
    const prefixLength = continuation ? 8 : 4;
    if (metadataLength === 0) break; // end-of-stream marker
    const metadata = readExactly(fd, offset + prefixLength, metadataLength, path);
    let message: Message;
    try {
      message = Message.decode(metadata);
    } catch (error) {
      throw new ItlError('ITL_DATA', `${path}: unreadable Arrow message at offset ${offset} (${(error as Error).message})`);
    }
    const length = prefixLength + metadataLength + Number(message.bodyLength);
    if (message.headerType === MessageHeader.Schema) {
      schemaMessage = readExactly(fd, offset, length, path);
    } else if (message.headerType === MessageHeader.RecordBatch) {
      batches.push({ offset, length, numRows: Number((message.header() as { length: number | bigint }).length) });
    } else {
      throw new ItlError('ITL_DATA', `${path}: unexpected Arrow message type ${MessageHeader[message.headerType]} at offset ${offset}`);
    }
    offset += length;
  }
  if (!schemaMessage) throw new ItlError('ITL_DATA', `${path}: Arrow stream without a schema`);
  return { schemaMessage, batches };
}

function overlapping(batches: BatchLocation[], start: number, end: number): BatchLocation[] {
  // Binary search for the first batch that ends after `start`.
  let low = 0;
  let high = batches.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (batches[mid]!.firstRow + batches[mid]!.numRows <= start) low = mid + 1;
    else high = mid;
  }
  const out: BatchLocation[] = [];
  for (let i = low; i < batches.length && batches[i]!.firstRow < end; i++) out.push(batches[i]!);
  return out;
}

function readBatch(shard: Shard, location: BatchLocation): RecordBatch {
  const message = readExactly(shard.fd, location.offset, location.length, shard.path);
  const stream = new Uint8Array(shard.schemaMessage.byteLength + message.byteLength + EOS.byteLength);
  stream.set(shard.schemaMessage, 0);
  stream.set(message, shard.schemaMessage.byteLength);
  stream.set(EOS, shard.schemaMessage.byteLength + message.byteLength);
  const batches = RecordBatchReader.from(stream).readAll();
  if (batches.length !== 1 || batches[0]!.numRows !== location.numRows) {
    throw new ItlError('ITL_DATA', `${shard.path}: record batch at offset ${location.offset} did not decode to ${location.numRows} rows`);
  }
  return batches[0]!;
}
