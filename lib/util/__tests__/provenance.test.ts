import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { dataIdentity, modelIdentity, provenanceDifferences } from '../provenance.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'itl-provenance-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A model folder: config.json and one safetensors file with tensor `w` of `values` (fp32). */
function writeModel(folder: string, values: number[], config: object = { hidden_size: 4 }): void {
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
  const data = Buffer.from(new Float32Array(values).buffer);
  let header = JSON.stringify({ w: { dtype: 'F32', shape: [values.length], data_offsets: [0, data.length] } });
  header += ' '.repeat((8 - (header.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(join(folder, 'model.safetensors'), Buffer.concat([length, Buffer.from(header), data]));
}

describe('model identity', () => {
  test('the same model copied elsewhere (or reached through a link) is the same; its path is resolved', () => {
    writeModel(join(dir, 'a', 'base'), [1, 2, 3]);
    cpSync(join(dir, 'a'), join(dir, 'copy'), { recursive: true });
    symlinkSync(join(dir, 'a', 'base'), join(dir, 'link'));
    const a = modelIdentity(join(dir, 'a', 'base'));
    expect(modelIdentity(join(dir, 'link')).path).toBe(a.path);
    expect(provenanceDifferences({ model: a }, { model: modelIdentity(join(dir, 'copy', 'base')) })).toEqual([]);
  });

  test('two different models in folders of the same name differ, named by path', () => {
    writeModel(join(dir, 'a', 'base'), [1, 2, 3]);
    writeModel(join(dir, 'b', 'base'), [1, 2, 4]);
    const a = modelIdentity(join(dir, 'a', 'base'));
    const b = modelIdentity(join(dir, 'b', 'base'));
    expect(provenanceDifferences({ model: a }, { model: b })).toEqual([`model: ${a.path} vs ${b.path}`]);
  });

  test('a model changed in place: new weights, new shapes or a new config each say so', () => {
    const folder = join(dir, 'm');
    writeModel(folder, [1, 2, 3]);
    const before = modelIdentity(folder);
    writeModel(folder, [1, 2, 5]);
    expect(provenanceDifferences({ model: before }, { model: modelIdentity(folder) })).toEqual([
      `model: ${before.path} has other weights since (same shapes)`,
    ]);
    writeModel(folder, [1, 2, 3, 4]);
    expect(provenanceDifferences({ model: before }, { model: modelIdentity(folder) })).toEqual([
      `model: ${before.path} has weights of other names or shapes since`,
    ]);
    writeModel(folder, [1, 2, 3], { hidden_size: 8 });
    expect(provenanceDifferences({ base_model: before }, { base_model: modelIdentity(folder) })).toEqual([
      `base model: ${before.path} has another config since`,
    ]);
  });

  test('a large weights file: a change in its middle block is seen without reading it all', () => {
    const folder = join(dir, 'big');
    const values = Array.from({ length: 1 << 19 }, (_, i) => i % 7); // 2 MiB of data
    writeModel(folder, values);
    const before = modelIdentity(folder);
    values[values.length >> 1] = 99;
    writeModel(folder, values);
    expect(modelIdentity(folder).weights_sample_sha256).not.toBe(before.weights_sample_sha256);
    expect(modelIdentity(folder).weights_header_sha256).toBe(before.weights_header_sha256);
  });

  test('a truncated weights file or a folder without a config is an error naming the file', () => {
    const folder = join(dir, 'm');
    writeModel(folder, [1, 2, 3]);
    writeFileSync(join(folder, 'model.safetensors'), Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123]));
    expect(() => modelIdentity(folder)).toThrow(`${join(folder, 'model.safetensors')}: safetensors header of 200 bytes in a file of 9`);
    mkdirSync(join(dir, 'empty'));
    expect(() => modelIdentity(join(dir, 'empty'))).toThrow('is not a model folder: it has neither config.json nor adapter_config.json');
  });
});

describe('data identity and options', () => {
  test('a rebuilt dataset (another manifest) differs; a JSON Lines file is identified by its bytes', () => {
    const data = join(dir, 'facts');
    mkdirSync(data);
    writeFileSync(join(data, 'manifest.json'), JSON.stringify({ seed: 0, people: 5 }));
    const before = dataIdentity(data);
    writeFileSync(join(data, 'manifest.json'), JSON.stringify({ seed: 1, people: 5 }));
    expect(provenanceDifferences({ data: before }, { data: dataIdentity(data) })).toEqual([
      `data: ${before.path} was rebuilt (seed 0, 5 people vs seed 1, 5 people)`,
    ]);
    writeFileSync(join(dir, 'rows.jsonl'), '{"messages":[]}\n');
    const file = dataIdentity(join(dir, 'rows.jsonl'));
    expect(file.sha256).toBe(createHash('sha256').update('{"messages":[]}\n').digest('hex'));
    expect(provenanceDifferences({ data: before }, { data: file })).toEqual([
      `data: ${before.path} (seed 0, 5 people) vs ${file.path} (file)`,
    ]);
  });

  test('options: each changed setting is one line; one recorded on one side only never matches', () => {
    const recorded = { options: { 'hellaswag limit': 100, seed: 0, mode: 'tool' } };
    expect(provenanceDifferences(recorded, { options: { 'hellaswag limit': 'all', seed: 0, mode: 'tool' } })).toEqual([
      'hellaswag limit: 100 vs all',
    ]);
    expect(provenanceDifferences(recorded, { options: { 'hellaswag limit': 100, seed: 1, mode: 'weight', extra: null } })).toEqual([
      'extra: (not recorded) vs none',
      'mode: tool vs weight',
      'seed: 0 vs 1',
    ]);
    expect(provenanceDifferences(undefined, { options: { seed: 0 } })).toEqual(['seed: (not recorded) vs 0']);
    expect(provenanceDifferences(recorded, recorded)).toEqual([]);
  });
});
