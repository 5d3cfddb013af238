/**
 * The rows of an evaluation task's data, as users have them on disk (nothing is downloaded): a JSON
 * Lines file, or a Hugging Face on-disk dataset (`save_to_disk`: state.json + Arrow shards, or a
 * DatasetDict folder whose split is read). Each row goes through the task's document function,
 * which names the row in its errors.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { RecordBatchReader } from 'apache-arrow';

import { ItlError } from '../errors.js';

export interface TaskDataOptions<Doc> {
  /** The data's name in messages ("HellaSwag"). */
  what: string;
  /** The split a DatasetDict folder is read from. */
  split: string;
  limit?: number;
  /** A raw row → the task's document; `position` counts documents, `where` names the row. */
  toDoc: (row: unknown, position: number, where: string) => Doc;
}

function readJsonl<Doc>(path: string, o: TaskDataOptions<Doc>): Doc[] {
  const docs: Doc[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 0; i < lines.length && (o.limit === undefined || docs.length < o.limit); i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (error) {
      throw new ItlError('ITL_DATA', `${path}:${i + 1}: not valid JSON (${(error as Error).message})`);
    }
    docs.push(o.toDoc(row, docs.length, `${path}:${i + 1}`));
  }
  return docs;
}

/** The Arrow shards of a `save_to_disk` folder, in order (state.json's _data_files). */
function arrowFiles(dir: string): string[] {
  const statePath = join(dir, 'state.json');
  let state: { _data_files?: { filename?: unknown }[] };
  try {
    state = JSON.parse(readFileSync(statePath, 'utf8'));
  } catch (error) {
    throw new ItlError('ITL_DATA', `${statePath}: not a readable datasets state file (${(error as Error).message})`);
  }
  const files = state._data_files?.map((f) => f.filename);
  if (!Array.isArray(files) || files.length === 0 || !files.every((f): f is string => typeof f === 'string')) {
    throw new ItlError('ITL_DATA', `${statePath}: expected _data_files to list the Arrow shards`);
  }
  return files.map((f) => join(dir, f));
}

/** An Arrow value as plain JSON: lists become arrays, structs objects (both have toJSON). */
function plain(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || typeof (value as { toJSON?: unknown }).toJSON !== 'function') return value;
  const json = (value as { toJSON: () => unknown }).toJSON();
  if (Array.isArray(json)) return json.map(plain);
  if (json !== null && typeof json === 'object') return Object.fromEntries(Object.entries(json).map(([k, x]) => [k, plain(x)]));
  return json;
}

function readHfDataset<Doc>(dir: string, o: TaskDataOptions<Doc>): Doc[] {
  let splitDir = dir;
  try {
    statSync(join(dir, 'dataset_dict.json'));
    splitDir = join(dir, o.split);
  } catch {
    // not a DatasetDict: the folder is the split itself
  }
  const docs: Doc[] = [];
  for (const file of arrowFiles(splitDir)) {
    let reader;
    try {
      reader = RecordBatchReader.from(readFileSync(file));
    } catch (error) {
      throw new ItlError('ITL_DATA', `${file}: not an Arrow stream (${(error as Error).message})`);
    }
    for (const batch of reader) {
      for (let i = 0; i < batch.numRows && (o.limit === undefined || docs.length < o.limit); i++) {
        const row: Record<string, unknown> = {};
        for (const field of batch.schema.fields) row[field.name] = plain(batch.getChild(field.name)?.get(i));
        docs.push(o.toDoc(row, docs.length, `${file}: row ${docs.length}`));
      }
    }
  }
  return docs;
}

/** The first `limit` documents (all without it) of a jsonl file or a Hugging Face on-disk dataset folder. */
export function readTaskDocs<Doc>(path: string, options: TaskDataOptions<Doc>): Doc[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot read the ${options.what} data ${path}: ${(error as Error).message}`);
  }
  const docs = isDir ? readHfDataset(path, options) : readJsonl(path, options);
  if (docs.length === 0) throw new ItlError('ITL_DATA', `${path}: no ${options.what} rows`);
  return docs;
}
