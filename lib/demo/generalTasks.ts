/**
 * General dialogues for the demo: small tasks a model of a million parameters can learn in a
 * minute of "pre-training" — arithmetic, comparing and counting on, copying, spelling, reordering,
 * greeting by name. They give the demo's random model a general ability to lose, the stand-in for
 * HellaSwag at toy scale: fine-tuning on facts is then measured by how much of it survives
 * (exact-match accuracy on held-out questions), and by the KL to the pre-trained model on them.
 *
 * Copying and greeting matter beyond that: in-tool learning asks the model to copy a name it has
 * never seen into a database request, which a model that cannot copy does not learn in a few
 * hundred steps.
 */
import { SeededRandom } from '../data/SeededRandom.js';

export interface GeneralQuestion {
  task: string;
  question: string;
  answer: string;
}

type Task = { name: string; make: (random: SeededRandom) => { question: string; answer: string } };

const CONSONANTS = 'bcdfghjklmnprstvwxz';
const VOWELS = 'aeiouy';

function pick<T>(random: SeededRandom, items: readonly T[] | string): T {
  return items[random.below(items.length)] as T;
}

/** A pronounceable invented word of 2–3 syllables (not from the facts atoms). */
function word(random: SeededRandom): string {
  let text = '';
  const syllables = random.between(2, 3);
  for (let i = 0; i < syllables; i++) text += pick<string>(random, CONSONANTS) + pick<string>(random, VOWELS);
  if (random.below(2) === 1) text += pick<string>(random, CONSONANTS);
  return text;
}

const capitalised = (text: string): string => text[0]!.toUpperCase() + text.slice(1);
const name = (random: SeededRandom): string => `${capitalised(word(random))} ${capitalised(word(random))}`;
const words = (random: SeededRandom, count: number): string[] => Array.from({ length: count }, () => word(random));

export const GENERAL_TASKS: readonly Task[] = [
  {
    name: 'add',
    make: (r) => {
      const a = r.between(0, 49), b = r.between(0, 49);
      return { question: `What is ${a} + ${b}?`, answer: `${a} + ${b} = ${a + b}.` };
    },
  },
  {
    name: 'next',
    make: (r) => {
      const n = r.between(0, 998);
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
    name: 'repeat',
    make: (r) => {
      const text = words(r, r.between(2, 4)).join(' ');
      return { question: `Repeat after me: ${text}`, answer: text };
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
    name: 'spell',
    make: (r) => {
      const w = word(r);
      return { question: `Spell the word ${w}.`, answer: [...w].join('-') };
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
    name: 'reverse',
    make: (r) => {
      const list = words(r, 3);
      return { question: `Reverse the order of: ${list.join(' ')}`, answer: [...list].reverse().join(' ') };
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
  for (let i = 0; questions.length < count; i++) {
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
