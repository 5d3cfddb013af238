/**
 * Atoms: the plain-text lists people are made from, one item per line. Every problem is reported
 * with the file and line, since these files are meant to be edited by hand.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ItlError } from '../errors.js';

export interface Atoms {
  firstNames: string[];
  lastNames: string[];
  countries: string[];
  cities: string[];
  occupations: string[];
}

export const ATOM_FILES: Record<keyof Atoms, string> = {
  firstNames: 'first_names.txt',
  lastNames: 'last_names.txt',
  countries: 'countries.txt',
  cities: 'cities.txt',
  occupations: 'occupations.txt',
};

export function loadAtoms(dir: string): Atoms {
  const atoms = {} as Atoms;
  for (const [key, file] of Object.entries(ATOM_FILES) as [keyof Atoms, string][]) {
    // Names must be single words: `first last` is then split back unambiguously and full names of
    // distinct pairs cannot collide ("Ann Lee Roy" from two different pairs).
    atoms[key] = readAtomList(join(dir, file), key === 'firstNames' || key === 'lastNames');
  }
  return atoms;
}

export function readAtomList(path: string, singleWord: boolean): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot read atom file ${path}: ${(error as Error).message}`);
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines.length === 0) throw new ItlError('ITL_DATA', `atom file ${path} is empty`);
  const firstSeen = new Map<string, number>();
  return lines.map((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const where = `${path}:${index + 1}`;
    if (line.trim() === '') throw new ItlError('ITL_DATA', `${where}: empty line (one item per line, no blank lines)`);
    if (line !== line.trim()) throw new ItlError('ITL_DATA', `${where}: leading or trailing spaces in '${line}'`);
    if (singleWord && /\s/.test(line)) throw new ItlError('ITL_DATA', `${where}: a name must be one word, got '${line}'`);
    const earlier = firstSeen.get(line);
    if (earlier !== undefined) throw new ItlError('ITL_DATA', `${where}: '${line}' repeats line ${earlier}`);
    firstSeen.set(line, index + 1);
    return line;
  });
}
