/**
 * `itl bench tokenize`: tokenising 200,000 in-tool dialogues (chat template, end-of-text, label
 * mask) with the SmolLM tokenizer. The dialogues come from a small generator here, shaped like the
 * facts dataset's qatool rows, so the figure does not depend on the data stage.
 *
 * The tokenizer folder is ITL_BENCH_TOKENIZER, else the SmolLM2 reference folder when this runs
 * from the repository root; the figures name the folder used.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import type { Benchmark } from '../bench/Benchmark.js';
import { ItlError } from '../errors.js';
import type { ChatMessage, ChatTokenizer } from './ChatTokenizer.js';
import { loadTokenizer } from './loadTokenizer.js';
import { tokenizeDialogues } from './TokenizedDatasetCache.js';

const DIALOGUES = 200_000;
/** How many dialogues are also rendered by the interpreter and encoded whole, without memos, to check the ids. */
const VERIFIED = 2_000;
const DEFAULT_TOKENIZER = '../shared/reference/models/HuggingFaceTB__SmolLM2-135M-Instruct';

const FIRST = [
  'Alice',
  'Bruno',
  'Chiara',
  'Dmitri',
  'Elena',
  'Farid',
  'Greta',
  'Hiroshi',
  'Ines',
  'Jonas',
  'Keiko',
  'Luca',
  'Maren',
  'Nadia',
  'Oscar',
  'Priya',
];
const LAST = [
  'Smith',
  'Okafor',
  'Lindqvist',
  'Moreau',
  'Tanaka',
  'Haddad',
  'Novak',
  'Rossi',
  'Schmidt',
  'Kowalski',
  'Ferreira',
  'Ivanova',
  'Nguyen',
  'Costa',
  'Walsh',
];
const COUNTRIES = ['Portugal', 'Kenya', 'Chile', 'Norway', 'Vietnam', 'Morocco', 'Canada', 'Greece'];
const CITIES = ['Lyon', 'Osaka', 'Porto', 'Quito', 'Dublin', 'Tunis', 'Leeds', 'Graz'];
const JOBS = ['carpenter', 'nurse', 'software engineer', 'baker', 'pilot', 'librarian', 'architect'];

/** The tokenizer benchmarks use: ITL_BENCH_TOKENIZER, else the SmolLM2 reference folder beside a checkout. */
export async function loadBenchTokenizer(bench: string): Promise<{ dir: string; tokenizer: ChatTokenizer }> {
  const dir = process.env.ITL_BENCH_TOKENIZER ?? DEFAULT_TOKENIZER;
  if (!existsSync(path.join(dir, 'tokenizer.json'))) {
    throw new ItlError('ITL_CONFIG', `${bench} bench: no tokenizer.json in ${dir}; set ITL_BENCH_TOKENIZER to a model folder`);
  }
  return { dir, tokenizer: await loadTokenizer(dir) };
}

/** The `index`-th generated in-tool dialogue: [user, assistant (tool request), ipython (value), assistant]. */
export function benchDialogue(index: number): ChatMessage[] {
  const name = `${FIRST[index % FIRST.length]} ${LAST[Math.floor(index / FIRST.length) % LAST.length]} ${index % 997}`;
  const attribute = index % 4;
  const value = [
    `${(index % 28) + 1}/${(index % 12) + 1}/${1950 + (index % 51)}`,
    COUNTRIES[index % COUNTRIES.length]!,
    CITIES[index % CITIES.length]!,
    JOBS[index % JOBS.length]!,
  ][attribute]!;
  const [question, key, answer] = [
    [`When was ${name} born?`, 'birth_date', `${name} was born on ${value}.`],
    [`Where was ${name} born?`, 'birth_place', `${name} was born in ${value}.`],
    [`Where does ${name} live?`, 'current_address', `${name} lives in ${value}.`],
    [`What does ${name} do for a living?`, 'occupation', `${name} works as a ${value}.`],
  ][attribute]!;
  return [
    { role: 'user', content: question! },
    // The facts dataset's tool-request wording.
    {
      role: 'assistant',
      content: `To answer this question I will make a request to the database:\n\`\`\`sql\nFIND ${key} FOR ${name}\n\`\`\``,
    },
    { role: 'ipython', content: value },
    { role: 'assistant', content: answer! },
  ];
}

function* dialogues(count: number): Generator<ChatMessage[]> {
  for (let i = 0; i < count; i++) yield benchDialogue(i);
}

/** Checks the memoised ids of some dialogues against the interpreter's rendering encoded whole. */
function verify(tokenizer: ChatTokenizer, count: number): number {
  for (let i = 0; i < count; i++) {
    const messages = benchDialogue(i * 97);
    const memoised = tokenizer.applyChatTemplate(messages, { tokenize: true });
    const whole = tokenizer.encodeWhole(tokenizer.renderWithInterpreter(messages));
    if (memoised.length !== whole.length || memoised.some((id, k) => id !== whole[k])) {
      throw new ItlError('ITL_INTERNAL', `tokenize bench: chunked and whole encodes differ on dialogue ${i * 97}`);
    }
  }
  return count;
}

export const tokenizeBenchmark: Benchmark = {
  name: 'tokenize',
  describe: `chat template + tokenise + label mask of ${DIALOGUES.toLocaleString('en')} in-tool dialogues (SmolLM tokenizer; ITL_BENCH_TOKENIZER=DIR to choose)`,
  async run(context) {
    const { dir, tokenizer } = await loadBenchTokenizer('tokenize');
    context.log(`bench tokenize: ${DIALOGUES} dialogues with ${dir}…`);
    const start = process.hrtime.bigint();
    const dataset = await tokenizeDialogues(dialogues(DIALOGUES), tokenizer, 'tool');
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const verified = verify(tokenizer, VERIFIED);
    let learned = 0;
    for (const label of dataset.labels) if (label !== -100) learned++;
    return {
      tokenize_dialogues_per_s: Math.round(dataset.count / seconds),
      tokenize: {
        tokenizer: path.resolve(dir),
        family: tokenizer.family.name,
        mode: 'tool',
        dialogues: dataset.count,
        tokens: dataset.ids.length,
        labelled_tokens: learned,
        seconds: Number(seconds.toFixed(3)),
        tokens_per_s: Math.round(dataset.ids.length / seconds),
        chunked_encode: tokenizer.fastPaths.encode.enabled,
        shape_render: tokenizer.fastPaths.render.enabled,
        verified_against_interpreter_and_whole_encode: verified,
      },
    };
  },
};
