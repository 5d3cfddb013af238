/**
 * A model's tokenizer and chat template, behaving as Hugging Face transformers does:
 * `encode`/`decode` through @huggingface/tokenizers, `applyChatTemplate` rendering the model's own
 * Jinja template with the variables transformers passes and tokenising the rendered text without
 * adding special tokens a second time, and `buildTrainingExample` making the study's training
 * sequences with their label masks. Made by `loadTokenizer(modelDir)`.
 */
import type { Tokenizer } from '@huggingface/tokenizers';
import type { Template } from '@huggingface/jinja';

import { ItlError } from '../errors.js';
import { ChatRenderer } from './ChatRenderer.js';
import { type ChatFamily, STUDY_TOOL_ROLE } from './families.js';
import { labelMask, type MaskMarkers, type TrainingMode } from './labelMask.js';
import type { SegmentedEncoder } from './SegmentedEncoder.js';

export interface ChatMessage {
  role: string;
  content: string;
}

/**
 * Llama 3.x templates put a date in the system header ("Today Date: …"), today's unless told:
 * we always pass one so token ids do not change from day to day. This is the template's own
 * fallback date; record the one used with every run.
 */
export const DEFAULT_DATE_STRING = '26 Jul 2024';

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  /** The `date_string` template variable (default DEFAULT_DATE_STRING). */
  dateString?: string;
}

export interface TrainingExample {
  ids: Int32Array;
  /** The id where the loss applies, -100 elsewhere. */
  labels: Int32Array;
}

/** The ids of the family's special tokens in this tokenizer's vocabulary. */
export interface SpecialIds {
  endOfTurn: number;
  endOfText: number;
  turnStart: number;
  pad: number;
  generationEos: number[];
  assistantHeader: number[];
  bos: number | null;
}

/** Whether a memoising fast path is in use, and why not when it is not. */
export interface FastPathStatus {
  enabled: boolean;
  reason: string | null;
}

export interface ChatTokenizerParts {
  modelDir: string;
  family: ChatFamily;
  tokenizer: Tokenizer;
  encoder: SegmentedEncoder;
  template: Template;
  templateSource: string;
  /** Special-token strings as transformers' `special_tokens_map` (bos_token, eos_token, …). */
  specialTokensMap: Record<string, string | string[]>;
  /** sha256 of the tokenizer files, for cache keys and run records. */
  filesHash: string;
}

// Python's str.strip() (Jinja's `trim`) and JavaScript's String.prototype.trim() (used by
// @huggingface/jinja) disagree on \x1c-\x1f, \x85 (Python strips them) and \ufeff (JavaScript
// does); content whose ends differ under the two would render differently from transformers.
const PYTHON_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PYTHON_STRIP = new RegExp(`^[${PYTHON_SPACE}]+|[${PYTHON_SPACE}]+$`, 'g');

function trimsAsPythonDoes(text: string): boolean {
  return text.replace(PYTHON_STRIP, '') === text.trim();
}

export class ChatTokenizer {
  readonly modelDir: string;
  readonly family: ChatFamily;
  readonly filesHash: string;
  readonly special: SpecialIds;
  private readonly tokenizer: Tokenizer;
  private readonly encoder: SegmentedEncoder;
  private readonly renderer: ChatRenderer;
  private readonly templateTrims: boolean;
  private readonly markers: MaskMarkers;

  constructor(parts: ChatTokenizerParts) {
    this.modelDir = parts.modelDir;
    this.family = parts.family;
    this.filesHash = parts.filesHash;
    this.tokenizer = parts.tokenizer;
    this.encoder = parts.encoder;
    // The family's variables (enable_thinking false) as apply_chat_template's keyword arguments.
    this.renderer = new ChatRenderer(parts.template, { ...parts.specialTokensMap, ...parts.family.templateVariables });
    this.templateTrims = /\btrim\b/.test(parts.templateSource);
    const bos = parts.specialTokensMap.bos_token;
    this.special = {
      endOfTurn: this.requireId(parts.family.endOfTurn),
      endOfText: this.requireId(parts.family.endOfText),
      turnStart: this.requireId(parts.family.turnStart),
      pad: this.requireId(parts.family.pad),
      generationEos: parts.family.generationEos.map((t) => this.requireId(t)),
      assistantHeader: this.encoder.encode(parts.family.assistantHeader),
      bos: typeof bos === 'string' ? this.requireId(bos) : null,
    };
    this.markers = {
      assistantHeader: this.special.assistantHeader,
      turnStart: this.special.turnStart,
      endOfTurn: this.special.endOfTurn,
    };
  }

  /**
   * The two memoising fast paths: encoding in chunks (SegmentedEncoder) and rendering by
   * splicing contents into a rendered dialogue shape (ChatRenderer).
   */
  get fastPaths(): { encode: FastPathStatus; render: FastPathStatus } {
    return {
      encode: { enabled: this.encoder.blocker === null, reason: this.encoder.blocker },
      render: { enabled: this.renderer.blocker === null, reason: this.renderer.blocker },
    };
  }

  private requireId(token: string): number {
    const id = this.tokenizer.token_to_id(token);
    if (id === undefined) {
      throw new ItlError('ITL_CONFIG', `${this.modelDir}: the ${this.family.name} token '${token}' is not in tokenizer.json`);
    }
    return id;
  }

  /**
   * Token ids of `text`. With addSpecialTokens (transformers' default) the tokenizer's
   * post-processor adds its special tokens (Llama 3: BOS; SmolLM: none).
   */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): Int32Array {
    if (options.addSpecialTokens ?? true) {
      return Int32Array.from(this.tokenizer.encode(text, { add_special_tokens: true }).ids);
    }
    return Int32Array.from(this.encoder.encode(text));
  }

  /** Ids of `text` encoded whole by the library, bypassing the chunk memo: what checks it. */
  encodeWhole(text: string): Int32Array {
    return Int32Array.from(this.tokenizer.encode(text, { add_special_tokens: false }).ids);
  }

  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode(Array.from(ids), { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  /** The vocabulary string of each id (byte-level symbols, e.g. 'Ġ' for a leading space). */
  tokens(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (id) => this.tokenizer.id_to_token(id) ?? `<unknown id ${id}>`);
  }

  /** Rendered chat text, or its token ids with `tokenize: true`. */
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions & { tokenize: true }): Int32Array;
  applyChatTemplate(messages: ChatMessage[], options?: ChatTemplateOptions & { tokenize?: false }): string;
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions & { tokenize?: boolean } = {}): string | Int32Array {
    const text = this.render(messages, options);
    // transformers tokenises the rendered chat with add_special_tokens=False: the template
    // already wrote every special token (Llama's BOS included).
    return options.tokenize ? Int32Array.from(this.encoder.encode(text)) : text;
  }

  /**
   * A training sequence as the study builds it: the chat template of the whole dialogue, then
   * the family's end-of-text token; labels per `mode` (see labelMask). A template whose text
   * already ends with that token (Mistral's `</s>` closes each answer) gets no second one, as
   * TRL appends its eos only where the text lacks it.
   */
  buildTrainingExample(messages: ChatMessage[], mode: TrainingMode, options: { dateString?: string } = {}): TrainingExample {
    const rendered = this.encoder.encode(this.render(messages, { addGenerationPrompt: false, dateString: options.dateString }));
    const ids = this.endsWithEndOfText(rendered) ? Int32Array.from(rendered) : Int32Array.from([...rendered, this.special.endOfText]);
    return { ids, labels: labelMask(ids, this.markers, mode) };
  }

  /** The text of buildTrainingExample's sequence: the rendered dialogue and, unless it ends with it, the end-of-text token. */
  trainingText(messages: ChatMessage[], options: { dateString?: string } = {}): string {
    const text = this.render(messages, { addGenerationPrompt: false, dateString: options.dateString });
    return this.endsWithEndOfText(this.encoder.encode(text)) ? text : text + this.family.endOfText;
  }

  private endsWithEndOfText(ids: ArrayLike<number>): boolean {
    return ids.length > 0 && ids[ids.length - 1] === this.special.endOfText;
  }

  /** The template rendered by the interpreter, bypassing the shape memo: what checks it. */
  renderWithInterpreter(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
    return this.render(messages, options, true);
  }

  private render(messages: ChatMessage[], options: ChatTemplateOptions, direct = false): string {
    if (messages.length === 0) throw new ItlError('ITL_DATA', 'a chat needs at least one message');
    if (this.templateTrims) this.checkTrimmable(messages);
    // The variables transformers passes: the conversation, tools/documents (None), the generation
    // flag, every entry of special_tokens_map, and our explicit date_string.
    const renderOptions = {
      addGenerationPrompt: options.addGenerationPrompt ?? false,
      dateString: options.dateString ?? DEFAULT_DATE_STRING,
    };
    // The study's tool replies ('ipython') in the role this family's template renders tool results under.
    const toolRole = this.family.toolRole;
    const rendered =
      toolRole === STUDY_TOOL_ROLE ? messages : messages.map((m) => (m.role === STUDY_TOOL_ROLE ? { ...m, role: toolRole } : m));
    try {
      return direct ? this.renderer.renderDirect(rendered, renderOptions) : this.renderer.render(rendered, renderOptions);
    } catch (error) {
      const message = typeof error === 'object' && error !== null ? String((error as Error).message) : String(error);
      // A template over its limits (boundedRender) is the template's fault: ITL_CONFIG; anything else, the data's.
      const code = error instanceof ItlError ? error.code : 'ITL_DATA';
      throw new ItlError(code, `${this.modelDir}: the chat template failed: ${message}`, { cause: error });
    }
  }

  private checkTrimmable(messages: ChatMessage[]): void {
    messages.forEach((message, index) => {
      const content = message.content;
      if (typeof content === 'string' && !trimsAsPythonDoes(content)) {
        throw new ItlError(
          'ITL_DATA',
          `message ${index} (${message.role}): content begins or ends with a control or BOM character that ` +
            `Python's trim and ours treat differently; strip it first so the rendering matches transformers`,
        );
      }
    });
  }
}
