/**
 * Reads the dialogue `itl chat-template --messages FILE` shows: a JSON array of {role, content},
 * an object with such a "messages" array, or a facts-dataset row ({qa, qatool, …}) whose `qa`
 * (in-weight) or `qatool` (in-tool) dialogue is taken according to the mode; or one line of a
 * JSON Lines file (the data stage's preview.jsonl).
 */
import { readFile } from 'node:fs/promises';

import { ItlError } from '../errors.js';
import type { ChatMessage } from './ChatTokenizer.js';
import type { TrainingMode } from './labelMask.js';

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/** Validates a list of chat messages; `where` names its place in errors. */
export function parseMessages(value: unknown, where: string): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ItlError('ITL_DATA', `${where}: expected a non-empty array of {role, content} messages but received ${describe(value)}`);
  }
  return value.map((message, index) => {
    const role = (message as { role?: unknown } | null)?.role;
    const content = (message as { content?: unknown } | null)?.content;
    if (typeof role !== 'string' || role.length === 0 || typeof content !== 'string') {
      throw new ItlError(
        'ITL_DATA',
        `${where}: message ${index}: expected {"role": string, "content": string} but received ${JSON.stringify(message)}`,
      );
    }
    return { role, content };
  });
}

/** The dialogue in a parsed JSON document (see the file header). */
export function dialogueOf(document: unknown, mode: TrainingMode, where: string): ChatMessage[] {
  if (Array.isArray(document)) return parseMessages(document, where);
  if (typeof document === 'object' && document !== null) {
    const record = document as Record<string, unknown>;
    if ('messages' in record) return parseMessages(record.messages, `${where}: "messages"`);
    const field = mode === 'tool' ? 'qatool' : 'qa';
    if (field in record) return parseMessages(record[field], `${where}: "${field}"`);
  }
  throw new ItlError(
    'ITL_DATA',
    `${where}: expected an array of messages, an object with "messages", or a dataset row with "qa"/"qatool" but received ${describe(document)}`,
  );
}

/** The dialogue in `file`: the whole file as one JSON document, or its 1-based `line` (JSON Lines). */
export async function readMessagesFile(file: string, mode: TrainingMode, line?: number): Promise<ChatMessage[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  let where = file;
  if (line !== undefined) {
    const lines = text.split('\n');
    if (!Number.isInteger(line) || line < 1 || line > lines.length || lines[line - 1]!.trim() === '') {
      throw new ItlError('ITL_DATA', `${file}: no JSON document on line ${line} (the file has ${lines.length} lines)`);
    }
    text = lines[line - 1]!;
    where = `${file}:${line}`;
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    const hint = line === undefined && text.trim().includes('\n') ? ' (for a JSON Lines file, choose a row with --line N)' : '';
    throw new ItlError('ITL_DATA', `${where} is not valid JSON: ${(error as Error).message}${hint}`, { cause: error });
  }
  return dialogueOf(document, mode, where);
}
