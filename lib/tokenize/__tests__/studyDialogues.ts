/**
 * What the per-family tokenizer tests share: the study's two dialogues about one invented person
 * (in-weight and in-tool), and ids of hand-written token strings read from a real tokenizer.json.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { ChatMessage } from '../ChatTokenizer.js';

export const QUESTION = 'What is the birth date of Alice Smith?';
export const ANSWER = 'Alice Smith was born on 12/3/1975.';
export const qa: ChatMessage[] = [
  { role: 'user', content: QUESTION },
  { role: 'assistant', content: ANSWER },
];
export const qatool: ChatMessage[] = [
  { role: 'user', content: QUESTION },
  { role: 'assistant', content: 'FIND birth_date FOR Alice Smith' },
  { role: 'ipython', content: '12/3/1975' },
  { role: 'assistant', content: ANSWER },
];

export interface TokenizerJson extends Record<string, unknown> {
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number; content: string }[];
}

export function readTokenizerJson(folder: string): TokenizerJson {
  return JSON.parse(readFileSync(path.join(folder, 'tokenizer.json'), 'utf8')) as TokenizerJson;
}

/** Ids of hand-written token strings (added tokens included); `name` says whose vocabulary in errors. */
export function tokenIds(tokenizerJson: TokenizerJson, name: string): (tokens: string[]) => number[] {
  const vocab = new Map<string, number>(Object.entries(tokenizerJson.model.vocab));
  for (const token of tokenizerJson.added_tokens) vocab.set(token.content, token.id);
  return (tokens) =>
    tokens.map((token) => {
      const id = vocab.get(token);
      if (id === undefined) throw new Error(`'${token}' is not in ${name} vocabulary`);
      return id;
    });
}
