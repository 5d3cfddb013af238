/**
 * The one place that knows each model family's special tokens and chat-template markers.
 * Everything here is a token *string*; ids are resolved against the loaded tokenizer, so a
 * family description cannot disagree with the vocabulary it is used with.
 */
import { ItlError } from '../errors.js';

export type FamilyName = 'smollm' | 'llama3';

export interface ModelFamily {
  name: FamilyName;
  /** Closes every turn of the chat template (and is the tokenizer's eos). */
  endOfTurn: string;
  /** Appended after each training dialogue, as the study did. */
  endOfText: string;
  /** Starts every turn header; a turn's label span ends before the next one. */
  turnStart: string;
  /** The template's assistant header, matched on token ids: loss starts after it. */
  assistantHeader: string;
  /** Generation stops at any of these (generation_config.json's eos_token_id). */
  generationEos: string[];
  /**
   * Filler for padded positions. Padding masks come from lengths, never from comparing with
   * this id: SmolLM's pad is its end-of-turn token, which is also a real label.
   */
  pad: string;
}

export const FAMILIES: Record<FamilyName, ModelFamily> = {
  smollm: {
    name: 'smollm',
    endOfTurn: '<|im_end|>',
    endOfText: '<|endoftext|>',
    turnStart: '<|im_start|>',
    assistantHeader: '<|im_start|>assistant',
    generationEos: ['<|im_end|>'],
    pad: '<|im_end|>',
  },
  llama3: {
    name: 'llama3',
    endOfTurn: '<|eot_id|>',
    endOfText: '<|end_of_text|>',
    turnStart: '<|start_header_id|>',
    assistantHeader: '<|start_header_id|>assistant<|end_header_id|>',
    generationEos: ['<|end_of_text|>', '<|eom_id|>', '<|eot_id|>'],
    // The study padded Llama with this reserved token; Llama 3 defines no pad token of its own.
    pad: '<|finetune_right_pad_id|>',
  },
};

/** The token strings a tokenizer_config.json declares: its special-token fields and added tokens. */
function declaredTokens(tokenizerConfig: Record<string, unknown>): Set<string> {
  const tokens = new Set<string>();
  const add = (value: unknown): void => {
    if (typeof value === 'string') tokens.add(value);
    else if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
      tokens.add((value as { content: string }).content);
    }
  };
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) add(tokenizerConfig[key]);
  const decoder = tokenizerConfig.added_tokens_decoder;
  if (typeof decoder === 'object' && decoder !== null) Object.values(decoder).forEach(add);
  const additional = tokenizerConfig.additional_special_tokens;
  if (Array.isArray(additional)) additional.forEach(add);
  return tokens;
}

/**
 * Which family a model folder belongs to, from its tokenizer_config.json (the chat markers it
 * declares). `source` names the file in errors.
 */
export function detectFamily(tokenizerConfig: Record<string, unknown>, source: string): ModelFamily {
  const tokens = declaredTokens(tokenizerConfig);
  const matches = Object.values(FAMILIES).filter((family) =>
    [family.endOfTurn, family.turnStart].every((token) => tokens.has(token)),
  );
  if (matches.length !== 1) {
    throw new ItlError(
      'ITL_CONFIG',
      `${source}: cannot tell the model family: expected the chat tokens of exactly one of ` +
        Object.values(FAMILIES).map((f) => `${f.name} (${f.turnStart}, ${f.endOfTurn})`).join(', ') +
        ` but found ${matches.length === 0 ? 'none' : matches.map((f) => f.name).join(' and ')}`,
    );
  }
  return matches[0]!;
}
