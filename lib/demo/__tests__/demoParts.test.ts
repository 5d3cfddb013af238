/**
 * The demo's own pieces: the byte-level tokenizer it makes (loaded through the same tokenizer
 * layer as SmolLM's real files), its general tasks, and the model shape's parameter count.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Model } from '../../native/Model.js';
import { Runtime } from '../../native/Runtime.js';
import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { DEMO_MODEL, findModel } from '../../train/models.js';
import { parseRunName } from '../../train/runName.js';
import { DEMO_PLANS, demoRun, pretrainRun, runNameOf } from '../demoPlan.js';
import { DEMO_SHAPE, demoParameterCount, writeDemoConfig } from '../demoModel.js';
import { DEMO_TOKENIZER_FILE, DEMO_TOKENIZER_SIZE, writeDemoTokenizer } from '../demoTokenizer.js';
import { GENERAL_TASKS, generalDialogue, generalQuestions } from '../generalTasks.js';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'itl-demo-parts-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the demo tokenizer', () => {
  test('the shipped tokenizer.json has the size the model config uses, SmolLM specials first and the whole byte alphabet', () => {
    const json = JSON.parse(readFileSync(DEMO_TOKENIZER_FILE, 'utf8')) as {
      model: { type: string; vocab: Record<string, number> };
      added_tokens: { id: number; content: string }[];
    };
    expect(json.model.type).toBe('BPE');
    expect(Object.keys(json.model.vocab).length).toBe(DEMO_TOKENIZER_SIZE);
    expect(json.added_tokens.map((t) => [t.id, t.content])).toEqual([
      [0, '<|endoftext|>'],
      [1, '<|im_start|>'],
      [2, '<|im_end|>'],
    ]);
    expect(Object.values(json.model.vocab).sort((a, b) => a - b)).toEqual(Array.from({ length: DEMO_TOKENIZER_SIZE }, (_, i) => i));
  });

  test('loads as a SmolLM-family tokenizer: special tokens at SmolLM ids, names in a few pieces, lossless decode', async () => {
    const dir = join(scratch, 'tokenizer');
    await writeDemoTokenizer(dir);
    const tokenizer = await loadTokenizer(dir);
    expect(tokenizer.family.name).toBe('smollm');
    expect([tokenizer.special.endOfText, tokenizer.special.turnStart, tokenizer.special.endOfTurn, tokenizer.special.pad]).toEqual([
      0, 1, 2, 2,
    ]);
    for (const text of [
      'FIND birth_date FOR Wenette Drayer',
      'Zoë née Ødegård — 16/10/1996 ✓',
      '  two  spaces\nand a line',
      "x'; DROP TABLE people; --",
    ]) {
      const ids = tokenizer.encode(text);
      expect(ids.every((id) => id >= 3 && id < DEMO_TOKENIZER_SIZE)).toBe(true);
      expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe(text);
    }
    // Names are built from the atoms' onsets and endings: a few distinctive pieces each, digits one by one.
    expect(tokenizer.encode(' Corore Woldow').length).toBeLessThanOrEqual(4);
    expect(tokenizer.encode('1954').length).toBe(4);
    expect([...tokenizer.encode('<|im_start|>user<|im_end|>')]).toEqual([1, ...tokenizer.encode('user'), 2]);
  });

  test("renders SmolLM-Instruct's ChatML (no default system prompt) and labels the answer", async () => {
    const tokenizer = await loadTokenizer(join(scratch, 'tokenizer'));
    const messages = [
      { role: 'user', content: 'What is 2 + 2?' },
      { role: 'assistant', content: '2 + 2 = 4.' },
    ];
    expect(tokenizer.applyChatTemplate(messages, { dateString: '26 Jul 2024' })).toBe(
      '<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n2 + 2 = 4.<|im_end|>\n',
    );
    const example = tokenizer.buildTrainingExample(messages, 'weight', { dateString: '26 Jul 2024' });
    const labelled = [...example.labels].filter((id) => id >= 0);
    expect(tokenizer.decode(labelled, { skipSpecialTokens: false })).toBe('\n2 + 2 = 4.<|im_end|>\n<|endoftext|>');
  });
});

describe('the demo model', () => {
  test('its config initialises through the engine with the parameter count models.ts lists', async () => {
    const dir = join(scratch, 'model');
    await writeDemoTokenizer(dir);
    await writeDemoConfig(dir);
    const model = await Model.initFromConfig(Runtime.open(), dir, 5, dir);
    try {
      expect(model.info.parameterCount).toBe(demoParameterCount(DEMO_SHAPE));
      expect(DEMO_MODEL.parameters).toBe(demoParameterCount(DEMO_SHAPE));
      expect(model.info.config.vocabSize).toBe(DEMO_TOKENIZER_SIZE);
    } finally {
      model.dispose();
    }
    const again = await Model.load(Runtime.open(), dir);
    expect(again.info.parameterCount).toBe(demoParameterCount(DEMO_SHAPE));
    again.dispose();
  });

  test('demo run names parse back, and the demo model is known to results', () => {
    expect(findModel('Demo')).toBe(DEMO_MODEL);
    for (const plan of Object.values(DEMO_PLANS)) {
      for (const run of [pretrainRun(plan), ...plan.runs.map(demoRun)]) expect(parseRunName(runNameOf(run))).toEqual(run);
    }
  });
});

describe('general tasks', () => {
  test('are seeded, cover every task, and answer correctly', () => {
    const questions = generalQuestions(80, 7);
    expect(generalQuestions(80, 7)).toEqual(questions);
    expect(generalQuestions(80, 8)).not.toEqual(questions);
    expect(new Set(questions.map((q) => q.task))).toEqual(new Set(GENERAL_TASKS.map((t) => t.name)));
    for (const q of questions) {
      const add = /^What is (\d+) \+ (\d+)\?$/.exec(q.question);
      if (add) expect(q.answer).toBe(`${add[1]} + ${add[2]} = ${Number(add[1]) + Number(add[2])}.`);
      const larger = /^Which is larger, (\d+) or (\d+)\?$/.exec(q.question);
      if (larger) expect(q.answer).toBe(`The larger is ${Math.max(Number(larger[1]), Number(larger[2]))}.`);
      const next = /^What number comes after (\d+)\?$/.exec(q.question);
      if (next) expect(q.answer).toBe(`The number after ${next[1]} is ${Number(next[1]) + 1}.`);
      const repeat = /^Repeat after me: (.*)$/.exec(q.question);
      if (repeat) expect(q.answer).toBe(`You said: ${repeat[1]}.`);
      const names = /^Who are the two people in: (.*) met (.*) yesterday\.$/.exec(q.question);
      if (names) expect(q.answer).toBe(`They are ${names[1]} and ${names[2]}.`);
      const use = /^(.*)\nUse this in a sentence\.$/.exec(q.question) ?? /^Use this in a sentence:\n(.*)$/.exec(q.question);
      const value = use?.[1]?.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      if (use) expect(q.answer).toMatch(new RegExp(`^I would like to (visit|travel to|work as a|meet on) ${value}\\.$`));
    }
    expect(generalDialogue(questions[0]!)).toEqual([
      { role: 'user', content: questions[0]!.question },
      { role: 'assistant', content: questions[0]!.answer },
    ]);
    // Dates are one of the values a message may open with, as a tool's reply of a birth date does.
    expect(generalQuestions(400, 7).some((q) => /^\d{1,2}\/\d{1,2}\/\d{4}\nUse this/.test(q.question))).toBe(true);
  });

  test('a held-out set never repeats a training question', () => {
    const train = generalQuestions(2000, 1);
    const heldOut = generalQuestions(300, 2, new Set(train.map((q) => q.question)));
    const trained = new Set(train.map((q) => q.question));
    expect(heldOut.filter((q) => trained.has(q.question))).toEqual([]);
    expect(new Set(heldOut.map((q) => q.question)).size).toBe(300);
  });
});
