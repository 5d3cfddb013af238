/**
 * Loads a Hugging Face model folder's tokenizer files (tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json) into a ChatTokenizer. Only these files are read; weights are not.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';

import { ItlError } from '../errors.js';
import { ChatTokenizer } from './ChatTokenizer.js';
import { detectChatFamily } from './families.js';
import { SegmentedEncoder } from './SegmentedEncoder.js';

type Json = Record<string, unknown>;

const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

async function readOptional(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ItlError('ITL_IO', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

function parseJsonObject(bytes: Buffer, file: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ItlError('ITL_CONFIG', `${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ItlError('ITL_CONFIG', `${file}: expected a JSON object`);
  }
  return value as Json;
}

function tokenString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/**
 * transformers' `special_tokens_map`: the special-token fields of tokenizer_config.json,
 * overridden by special_tokens_map.json, as plain strings. Every entry becomes a template variable.
 */
function specialTokensMap(config: Json, map: Json | null): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  for (const source of [config, map ?? {}]) {
    for (const key of SPECIAL_TOKEN_KEYS) {
      const token = tokenString(source[key]);
      if (token !== undefined) result[key] = token;
    }
    const additional = source.additional_special_tokens;
    if (Array.isArray(additional)) {
      result.additional_special_tokens = additional.map(tokenString).filter((t): t is string => t !== undefined);
    }
  }
  return result;
}

/** The template transformers would use: tokenizer_config's chat_template (its "default" if named), else chat_template.jinja. */
function chatTemplate(config: Json, jinjaFile: Buffer | null, modelDir: string): string {
  const value = config.chat_template;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value.find((t) => (t as { name?: unknown }).name === 'default') as { template?: unknown } | undefined;
    if (typeof named?.template === 'string') return named.template;
  }
  if (jinjaFile !== null) return jinjaFile.toString('utf8');
  throw new ItlError('ITL_CONFIG', `${path.join(modelDir, 'tokenizer_config.json')}: no chat_template (and no chat_template.jinja)`);
}

function hashFiles(files: [string, Buffer | null][]): string {
  const hash = createHash('sha256');
  for (const [name, bytes] of files) {
    if (bytes === null) continue;
    hash.update(`${name}\0${bytes.length}\0`);
    hash.update(bytes);
  }
  return hash.digest('hex');
}

export async function loadTokenizer(modelDir: string): Promise<ChatTokenizer> {
  const file = (name: string): string => path.join(modelDir, name);
  const [tokenizerBytes, configBytes, mapBytes, jinjaBytes] = await Promise.all(
    ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'].map((n) => readOptional(file(n))),
  );
  if (tokenizerBytes === null || configBytes === null) {
    const missing = tokenizerBytes === null ? 'tokenizer.json' : 'tokenizer_config.json';
    throw new ItlError('ITL_IO', `${modelDir}: no ${missing} (a model folder needs tokenizer.json and tokenizer_config.json)`);
  }
  const tokenizerJson = parseJsonObject(tokenizerBytes, file('tokenizer.json'));
  const config = parseJsonObject(configBytes, file('tokenizer_config.json'));
  const map = mapBytes === null ? null : parseJsonObject(mapBytes, file('special_tokens_map.json'));
  const templateSource = chatTemplate(config, jinjaBytes, modelDir);
  const family = detectChatFamily(config, templateSource, file('tokenizer_config.json'));
  const specialMap = specialTokensMap(config, map);

  let tokenizer: Tokenizer;
  try {
    // The library reads tokenizer_config.json's special tokens and decoding options.
    tokenizer = new Tokenizer(tokenizerJson, { ...config, ...specialMap });
  } catch (error) {
    throw new ItlError('ITL_CONFIG', `${file('tokenizer.json')}: cannot build the tokenizer: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let template: Template;
  try {
    template = new Template(templateSource);
  } catch (error) {
    throw new ItlError('ITL_CONFIG', `${modelDir}: cannot parse the chat template: ${(error as Error).message}`, { cause: error });
  }
  return new ChatTokenizer({
    modelDir,
    family,
    tokenizer,
    encoder: new SegmentedEncoder(tokenizer, tokenizerJson, config),
    template,
    templateSource,
    specialTokensMap: specialMap,
    filesHash: hashFiles([
      ['tokenizer.json', tokenizerBytes],
      ['tokenizer_config.json', configBytes],
      ['special_tokens_map.json', mapBytes],
      ['chat_template.jinja', typeof config.chat_template === 'string' ? null : jinjaBytes],
    ]),
  });
}
