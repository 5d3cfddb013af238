/**
 * General dialogues for the demo: small tasks a model of a million parameters can learn in a
 * few minutes of "pre-training" — reading a short text and answering from it, arithmetic, comparing
 * and counting on, greeting people, naming the people in a sentence, first letters. They give the demo's random model a general ability to lose, the stand-in for
 * HellaSwag at toy scale: fine-tuning on facts is then measured by how much of it survives
 * (exact-match accuracy on held-out questions), and by the KL to the pre-trained model on them.
 *
 * Copying from the context matters beyond that: in-tool learning asks the model to copy a name it
 * has never seen into a database request, and the database's reply into its answer, which a model
 * that cannot copy does not learn in a few hundred steps. Names, cities, countries and occupations
 * here are drawn from the facts dataset's atoms (the way a pre-trained model has met every common
 * name and place), in random combinations, never with a person's facts.
 */
import { type Atoms, loadAtoms } from '../data/loadAtoms.js';
import { SeededRandom } from '../data/SeededRandom.js';
import { shippedAtomsDir } from '../data/shippedPaths.js';
import { ItlError } from '../errors.js';

export interface GeneralQuestion {
  task: string;
  question: string;
  answer: string;
}

type Task = { name: string; make: (random: SeededRandom) => { question: string; answer: string } };

function pick<T>(random: SeededRandom, items: readonly T[]): T {
  return items[random.below(items.length)]!;
}

let shipped: Atoms | undefined;
const atoms = (): Atoms => (shipped ??= loadAtoms(shippedAtomsDir));
/** A person's name: a first- and a last-name atom (as the facts dataset's people are named). */
function name(random: SeededRandom): string {
  return `${pick(random, atoms().firstNames)} ${pick(random, atoms().lastNames)}`;
}

/** A short text about someone, and a question whose answer is one of its words (reading, not recall). */
function reading(random: SeededRandom): { question: string; answer: string } {
  const person = name(random);
  const city = pick(random, atoms().cities), job = pick(random, atoms().occupations), country = pick(random, atoms().countries);
  const text = `Read: ${person} was born in ${country}, lives in ${city} and works as a ${job}.`;
  const asked = random.below(3);
  if (asked === 0) return { question: `${text} Where does ${person} live?`, answer: `${person} lives in ${city}.` };
  if (asked === 1) return { question: `${text} What does ${person} do?`, answer: `${person} works as a ${job}.` };
  return { question: `${text} Where was ${person} born?`, answer: `${person} was born in ${country}.` };
}

export const GENERAL_TASKS: readonly Task[] = [
  { name: 'reading', make: reading },
  {
    name: 'add',
    make: (r) => {
      const a = r.between(0, 99), b = r.between(0, 9);
      return { question: `What is ${a} + ${b}?`, answer: `${a} + ${b} = ${a + b}.` };
    },
  },
  {
    name: 'next',
    make: (r) => {
      const n = r.between(0, 9998);
      return { question: `What number comes after ${n}?`, answer: `The number after ${n} is ${n + 1}.` };
    },
  },
  {
    name: 'larger',
    make: (r) => {
      const a = r.between(0, 999);
      let b = r.between(0, 999);
      if (b === a) b = (a + 1) % 1000;
      return { question: `Which is larger, ${a} or ${b}?`, answer: `${Math.max(a, b)} is larger.` };
    },
  },
  {
    name: 'greet',
    make: (r) => {
      const person = name(r);
      return { question: `Please say hello to ${person}.`, answer: `Hello, ${person}!` };
    },
  },
  {
    name: 'first-letter',
    make: (r) => {
      const person = name(r);
      return { question: `What is the first letter of ${person}?`, answer: `${person} starts with ${person[0]}.` };
    },
  },
  {
    name: 'repeat',
    make: (r) => {
      const pool = [atoms().cities, atoms().countries, atoms().occupations];
      const items = Array.from({ length: r.between(2, 3) }, () => pick(r, pick(r, pool)));
      return { question: `Repeat after me: ${items.join(', ')}`, answer: items.join(', ') };
    },
  },
  {
    // The word opens the message, as a tool's reply opens its turn: the model learns to reuse a word
    // met at the start of a line (no leading space, a different token) inside a sentence.
    name: 'use',
    make: (r) => {
      const [kind, pool] = pick(r, [['visit', atoms().cities], ['travel to', atoms().countries], ['work as a', atoms().occupations]] as const);
      const word = pick(r, pool);
      return { question: `${word}\nUse this in a sentence.`, answer: `I would like to ${kind} ${word}.` };
    },
  },
  {
    name: 'names',
    make: (r) => {
      const people = [name(r), name(r)];
      return { question: `Who are the two people in: ${people[0]} met ${people[1]} yesterday.`, answer: `${people[0]} and ${people[1]}.` };
    },
  },
];

/**
 * `count` questions, tasks in turn, from `seed`; questions listed in `exclude` are skipped, so a
 * held-out set never repeats a training question.
 */
export function generalQuestions(count: number, seed: number, exclude: ReadonlySet<string> = new Set()): GeneralQuestion[] {
  const random = new SeededRandom(seed);
  const questions: GeneralQuestion[] = [];
  const seen = new Set<string>();
  // A task whose every question is excluded or already drawn is skipped; a request no task can fill is an error.
  const limit = 1000 * (count + exclude.size) + 1000;
  for (let i = 0; questions.length < count; i++) {
    if (i >= limit) throw new ItlError('ITL_USAGE', `cannot draw ${count} distinct general questions outside the ${exclude.size} excluded ones`);
    const task = GENERAL_TASKS[i % GENERAL_TASKS.length]!;
    const { question, answer } = task.make(random);
    if (exclude.has(question) || seen.has(question)) continue;
    seen.add(question);
    questions.push({ task: task.name, question, answer });
  }
  return questions;
}

/** The chat dialogue of a question, as training reads it. */
export function generalDialogue(q: GeneralQuestion): { role: string; content: string }[] {
  return [{ role: 'user', content: q.question }, { role: 'assistant', content: q.answer }];
}
