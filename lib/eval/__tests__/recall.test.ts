/**
 * The recall protocol on hand-made cases, with a scripted model (lm-evaluation-harness's habit: a
 * fake model for protocol tests) that answers each prompt from a table, through the real SmolLM
 * tokenizer and chat template, a real facts dataset and its real SQLite tool database.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { main } from '../../cli/main.js';
import { openFactsDatabase } from '../../data/factsDatabase.js';
import { type FactsDataset, openFactsDataset } from '../../data/openFactsDataset.js';
import { formatToolRequest } from '../../data/toolRequest.js';
import type { ChatTokenizer } from '../../tokenize/ChatTokenizer.js';
import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { BatchSize } from '../BatchSize.js';
import type { EvalModel } from '../EvalModel.js';
import { evaluateRecall, NO_SUCH_RECORD, type RecallExample, selectRecallExamples, type ToolPrediction } from '../recall.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SMOLLM = join(root, '..', 'shared', 'reference', 'models', 'HuggingFaceTB__SmolLM2-135M-Instruct');
const HOSTILE = "```sql\nFIND birth_date FOR x'; DROP TABLE people; --\n```";

/** A model that answers every prompt with `respond(decoded prompt)`, ending in the eos as a real one would. */
function scriptedModel(tokenizer: ChatTokenizer, respond: (prompt: string) => string, calls: string[][]): EvalModel {
  return {
    info: { folder: 'scripted', adapter: null, device: 'cpu', dtype: 'fp32', parameterCount: 0, config: {} as never },
    async generate(prompts, options) {
      expect(options?.eosIds).toEqual(tokenizer.special.generationEos);
      expect(options?.maxNewTokens).toBe(64);
      const decoded = prompts.map((p) => tokenizer.decode(p));
      calls.push(decoded);
      return decoded.map((p) =>
        Int32Array.from([...tokenizer.encode(respond(p), { addSpecialTokens: false }), tokenizer.special.endOfTurn]),
      );
    },
    score: () => Promise.reject(new Error('not used')),
    divergence: () => Promise.reject(new Error('not used')),
  };
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('recall protocol', () => {
  let scratch: string;
  let data: string;
  let dataset: FactsDataset;
  let tokenizer: ChatTokenizer;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-recall-'));
    data = join(scratch, 'facts');
    expect(await main(['data', 'build', '--people', '30', '--seed', '5', '--out', data], { stdout: () => {}, stderr: () => {} }, {})).toBe(
      0,
    );
    dataset = openFactsDataset(data);
    tokenizer = await loadTokenizer(SMOLLM);
    copyFileSync(join(data, 'facts.sqlite'), join(scratch, 'facts-copy.sqlite'));
  });
  afterAll(() => {
    dataset.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('training facts are a seeded draw from rows 0..N-1; test rows are N..N+k', () => {
    const a = selectRecallExamples(dataset, 100, { trainCount: 10, testCount: 5, seed: 1 });
    const b = selectRecallExamples(dataset, 100, { trainCount: 10, testCount: 5, seed: 1 });
    const c = selectRecallExamples(dataset, 100, { trainCount: 10, testCount: 5, seed: 2 });
    expect(a).toEqual(b);
    expect(a.train.map((e) => e.row)).not.toEqual(c.train.map((e) => e.row));
    expect(new Set(a.train.map((e) => e.row)).size).toBe(10);
    for (const e of a.train) expect(e.row).toBeLessThan(100);
    expect(a.test.map((e) => e.row)).toEqual([100, 101, 102, 103, 104]);
    const [row] = dataset.rows(a.train[0]!.row, a.train[0]!.row + 1);
    expect(a.train[0]).toMatchObject({ question: row!.qa[0]!.content, value: row!.value, name: row!.name, attribute: row!.attribute });
    // Fewer facts than the draw: all of them; past the dataset's end: only what exists.
    expect(
      selectRecallExamples(dataset, 4, { seed: 1 })
        .train.map((e) => e.row)
        .sort(),
    ).toEqual([0, 1, 2, 3]);
    expect(selectRecallExamples(dataset, 118).test.map((e) => e.row)).toEqual([118, 119]);
    expect(() => selectRecallExamples(dataset, 120)).toThrow('none after the 120 training facts');
  });

  test('in-weight: correct when the lower-cased value occurs in the lower-cased answer', async () => {
    const splits = selectRecallExamples(dataset, 100, { trainCount: 10, testCount: 5, seed: 3 });
    const all = [...splits.train, ...splits.test];
    const byQuestion = new Map(all.map((e, i) => [e.question, { e, i }]));
    // Train examples 0–6 answered right (0 in upper case), test example 0 right, everything else wrong.
    const respond = (prompt: string) => {
      const hit = [...byQuestion.entries()].find(([q]) => prompt.includes(q));
      if (!hit) return 'A general answer.';
      const { e, i } = hit[1];
      if (i < 7 || i === 10) return i === 0 ? `It is ${e.value.toUpperCase()}.` : `The answer: ${e.value}`;
      return 'I do not know.';
    };
    const calls: string[][] = [];
    const entry = await evaluateRecall(scriptedModel(tokenizer, respond, calls), tokenizer, splits, {
      mode: 'weight',
      dateString: '26 Jul 2024',
      batch: new BatchSize(8, () => {}),
    });
    expect(entry).toMatchObject({ num_eval_train: 10, accuracy_train: 0.7, num_eval_test: 5, accuracy_test: 0.2, mode: 'weight' });
    expect(entry.stderr_train).toBeCloseTo(Math.sqrt((0.7 * 0.3) / 10), 12);
    expect(entry.stderr_test).toBeCloseTo(Math.sqrt((0.2 * 0.8) / 5), 12);
    expect(entry.predictions_train[0]).toEqual({
      question: all[0]!.question,
      completion: `It is ${all[0]!.value.toUpperCase()}.`,
      ground_truth: all[0]!.value,
      correct: true,
    });
    // Each question went through the chat template with the generation prompt.
    expect(calls[0]![0]).toBe(tokenizer.applyChatTemplate([{ role: 'user', content: all[0]!.question }], { addGenerationPrompt: true }));
    expect(entry.general_capabilities).toHaveLength(3);
    expect(entry.general_capabilities[0]).toEqual({ prompt: 'What is the capital of France?', answer: 'A general answer.' });
  });

  test('in-tool: requests run against the database, turn 2 answers from it; a hostile request changes nothing', async () => {
    const splits = selectRecallExamples(dataset, 100, { trainCount: 6, testCount: 2, seed: 4 });
    const all: RecallExample[] = [...splits.train, ...splits.test];
    const turn1 = (e: RecallExample, i: number): string =>
      [
        formatToolRequest(e.attribute, e.name), // 0: the protocol exactly
        `Let me check.\n\`\`\`SQL\nfind ${e.attribute.toUpperCase()} for ${e.name}\n\`\`\``, // 1: other case, text around it
        HOSTILE, // 2: an injection attempt
        formatToolRequest(e.attribute, e.name.toLowerCase()), // 3: the name must match exactly
        `I know it: ${e.value}.`, // 4: no request; turn 1 is the answer (right)
        '```sql\nFIND salary FOR Somebody\n```', // 5: unknown attribute: no request
        formatToolRequest(e.attribute, e.name), // 6 (test): right
        formatToolRequest(e.attribute, e.name), // 7 (test): the model then ignores the tool's reply
      ][i]!;
    const respond = (prompt: string): string => {
      const i = all.findIndex((e) => prompt.includes(e.question));
      if (i < 0) return 'A general answer.';
      const reply = /<\|im_start\|>ipython\n([\s\S]*?)<\|im_end\|>/.exec(prompt);
      if (!reply) return turn1(all[i]!, i);
      return i === 7 ? 'Unknown.' : `The database says: ${reply[1]}`;
    };
    const db = openFactsDatabase(join(data, 'facts.sqlite'));
    const before = sha256(join(data, 'facts.sqlite'));
    const calls: string[][] = [];
    let entry;
    try {
      entry = await evaluateRecall(scriptedModel(tokenizer, respond, calls), tokenizer, splits, {
        mode: 'tool',
        db,
        dateString: '26 Jul 2024',
        batch: new BatchSize(4, () => {}),
      });
    } finally {
      db.close();
    }
    const p = [...entry.predictions_train, ...entry.predictions_test] as ToolPrediction[];
    expect(p.map((x) => x.correct)).toEqual([true, true, false, false, true, false, true, false]);
    expect(entry).toMatchObject({ accuracy_train: 3 / 6, accuracy_test: 0.5 });
    expect(p[0]).toMatchObject({
      request: `FIND ${all[0]!.attribute} FOR ${all[0]!.name}`,
      db_answer: all[0]!.value,
      final_answer: `The database says: ${all[0]!.value}`,
      tool_call: formatToolRequest(all[0]!.attribute, all[0]!.name),
    });
    expect(p[1]!.db_answer).toBe(all[1]!.value);
    expect(p[2]).toMatchObject({
      request: "FIND birth_date FOR x'; DROP TABLE people; --",
      db_answer: NO_SUCH_RECORD,
      final_answer: `The database says: ${NO_SUCH_RECORD}`,
    });
    expect(p[3]!.db_answer).toBe(NO_SUCH_RECORD);
    expect(p[4]).toMatchObject({ request: null, db_answer: null, final_answer: `I know it: ${all[4]!.value}.` });
    expect(p[5]).toMatchObject({ request: null, db_answer: null });
    // Turn 2 is one batched call over the six examples that made a request, each with its ipython turn.
    const turn2 = calls.find((c) => c.some((prompt) => prompt.includes('ipython')))!;
    expect(turn2).toHaveLength(6);
    expect(turn2[0]).toBe(
      tokenizer.applyChatTemplate(
        [
          { role: 'user', content: all[0]!.question },
          { role: 'assistant', content: formatToolRequest(all[0]!.attribute, all[0]!.name) },
          { role: 'ipython', content: all[0]!.value },
        ],
        { addGenerationPrompt: true },
      ),
    );
    // The database file is byte for byte what it was, and still answers.
    expect(sha256(join(data, 'facts.sqlite'))).toBe(before);
    expect(sha256(join(data, 'facts.sqlite'))).toBe(sha256(join(scratch, 'facts-copy.sqlite')));
    const again = openFactsDatabase(join(data, 'facts.sqlite'));
    try {
      expect((again.prepare('SELECT count(*) AS n FROM people').get() as { n: number }).n).toBe(30);
      expect(() => again.exec('DROP TABLE people')).toThrow(/readonly/);
    } finally {
      again.close();
    }
  });
});
