/**
 * The one place that knows each chat family's special tokens, chat-template markers and the
 * template variables it is rendered with. Everything here is a token *string* (ids are resolved
 * against the loaded tokenizer), except the ids a family's vocabulary fixes, which tell families
 * that share token strings apart (ChatML's <|im_start|> is id 1 in SmolLM, 151644 in Qwen).
 *
 * A chat family is a tokenizer-and-template convention, not a model architecture: Qwen2, Qwen2.5
 * and Qwen3 share one ('qwen'); the architectures are lib/train/models.ts's ModelFamily.
 */
import { ItlError } from '../errors.js';

export type ChatFamilyName = 'smollm' | 'llama3' | 'qwen' | 'smollm3' | 'mistral';

/** The study's dialogues name a tool's reply with this role (Llama 3's); families render it as their toolRole. */
export const STUDY_TOOL_ROLE = 'ipython';

export interface ChatFamily {
  name: ChatFamilyName;
  /** Closes every assistant turn of the chat template (and is the tokenizer's eos). */
  endOfTurn: string;
  /** Appended after each training dialogue, as the study did, unless the template's text already ends with it. */
  endOfText: string;
  /** Starts every turn that is not the assistant's; an assistant turn's label span ends before the next one. */
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
  /** The role the family's template renders a tool's reply under (the study's dialogues say 'ipython'). */
  toolRole: string;
  /**
   * Template variables passed to every rendering, as apply_chat_template's keyword arguments
   * (Qwen3 and SmolLM3: enable_thinking false, so answers are not preceded by reasoning).
   */
  templateVariables: Record<string, unknown>;
  /** Tokens tokenizer_config.json must declare for this family, with their id where the vocabulary fixes it. */
  signature: Record<string, number | null>;
}

export const FAMILIES: Record<ChatFamilyName, ChatFamily> = {
  smollm: {
    name: 'smollm',
    endOfTurn: '<|im_end|>',
    endOfText: '<|endoftext|>',
    turnStart: '<|im_start|>',
    assistantHeader: '<|im_start|>assistant',
    generationEos: ['<|im_end|>'],
    pad: '<|im_end|>',
    // SmolLM's template prints any role as a ChatML header: the study's own 'ipython'.
    toolRole: STUDY_TOOL_ROLE,
    templateVariables: {},
    signature: { '<|endoftext|>': 0, '<|im_start|>': 1, '<|im_end|>': 2 },
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
    toolRole: STUDY_TOOL_ROLE,
    templateVariables: {},
    signature: { '<|start_header_id|>': null, '<|eot_id|>': null, '<|end_of_text|>': null },
  },
  // Qwen2, Qwen2.5, Qwen3 (generation_config eos: <|im_end|>, <|endoftext|>). Their templates wrap a
  // 'tool' message in <tool_response> inside a user turn; Qwen3's renders the last assistant turn
  // with an empty <think></think> block, and its generation prompt adds one with enable_thinking false.
  qwen: {
    name: 'qwen',
    endOfTurn: '<|im_end|>',
    endOfText: '<|endoftext|>',
    turnStart: '<|im_start|>',
    assistantHeader: '<|im_start|>assistant',
    generationEos: ['<|im_end|>', '<|endoftext|>'],
    pad: '<|endoftext|>',
    toolRole: 'tool',
    templateVariables: { enable_thinking: false },
    signature: { '<|endoftext|>': 151643, '<|im_start|>': 151644, '<|im_end|>': 151645 },
  },
  // SmolLM3: Llama 3's vocabulary with ChatML turns. Its template renders a 'tool' message as a user
  // turn, puts the date (strftime_now) and the reasoning mode in a system block, and with
  // enable_thinking false starts every assistant turn with an empty <think></think> block.
  smollm3: {
    name: 'smollm3',
    endOfTurn: '<|im_end|>',
    endOfText: '<|end_of_text|>',
    turnStart: '<|im_start|>',
    assistantHeader: '<|im_start|>assistant',
    generationEos: ['<|im_end|>'],
    pad: '<|finetune_right_pad_id|>',
    toolRole: 'tool',
    templateVariables: { enable_thinking: false },
    signature: { '<|end_of_text|>': 128001, '<|im_start|>': 128011, '<|im_end|>': 128012 },
  },
  // Mistral Instruct: `<s>[INST] user[/INST] answer</s>` (v0.3; Nemo writes no spaces). The v3 templates
  // render a tool result only after a structured tool call with a 9-character id, and require the other
  // turns to alternate user/assistant; the study's request is plain text, so the tool's reply is a user turn.
  mistral: {
    name: 'mistral',
    endOfTurn: '</s>',
    endOfText: '</s>',
    turnStart: '[INST]',
    assistantHeader: '[/INST]',
    generationEos: ['</s>'],
    pad: '</s>',
    toolRole: 'user',
    templateVariables: {},
    signature: { '<s>': 1, '</s>': 2 },
  },
};

/** The tokens a tokenizer_config.json declares, by content, with their ids where added_tokens_decoder gives them. */
function declaredTokens(tokenizerConfig: Record<string, unknown>): Map<string, number | null> {
  const tokens = new Map<string, number | null>();
  const add = (value: unknown, id: number | null = null): void => {
    const content =
      typeof value === 'string'
        ? value
        : typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string'
          ? (value as { content: string }).content
          : undefined;
    if (content !== undefined && (id !== null || !tokens.has(content))) tokens.set(content, id);
  };
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) add(tokenizerConfig[key]);
  const additional = tokenizerConfig.additional_special_tokens;
  if (Array.isArray(additional)) for (const token of additional) add(token);
  const decoder = tokenizerConfig.added_tokens_decoder;
  if (typeof decoder === 'object' && decoder !== null) {
    for (const [id, token] of Object.entries(decoder)) add(token, /^\d+$/.test(id) ? Number(id) : null);
  }
  return tokens;
}

function matches(family: ChatFamily, tokens: Map<string, number | null>, template: string): boolean {
  if (!template.includes(family.turnStart)) return false;
  return Object.entries(family.signature).every(([token, id]) => tokens.has(token) && (id === null || tokens.get(token) === id));
}

/**
 * Which chat family a model folder belongs to, from its tokenizer_config.json (the tokens it
 * declares, at their ids) and its chat template (which turn markers it writes). `source` names the
 * file in errors.
 */
export function detectChatFamily(tokenizerConfig: Record<string, unknown>, template: string, source: string): ChatFamily {
  const tokens = declaredTokens(tokenizerConfig);
  const found = Object.values(FAMILIES).filter((family) => matches(family, tokens, template));
  if (found.length !== 1) {
    const describe = (f: ChatFamily): string =>
      `${f.name} (${Object.entries(f.signature)
        .map(([token, id]) => (id === null ? token : `${token}=${id}`))
        .join(', ')}; template writes ${f.turnStart})`;
    throw new ItlError(
      'ITL_CONFIG',
      `${source}: cannot tell the chat family: expected the tokens and template markers of exactly one of ` +
        Object.values(FAMILIES).map(describe).join(', ') +
        ` but found ${found.length === 0 ? 'none' : found.map((f) => f.name).join(' and ')}`,
    );
  }
  return found[0]!;
}
