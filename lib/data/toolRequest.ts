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

// The fenced block may sit anywhere in a generation (the model may add text around it); the name
// runs to the end of its line. Keywords and attribute are matched case-insensitively (as the
// evaluation protocol reads a model's request); the name is kept exactly as written.
const REQUEST = /```sql[ \t]*\r?\n[ \t]*FIND[ \t]+(\S+)[ \t]+FOR[ \t]+([^\r\n]*?)[ \t]*\r?\n[ \t]*```/i;

/** The first well-formed request in `text`, or null when there is none or its attribute is unknown. */
export function parseToolRequest(text: string): ToolRequest | null {
  const match = REQUEST.exec(text);
  if (!match) return null;
  const attribute = match[1]!.toLowerCase();
  const name = match[2]!;
  if (!isAttribute(attribute) || name === '') return null;
  return { attribute, name: name! };
}
