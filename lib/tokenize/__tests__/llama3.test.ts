/**
 * Llama 3 (3.2-3B-Instruct's real tokenizer_config.json: chat template and special tokens).
 * Its tokenizer.json (~9 MB) is NOT among the reference files, so:
 *  - the rendered text of the template is checked exactly, against strings written by hand from
 *    transformers' rendering rules (trim_blocks/lstrip_blocks, tojson of string ipython content,
 *    the system header with Cutting Knowledge / Today Date);
 *  - ids and masks are checked with a tiny tokenizer.json of Llama 3's structure built in the
 *    test (tinyLlama3Tokenizer.ts), whose special tokens have their real ids.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { DEFAULT_DATE_STRING, type ChatTokenizer } from '../ChatTokenizer.js';
import { loadTokenizer } from '../loadTokenizer.js';
import { byteSymbols, makeTinyLlama3Folder, TINY_MERGES } from './tinyLlama3Tokenizer.js';
import { ANSWER, qa, qatool, QUESTION } from './studyDialogues.js';

const root = mkdtempSync(path.join(tmpdir(), 'itl-llama3-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SYSTEM = (date: string, system = ''): string =>
  '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n' +
  `Cutting Knowledge Date: December 2023\nToday Date: ${date}\n\n${system}<|eot_id|>`;
const turn = (role: string, content: string): string => `<|start_header_id|>${role}<|end_header_id|>\n\n${content}<|eot_id|>`;
const ASSISTANT_HEADER = '<|start_header_id|>assistant<|end_header_id|>\n\n';

let llama: ChatTokenizer;
beforeAll(async () => {
  llama = await loadTokenizer(makeTinyLlama3Folder(root));
});

test('family and special ids: real Llama 3 ids from tokenizer_config.json', () => {
  expect(llama.family.name).toBe('llama3');
  expect(llama.special.bos).toBe(128000);
  expect(llama.special.endOfTurn).toBe(128009);
  expect(llama.special.endOfText).toBe(128001);
  expect(llama.special.generationEos).toEqual([128001, 128008, 128009]);
  expect(llama.special.pad).toBe(128004);
  expect(llama.special.turnStart).toBe(128006);
});

test('in-weight dialogue renders exactly, with the fixed default date', () => {
  expect(DEFAULT_DATE_STRING).toBe('26 Jul 2024');
  expect(llama.applyChatTemplate(qa)).toBe(SYSTEM('26 Jul 2024') + turn('user', QUESTION) + turn('assistant', ANSWER));
  expect(llama.applyChatTemplate(qa.slice(0, 1), { addGenerationPrompt: true, dateString: '01 Jan 2025' })).toBe(
    SYSTEM('01 Jan 2025') + turn('user', QUESTION) + ASSISTANT_HEADER,
  );
});

test('in-tool dialogue: a plain-string ipython message is JSON-quoted, as transformers renders it', () => {
  expect(llama.applyChatTemplate(qatool)).toBe(
    SYSTEM('26 Jul 2024') +
      turn('user', QUESTION) +
      turn('assistant', 'FIND birth_date FOR Alice Smith') +
      turn('ipython', '"12/3/1975"') +
      turn('assistant', ANSWER),
  );
  // json.dumps(ensure_ascii=False): quotes and newlines escaped, non-ASCII kept; role "tool" renders as ipython.
  expect(
    llama.applyChatTemplate([
      { role: 'user', content: 'q' },
      { role: 'tool', content: 'São "x"\n' },
    ]),
  ).toBe(SYSTEM('26 Jul 2024') + turn('user', 'q') + turn('ipython', '"São \\"x\\"\\n"'));
  expect(llama.applyChatTemplate(qatool.slice(0, 3), { addGenerationPrompt: true })).toBe(
    SYSTEM('26 Jul 2024') +
      turn('user', QUESTION) +
      turn('assistant', 'FIND birth_date FOR Alice Smith') +
      turn('ipython', '"12/3/1975"') +
      ASSISTANT_HEADER,
  );
});

test('system message and contents are trimmed; the system message moves into the header block', () => {
  expect(
    llama.applyChatTemplate([
      { role: 'system', content: '  Be brief.\n' },
      { role: 'user', content: '\n Hi there \n' },
    ]),
  ).toBe(SYSTEM('26 Jul 2024', 'Be brief.') + turn('user', 'Hi there'));
});

test('content whose ends Python and JavaScript trim differently is refused, not rendered differently', () => {
  expect(() => llama.applyChatTemplate([{ role: 'user', content: 'Hi\x1f' }])).toThrow(
    expect.objectContaining({ code: 'ITL_DATA', message: expect.stringMatching(/message 0 \(user\)/) }),
  );
  expect(() => llama.applyChatTemplate([{ role: 'user', content: '\ufeffHi' }])).toThrow(expect.objectContaining({ code: 'ITL_DATA' }));
});

test('tokenising the rendered chat adds no second BOS; plain encode adds one', () => {
  const ids = llama.applyChatTemplate(qa, { tokenize: true });
  expect(ids[0]).toBe(128000);
  expect(ids[1]).toBe(128006);
  expect(Array.from(ids).filter((id) => id === 128000)).toHaveLength(1);
  // transformers' default add_special_tokens=True: what doubled the BOS in the study's recall evaluation.
  const doubled = llama.encode(llama.applyChatTemplate(qa));
  expect(Array.from(doubled.subarray(0, 2))).toEqual([128000, 128000]);
  expect(Array.from(doubled.subarray(1))).toEqual(Array.from(ids));
});

test('exact ids of a short chat with the tiny vocabulary', () => {
  const symbols = byteSymbols();
  const bytes = (text: string): number[] => Array.from(Buffer.from(text, 'utf8'), (b) => b); // byte b is symbol id b
  const merged = (token: string): number => 256 + TINY_MERGES.findIndex(([left, right]) => left + right === token);
  expect(symbols[bytes(' ')[0]!]).toBe('Ġ');
  const ids = llama.applyChatTemplate([{ role: 'user', content: 'Smith' }], { addGenerationPrompt: true, dateString: 'x', tokenize: true });
  expect(Array.from(ids)).toEqual([
    128000,
    128006,
    ...bytes('system'),
    128007,
    merged('ĊĊ'),
    ...bytes('Cutting'),
    ...bytes(' Knowledge'),
    ...bytes(' Date'),
    ...bytes(':'),
    ...bytes(' Decemb'),
    merged('er'),
    ...bytes(' '),
    ...bytes('2023'),
    ...bytes('\n'),
    ...bytes('Today'),
    ...bytes(' Date'),
    ...bytes(':'),
    ...bytes(' x'),
    merged('ĊĊ'),
    128009,
    128006,
    merged('user'),
    128007,
    merged('ĊĊ'),
    ...bytes('Smith'),
    128009,
    128006,
    merged('assistant'),
    128007,
    merged('ĊĊ'),
  ]);
  expect(llama.decode(ids)).toBe(
    llama.applyChatTemplate([{ role: 'user', content: 'Smith' }], { addGenerationPrompt: true, dateString: 'x' }),
  );
});

test('training examples end with <|eot_id|><|end_of_text|>; masks match the rules', () => {
  const weight = llama.buildTrainingExample(qa, 'weight');
  expect(Array.from(weight.ids.subarray(-2))).toEqual([128009, 128001]);
  const weightSpans = spans(llama, weight.ids, weight.labels);
  expect(weightSpans).toEqual([`\n\n${ANSWER}<|eot_id|><|end_of_text|>`]);

  const tool = llama.buildTrainingExample(qatool, 'tool');
  expect(spans(llama, tool.ids, tool.labels)).toEqual([
    '\n\nFIND birth_date FOR Alice Smith<|eot_id|>',
    `\n\n${ANSWER}<|eot_id|><|end_of_text|>`,
  ]);
  expect(llama.decode(tool.ids)).toBe(`${llama.applyChatTemplate(qatool)}<|end_of_text|>`);
});

test('the date string changes only the system header', () => {
  const a = llama.applyChatTemplate(qa, { dateString: '01 Jan 2025' });
  const b = llama.applyChatTemplate(qa, { dateString: '02 Feb 2026' });
  expect(a.replace('01 Jan 2025', '02 Feb 2026')).toBe(b);
});

/** The decoded runs of labelled positions, checking each label equals its id. */
function spans(tokenizer: ChatTokenizer, ids: Int32Array, labels: Int32Array): string[] {
  const found: string[] = [];
  let start = -1;
  for (let i = 0; i <= labels.length; i++) {
    const on = i < labels.length && labels[i] !== -100;
    if (on && start < 0) start = i;
    if (!on && start >= 0) {
      expect(Array.from(labels.subarray(start, i))).toEqual(Array.from(ids.subarray(start, i)));
      found.push(tokenizer.decode(ids.subarray(start, i)));
      start = -1;
    }
  }
  return found;
}
