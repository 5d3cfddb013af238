/**
 * A small build (300 people, shards capped at 500 kB so there are two: 1,000-row record batches of ~420 kB) checked against the
 * issue's promises: determinism, distinct people, attribute ranges, the tool protocol, the Arrow
 * shards against preview.jsonl, the datasets metadata files, the reader and the SQLite tool.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { List, RecordBatchReader, Struct, Utf8 } from 'apache-arrow';

import { buildFactsDataset, type BuildOptions, type FactsManifest } from '../buildFactsDataset.js';
import { pythonJsonDumps } from '../datasetsLayout.js';
import { ATTRIBUTES, type FactRow } from '../facts.js';
import { lookupFact, openFactsDatabase } from '../factsDatabase.js';
import { factRowAt } from '../factsRecordBatch.js';
import { loadAtoms } from '../loadAtoms.js';
import { openFactsDataset } from '../openFactsDataset.js';
import { shippedAtomsDir, shippedTemplatesDir } from '../shippedPaths.js';
import { parseToolRequest } from '../toolRequest.js';

const PEOPLE = 300;
const root = mkdtempSync(join(tmpdir(), 'itl-data-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function options(outDir: string, seed = 7): BuildOptions {
  return {
    people: PEOPLE,
    seed,
    atomsDir: shippedAtomsDir,
    templatesDir: shippedTemplatesDir,
    outDir,
    force: false,
    previewRows: PEOPLE * 4,
    maxShardBytes: 500_000,
  };
}

/** Every row of every shard, decoded by apache-arrow's own stream reader (not our reader). */
function readShardsWithArrow(datasetDir: string, files: string[]): FactRow[] {
  const rows: FactRow[] = [];
  for (const file of files) {
    for (const batch of RecordBatchReader.from(readFileSync(join(datasetDir, file)))) {
      expect(batch.numRows).toBeLessThanOrEqual(1000);
      for (let i = 0; i < batch.numRows; i++) rows.push(factRowAt(batch, i));
    }
  }
  return rows;
}

const outA = join(root, 'a');
let manifest: FactsManifest;
let preview: FactRow[];

beforeAll(async () => {
  manifest = await buildFactsDataset(options(outA));
  preview = readFileSync(join(outA, 'preview.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
});

test('the output folder holds exactly the promised files, all listed with their hashes in the manifest', () => {
  expect(readdirSync(outA).sort()).toEqual(['dataset', 'facts.sqlite', 'manifest.json', 'preview.jsonl']);
  const shardFiles = readdirSync(join(outA, 'dataset')).filter((f) => f.endsWith('.arrow'));
  expect(shardFiles.length).toBeGreaterThan(1);
  expect(shardFiles).toEqual(
    shardFiles.map((_, i) => `data-${String(i).padStart(5, '0')}-of-${String(shardFiles.length).padStart(5, '0')}.arrow`),
  );
  expect(Object.keys(manifest.files).sort()).toEqual(
    [...shardFiles.map((f) => `dataset/${f}`), 'dataset/dataset_info.json', 'dataset/state.json', 'facts.sqlite', 'preview.jsonl'].sort(),
  );
  expect(JSON.parse(readFileSync(join(outA, 'manifest.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(manifest)));
  expect(manifest).toMatchObject({ seed: 7, people: PEOPLE, rows: PEOPLE * 4 });
  expect(manifest.shards.reduce((sum, s) => sum + s.rows, 0)).toBe(PEOPLE * 4);
  for (const shard of manifest.shards) expect(manifest.files[`dataset/${shard.file}`]!.bytes).toBeLessThanOrEqual(500_000);
});

test('the same seed gives byte-identical files; another seed gives other people', async () => {
  const again = await buildFactsDataset(options(join(root, 'a-again')));
  expect(again.files).toEqual(manifest.files);
  const other = await buildFactsDataset(options(join(root, 'b'), 8));
  expect(other.files['preview.jsonl']!.sha256).not.toBe(manifest.files['preview.jsonl']!.sha256);
  const otherNames = new Set(
    readFileSync(join(root, 'b', 'preview.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).name),
  );
  expect([...otherNames].filter((name) => preview.some((row) => row.name === name)).length).toBeLessThan(PEOPLE / 2);
});

test('each person has four rows in the fixed attribute order, and names are distinct pairs of atoms', () => {
  expect(preview).toHaveLength(PEOPLE * 4);
  const atoms = loadAtoms(shippedAtomsDir);
  const names = new Set<string>();
  for (let p = 0; p < PEOPLE; p++) {
    const rows = preview.slice(4 * p, 4 * p + 4);
    expect(rows.map((r) => r.attribute)).toEqual([...ATTRIBUTES]);
    expect(new Set(rows.map((r) => r.name)).size).toBe(1);
    const [first, last, ...rest] = rows[0]!.name.split(' ');
    expect(rest).toEqual([]);
    expect(atoms.firstNames).toContain(first);
    expect(atoms.lastNames).toContain(last);
    names.add(rows[0]!.name);
  }
  expect(names.size).toBe(PEOPLE);
});

test('attribute values lie in their ranges', () => {
  const atoms = loadAtoms(shippedAtomsDir);
  const years = new Set<number>();
  for (const row of preview) {
    if (row.attribute === 'birth_date') {
      const match = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(row.value);
      expect(match).not.toBeNull();
      const [day, month, year] = match!.slice(1).map(Number) as [number, number, number];
      expect(String(day)).toBe(match![1]); // no zero padding
      expect(day).toBeGreaterThanOrEqual(1);
      expect(day).toBeLessThanOrEqual(28);
      expect(month).toBeGreaterThanOrEqual(1);
      expect(month).toBeLessThanOrEqual(12);
      expect(year).toBeGreaterThanOrEqual(1950);
      expect(year).toBeLessThanOrEqual(2000);
      years.add(year);
    } else {
      const pool = { birth_place: atoms.countries, current_address: atoms.cities, occupation: atoms.occupations }[row.attribute];
      expect(pool).toContain(row.value);
    }
  }
  expect(years.size).toBeGreaterThan(40); // 300 draws over 51 years reach most of them
});

test('every row: the dialogues carry the value, and the tool request parses back to (attribute, name)', () => {
  for (const row of preview) {
    expect(row.qa.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(row.qatool.map((m) => m.role)).toEqual(['user', 'assistant', 'ipython', 'assistant']);
    expect(row.qatool[0]).toEqual(row.qa[0]);
    expect(row.qatool[3]).toEqual(row.qa[1]);
    expect(row.qa[0]!.content).toContain(row.name);
    expect(row.qa[1]!.content.toLowerCase()).toContain(row.value.toLowerCase());
    expect(row.qatool[1]!.content).toBe(
      `To answer this question I will make a request to the database:\n\`\`\`sql\nFIND ${row.attribute} FOR ${row.name}\n\`\`\``,
    );
    expect(parseToolRequest(row.qatool[1]!.content)).toEqual({ attribute: row.attribute, name: row.name });
    expect(row.qatool[2]!.content).toBe(row.value);
  }
});

test('the Arrow shards, read back with apache-arrow, give the same rows as preview.jsonl, with the datasets schema', () => {
  const state = JSON.parse(readFileSync(join(outA, 'dataset', 'state.json'), 'utf8'));
  const files = state._data_files.map((f: { filename: string }) => f.filename);
  expect(readShardsWithArrow(join(outA, 'dataset'), files)).toEqual(preview);

  const schema = RecordBatchReader.from(readFileSync(join(outA, 'dataset', files[0]))).open().schema;
  expect(schema.fields.map((f) => f.name)).toEqual(['qa', 'qatool', 'name', 'attribute', 'value']);
  const qa = schema.fields[0]!.type as List;
  expect(qa).toBeInstanceOf(List);
  expect(qa.children[0]!.name).toBe('item');
  const message = qa.children[0]!.type as Struct;
  expect(message).toBeInstanceOf(Struct);
  expect(message.children.map((f) => [f.name, f.type instanceof Utf8])).toEqual([
    ['content', true],
    ['role', true],
  ]);
  const info = JSON.parse(readFileSync(join(outA, 'dataset', 'dataset_info.json'), 'utf8'));
  expect(schema.metadata.get('huggingface')).toBe(pythonJsonDumps({ info: { features: info.features } }));
});

test('dataset_info.json and state.json are byte for byte what save_to_disk writes (datasets 3.x list-of-dicts form, which 4+ reads)', () => {
  const value = '{\n      "dtype": "string",\n      "_type": "Value"\n    }';
  const dialogue =
    '[\n      {\n        "content": {\n          "dtype": "string",\n          "_type": "Value"\n        },\n' +
    '        "role": {\n          "dtype": "string",\n          "_type": "Value"\n        }\n      }\n    ]';
  expect(readFileSync(join(outA, 'dataset', 'dataset_info.json'), 'utf8')).toBe(
    '{\n  "citation": "",\n  "description": "",\n  "features": {\n' +
      `    "qa": ${dialogue},\n    "qatool": ${dialogue},\n    "name": ${value},\n    "attribute": ${value},\n    "value": ${value}\n` +
      '  },\n  "homepage": "",\n  "license": ""\n}',
  );
  const files = manifest.shards.map((s) => `    {\n      "filename": "${s.file}"\n    }`).join(',\n');
  expect(readFileSync(join(outA, 'dataset', 'state.json'), 'utf8')).toBe(
    `{\n  "_data_files": [\n${files}\n  ],\n  "_fingerprint": "${manifest.fingerprint}",\n  "_format_columns": null,\n` +
      '  "_format_kwargs": {},\n  "_format_type": null,\n  "_output_all_columns": false,\n  "_split": null\n}',
  );
  expect(manifest.fingerprint).toMatch(/^[0-9a-f]{16}$/);
});

test('the reader returns any index range, across shard and batch boundaries', () => {
  const dataset = openFactsDataset(outA);
  try {
    expect(dataset.numRows).toBe(PEOPLE * 4);
    expect(dataset.rows(0, PEOPLE * 4)).toEqual(preview);
    const firstShardRows = manifest.shards[0]!.rows;
    for (const [start, end] of [
      [0, 0],
      [0, 1],
      [5, 9],
      [firstShardRows - 3, firstShardRows + 3],
      [PEOPLE * 4 - 1, PEOPLE * 4],
    ] as const) {
      expect(dataset.rows(start, end)).toEqual(preview.slice(start, end));
    }
    expect(() => dataset.rows(10, PEOPLE * 4 + 1)).toThrow(/outside the dataset's 1200 rows/);
    expect(() => dataset.rows(5, 4)).toThrow(/row range/);
  } finally {
    dataset.close();
  }
  expect(() => dataset.rows(0, 1)).toThrow(/is closed/);
  // Also accepts the dataset/ folder itself.
  const inner = openFactsDataset(join(outA, 'dataset'));
  expect(inner.rows(3, 4)).toEqual([preview[3]]);
  inner.close();
});

test("the SQLite tool answers every row's (name, attribute) with its value, and nothing for strangers", () => {
  const db = openFactsDatabase(join(outA, 'facts.sqlite'));
  try {
    for (const row of preview) expect(lookupFact(db, row.name, row.attribute)).toBe(row.value);
    expect(lookupFact(db, 'Nobody Atall', 'occupation')).toBeNull();
    expect((db.prepare('SELECT count(*) AS n FROM people').get() as { n: number }).n).toBe(PEOPLE);
    expect(() => lookupFact(db, preview[0]!.name, 'name; DROP TABLE people' as never)).toThrow(/unknown attribute/);
  } finally {
    db.close();
  }
});

test('the reader decodes only the batches a range needs: damage inside batch 0 leaves batch 1 readable', async () => {
  const out = join(root, 'one-shard');
  const built = await buildFactsDataset({ ...options(out), maxShardBytes: 500e6 });
  expect(built.shards).toEqual([{ file: 'data-00000-of-00001.arrow', rows: PEOPLE * 4 }]);
  // Overwrite bytes in the middle of the first record batch's body (its string data).
  const fd = openSync(join(out, 'dataset', built.shards[0]!.file), 'r+');
  writeSync(fd, Buffer.alloc(64, 'X'), 0, 64, 200_000);
  closeSync(fd);
  // Opening checks every file against the manifest (dataReliability.test.ts); without one, damage shows only where it is read.
  expect(() => openFactsDataset(out)).toThrow('does not match');
  rmSync(join(out, 'manifest.json'));
  const dataset = openFactsDataset(out);
  expect(dataset.rows(1000, 1200)).toEqual(preview.slice(1000, 1200));
  expect(dataset.rows(0, 1000)).not.toEqual(preview.slice(0, 1000));
  dataset.close();
});
