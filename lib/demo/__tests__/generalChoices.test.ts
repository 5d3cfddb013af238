/**
 * The demo's general questions as a multiple-choice file in HellaSwag's layout: it reads as HellaSwag
 * input, lm-eval's preprocessing leaves every text as written (so the model is scored on the prompt
 * it was trained on), every row has four distinct endings of the answer's kind with the answer at
 * its label; and the general-ability columns of results.csv are what the HellaSwag evaluator makes
 * of it — a fake model that always prefers ending 0 scores exactly the share of rows labelled 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { collectResults } from '../../analyze/collectResults.js';
import { loadAtoms } from '../../data/loadAtoms.js';
import { shippedAtomsDir } from '../../data/shippedPaths.js';
import { BatchSize } from '../../eval/BatchSize.js';
import type { EvalModel } from '../../eval/EvalModel.js';
import { readHellaswag } from '../../eval/hellaswagData.js';
import { choiceRequests } from '../../eval/multipleChoice.js';
import type { ResultTarget, TaskContext } from '../../eval/tasks/EvalTask.js';
import { hellaswagTask } from '../../eval/tasks/hellaswag.js';
import type { Runtime } from '../../native/Runtime.js';
import { errorOf } from '../../testing/errorOf.js';
import type { ChatTokenizer } from '../../tokenize/ChatTokenizer.js';
import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { writeDemoTokenizer } from '../demoTokenizer.js';
import { type GeneralChoiceRow, generalChoiceRows } from '../generalChoices.js';
import { type DrawnQuestion, drawGeneralQuestions, GENERAL_TASKS } from '../generalTasks.js';

const RUN = 'sft_Demo_facts=16-epochs=2-batch=8-gradAcc=1-LR=1e-3-loraR=0-loraA=0-weight';

let scratch: string;
let tokenizer: ChatTokenizer;
let drawn: DrawnQuestion[];
let rows: GeneralChoiceRow[];
let file: string;
const prompt = (question: string) => tokenizer.applyChatTemplate([{ role: 'user', content: question }], { addGenerationPrompt: true });

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'itl-general-choices-'));
  await writeDemoTokenizer(join(scratch, 'model'));
  tokenizer = await loadTokenizer(join(scratch, 'model'));
  drawn = drawGeneralQuestions(360, 5);
  rows = generalChoiceRows(drawn, 6, prompt);
  file = join(scratch, 'choices.jsonl');
  writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the generated multiple-choice file', () => {
  test("reads as HellaSwag input, and lm-eval's preprocessing changes none of its text", () => {
    const docs = readHellaswag(file);
    expect(docs).toHaveLength(360);
    docs.forEach((doc, i) => {
      const row = rows[i]!;
      expect(doc.query).toBe(`${row.activity_label}: ${row.ctx_a}`);
      expect(doc.choices).toEqual(row.endings);
      expect(doc.gold).toBe(row.label);
    });
  });

  test("each row: the chat prompt the model was trained on, then the answer's stem; the answer's ending at the label", () => {
    rows.forEach((row, i) => {
      const q = drawn[i]!;
      expect(row.activity_label).toBe(q.task);
      expect(row.ctx_a).toBe(`<|im_start|>user\n${q.question}<|im_end|>\n<|im_start|>assistant\n${q.stem}`);
      expect(row.ctx_b).toBe('');
      expect(row.endings[row.label]).toBe(q.ending);
      // The exact-match answer is the stem and the ending: the two scorings ask the same question.
      expect(`${q.stem} ${q.ending}`).toMatch(/\S$/);
    });
  });

  test('four distinct endings, a label in range, distractors never the answer, labels spread over all four places', () => {
    for (const row of rows) {
      expect(row.endings).toHaveLength(4);
      expect(new Set(row.endings).size).toBe(4);
      expect([0, 1, 2, 3]).toContain(row.label);
      const answer = row.endings[row.label];
      expect(row.endings.filter((e) => e === answer)).toHaveLength(1);
    }
    const counts = [0, 1, 2, 3].map((label) => rows.filter((r) => r.label === label).length);
    for (const count of counts) expect(count).toBeGreaterThan(60);
  });

  test('distractors are drawn like the answer: cities for a city, numbers for a number, names for a name, dates for a date', () => {
    const atoms = loadAtoms(shippedAtomsDir);
    const names = new RegExp(`^(${atoms.firstNames.join('|')}) (${atoms.lastNames.join('|')})`);
    const inPool = (pool: readonly string[]) => (e: string) => pool.includes(e.replace(/\.$/, ''));
    const kinds: Record<string, (ending: string, row: GeneralChoiceRow) => boolean> = {
      add: (e) => /^\d+\.$/.test(e),
      next: (e) => /^\d+\.$/.test(e),
      larger: (e) => /^\d+\.$/.test(e),
      'first-letter': (e) => /^[A-Z]\.$/.test(e),
      greet: (e) => names.test(e) && e.endsWith('!'),
      names: (e) => / and /.test(e) && names.test(e),
      repeat: (e) => e.split(', ').length >= 2,
    };
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.activity_label);
      let check = kinds[row.activity_label];
      if (row.activity_label === 'reading' || row.activity_label === 'use') {
        const answer = row.endings[row.label]!.replace(/\.$/, '');
        const pool = [atoms.cities, atoms.countries, atoms.occupations].find((p) => p.includes(answer));
        // A date (D/M/YYYY, as the facts write birth dates) has dates for distractors.
        check = pool === undefined ? (e) => /^\d{1,2}\/\d{1,2}\/(19[5-9]\d|2000)\.$/.test(e) : inPool(pool);
      }
      for (const ending of row.endings) {
        expect([row.activity_label, ending, check!(ending, row)]).toEqual([row.activity_label, ending, true]);
      }
    }
    expect([...seen].sort()).toEqual(GENERAL_TASKS.map((t) => t.name).sort());
  });

  test('is seeded: the same seed gives the same rows, another seed other distractors and labels', () => {
    expect(generalChoiceRows(drawn, 6, prompt)).toEqual(rows);
    const other = generalChoiceRows(drawn, 7, prompt);
    expect(other.map((r) => r.endings[r.label])).toEqual(rows.map((r) => r.endings[r.label]));
    expect(other.map((r) => r.label)).not.toEqual(rows.map((r) => r.label));
  });

  test('a text lm-eval would change, or a question without three other endings, is an error naming it', () => {
    const q = drawn[0]!;
    const spaced = errorOf(() => generalChoiceRows([{ ...q, stem: 'two  spaces' }], 1, prompt));
    expect(spaced).toMatchObject({ code: 'ITL_DATA' });
    expect(spaced.message).toContain("would be changed by HellaSwag's preprocessing");
    expect(errorOf(() => generalChoiceRows([{ ...q, ending: '[x] y.' }], 1, prompt)).message).toContain('"[x] y."');
    const stuck = errorOf(() => generalChoiceRows([{ ...q, distractor: () => q.ending }], 1, prompt));
    expect(stuck.message).toContain('cannot draw 3 distinct distractors');
  });
});

/**
 * A model whose log-likelihoods prefer, in every document, the ending at position `preferred(row)`
 * — told apart by the request's token ids, as the evaluator builds them. The margin is small, so
 * that acc_norm (per character) sometimes picks another ending: the test can tell acc from acc_norm.
 */
function fakeModel(preferred: (row: GeneralChoiceRow) => number): EvalModel {
  const docs = readHellaswag(file);
  const favoured = new Set<string>();
  docs.forEach((doc, i) => {
    const request = choiceRequests(tokenizer, doc, 1024)[preferred(rows[i]!)]!;
    favoured.add(`${request.context.join(',')}|${request.continuation.join(',')}`);
  });
  return {
    info: {
      folder: 'fake',
      adapter: null,
      device: 'cpu',
      dtype: 'fp32',
      parameterCount: 0,
      config: { maxPositionEmbeddings: 1024 } as never,
    },
    generate: () => Promise.reject(new Error('not used')),
    divergence: () => Promise.reject(new Error('not used')),
    async score(requests) {
      return requests.map((r) => {
        const key = `${Array.from(r.context).join(',')}|${Array.from(r.continuation).join(',')}`;
        return { logprob: favoured.has(key) ? -1 : -1.2, isGreedy: false };
      });
    },
  };
}

describe("general ability in the study's columns", () => {
  test('comes from the HellaSwag evaluator: a model preferring ending 0 scores the share of rows labelled 0', async () => {
    const evalDir = join(scratch, 'eval');
    const context: TaskContext = {
      runtime: undefined as unknown as Runtime,
      evalDir,
      batch: new BatchSize(32, () => {}),
      loadOptions: { device: 'cpu', dtype: 'fp32' },
      log: () => {},
    };
    // Through the registry's HellaSwag task, as `itl eval hellaswag` runs it.
    const state = await hellaswagTask.open(hellaswagTask.settings({ hellaswag: file }), context);
    const identity = { path: 'fake', config_sha256: '', weights_header_sha256: '', weights_sample_sha256: '' };
    const subject = (model: EvalModel, label: string) => ({
      label,
      identity: { model: identity },
      dateString: '26 Jul 2024',
      run: {},
      model,
      tokenizer,
    });
    const evaluate = async (model: EvalModel, target: ResultTarget) => {
      const described = subject(model, target.run);
      return hellaswagTask.evaluate(state, described, target, await hellaswagTask.provenance(state, described));
    };
    // The base model knows every answer; the checkpoint always picks the first ending.
    await evaluate(
      fakeModel((row) => row.label),
      { evalDir, run: 'Demo', checkpoint: '', baseModel: true },
    );
    await evaluate(
      fakeModel(() => 0),
      { evalDir, run: RUN, checkpoint: 'checkpoint-4' },
    );
    const share = rows.filter((r) => r.label === 0).length / rows.length;
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.35);

    const { rows: table, problems } = await collectResults({ evalDir });
    expect(problems).toEqual([]);
    const base = table.find((r) => r.run === 'Demo-weight_base')!;
    const trained = table.find((r) => r.run === RUN)!;
    expect(base.metrics.hellaswag_absolute).toBe(1);
    expect(trained.metrics.hellaswag_absolute).toBe(share);
    expect(trained.metrics.hellaswag_relative).toBeCloseTo(100 * share, 10);
    // acc, the study's column, not acc_norm (which the small margin makes differ here).
    expect(trained.metrics.hellaswag_acc_norm).not.toBe(share);
    const stderr = Math.sqrt((share * (1 - share)) / (rows.length - 1));
    expect(trained.metrics.hellaswag_absolute_stderr).toBeCloseTo(stderr, 12);
  });
});
