/**
 * The demo model's tokenizer, made by the project: a byte-level BPE of 1,024 tokens trained by
 * Hugging Face's `tokenizers` on the demo's own kind of text (scripts/make-demo-tokenizer.mjs
 * writes lib/demo/tokenizer.json), with SmolLM's pre-tokenizer (digits one by one, GPT-2's byte
 * level), SmolLM's special tokens at SmolLM's ids (0 <|endoftext|>, 1 <|im_start|>, 2 <|im_end|>)
 * and SmolLM-Instruct's ChatML template (v1: no default system prompt).
 *
 * Why trained merges rather than bytes: the demo's in-tool model must copy a name it has never seen
 * into its database request. With one token per byte a name is a dozen letters that repeat all
 * over the context, which a model of a million parameters learns to copy only slowly; with the
 * merges, a name is four distinctive pieces (` Cor` `ore` ` Wold` `ow`: the name atoms' onsets and
 * endings), which it learns to copy in a few hundred steps — and sequences are 3–4 times shorter.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { FAMILIES } from '../tokenize/families.js';

const SMOLLM = FAMILIES.smollm;
/** SmolLM's special tokens, at SmolLM's ids, so the demo model's config uses SmolLM's bos/eos/pad ids. */
export const DEMO_SPECIAL_TOKENS = [SMOLLM.endOfText, SMOLLM.turnStart, SMOLLM.endOfTurn] as const;
/** The trained tokenizer's vocabulary (its specials included): the model's vocab_size. */
export const DEMO_TOKENIZER_SIZE = 1024;
/** The trained tokenizer.json, shipped in the source tree (lib/demo/tokenizer.json). */
export const DEMO_TOKENIZER_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'demo', 'tokenizer.json');

/** SmolLM-135M-Instruct's chat template (ChatML, no default system prompt). */
export const DEMO_CHAT_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

function addedToken(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

export function demoTokenizerConfig(): Record<string, unknown> {
  return {
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(
      DEMO_SPECIAL_TOKENS.map((token, id) => {
        const { id: _id, ...entry } = addedToken(id, token);
        return [String(id), entry];
      }),
    ),
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

/** Writes tokenizer.json (the trained one), tokenizer_config.json and special_tokens_map.json into `dir`. */
export async function writeDemoTokenizer(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await copyFile(DEMO_TOKENIZER_FILE, path.join(dir, 'tokenizer.json'));
  const files: [string, unknown][] = [
    ['tokenizer_config.json', demoTokenizerConfig()],
    ['special_tokens_map.json', specialTokensMap()],
  ];
  for (const [name, value] of files) await writeFile(path.join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
}
