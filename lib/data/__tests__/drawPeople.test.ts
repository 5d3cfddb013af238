import { drawDistinct, drawPeople } from '../drawPeople.js';
import type { Atoms } from '../loadAtoms.js';
import { SeededRandom } from '../SeededRandom.js';

test('the generator is reproducible and below() stays in range with every value reached', () => {
  const a = new SeededRandom(42);
  const b = new SeededRandom(42);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const value = a.below(7);
    expect(b.below(7)).toBe(value);
    expect(value).toBeGreaterThanOrEqual(0);
    expect(value).toBeLessThan(7);
    seen.add(value);
  }
  expect(seen.size).toBe(7);
  expect(new SeededRandom(43).nextUint32()).not.toBe(new SeededRandom(42).nextUint32());
});

test('the partial shuffle draws distinct indices, the same with dense or sparse bookkeeping', () => {
  const dense = drawDistinct(5000, 4000, new SeededRandom(3), true);
  const sparse = drawDistinct(5000, 4000, new SeededRandom(3), false);
  expect(sparse).toEqual(dense);
  expect(new Set(dense).size).toBe(4000);
  expect(Math.max(...dense)).toBeLessThan(5000);
  // Drawing everything is a permutation.
  expect([...drawDistinct(50, 50, new SeededRandom(9))].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
});

test('people are distinct pairs of the atoms, reproducible from the seed', () => {
  const atoms: Atoms = {
    firstNames: ['Ada', 'Bel', 'Cor'],
    lastNames: ['Ashby', 'Crane'],
    countries: ['Peru'],
    cities: ['Lima'],
    occupations: ['poet'],
  };
  const people = [...drawPeople(atoms, 6, 5)];
  expect(new Set(people.map((p) => p.name)).size).toBe(6);
  expect(people.map((p) => p.name)).toEqual([...drawPeople(atoms, 6, 5)].map((p) => p.name));
  expect(people[0]).toMatchObject({ birth_place: 'Peru', current_address: 'Lima', occupation: 'poet' });
  expect(people[0]!.name).toBe(`${people[0]!.firstName} ${people[0]!.lastName}`);
  expect(() => drawPeople(atoms, 7, 5)).toThrow(/7 people requested but the atoms give only 3 first names × 2 last names = 6/);
});
