import { readFileSync } from 'node:fs';

import { errorOf } from '../../testing/errorOf.js';
import { formatCsv, parseCsv, parseCsvLines, parseCsvTable } from '../csv.js';

describe('parseCsv', () => {
  it('reads plain, quoted, empty and multi-line fields', () => {
    const text = 'a,b,c\n1,"x, y",\n"he said ""hi""","line1\nline2",3\n';
    expect(parseCsv(text)).toEqual([
      ['a', 'b', 'c'],
      ['1', 'x, y', ''],
      ['he said "hi"', 'line1\nline2', '3'],
    ]);
  });

  it('accepts CRLF, a missing final newline, a BOM and trailing empty fields', () => {
    expect(parseCsv('\uFEFFa,b\r\n1,\r\n,"2"')).toEqual([
      ['a', 'b'],
      ['1', ''],
      ['', '2'],
    ]);
    expect(parseCsv('a,')).toEqual([['a', '']]);
    expect(parseCsv('""')).toEqual([['']]);
    expect(parseCsv('')).toEqual([]);
  });

  it('keeps the starting line of each record', () => {
    expect(parseCsvLines('h\n"a\nb"\nc\n').map((r) => r.line)).toEqual([1, 2, 4]);
  });

  it.each([
    ['a,"unclosed\n', /CSV:1: a quoted field is never closed/],
    ['a,b\n"x"y,1\n', /CSV:2: text after the closing quote/],
    ['a,b\n1,x"y\n', /CSV:2: a quote inside an unquoted field/],
  ])('rejects malformed text %j naming the line', (text, pattern) => {
    const error = errorOf(() => parseCsv(text));
    expect(error.code).toBe('ITL_DATA');
    expect(error.message).toMatch(pattern);
  });
});

describe('formatCsv', () => {
  it('quotes only fields that need it and round-trips through parseCsv', () => {
    const records = [
      ['run', 'note', 'x'],
      ['r1', 'a "quoted", multi\nline', ''],
      ['r2', 'plain', '0.5'],
      ['', '', '\r'],
    ];
    const text = formatCsv(records);
    expect(text.split('\n')[0]).toBe('run,note,x');
    expect(text).toContain('"a ""quoted"", multi\nline"');
    expect(parseCsv(text)).toEqual(records);
  });
});

describe('parseCsvTable', () => {
  it('keys rows by the header and names the line of a ragged row', () => {
    const table = parseCsvTable(',run,recall\n0,r1,0.5\n1,r2,\n');
    expect(table.header).toEqual(['', 'run', 'recall']);
    expect(table.rows[1]).toEqual({ line: 3, values: { '': '1', run: 'r2', recall: '' } });
    const error = errorOf(() => parseCsvTable('a,b\n1,2\n3\n', 'results.csv'));
    expect(error.message).toBe('results.csv:3: 1 fields where the header has 2');
  });

  it('reads the study table: 543 rows of 15 columns (index, run, model, dataset_size, checkpoint_nbr, 10 metrics), round-tripping byte for byte (plus a final newline)', () => {
    const text = readFileSync('../shared/reference/paper-results/large_scale_results.csv', 'utf8');
    const table = parseCsvTable(text);
    expect(table.rows.length).toBe(543);
    expect(table.header).toHaveLength(15);
    expect(text.endsWith('\n')).toBe(false);
    expect(formatCsv(parseCsv(text))).toBe(`${text}\n`);
  });
});
