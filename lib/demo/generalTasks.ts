/**
 * General dialogues for the demo: small tasks a model of a million parameters can learn in a
 * few minutes of "pre-training" — reading a short text and answering from it, arithmetic, comparing
 * and counting on, greeting people, naming the people in a sentence, first letters. They give the
 * demo's random model a general ability to lose: fine-tuning on facts is then measured by how much of
 * it survives on held-out questions — scored as the study scores HellaSwag, by the log-likelihood of
 * the right ending against three drawn like it (generalChoices.ts), and by exact match — and by the
 * KL to the pre-trained model on them.
 *
 * Copying from the context matters beyond that: in-tool learning asks the model to copy a name it
 * has never seen into a database request, and the database's reply into its answer, which a model
 * that cannot copy does not learn in a few hundred steps. Names, cities, countries and occupations
 * here are drawn from the facts dataset's atoms (the way a pre-trained model has met every common
 * name and place), in random combinations, never with a person's facts.
 */
import { BIRTH_DAYS, BIRTH_YEARS } from '../data/drawPeople.js';
import { type Atoms, loadAtoms } from '../data/loadAtoms.js';
import { SeededRandom } from '../data/SeededRandom.js';
import { shippedAtomsDir } from '../data/shippedPaths.js';
import { ItlError } from '../errors.js';

export interface GeneralQuestion {
  task: string;
  question: string;
  answer: string;
}

/**
 * What a task makes: the question, and the answer cut in two — a stem that sets the answer's form and
 * the ending that carries what the question asks (a city, a number, a name). The answer is
 * `stem + ' ' + ending`: the multiple-choice version of the question (generalChoices.ts) offers the
 * ending and three others drawn like it by `distractor`, after the stem, as HellaSwag offers endings.
 */
export interface MadeQuestion {
  question: string;
  stem: string;
  ending: string;
  /** Another ending of the same kind (another city, number, name), from its own random stream. */
  distractor: (random: SeededRandom) => string;
}

type Task = { name: string; make: (random: SeededRandom) => MadeQuestion };

function pick<T>(random: SeededRandom, items: readonly T[]): T {
  return items[random.below(items.length)]!;
}

let shipped: Atoms | undefined;
const atoms = (): Atoms => (shipped ??= loadAtoms(shippedAtomsDir));
/** A person's name: a first- and a last-name atom (as the facts dataset's people are named). */
function name(random: SeededRandom): string {
  return `${pick(random, atoms().firstNames)} ${pick(random, atoms().lastNames)}`;
}

/** A date as the facts write birth dates: D/M/YYYY, day 1–28, month 1–12, year 1950–2000. */
function date(random: SeededRandom): string {
  const day = random.between(BIRTH_DAYS.first, BIRTH_DAYS.last);
  const month = random.between(1, 12);
  return `${day}/${month}/${random.between(BIRTH_YEARS.first, BIRTH_YEARS.last)}`;
}

/** A number near `n` (never `n` itself, never negative): the distractor of an arithmetic answer. */
function near(n: number, random: SeededRandom): number {
  for (;;) {
    const other = n + random.between(-10, 10);
    if (other !== n && other >= 0) return other;
  }
}

/** A short text about someone, and a question whose answer is one of its words (reading, not recall). */
function reading(random: SeededRandom): MadeQuestion {
  const person = name(random);
  const city = pick(random, atoms().cities),
    job = pick(random, atoms().occupations),
    country = pick(random, atoms().countries);
  const text = `Read: ${person} was born in ${country}, lives in ${city} and works as a ${job}.`;
  const asked = random.below(3);
  const [question, stem, value, pool] =
    asked === 0
      ? ([`${text} Where does ${person} live?`, `${person} lives in`, city, atoms().cities] as const)
      : asked === 1
        ? ([`${text} What does ${person} do?`, `${person} works as a`, job, atoms().occupations] as const)
        : ([`${text} Where was ${person} born?`, `${person} was born in`, country, atoms().countries] as const);
  return { question, stem, ending: `${value}.`, distractor: (r) => `${pick(r, pool)}.` };
}

export const GENERAL_TASKS: readonly Task[] = [
  { name: 'reading', make: reading },
  {
    name: 'add',
    make: (r) => {
      const a = r.between(0, 99),
        b = r.between(0, 9);
      return { question: `What is ${a} + ${b}?`, stem: `${a} + ${b} =`, ending: `${a + b}.`, distractor: (d) => `${near(a + b, d)}.` };
    },
  },
  {
    name: 'next',
    make: (r) => {
      const n = r.between(0, 9998);
      return {
        question: `What number comes after ${n}?`,
        stem: `The number after ${n} is`,
        ending: `${n + 1}.`,
        distractor: (d) => `${near(n + 1, d)}.`,
      };
    },
  },
  {
    name: 'larger',
    make: (r) => {
      const a = r.between(0, 999);
      let b = r.between(0, 999);
      if (b === a) b = (a + 1) % 1000;
      // The smaller of the two is the distractor a model that does not compare would pick; the others are any numbers.
      return {
        question: `Which is larger, ${a} or ${b}?`,
        stem: 'The larger is',
        ending: `${Math.max(a, b)}.`,
        distractor: (d) => `${d.below(2) === 0 ? Math.min(a, b) : d.between(0, 999)}.`,
      };
    },
  },
  {
    name: 'greet',
    make: (r) => {
      const person = name(r);
      return { question: `Please say hello to ${person}.`, stem: 'Hello,', ending: `${person}!`, distractor: (d) => `${name(d)}!` };
    },
  },
  {
    name: 'first-letter',
    make: (r) => {
      const person = name(r);
      return {
        question: `What is the first letter of ${person}?`,
        stem: `${person} starts with`,
        ending: `${person[0]}.`,
        distractor: (d) => `${String.fromCharCode(65 + d.below(26))}.`,
      };
    },
  },
  {
    name: 'repeat',
    make: (r) => {
      const pool = [atoms().cities, atoms().countries, atoms().occupations];
      const items = Array.from({ length: r.between(2, 3) }, () => pick(r, pick(r, pool)));
      // A distractor changes one item for another of the same kind: repeating is copying every item.
      return {
        question: `Repeat after me: ${items.join(', ')}`,
        stem: 'You said:',
        ending: `${items.join(', ')}.`,
        distractor: (d) => {
          const changed = [...items];
          const at = d.below(items.length);
          changed[at] = pick(d, pool.find((p) => p.includes(items[at]!))!);
          return `${changed.join(', ')}.`;
        },
      };
    },
  },
  {
    // The value stands on a line of its own, as a tool's reply does in its turn: the model learns to reuse a
    // word or a date met at the start of a line (no leading space, a different token) inside a sentence.
    name: 'use',
    make: (r) => {
      const kinds = [
        ['visit', () => pick(r, atoms().cities)],
        ['travel to', () => pick(r, atoms().countries)],
        ['work as a', () => pick(r, atoms().occupations)],
        ['meet on', () => date(r)],
      ] as const;
      const [kind, draw] = pick(r, kinds);
      const value = draw();
      const pools = { visit: atoms().cities, 'travel to': atoms().countries, 'work as a': atoms().occupations, 'meet on': undefined };
      const others = pools[kind];
      // Before or after the instruction: a tool's reply is the last line before the answer.
      const question = r.below(2) === 0 ? `${value}\nUse this in a sentence.` : `Use this in a sentence:\n${value}`;
      return {
        question,
        stem: `I would like to ${kind}`,
        ending: `${value}.`,
        distractor: (d) => `${others === undefined ? date(d) : pick(d, others)}.`,
      };
    },
  },
  {
    name: 'names',
    make: (r) => {
      const people = [name(r), name(r)];
      // A distractor changes one of the two people: naming both is reading the whole sentence.
      return {
        question: `Who are the two people in: ${people[0]} met ${people[1]} yesterday.`,
        stem: 'They are',
        ending: `${people[0]} and ${people[1]}.`,
        distractor: (d) => (d.below(2) === 0 ? `${name(d)} and ${people[1]}.` : `${people[0]} and ${name(d)}.`),
      };
    },
  },
];

/** A drawn question with its task and how to draw distractors for it. */
export interface DrawnQuestion extends MadeQuestion {
  task: string;
}

/**
 * `count` questions, tasks in turn, from `seed`; questions listed in `exclude` are skipped, so a
 * held-out set never repeats a training question.
 */
export function drawGeneralQuestions(count: number, seed: number, exclude: ReadonlySet<string> = new Set()): DrawnQuestion[] {
  const random = new SeededRandom(seed);
  const questions: DrawnQuestion[] = [];
  const seen = new Set<string>();
  // A task whose every question is excluded or already drawn is skipped; a request no task can fill is an error.
  const limit = 1000 * (count + exclude.size) + 1000;
  for (let i = 0; questions.length < count; i++) {
    if (i >= limit)
      throw new ItlError('ITL_USAGE', `cannot draw ${count} distinct general questions outside the ${exclude.size} excluded ones`);
    const task = GENERAL_TASKS[i % GENERAL_TASKS.length]!;
    const made = task.make(random);
    if (exclude.has(made.question) || seen.has(made.question)) continue;
    seen.add(made.question);
    questions.push({ task: task.name, ...made });
  }
  return questions;
}

/** A drawn question as the exact-match files and the training rows keep it. */
export function plainQuestion(q: DrawnQuestion): GeneralQuestion {
  return { task: q.task, question: q.question, answer: `${q.stem} ${q.ending}` };
}

/** `drawGeneralQuestions` without the multiple-choice parts: {task, question, answer}. */
export function generalQuestions(count: number, seed: number, exclude: ReadonlySet<string> = new Set()): GeneralQuestion[] {
  return drawGeneralQuestions(count, seed, exclude).map(plainQuestion);
}

/** The chat dialogue of a question, as training reads it. */
export function generalDialogue(q: GeneralQuestion): { role: string; content: string }[] {
  return [
    { role: 'user', content: q.question },
    { role: 'assistant', content: q.answer },
  ];
}
