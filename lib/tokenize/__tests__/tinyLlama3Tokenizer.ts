/**
 * Llama 3's tokenizer.json (~9 MB) is not among the reference files, so Llama tests use a model
 * folder made here: the REAL tokenizer_config.json (chat template, 256 special tokens) and
 * special_tokens_map.json of Llama-3.2-3B-Instruct, with a tiny tokenizer.json of the same
 * structure as Llama 3's (Split with Llama 3's pattern + ByteLevel, BPE with ignore_merges,
 * TemplateProcessing adding <|begin_of_text|>, ByteLevel decoder): the 256 byte symbols plus a
 * few merges, and the 256 special tokens at their real ids (128000…128255).
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { LLAMA3_SPLIT_PATTERN } from '../SegmentedEncoder.js';

export const LLAMA_REFERENCE = '../shared/reference/models/meta-llama__Llama-3.2-3B-Instruct';

/** GPT-2's byte → symbol table (the byte-level alphabet). */
export function byteSymbols(): string[] {
  const printable = new Set<number>();
  for (const [from, to] of [
    [0x21, 0x7e],
    [0xa1, 0xac],
    [0xae, 0xff],
  ] as const)
    for (let b = from; b <= to; b++) printable.add(b);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable.has(b) ? b : 256 + extra++));
}

/** Merges of the tiny vocabulary, in rank order: enough to make a few whole words. */
export const TINY_MERGES: [string, string][] = [
  ['a', 's'],
  ['as', 's'],
  ['i', 's'],
  ['is', 't'],
  ['a', 'n'],
  ['an', 't'],
  ['ist', 'ant'],
  ['ass', 'istant'],
  ['u', 's'],
  ['e', 'r'],
  ['us', 'er'],
  ['Ċ', 'Ċ'],
  ['Ġ', 'S'],
  ['ĠS', 'm'],
  ['ĠSm', 'i'],
  ['ĠSmi', 't'],
  ['ĠSmit', 'h'],
];

export function tinyLlama3TokenizerJson(): Record<string, unknown> {
  const config = JSON.parse(readFileSync(path.join(LLAMA_REFERENCE, 'tokenizer_config.json'), 'utf8')) as {
    added_tokens_decoder: Record<string, { content: string; special: boolean }>;
  };
  const vocab: Record<string, number> = {};
  for (const [id, symbol] of byteSymbols().entries()) vocab[symbol] = id;
  for (const [left, right] of TINY_MERGES) vocab[left + right] = Object.keys(vocab).length;
  const added = Object.entries(config.added_tokens_decoder).map(([id, token]) => ({
    id: Number(id),
    content: token.content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: token.special,
  }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: LLAMA3_SPLIT_PATTERN }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [
            { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } },
            { Sequence: { id: 'B', type_id: 1 } },
          ],
          special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } },
        },
      ],
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges: TINY_MERGES.map(([l, r]) => `${l} ${r}`),
    },
  };
}

/** A model folder (under `parent`) with the real Llama 3.2 tokenizer config and the tiny tokenizer.json. */
export function makeTinyLlama3Folder(parent: string): string {
  const dir = path.join(parent, 'tiny-llama3');
  mkdirSync(dir, { recursive: true });
  for (const name of ['tokenizer_config.json', 'special_tokens_map.json', 'config.json', 'generation_config.json']) {
    copyFileSync(path.join(LLAMA_REFERENCE, name), path.join(dir, name));
  }
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tinyLlama3TokenizerJson()));
  return dir;
}
