/** The tokenised-dataset cache: built once, read back identical, keyed by every part of its key, never half-written. */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { ChatMessage, ChatTokenizer } from '../ChatTokenizer.js';
import { loadTokenizer } from '../loadTokenizer.js';
import { cacheKeyDigest, exampleAt, loadOrBuildTokenized, sha256OfFile, type TokenizedCacheKey } from '../TokenizedDatasetCache.js';

const SMOL2 = '../shared/reference/models/HuggingFaceTB__SmolLM2-135M-Instruct';
const root = mkdtempSync(path.join(tmpdir(), 'itl-tokcache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function dialogue(i: number): ChatMessage[] {
  return [
    { role: 'user', content: `Where does person ${i} live?` },
    { role: 'assistant', content: `FIND current_address FOR person ${i}` },
    { role: 'ipython', content: `City ${i % 3}` },
    { role: 'assistant', content: `Person ${i} lives in City ${i % 3}.` },
  ];
}
const dialogues = (count: number) => () => Array.from({ length: count }, (_, i) => dialogue(i));

let smol: ChatTokenizer;
let key: TokenizedCacheKey;
beforeAll(async () => {
  smol = await loadTokenizer(SMOL2);
  const manifest = path.join(root, 'manifest.json');
  writeFileSync(manifest, '{"rows": 5}\n');
  key = {
    manifestSha: await sha256OfFile(manifest),
    tokenizerHash: smol.filesHash,
    mode: 'tool',
    dateString: '26 Jul 2024',
    selection: 'train:0-5',
  };
});

test('builds, then reads back the same arrays; each example equals buildTrainingExample', async () => {
  const cacheDir = path.join(root, 'cache-a');
  const built = await loadOrBuildTokenized(cacheDir, key, dialogues(5), smol);
  expect(built.hit).toBe(false);
  expect(readdirSync(built.path).sort()).toEqual(['ids.i32', 'labels.i32', 'meta.json', 'offsets.i32']);
  expect(readdirSync(cacheDir)).toEqual([path.basename(built.path)]); // no temporary folder left
  const read = await loadOrBuildTokenized(
    cacheDir,
    key,
    () => {
      throw new Error('must not re-tokenise');
    },
    smol,
  );
  expect(read.hit).toBe(true);
  expect(read.dataset.count).toBe(5);
  expect(Array.from(read.dataset.offsets)).toEqual(Array.from(built.dataset.offsets));
  for (let i = 0; i < 5; i++) {
    const expected = smol.buildTrainingExample(dialogue(i), 'tool');
    const got = exampleAt(read.dataset, i);
    expect(Array.from(got.ids)).toEqual(Array.from(expected.ids));
    expect(Array.from(got.labels)).toEqual(Array.from(expected.labels));
  }
  expect(() => exampleAt(read.dataset, 5)).toThrow(expect.objectContaining({ code: 'ITL_INVALID_ARGUMENT' }));
});

test('every part of the key selects a different entry', () => {
  const digests = new Set([
    cacheKeyDigest(key),
    cacheKeyDigest({ ...key, mode: 'weight' }),
    cacheKeyDigest({ ...key, manifestSha: '0'.repeat(64) }),
    cacheKeyDigest({ ...key, tokenizerHash: '1'.repeat(64) }),
    cacheKeyDigest({ ...key, dateString: '01 Jan 2025' }),
    cacheKeyDigest({ ...key, selection: 'train:0-6' }),
  ]);
  expect(digests.size).toBe(6);
});

test('a dialogue that cannot be tokenised names its index and leaves no entry', async () => {
  const cacheDir = path.join(root, 'cache-b');
  const bad = () => [dialogue(0), [{ role: 'user', content: 'no answer' }]];
  await expect(loadOrBuildTokenized(cacheDir, key, bad, smol)).rejects.toMatchObject({
    code: 'ITL_DATA',
    message: expect.stringMatching(/dialogue 1: .*no assistant turn/),
  });
  expect(existsSync(path.join(cacheDir, cacheKeyDigest(key)))).toBe(false);
});

test('a damaged entry is reported, not silently used', async () => {
  const cacheDir = path.join(root, 'cache-c');
  const built = await loadOrBuildTokenized(cacheDir, key, dialogues(3), smol);
  writeFileSync(path.join(built.path, 'labels.i32'), Buffer.alloc(8));
  await expect(loadOrBuildTokenized(cacheDir, key, dialogues(3), smol)).rejects.toMatchObject({
    code: 'ITL_DATA',
    message: expect.stringMatching(/disagree with meta.json/),
  });
});

test('a key naming another tokenizer is refused', async () => {
  await expect(
    loadOrBuildTokenized(path.join(root, 'cache-d'), { ...key, tokenizerHash: 'f'.repeat(64) }, dialogues(1), smol),
  ).rejects.toMatchObject({
    code: 'ITL_INVALID_ARGUMENT',
  });
});
