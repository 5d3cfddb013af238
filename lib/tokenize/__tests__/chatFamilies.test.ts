/**
 * The SmolLM3 chat family on a stand-in tokenizer folder (familyStandIns.ts; SmolLM3's real files are
 * not installable): detection by the tokenizer's own tokens and template, the study's tool reply in
 * the family's tool role, SmolLM3's template variables (enable_thinking false, strftime_now answered
 * with the run's date) and label masks on the assistant turns only. Mistral is tested on its real
 * files (mistral.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { errorOf } from '../../testing/errorOf.js';
import type { ChatMessage, ChatTokenizer } from '../ChatTokenizer.js';
import { IGNORE_INDEX } from '../labelMask.js';
import { loadTokenizer } from '../loadTokenizer.js';
import { makeSmolLM3StandIn } from './familyStandIns.js';

const qatool: ChatMessage[] = [
  { role: 'user', content: 'When was Ann born?' },
  { role: 'assistant', content: 'FIND birth_date FOR Ann' },
  { role: 'ipython', content: '2/5/1960' },
  { role: 'assistant', content: 'Ann was born on 2/5/1960.' },
];

let dir: string;
let smollm3: ChatTokenizer;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'itl-chat-families-'));
  smollm3 = await loadTokenizer(makeSmolLM3StandIn(dir));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The decoded text of each labelled span. */
function labelledSpans(t: ChatTokenizer, labels: Int32Array): string[] {
  const spans: string[] = [];
  let start = -1;
  for (let i = 0; i <= labels.length; i++) {
    const on = i < labels.length && labels[i] !== IGNORE_INDEX;
    if (on && start < 0) start = i;
    if (!on && start >= 0) {
      spans.push(t.decode(labels.subarray(start, i)));
      start = -1;
    }
  }
  return spans;
}

test('SmolLM3 is told apart by its ids and its ChatML template, although it declares Llama 3 tokens too', () => {
  expect(smollm3.family.name).toBe('smollm3');
  expect(smollm3.special).toMatchObject({ endOfTurn: 128012, endOfText: 128001, turnStart: 128011, pad: 128004, generationEos: [128012] });
});

test("SmolLM3: the tool's reply as a 'tool' message (a user turn), empty think blocks, the run's date", () => {
  const text = smollm3.applyChatTemplate(qatool);
  expect(text).toBe(
    '<|im_start|>system\nToday Date: 26 July 2024\nReasoning Mode: /no_think<|im_end|>\n' +
      '<|im_start|>user\nWhen was Ann born?<|im_end|>\n' +
      '<|im_start|>assistant\n<think>\n\n</think>\nFIND birth_date FOR Ann<|im_end|>\n' +
      '<|im_start|>user\n2/5/1960<|im_end|>\n' +
      '<|im_start|>assistant\n<think>\n\n</think>\nAnn was born on 2/5/1960.<|im_end|>\n',
  );
  expect(smollm3.applyChatTemplate(qatool.slice(0, 1), { addGenerationPrompt: true, dateString: '3 Jan 2025' })).toContain(
    'Today Date: 03 January 2025\n',
  );
  const example = smollm3.buildTrainingExample(qatool, 'tool');
  expect(labelledSpans(smollm3, example.labels)).toEqual([
    '\n<think>\n\n</think>\nFIND birth_date FOR Ann<|im_end|>',
    '\n<think>\n\n</think>\nAnn was born on 2/5/1960.<|im_end|>\n<|end_of_text|>',
  ]);
  expect(labelledSpans(smollm3, smollm3.buildTrainingExample(qatool, 'weight').labels)).toEqual([
    '\n<think>\n\n</think>\nAnn was born on 2/5/1960.<|im_end|>\n<|end_of_text|>',
  ]);
});

test('a date string the template cannot read as a date is refused when the template asks for the date', () => {
  const error = errorOf(() => smollm3.applyChatTemplate(qatool, { dateString: 'tomorrow' }));
  expect(error).toMatchObject({ code: 'ITL_USAGE' });
  expect(String((error as Error).message)).toMatch(/date string 'tomorrow': expected a date like '26 Jul 2024'/);
});
