/**
 * The in-tool protocol: the assistant asks the database with exactly this text, and the in-tool
 * evaluation parses a model's generation back with `parseToolRequest`. It lives in code, not in a
 * template, because it is an interface: a custom template folder must not be able to change it.
 */
import { type Attribute, isAttribute } from './facts.js';

export const TOOL_REQUEST_PREAMBLE = 'To answer this question I will make a request to the database:';

export function formatToolRequest(attribute: Attribute, name: string): string {
  return `${TOOL_REQUEST_PREAMBLE}\n\`\`\`sql\nFIND ${attribute} FOR ${name}\n\`\`\``;
}

export interface ToolRequest {
  attribute: Attribute;
  name: string;
}

/**
 * The first well-formed request in `text`, or null when there is none or its attribute is unknown.
 *
 * The grammar (what the regular expression /```sql[ \t]*\r?\n[ \t]*FIND[ \t]+(\S+)[ \t]+FOR[ \t]+([^\r\n]*?)[ \t]*\r?\n[ \t]*```/i
 * matched, leftmost first): the fenced block may sit anywhere in a generation (the model may add text
 * around it); keywords and attribute are matched case-insensitively (as the evaluation protocol reads a
 * model's request); the name runs to the end of its line, without the spaces around it, kept exactly as
 * written. A hand-written scanner instead of that expression: the engine backtracked cubically on long
 * runs of spaces (126 s for 8,000 characters of a model's output), this reads each character a bounded
 * number of times. `counter.steps` (for tests) counts the characters examined.
 */
export function parseToolRequest(text: string, counter: { steps: number } = { steps: 0 }): ToolRequest | null {
  for (let fence = indexOfFold(text, '```SQL', 0, counter); fence >= 0; fence = indexOfFold(text, '```SQL', fence + 1, counter)) {
    const match = requestAt(text, fence + 6, counter);
    if (match === undefined) continue;
    const attribute = match.attribute.toLowerCase();
    if (!isAttribute(attribute) || match.name === '') return null;
    return { attribute, name: match.name };
  }
  return null;
}

const isBlank = (c: string | undefined) => c === ' ' || c === '\t';
// \s of JavaScript regular expressions: what ends the attribute (\S+).
const isSpace = (c: string) => /\s/.test(c);

/** The rest of a request after "```sql" at `i`, or undefined where the grammar fails. */
function requestAt(text: string, start: number, counter: { steps: number }): { attribute: string; name: string } | undefined {
  let i = skipBlanks(text, start, counter);
  i = lineBreak(text, i, counter);
  if (i < 0) return undefined;
  i = skipBlanks(text, i, counter);
  if (!startsWithFold(text, i, 'FIND', counter)) return undefined;
  const afterFind = skipBlanks(text, i + 4, counter);
  if (afterFind === i + 4) return undefined;
  let end = afterFind;
  while (end < text.length && !isSpace(text[end]!)) {
    counter.steps++;
    end++;
  }
  if (end === afterFind) return undefined;
  const attribute = text.slice(afterFind, end);
  const afterAttribute = skipBlanks(text, end, counter);
  if (afterAttribute === end || !startsWithFold(text, afterAttribute, 'FOR', counter)) return undefined;
  const nameStart = skipBlanks(text, afterAttribute + 3, counter);
  if (nameStart === afterAttribute + 3) return undefined;
  let lineEnd = nameStart;
  while (lineEnd < text.length && text[lineEnd] !== '\r' && text[lineEnd] !== '\n') {
    counter.steps++;
    lineEnd++;
  }
  let nameEnd = lineEnd;
  while (nameEnd > nameStart && isBlank(text[nameEnd - 1])) {
    counter.steps++;
    nameEnd--;
  }
  let j = lineBreak(text, lineEnd, counter);
  if (j < 0) return undefined;
  j = skipBlanks(text, j, counter);
  if (!text.startsWith('```', j)) return undefined;
  return { attribute, name: text.slice(nameStart, nameEnd) };
}

function skipBlanks(text: string, i: number, counter: { steps: number }): number {
  while (isBlank(text[i])) {
    counter.steps++;
    i++;
  }
  return i;
}

/** The index after "\n" or "\r\n" at `i`, or -1. */
function lineBreak(text: string, i: number, counter: { steps: number }): number {
  counter.steps++;
  if (text[i] === '\n') return i + 1;
  return text[i] === '\r' && text[i + 1] === '\n' ? i + 2 : -1;
}

/**
 * Whether `word` (upper-case ASCII letters, backticks) is at `i`, ignoring case as a non-unicode /i
 * expression does for ASCII words: a non-ASCII character never matches (not even 'ı' or 'ſ', whose
 * upper case is ASCII).
 */
function startsWithFold(text: string, i: number, word: string, counter: { steps: number }): boolean {
  if (i + word.length > text.length) return false;
  for (let k = 0; k < word.length; k++) {
    counter.steps++;
    const code = text.charCodeAt(i + k);
    const folded = code >= 97 && code <= 122 ? code - 32 : code;
    if (folded !== word.charCodeAt(k)) return false;
  }
  return true;
}

/** indexOf, ignoring ASCII case: the first position ≥ from where `word` occurs. */
function indexOfFold(text: string, word: string, from: number, counter: { steps: number }): number {
  // Every occurrence starts with the fence's first backtick, which has no case.
  for (let i = text.indexOf('`', from); i >= 0 && i + word.length <= text.length; i = text.indexOf('`', i + 1)) {
    counter.steps++;
    if (startsWithFold(text, i, word, counter)) return i;
  }
  return -1;
}
