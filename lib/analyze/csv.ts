/**
 * RFC 4180 CSV: fields separated by commas, records by CRLF or LF; a field holding a comma, quote,
 * CR or LF is quoted, with quotes doubled. The writer always ends records with LF (as pandas does),
 * the reader accepts both. No type conversion here: cells are strings, the empty string is an
 * empty cell.
 */
import { ItlError } from '../errors.js';

/** Parses CSV text into records. `source` names the file in errors. */
export function parseCsv(text: string, source = 'CSV'): string[][] {
  return parseCsvLines(text, source).map((r) => r.fields);
}

export interface CsvRecord {
  fields: string[];
  /** The line the record starts on (records may span lines inside quoted fields). */
  line: number;
}

/** Like parseCsv, keeping each record's starting line for error messages. */
export function parseCsvLines(text: string, source = 'CSV'): CsvRecord[] {
  const records: CsvRecord[] = [];
  const n = text.length;
  let i = text.startsWith('\uFEFF') ? 1 : 0;
  let line = 1;
  // A file ending in a newline has no empty record after it; a file with no text has no records.
  if (i >= n) return records;
  let record: string[] = [];
  let recordLine = line;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      const startLine = line;
      i++;
      for (;;) {
        if (i >= n) throw new ItlError('ITL_DATA', `${source}:${startLine}: a quoted field is never closed`);
        if (text[i] === '"') {
          if (text[i + 1] !== '"') break;
          field += '"';
          i += 2;
          continue;
        }
        if (text[i] === '\n') line++;
        field += text[i++];
      }
      i++;
      if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
        throw new ItlError('ITL_DATA', `${source}:${line}: text after the closing quote of a field`);
      }
    } else {
      const start = i;
      while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') i++;
      field = text.slice(start, i);
      if (field.includes('"')) throw new ItlError('ITL_DATA', `${source}:${line}: a quote inside an unquoted field`);
    }
    record.push(field);
    if (i >= n) {
      records.push({ fields: record, line: recordLine });
      return records;
    }
    if (text[i] === ',') {
      i++;
      continue;
    }
    i += text[i] === '\r' && text[i + 1] === '\n' ? 2 : 1;
    records.push({ fields: record, line: recordLine });
    line++;
    record = [];
    recordLine = line;
    if (i >= n) return records;
  }
}

function quoteField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Writes records as CSV, each ending with LF. */
export function formatCsv(records: readonly (readonly string[])[]): string {
  return records.map((r) => `${r.map(quoteField).join(',')}\n`).join('');
}

export interface CsvTable {
  header: string[];
  rows: { line: number; values: Record<string, string> }[];
}

/** A CSV with a header line, each row as an object keyed by the header; ragged rows are errors. */
export function parseCsvTable(text: string, source = 'CSV'): CsvTable {
  const [head, ...body] = parseCsvLines(text, source);
  if (!head) throw new ItlError('ITL_DATA', `${source}: empty file, expected a header line`);
  const rows = body.map(({ fields, line }) => {
    if (fields.length !== head.fields.length) {
      throw new ItlError('ITL_DATA', `${source}:${line}: ${fields.length} fields where the header has ${head.fields.length}`);
    }
    return { line, values: Object.fromEntries(head.fields.map((name, k) => [name, fields[k]])) };
  });
  return { header: head.fields, rows };
}
