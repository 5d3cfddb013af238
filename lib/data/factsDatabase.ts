/**
 * The tool: a SQLite database of the people keyed by full name, which the in-tool evaluation
 * queries to answer `FIND <attribute> FOR <name>` requests.
 */
import { dirname } from 'node:path';

import Database from 'better-sqlite3';

import { ItlError } from '../errors.js';
import { ATTRIBUTES, type Attribute, isAttribute, type Person } from './facts.js';
import { buildFolderOf, verifyDataFile } from './verifyDataFiles.js';

export type FactsDb = Database.Database;

export const PEOPLE_TABLE = 'people';

/** Rows per transaction while building: one transaction per row would make 1M people take minutes. */
const INSERTS_PER_TRANSACTION = 10_000;

export interface FactsDatabaseWriter {
  insert(person: Person): void;
  /** Commits what is pending and closes the file. */
  close(): void;
}

export function createFactsDatabase(path: string): FactsDatabaseWriter {
  const db = new Database(path);
  // The file is built once into a temporary folder and renamed when complete, so crash safety
  // inside SQLite buys nothing here; no journal also keeps the finished file self-contained.
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.exec(
    `CREATE TABLE ${PEOPLE_TABLE} (name TEXT PRIMARY KEY NOT NULL, ` +
      ATTRIBUTES.map((a) => `${a} TEXT NOT NULL`).join(', ') +
      ') WITHOUT ROWID',
  );
  const insert = db.prepare(
    `INSERT INTO ${PEOPLE_TABLE} (name, ${ATTRIBUTES.join(', ')}) VALUES (?, ${ATTRIBUTES.map(() => '?').join(', ')})`,
  );
  let pending = 0;
  db.exec('BEGIN');
  return {
    insert(person) {
      try {
        insert.run(person.name, ...ATTRIBUTES.map((a) => person[a]));
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new ItlError('ITL_DATA', `two people share the full name '${person.name}'`);
        }
        throw error;
      }
      if (++pending === INSERTS_PER_TRANSACTION) {
        db.exec('COMMIT; BEGIN');
        pending = 0;
      }
    },
    close() {
      db.exec('COMMIT');
      db.close();
    },
  };
}

/**
 * Opens the tool database read-only and checks it now, before any model is asked anything: against
 * its build's manifest when it has one (size and sha256: a swapped-in or damaged file), then its
 * schema, and SQLite's quick_check when there is no manifest to vouch for the pages. SQLite itself
 * opens lazily, so without these a garbage file fails only at the first query, or never.
 */
export function openFactsDatabase(path: string): FactsDb {
  const manifested = buildFolderOf(dirname(path)) !== undefined;
  if (manifested) verifyDataFile(path);
  let db: FactsDb;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot open the facts database ${path}: ${(error as Error).message}`);
  }
  try {
    const columns = (db.prepare(`PRAGMA table_info(${PEOPLE_TABLE})`).all() as { name: string }[]).map((c) => c.name);
    const missing = ['name', ...ATTRIBUTES].filter((c) => !columns.includes(c));
    if (missing.length > 0) throw new Error(`no ${PEOPLE_TABLE} table with columns ${missing.join(', ')}`);
    if (!manifested) {
      const check = db.prepare('PRAGMA quick_check').pluck().all() as string[];
      if (check.join() !== 'ok') throw new Error(`quick_check: ${check.slice(0, 3).join('; ')}`);
    }
  } catch (error) {
    db.close();
    throw new ItlError('ITL_DATA', `${path} is not a facts database of itl data build (${(error as Error).message}); rebuild the dataset`);
  }
  return db;
}

/** The value of `attribute` for the person called `name`, or null when there is no such person. */
export function lookupFact(db: FactsDb, name: string, attribute: Attribute): string | null {
  // The column name is interpolated, so it must be one of the four known attributes.
  if (!isAttribute(attribute))
    throw new ItlError('ITL_INVALID_ARGUMENT', `unknown attribute '${String(attribute)}': expected one of ${ATTRIBUTES.join(', ')}`);
  const row = db.prepare(`SELECT ${attribute} AS value FROM ${PEOPLE_TABLE} WHERE name = ?`).get(name) as { value: string } | undefined;
  return row?.value ?? null;
}
