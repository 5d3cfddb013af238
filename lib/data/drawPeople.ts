/**
 * People: distinct (first, last) pairs taken from a seeded shuffle of all pairs, each given a birth
 * date, a birth country, a city of residence and an occupation. The same atoms and seed give the
 * same people in the same order.
 */
import { ItlError } from '../errors.js';
import type { Person } from './facts.js';
import type { Atoms } from './loadAtoms.js';
import { SeededRandom } from './SeededRandom.js';

export const BIRTH_YEARS = { first: 1950, last: 2000 } as const;
/** Days stop at 28 so every (day, month, year) is a real date without calendar rules. */
export const BIRTH_DAYS = { first: 1, last: 28 } as const;

/** Throws before any work when the atoms cannot give `count` distinct people. */
export function drawPeople(atoms: Atoms, count: number, seed: number): Iterable<Person> {
  const pairs = atoms.firstNames.length * atoms.lastNames.length;
  if (!Number.isInteger(count) || count < 1) throw new ItlError('ITL_USAGE', `expected a positive number of people, got ${count}`);
  if (count > pairs) {
    throw new ItlError(
      'ITL_DATA',
      `${count} people requested but the atoms give only ${atoms.firstNames.length} first names × ` +
        `${atoms.lastNames.length} last names = ${pairs} distinct (first, last) pairs`,
    );
  }
  if (pairs > 2 ** 32) throw new ItlError('ITL_DATA', `${pairs} name pairs is more than the 2^32 this shuffle draws from`);
  const random = new SeededRandom(seed);
  const chosen = drawDistinct(pairs, count, random);
  return generatePeople(atoms, chosen, random);
}

function* generatePeople(atoms: Atoms, chosen: Uint32Array, random: SeededRandom): Generator<Person> {
  const lastCount = atoms.lastNames.length;
  for (const pair of chosen) {
    const firstName = atoms.firstNames[Math.floor(pair / lastCount)]!;
    const lastName = atoms.lastNames[pair % lastCount]!;
    const day = random.between(BIRTH_DAYS.first, BIRTH_DAYS.last);
    const month = random.between(1, 12);
    const year = random.between(BIRTH_YEARS.first, BIRTH_YEARS.last);
    yield {
      firstName,
      lastName,
      name: `${firstName} ${lastName}`,
      birth_date: `${day}/${month}/${year}`,
      birth_place: pick(atoms.countries, random),
      current_address: pick(atoms.cities, random),
      occupation: pick(atoms.occupations, random),
    };
  }
}

function pick<T>(items: readonly T[], random: SeededRandom): T {
  return items[random.below(items.length)]!;
}

/**
 * The first `count` entries of a seeded Fisher–Yates shuffle of 0..total-1. Only the swapped slots
 * are stored, in a Map when the population is large, so memory follows `count`, not `total`.
 */
export function drawDistinct(total: number, count: number, random: SeededRandom, dense = total <= DENSE_LIMIT): Uint32Array {
  const slots = dense ? denseSlots(total) : sparseSlots();
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const j = i + random.below(total - i);
    const atJ = slots.get(j);
    slots.set(j, slots.get(i));
    out[i] = atJ;
  }
  return out;
}

/** Up to 2^24 slots (64 MiB) live in a typed array; beyond that a Map keeps only the touched ones. */
export const DENSE_LIMIT = 2 ** 24;

interface Slots {
  get(index: number): number;
  set(index: number, value: number): void;
}

function denseSlots(total: number): Slots {
  const values = new Uint32Array(total);
  for (let i = 0; i < total; i++) values[i] = i;
  return { get: (i) => values[i]!, set: (i, v) => void (values[i] = v) };
}

function sparseSlots(): Slots {
  const moved = new Map<number, number>();
  return { get: (i) => moved.get(i) ?? i, set: (i, v) => void moved.set(i, v) };
}
