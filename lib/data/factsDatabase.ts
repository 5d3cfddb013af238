/**
 * The tool: a SQLite database of the people keyed by full name, which the in-tool evaluation
 * queries to answer `FIND <attribute> FOR <name>` requests.
 */
import Database from 'better-sqlite3';

import { ItlError } from '../errors.js';
import { ATTRIBUTES, type Attribute, isAttribute, type Person } from './facts.js';

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
  const insert = db.prepare(`INSERT INTO ${PEOPLE_TABLE} (name, ${ATTRIBUTES.join(', ')}) VALUES (?, ${ATTRIBUTES.map(() => '?').join(', ')})`);
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

export function openFactsDatabase(path: string): FactsDb {
  try {
    return new Database(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot open the facts database ${path}: ${(error as Error).message}`);
  }
}

/** The value of `attribute` for the person called `name`, or null when there is no such person. */
export function lookupFact(db: FactsDb, name: string, attribute: Attribute): string | null {
  // The column name is interpolated, so it must be one of the four known attributes.
  if (!isAttribute(attribute)) throw new ItlError('ITL_INVALID_ARGUMENT', `unknown attribute '${String(attribute)}': expected one of ${ATTRIBUTES.join(', ')}`);
  const row = db.prepare(`SELECT ${attribute} AS value FROM ${PEOPLE_TABLE} WHERE name = ?`).get(name) as { value: string } | undefined;
  return row?.value ?? null;
}
