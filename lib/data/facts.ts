/**
 * The facts the study teaches: invented people with four attributes each, and the dataset rows
 * built from them. These types are shared by the dataset writer, the reader and the tool database.
 */

/** The four attributes, in the fixed order each person's rows follow. */
export const ATTRIBUTES = ['birth_date', 'birth_place', 'occupation', 'current_address'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

export function isAttribute(value: string): value is Attribute {
  return (ATTRIBUTES as readonly string[]).includes(value);
}

export interface Person {
  firstName: string;
  lastName: string;
  /** `first last`: the key of the tool database and the name in every dialogue. */
  name: string;
  /** `D/M/YYYY` without zero padding (day 1–28, month 1–12, year 1950–2000). */
  birth_date: string;
  /** A country. */
  birth_place: string;
  /** A city. */
  current_address: string;
  occupation: string;
}

/** One chat turn as the datasets schema stores it (struct fields in this order: content, role). */
export interface ChatMessage {
  content: string;
  role: 'user' | 'assistant' | 'ipython';
}

/** One dataset row: the same fact as an in-weight dialogue (`qa`) and as an in-tool one (`qatool`). */
export interface FactRow {
  qa: ChatMessage[];
  qatool: ChatMessage[];
  name: string;
  attribute: Attribute;
  value: string;
}
