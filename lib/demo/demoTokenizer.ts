/**
 * The demo model's tokenizer, made by the project: byte-level BPE in Hugging Face's tokenizer.json
 * format with SmolLM's special tokens at SmolLM's ids (0 <|endoftext|>, 1 <|im_start|>, 2 <|im_end|>),
 * SmolLM-Instruct's ChatML template (v1: no default system prompt) and the 256 byte symbols of
 * GPT-2's byte-level alphabet as the rest of the vocabulary.
 *
 * It has no merges, so a token is a byte. That is deliberate: every invented name, seen in training
 * or not, is spelt out of the same 256 symbols, so an in-tool model can copy a name it never met into
 * its database request — the capability the study's contrast rests on — with a vocabulary small
 * enough that a model of a million parameters trains in minutes on two CPU cores. Merges would only
 * shorten sequences (and would need a BPE trainer, which Node has no maintained library for).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { FAMILIES } from '../tokenize/families.js';

const SMOLLM = FAMILIES.smollm;
/** SmolLM's special tokens, at SmolLM's ids, so the demo model's config uses SmolLM's bos/eos/pad ids. */
export const DEMO_SPECIAL_TOKENS = [SMOLLM.endOfText, SMOLLM.turnStart, SMOLLM.endOfTurn] as const;
/** Specials, then the 256 byte symbols. */
export const DEMO_TOKENIZER_SIZE = DEMO_SPECIAL_TOKENS.length + 256;

/** SmolLM-135M-Instruct's chat template (ChatML, no default system prompt). */
export const DEMO_CHAT_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/**
 * GPT-2's reversible byte → symbol map: printable bytes stand for themselves, the others are
 * shifted above U+0100, so every byte has a visible one-character symbol (what ByteLevel expects).
 */
export function byteSymbols(): string[] {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const symbols: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) symbols.push(String.fromCodePoint(printable(b) ? b : 256 + shifted++));
  return symbols;
}

function addedToken(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

export function demoTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  DEMO_SPECIAL_TOKENS.forEach((token, id) => (vocab[token] = id));
  byteSymbols().forEach((symbol, b) => (vocab[symbol] = DEMO_SPECIAL_TOKENS.length + b));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: DEMO_SPECIAL_TOKENS.map((token, id) => addedToken(id, token)),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [],
    },
  };
}

export function demoTokenizerConfig(): Record<string, unknown> {
  return {
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(DEMO_SPECIAL_TOKENS.map((token, id) => {
      const { id: _id, ...entry } = addedToken(id, token);
      return [String(id), entry];
    })),
    additional_special_tokens: [SMOLLM.turnStart, SMOLLM.endOfTurn],
    bos_token: SMOLLM.turnStart,
    chat_template: DEMO_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: SMOLLM.endOfTurn,
    model_max_length: 2048,
    pad_token: SMOLLM.endOfTurn,
    tokenizer_class: 'GPT2TokenizerFast',
    unk_token: SMOLLM.endOfText,
  };
}

function specialTokensMap(): Record<string, unknown> {
  return {
    additional_special_tokens: [SMOLLM.turnStart, SMOLLM.endOfTurn],
    bos_token: SMOLLM.turnStart,
    eos_token: SMOLLM.endOfTurn,
    pad_token: SMOLLM.endOfTurn,
    unk_token: SMOLLM.endOfText,
  };
}

/** Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into `dir`. */
export async function writeDemoTokenizer(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const files: [string, unknown][] = [
    ['tokenizer.json', demoTokenizerJson()],
    ['tokenizer_config.json', demoTokenizerConfig()],
    ['special_tokens_map.json', specialTokensMap()],
  ];
  for (const [name, value] of files) await writeFile(path.join(dir, name), JSON.stringify(value, null, 2) + '\n');
}
