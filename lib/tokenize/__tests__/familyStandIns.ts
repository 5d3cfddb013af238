/**
 * A stand-in for the chat family whose real tokenizer files this project cannot install
 * (fixtures/PROVENANCE.md): SmolLM3. It is a model folder with a tiny byte-level BPE tokenizer.json
 * carrying the family's special tokens at their real ids, and a chat template written for these tests
 * in the family's format — ChatML with a dated system block, a reasoning mode and tool replies as user
 * turns. It tests what itl does with the family (detection, tool role, template variables, label
 * masks), not the real template's exact text: that is `npm run test:reference` with the real files.
 * (Mistral's stand-in gave way to Mistral-Nemo's real files: mistral.test.ts.)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { byteSymbols, TINY_MERGES } from './tinyLlama3Tokenizer.js';

interface StandIn {
  specials: [number, string][];
  template: string;
  config: Record<string, unknown>;
}

// SmolLM3's special tokens at their ids in SmolLM3-3B's tokenizer (Llama 3's vocabulary, ChatML added).
const SMOLLM3: StandIn = {
  specials: [
    [128000, '<|begin_of_text|>'],
    [128001, '<|end_of_text|>'],
    [128002, '<think>'],
    [128003, '</think>'],
    [128004, '<|finetune_right_pad_id|>'],
    [128006, '<|start_header_id|>'],
    [128007, '<|end_header_id|>'],
    [128008, '<|eom_id|>'],
    [128009, '<|eot_id|>'],
    [128011, '<|im_start|>'],
    [128012, '<|im_end|>'],
  ],
  template: [
    '{%- set thinking = enable_thinking is not defined or enable_thinking -%}',
    '{{- "<|im_start|>system\\nToday Date: " + strftime_now("%d %B %Y") + "\\nReasoning Mode: " + ("/think" if thinking else "/no_think") + "<|im_end|>\\n" -}}',
    '{%- for message in messages -%}',
    '{%- if message.role == "user" or message.role == "tool" -%}',
    '{{- "<|im_start|>user\\n" + message.content + "<|im_end|>\\n" -}}',
    '{%- elif message.role == "assistant" -%}',
    '{{- "<|im_start|>assistant\\n" + ("" if thinking else "<think>\\n\\n</think>\\n") + message.content + "<|im_end|>\\n" -}}',
    '{%- endif -%}',
    '{%- endfor -%}',
    '{%- if add_generation_prompt -%}{{- "<|im_start|>assistant\\n" + ("" if thinking else "<think>\\n\\n</think>\\n") -}}{%- endif -%}',
  ].join(''),
  config: { bos_token: null, eos_token: '<|im_end|>', pad_token: '<|im_end|>' },
};

function tokenizerJson(specials: [number, string][]): Record<string, unknown> {
  const taken = new Set(specials.map(([id]) => id));
  const vocab: Record<string, number> = {};
  let next = 0;
  const nextId = (): number => {
    while (taken.has(next)) next++;
    return next++;
  };
  for (const symbol of byteSymbols()) vocab[symbol] = nextId();
  for (const [left, right] of TINY_MERGES) vocab[left + right] = nextId();
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map(([id, content]) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: TINY_MERGES.map(([l, r]) => `${l} ${r}`),
    },
  };
}

function writeStandIn(parent: string, name: string, standIn: StandIn): string {
  const dir = path.join(parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(standIn.specials)));
  const added = Object.fromEntries(standIn.specials.map(([id, content]) => [String(id), { content, special: true }]));
  writeFileSync(
    path.join(dir, 'tokenizer_config.json'),
    JSON.stringify({ ...standIn.config, added_tokens_decoder: added, chat_template: standIn.template }),
  );
  return dir;
}

export const makeSmolLM3StandIn = (parent: string): string => writeStandIn(parent, 'smollm3-stand-in', SMOLLM3);
