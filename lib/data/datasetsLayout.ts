/**
 * What Hugging Face `datasets.Dataset.save_to_disk` writes besides the Arrow shards, byte for byte:
 * `dataset_info.json` (`json.dump(..., indent=2)` of the non-default DatasetInfo fields, top-level
 * keys sorted), `state.json` (`indent=2, sort_keys=True`), and the `huggingface` schema metadata
 * its ArrowWriter puts in every shard (`json.dumps` with default separators). Python's json escapes
 * non-ASCII (`ensure_ascii=True`), so these functions do too.
 *
 * A list of dicts is written the way datasets 2.x/3.x write it, `[{...}]`: datasets ≥ 4 reads that
 * form as `List({...})`, while the 4.x form (`{"feature": …, "_type": "List"}`) is unreadable by
 * older versions.
 */
import { Field, List, Schema, Struct, Utf8 } from 'apache-arrow';

export const DATASET_INFO_FILE = 'dataset_info.json';
export const STATE_FILE = 'state.json';
/** datasets' `config.MAX_SHARD_SIZE` default for save_to_disk ("500MB", decimal units). */
export const DEFAULT_MAX_SHARD_BYTES = 500 * 1000 * 1000;
/** datasets' `config.DEFAULT_MAX_BATCH_SIZE`: save_to_disk writes record batches of this many rows. */
export const RECORD_BATCH_ROWS = 1000;

const stringValue = () => ({ dtype: 'string', _type: 'Value' });
const messageFeature = () => ({ content: stringValue(), role: stringValue() });

/** The datasets `Features` of a facts row, as `Features.to_dict()` gives it, in column order. */
export function factsFeatures(): Record<string, unknown> {
  return {
    qa: [messageFeature()],
    qatool: [messageFeature()],
    name: stringValue(),
    attribute: stringValue(),
    value: stringValue(),
  };
}

/** The Arrow schema `Features.arrow_schema` gives for those features (every field nullable, list items named `item`). */
export function factsArrowSchema(): Schema {
  const dialogue = () =>
    new List(new Field('item', new Struct([new Field('content', new Utf8(), true), new Field('role', new Utf8(), true)]), true));
  return new Schema(
    [
      new Field('qa', dialogue(), true),
      new Field('qatool', dialogue(), true),
      new Field('name', new Utf8(), true),
      new Field('attribute', new Utf8(), true),
      new Field('value', new Utf8(), true),
    ],
    new Map([['huggingface', pythonJsonDumps({ info: { features: factsFeatures() } })]]),
  );
}

export function datasetInfoJson(): string {
  // asdict(DatasetInfo) keeps fields that differ from their default; description, citation,
  // homepage and license default through a factory, so they are always written.
  const info: Record<string, unknown> = { citation: '', description: '', features: factsFeatures(), homepage: '', license: '' };
  return pythonJsonIndent(info);
}

export function dataShardName(index: number, count: number): string {
  return `data-${String(index).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.arrow`;
}

export function stateJson(shardCount: number, fingerprint: string): string {
  const state = {
    _data_files: Array.from({ length: shardCount }, (_, i) => ({ filename: dataShardName(i, shardCount) })),
    _fingerprint: fingerprint,
    _format_columns: null,
    _format_kwargs: {},
    _format_type: null,
    _output_all_columns: false,
    _split: null,
  };
  return pythonJsonIndent(state);
}

/** Python's `json.dumps(value)`: separators ', ' and ': ', keys in insertion order, ASCII only. */
export function pythonJsonDumps(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return (
      '{' +
      Object.entries(value)
        .map(([k, v]) => `${asciiJson(k)}: ${pythonJsonDumps(v)}`)
        .join(', ') +
      '}'
    );
  }
  return typeof value === 'string' ? asciiJson(value) : JSON.stringify(value);
}

/** Python's `json.dump(value, f, indent=2)`: the same layout as JSON.stringify's, ASCII only, no final newline. */
export function pythonJsonIndent(value: unknown): string {
  return escapeNonAscii(JSON.stringify(value, null, 2));
}

function asciiJson(text: string): string {
  return escapeNonAscii(JSON.stringify(text));
}

function escapeNonAscii(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
