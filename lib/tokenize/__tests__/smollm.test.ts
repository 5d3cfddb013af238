import type { ChatMessage, ChatTokenizer } from '../ChatTokenizer.js';
import { loadTokenizer } from '../loadTokenizer.js';
import { ReferenceBpe } from './referenceBpe.js';
import { ANSWER, qa, qatool, QUESTION, readTokenizerJson, tokenIds } from './studyDialogues.js';

const SMOL2 = '../shared/reference/models/HuggingFaceTB__SmolLM2-135M-Instruct';
const SMOL1 = '../shared/reference/models/HuggingFaceTB__SmolLM-360M-Instruct';

const tokenizerJson = readTokenizerJson(SMOL2);

const ids = tokenIds(tokenizerJson, 'the SmolLM');

// SmolLM2 injects this system turn when the first message is not a system one.
const SYSTEM = [
  '<|im_start|>',
  'system',
  'Ċ',
  'You',
  'Ġare',
  'Ġa',
  'Ġhelpful',
  'ĠAI',
  'Ġassistant',
  'Ġnamed',
  'ĠSm',
  'ol',
  'LM',
  ',',
  'Ġtrained',
  'Ġby',
  'ĠH',
  'ugging',
  'ĠFace',
  '<|im_end|>',
  'Ċ',
];
const USER = ['<|im_start|>', 'user', 'Ċ', 'What', 'Ġis', 'Ġthe', 'Ġbirth', 'Ġdate', 'Ġof', 'ĠAlice', 'ĠSmith', '?', '<|im_end|>', 'Ċ'];
const ASSISTANT_HEADER = ['<|im_start|>', 'ass', 'istant', 'Ċ'];
// "on 12": the Digits pre-tokenizer isolates each digit, leaving the space as its own 'Ġ'.
const ANSWER_TURN = ['Alice', 'ĠSmith', 'Ġwas', 'Ġborn', 'Ġon', 'Ġ', '1', '2', '/', '3', '/', '1', '9', '7', '5', '.', '<|im_end|>', 'Ċ'];
const TOOL_REQUEST_TURN = ['F', 'IND', 'Ġbirth', '_', 'date', 'ĠFOR', 'ĠAlice', 'ĠSmith', '<|im_end|>', 'Ċ'];
const IPYTHON_TURN = ['<|im_start|>', 'ipy', 'thon', 'Ċ', '1', '2', '/', '3', '/', '1', '9', '7', '5', '<|im_end|>', 'Ċ'];

let smol2: ChatTokenizer;
let smol1: ChatTokenizer;
beforeAll(async () => {
  [smol2, smol1] = await Promise.all([loadTokenizer(SMOL2), loadTokenizer(SMOL1)]);
});

test('the hand segmentation of words absent from the vocabulary agrees with the reference BPE', () => {
  for (const word of ['assistant', 'ipython', 'SmolLM', 'FIND', 'Hugging']) expect(word in tokenizerJson.model.vocab).toBe(false);
  const reference = new ReferenceBpe(tokenizerJson);
  expect(reference.encode('assistant\nFIND birth')).toEqual(ids(['ass', 'istant', 'Ċ', 'F', 'IND', 'Ġbirth']));
  expect(reference.encode('ipython named SmolLM, trained by Hugging')).toEqual(
    ids(['ipy', 'thon', 'Ġnamed', 'ĠSm', 'ol', 'LM', ',', 'Ġtrained', 'Ġby', 'ĠH', 'ugging']),
  );
});

test('family, special ids and markers come from the files', () => {
  expect(smol2.family.name).toBe('smollm');
  expect(smol2.special).toEqual({
    endOfTurn: 2,
    endOfText: 0,
    turnStart: 1,
    pad: 2,
    generationEos: [2],
    assistantHeader: ids(['<|im_start|>', 'ass', 'istant']),
    bos: 1,
  });
  // The pad id equals the end-of-turn id, which carries real labels: padding must come from lengths.
  expect(smol2.special.pad).toBe(smol2.special.endOfTurn);
});

test('SmolLM2 in-weight training example: exact ids, end-of-text appended', () => {
  const example = smol2.buildTrainingExample(qa, 'weight');
  expect(Array.from(example.ids)).toEqual(ids([...SYSTEM, ...USER, ...ASSISTANT_HEADER, ...ANSWER_TURN, '<|endoftext|>']));
});

test('SmolLM2 in-tool training example: exact ids', () => {
  const example = smol2.buildTrainingExample(qatool, 'tool');
  expect(Array.from(example.ids)).toEqual(
    ids([
      ...SYSTEM,
      ...USER,
      ...ASSISTANT_HEADER,
      ...TOOL_REQUEST_TURN,
      ...IPYTHON_TURN,
      ...ASSISTANT_HEADER,
      ...ANSWER_TURN,
      '<|endoftext|>',
    ]),
  );
});

test('generation prompts end with the assistant header and add nothing else', () => {
  expect(Array.from(smol2.applyChatTemplate(qa.slice(0, 1), { addGenerationPrompt: true, tokenize: true }))).toEqual(
    ids([...SYSTEM, ...USER, ...ASSISTANT_HEADER]),
  );
  expect(Array.from(smol2.applyChatTemplate(qatool.slice(0, 3), { addGenerationPrompt: true, tokenize: true }))).toEqual(
    ids([...SYSTEM, ...USER, ...ASSISTANT_HEADER, ...TOOL_REQUEST_TURN, ...IPYTHON_TURN, ...ASSISTANT_HEADER]),
  );
  // Without the flag the template stops after the last turn.
  expect(Array.from(smol2.applyChatTemplate(qa.slice(0, 1), { tokenize: true }))).toEqual(ids([...SYSTEM, ...USER]));
});

test('SmolLM v1 has no default system turn', () => {
  expect(smol1.applyChatTemplate(qa, { addGenerationPrompt: false })).toBe(
    `<|im_start|>user\n${QUESTION}<|im_end|>\n<|im_start|>assistant\n${ANSWER}<|im_end|>\n`,
  );
  expect(Array.from(smol1.buildTrainingExample(qa, 'weight').ids)).toEqual(
    ids([...USER, ...ASSISTANT_HEADER, ...ANSWER_TURN, '<|endoftext|>']),
  );
  expect(Array.from(smol1.applyChatTemplate(qa.slice(0, 1), { addGenerationPrompt: true, tokenize: true }))).toEqual(
    ids([...USER, ...ASSISTANT_HEADER]),
  );
});

test('an explicit system message replaces the default one', () => {
  const text = smol2.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, ...qa]);
  expect(text.startsWith('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n')).toBe(true);
});

test('in-weight mask: loss only on the answer, through <|im_end|> and <|endoftext|>', () => {
  const { ids: tokens, labels } = smol2.buildTrainingExample(qa, 'weight');
  const start = SYSTEM.length + USER.length + ASSISTANT_HEADER.length - 1; // the answer's turn starts with the header's 'Ċ'
  expect(Array.from(labels.subarray(0, start)).every((l) => l === -100)).toBe(true);
  expect(Array.from(labels.subarray(start))).toEqual(Array.from(tokens.subarray(start)));
  expect(smol2.decode(tokens.subarray(start))).toBe(`\n${ANSWER}<|im_end|>\n<|endoftext|>`);
});

test('in-tool mask: loss on the tool request and the answer; user and ipython turns masked', () => {
  const { ids: tokens, labels } = smol2.buildTrainingExample(qatool, 'tool');
  const spans: string[] = [];
  let start = -1;
  for (let i = 0; i <= labels.length; i++) {
    const on = i < labels.length && labels[i] !== -100;
    if (on && start < 0) start = i;
    if (!on && start >= 0) {
      expect(Array.from(labels.subarray(start, i))).toEqual(Array.from(tokens.subarray(start, i)));
      spans.push(smol2.decode(tokens.subarray(start, i)));
      start = -1;
    }
  }
  expect(spans).toEqual(['\nFIND birth_date FOR Alice Smith<|im_end|>', `\n${ANSWER}<|im_end|>\n<|endoftext|>`]);
  // The same dialogue in weight mode learns only the final answer.
  const weight = smol2.buildTrainingExample(qatool, 'weight').labels;
  expect(weight.filter((l) => l !== -100).length).toBe(ANSWER_TURN.length + 2);
});

test('decode round trip, with and without special tokens', () => {
  const { ids: tokens } = smol2.buildTrainingExample(qatool, 'tool');
  const rendered = smol2.applyChatTemplate(qatool);
  expect(smol2.decode(tokens)).toBe(`${rendered}<|endoftext|>`);
  expect(smol2.decode(tokens, { skipSpecialTokens: true })).toBe(
    'system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face\nuser\n' +
      `${QUESTION}\nassistant\nFIND birth_date FOR Alice Smith\nipython\n12/3/1975\nassistant\n${ANSWER}\n`,
  );
  expect(smol2.decode([])).toBe('');
});

test('encode: SmolLM has no post-processor, so special tokens are never added', () => {
  expect(Array.from(smol2.encode('Hello world'))).toEqual(ids(['Hello', 'Ġworld']));
  expect(Array.from(smol2.encode('Hello world', { addSpecialTokens: false }))).toEqual(ids(['Hello', 'Ġworld']));
  expect(smol2.tokens(smol2.encode(' 42'))).toEqual(['Ġ', '4', '2']);
});

test('many generated dialogues: ids equal the reference BPE', () => {
  const reference = new ReferenceBpe(tokenizerJson);
  const names = ['Zoë Ångström', 'Li Wei', "Seán O'Neill", 'Ana-María  Núñez', 'José 2nd'];
  const values = ['3/11/1962', 'São Tomé and Príncipe', 'Reykjavík', 'software engineer', ' 7 '];
  for (let i = 0; i < 60; i++) {
    const name = names[i % names.length]!;
    const value = values[(i * 3) % values.length]!;
    const dialogue: ChatMessage[] = [
      { role: 'user', content: `Where's ${name} from?\tTell me — ${i}!` },
      { role: 'assistant', content: `FIND birth_place FOR ${name}` },
      { role: 'ipython', content: value },
      { role: 'assistant', content: `${name}'s answer:\n\n ${value} (${i * 37}).` },
    ];
    const text = smol2.applyChatTemplate(dialogue);
    expect(Array.from(smol2.applyChatTemplate(dialogue, { tokenize: true }))).toEqual(reference.encode(text));
    expect(smol2.decode(smol2.applyChatTemplate(dialogue, { tokenize: true }))).toBe(text);
  }
});
