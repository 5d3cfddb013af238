/**
 * The chunk-memoising encoder must give exactly the library's ids for the whole text. Checked on
 * thousands of random texts built from the awkward pieces (runs of spaces, tabs, CRLF, NBSP and
 * other Unicode spaces, a BOM, digits, contractions, punctuation, accents, CJK, emoji, added
 * tokens glued to words), for SmolLM's real tokenizer and for a Llama-3-shaped one.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { ChatTokenizer } from '../ChatTokenizer.js';
import { loadTokenizer } from '../loadTokenizer.js';
import { segmentationBlocker } from '../SegmentedEncoder.js';
import { makeTinyLlama3Folder, tinyLlama3TokenizerJson } from './tinyLlama3Tokenizer.js';

const SMOL2 = '../shared/reference/models/HuggingFaceTB__SmolLM2-135M-Instruct';
const root = mkdtempSync(path.join(tmpdir(), 'itl-segmented-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const PIECES = [
  'a',
  'Z',
  'the',
  ' the',
  'word',
  ' ',
  '  ',
  '   ',
  '\n',
  '\n\n',
  '\t',
  '\r\n',
  ' \n',
  '\u00a0',
  '\u3000',
  '\u2028',
  '\ufeff',
  '\x85',
  '0',
  '7',
  '123',
  '1975',
  '½',
  "'s",
  "'",
  "'LL",
  '.',
  '?!',
  '...',
  '_',
  '-',
  '/',
  '(',
  ')',
  '"',
  'é',
  'Ångström',
  '中文',
  '😀',
  'ﬁ',
  '<|im_start|>',
  '<|im_end|>',
  '<|endoftext|>',
  '<|eot_id|>',
  '<|start_header_id|>',
  '<|begin_of_text|>',
  '<|im_end',
  'FIND',
];

/** Deterministic pseudo-random texts (a linear congruential generator, so failures reproduce). */
function randomTexts(count: number, seed: number): string[] {
  let state = seed;
  const next = (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
  return Array.from({ length: count }, () => Array.from({ length: 1 + next(24) }, () => PIECES[next(PIECES.length)]).join(''));
}

function expectSameAsWhole(tokenizer: ChatTokenizer, texts: string[]): void {
  expect(tokenizer.fastPaths.encode).toEqual({ enabled: true, reason: null });
  for (const text of texts) {
    const chunked = Array.from(tokenizer.encode(text, { addSpecialTokens: false }));
    const whole = Array.from(tokenizer.encodeWhole(text));
    if (chunked.join() !== whole.join()) throw new Error(`ids differ for ${JSON.stringify(text)}: ${chunked} vs ${whole}`);
  }
}

test('SmolLM: chunked ids equal whole-text ids on 3,000 random texts (twice, so memo hits are checked)', async () => {
  const smol = await loadTokenizer(SMOL2);
  const texts = randomTexts(3000, 7);
  expectSameAsWhole(smol, texts);
  expectSameAsWhole(smol, texts);
});

test('Llama 3 structure: chunked ids equal whole-text ids on 3,000 random texts', async () => {
  const llama = await loadTokenizer(makeTinyLlama3Folder(root));
  expectSameAsWhole(llama, randomTexts(3000, 11));
});

test('the fast path is refused for pre-tokenizers and options not proven safe, and the library is used whole', async () => {
  const json = tinyLlama3TokenizerJson();
  expect(segmentationBlocker(json, {})).toBeNull();
  expect(segmentationBlocker({ ...json, normalizer: { type: 'NFC' } }, {})).toMatch(/normalizer/);
  expect(segmentationBlocker({ ...json, pre_tokenizer: { type: 'Whitespace' } }, {})).toMatch(/pre-tokenizer/);
  expect(segmentationBlocker({ ...json, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, use_regex: true } }, {})).toMatch(
    /pre-tokenizer/,
  );
  const stripping = { ...json, added_tokens: [{ id: 128000, content: '<|begin_of_text|>', lstrip: true, rstrip: false }] };
  expect(segmentationBlocker(stripping, {})).toMatch(/strips/);
  expect(segmentationBlocker(json, { remove_space: true })).toMatch(/rewrites/);

  const dir = makeTinyLlama3Folder(path.join(root, 'normalized'));
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({ ...json, normalizer: { type: 'NFC' } }));
  const normalized = await loadTokenizer(dir);
  expect(normalized.fastPaths.encode.enabled).toBe(false);
  const text = `${JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')).bos_token}Ångström 12`;
  expect(Array.from(normalized.encode(text, { addSpecialTokens: false }))).toEqual(Array.from(normalized.encodeWhole(text)));
});
