/**
 * parseToolRequest is a linear scanner with the exact semantics of the regular expression it replaced
 * (which backtracked cubically: 126 s on 8,000 characters of spaces, issue 24).
 */
import { parseToolRequest } from '../toolRequest.js';

const REGEX = /```sql[ \t]*\r?\n[ \t]*FIND[ \t]+(\S+)[ \t]+FOR[ \t]+([^\r\n]*?)[ \t]*\r?\n[ \t]*```/i;
const ATTRIBUTES = new Set(['birth_date', 'birth_place', 'current_address', 'occupation']);

/** The replaced implementation, kept here as the specification. */
function byRegex(text: string) {
  const match = REGEX.exec(text);
  if (!match) return null;
  const attribute = match[1]!.toLowerCase();
  if (!ATTRIBUTES.has(attribute) || match[2] === '') return null;
  return { attribute, name: match[2]! };
}

/** A tiny seeded generator, so a failure names a case that can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** A request built from randomly varied parts (each the first, valid, choice 3 times in 4, else any), with noise around it. */
function nearRequest(next: () => number): string {
  const pick = (options: string[]) => (next() < 0.75 ? options[0]! : options[Math.floor(next() * options.length)]!);
  const blanks = () => pick([' ', '', '\t', '  \t ', '\u00a0', '\v', ' \r']);
  const newline = () => pick(['\n', '\r\n', '\r', '', ' \n']);
  const noise = () => pick(['', '', 'Sure. ', '```', '```sql', 'FIND x FOR y\n', '\n']);
  return (
    noise() +
    pick(['```sql', '```SQL', '```Sql', '``sql', '```ſql', '```sq']) +
    blanks() +
    newline() +
    blanks() +
    pick(['FIND', 'find', 'FiNd', 'FIN', 'fınd']) +
    blanks() +
    pick(['occupation', 'Birth_Place', 'birth_date', 'salary', '', 'occupation\u00a0']) +
    blanks() +
    pick(['FOR', 'for', 'FO', 'F0R']) +
    blanks() +
    pick(['Ada Ashby', 'ada\tashby', '', 'Ada ```sql', 'x', "Zoë O'Neil"]) +
    blanks() +
    newline() +
    blanks() +
    pick(['```', '```', '``', '', '```sql']) +
    noise()
  );
}

test('agrees with the regular expression on 100,000 random near-requests', () => {
  const next = random(24);
  const mismatches: string[] = [];
  let matched = 0;
  for (let n = 0; n < 100_000; n++) {
    const text = next() < 0.1 ? nearRequest(next) + nearRequest(next) : nearRequest(next);
    const expected = byRegex(text);
    if (expected) matched++;
    if (JSON.stringify(parseToolRequest(text)) !== JSON.stringify(expected)) mismatches.push(JSON.stringify(text));
  }
  expect(mismatches.slice(0, 5)).toEqual([]);
  expect(matched).toBeGreaterThan(1000); // the cases do reach well-formed requests, not only failures
});

/** Inputs that made the regular expression backtrack: long runs of blanks around the parts it tries. */
function adversarial(n: number): string[] {
  const half = ' '.repeat(n >> 1);
  return [
    `\`\`\`sql\nFIND occupation FOR${' '.repeat(n)}x`,
    `\`\`\`sql\nFIND occupation FOR ${' \t'.repeat(n >> 1)}\r`,
    `${(`\`\`\`sql\n${half}`).repeat(2)}FIND`,
    `\`\`\`sql${' '.repeat(n)}`,
    `\`\`\`sql\n${' '.repeat(n)}FIND${' '.repeat(n)}`,
    `\`\`\`sql\n FIND a FOR ${'b '.repeat(8)}\n`.repeat(Math.max(1, Math.floor(n / 40))),
    '```'.repeat(Math.floor(n / 3)),
    `\`\`\`sql\nFIND x FOR ${'```sql '.repeat(Math.floor(n / 7))}\n`,
  ];
}

// Each character is examined a bounded number of times: at most 6 from each backtick (a fence may begin
// there) and a few more from the attempt that reads its line.
test('examines each character a bounded number of times: steps grow linearly with the length', () => {
  for (const n of [1_000, 10_000, 100_000]) {
    for (const [k, text] of adversarial(n).entries()) {
      const counter = { steps: 0 };
      parseToolRequest(text, counter);
      expect([n, k, counter.steps <= 6 * text.length + 16]).toEqual([n, k, true]);
    }
  }
});

test('100,000 characters of the worst inputs parse in well under 50 ms each', () => {
  for (const text of adversarial(100_000)) {
    parseToolRequest(text); // warm up
    const started = performance.now();
    parseToolRequest(text);
    // A generous bound on a linear scan (~1 ms here); the regular expression took minutes at 8,000 characters.
    expect(performance.now() - started).toBeLessThan(50);
  }
});
