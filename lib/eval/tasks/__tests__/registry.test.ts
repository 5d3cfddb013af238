/**
 * Every registered evaluation task round-trips on a tiny model: `itl eval <task>` writes its result,
 * `itl analyze`'s reader (collectResults) reads its columns back, a second run reuses it, and a run
 * with other settings is refused naming the difference (or replaces it with --recompute). A task
 * added to the registry without an entry in ARGS below fails this test: each task is checked end to end.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { collectResults } from '../../../analyze/collectResults.js';
import { EVAL_TASKS, taskFlags } from '../registry.js';
import { runItl as itl } from '../../../cli/__tests__/runItl.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const SMOLLM = join(root, '..', 'shared', 'reference', 'models', 'HuggingFaceTB__SmolLM2-135M-Instruct');
const VAL = join(root, '..', 'shared', 'reference', 'hellaswag', 'hellaswag_val_sample1000.jsonl');
const RUN = 'sft_Smol135M_facts=20-epochs=1-batch=4-gradAcc=1-LR=1e-3-loraR=0-loraA=0-tool';

describe('the evaluation-task registry', () => {
  let scratch: string;
  let runs: string;
  /** Per task: the flags of one evaluation, and the same evaluation done another way (a different number). */
  let ARGS: Record<string, { flags: string[]; other: string[]; difference: RegExp }>;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-tasks-'));
    runs = join(scratch, 'runs');
    const base = join(scratch, 'SmolLM-135M-Instruct');
    const data = join(scratch, 'facts');
    expect((await itl(['data', 'build', '--people', '12', '--seed', '2', '--out', data])).code).toBe(0);
    for (const [dir, seed] of [
      [base, 3],
      [join(runs, RUN, 'checkpoint-2'), 4],
    ] as const) {
      expect((await itl(['model', 'init', '--preset', 'tiny-smollm', '--out', dir, '--seed', String(seed)])).code).toBe(0);
      for (const file of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
        copyFileSync(join(SMOLLM, file), join(dir, file));
    }
    writeFileSync(join(runs, RUN, 'checkpoint-2', 'trainer_state.json'), JSON.stringify({ global_step: 2, max_steps: 2, log_history: [] }));
    writeFileSync(
      join(runs, RUN, 'run_config.json'),
      JSON.stringify({
        format_version: 1,
        run_name: RUN,
        model_label: 'Smol135M',
        model: base,
        data,
        facts: 20,
        mode: 'tool',
        date_string: '26 Jul 2024',
      }),
    );
    const prompts = join(scratch, 'prompts.json');
    writeFileSync(prompts, JSON.stringify({ prompts: [{ category: 'factual', prompt: 'What is the capital of Italy?' }] }));
    const questions = join(scratch, 'questions.json');
    writeFileSync(
      questions,
      JSON.stringify({
        questions: [
          { task: 'add', question: 'What is 2 plus 3?', answer: '5' },
          { task: 'repeat', question: 'Say cat.', answer: 'cat' },
        ],
      }),
    );
    const arc = join(scratch, 'arc.jsonl');
    writeFileSync(
      arc,
      `${[
        {
          id: 'a',
          question: 'Which gas do plants take in?',
          choices: { text: ['oxygen', 'carbon dioxide', 'helium'], label: ['A', 'B', 'C'] },
          answerKey: 'B',
        },
        {
          id: 'b',
          question: 'What melts ice?',
          choices: { text: ['heat', 'cold', 'salt water', 'wind'], label: ['1', '2', '3', '4'] },
          answerKey: '1',
        },
        {
          id: 'c',
          question: {
            stem: 'What do bees make?',
            choices: [
              { text: 'honey', label: 'A' },
              { text: 'milk', label: 'B' },
            ],
          },
          answerKey: 'A',
        },
      ]
        .map((row) => JSON.stringify(row))
        .join('\n')}\n`,
    );
    ARGS = {
      recall: {
        flags: ['--train-examples', '3', '--test-examples', '2'],
        other: ['--train-examples', '4', '--test-examples', '2'],
        difference: /train examples: 3 vs 4/,
      },
      hellaswag: {
        flags: ['--hellaswag', VAL, '--hellaswag-limit', '3'],
        other: ['--hellaswag', VAL, '--hellaswag-limit', '2'],
        difference: /hellaswag limit: 3 vs 2/,
      },
      kl: {
        flags: ['--kl-prompts', prompts, '--kl-max-new-tokens', '4'],
        other: ['--kl-prompts', prompts, '--kl-max-new-tokens', '5'],
        difference: /kl max new tokens: 4 vs 5/,
      },
      general: {
        flags: ['--questions', questions, '--general-max-new-tokens', '4'],
        other: ['--questions', questions, '--general-max-new-tokens', '3'],
        difference: /general max new tokens: 4 vs 3/,
      },
      arc_easy: { flags: ['--arc-easy', arc], other: ['--arc-easy', arc, '--arc-easy-limit', '2'], difference: /arc_easy limit: all vs 2/ },
    };
  }, 120_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('flags shared by tasks are declared once, identically', () => {
    expect(() => taskFlags()).not.toThrow();
    expect(new Set(EVAL_TASKS.map((t) => t.name)).size).toBe(EVAL_TASKS.length);
  });

  test.each(EVAL_TASKS.map((t) => [t.name, t] as const))(
    '%s: eval → result file → analyze, reuse, refusal, --recompute',
    async (name, task) => {
      const spec = ARGS[name];
      expect(spec).toBeDefined(); // a new task needs its entry above
      const evalDir = join(scratch, `eval-${name}`);
      const common = ['eval', name, '--models-dir', runs, '--eval-dir', evalDir, '--batch-size', '4', '--json'];
      const first = await itl([...common, ...spec!.flags]);
      expect(first.stderr).not.toContain('FAILED');
      expect(JSON.parse(first.stdout)).toMatchObject({ evaluated: [`${RUN}/checkpoint-2`], failures: [] });
      if (task.baseModels === true) expect((await itl([...common, '--base', ...spec!.flags])).code).toBe(0);

      const collected = await collectResults({ evalDir });
      expect(collected.problems).toEqual([]);
      const row = collected.rows.find((r) => r.run === RUN && r.checkpoint_nbr === 2)!;
      expect(typeof row.metrics[task.columns[0]!]).toBe('number');
      if (task.relative) {
        // Relative to the base model wherever the base scored above 0 (a random tiny model may not).
        const baseRow = collected.rows.find((r) => r.dataset_size === '0')!;
        const scored = baseRow.metrics[task.relative.absolute]! > 0;
        expect(row.metrics[task.relative.relative] !== undefined).toBe(scored);
        if (scored) expect(baseRow.metrics[task.relative.relative]).toBeCloseTo(100, 10);
      }

      const again = await itl([...common, ...spec!.flags]);
      expect(JSON.parse(again.stdout)).toMatchObject({ evaluated: [], skipped: [`${RUN}/checkpoint-2`] });

      const other = await itl([...common, ...spec!.other]);
      expect(other.code).toBe(1);
      expect(JSON.parse(other.stdout).failures[0]).toMatch(spec!.difference);
      expect(other.stderr).toContain('--recompute');
      const replaced = await itl([...common, ...spec!.other, '--recompute']);
      expect(JSON.parse(replaced.stdout)).toMatchObject({ evaluated: [`${RUN}/checkpoint-2`], failures: [] });
    },
    120_000,
  );

  test('two base models whose folders share a name are not mistaken for each other', async () => {
    const evalDir = join(scratch, 'eval-same-name');
    const [a, b] = [join(scratch, 'a', 'base'), join(scratch, 'b', 'base')];
    for (const [dir, seed] of [
      [a, 5],
      [b, 6],
    ] as const) {
      mkdirSync(dirname(dir), { recursive: true });
      expect((await itl(['model', 'init', '--preset', 'tiny-smollm', '--out', dir, '--seed', String(seed)])).code).toBe(0);
      for (const file of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
        copyFileSync(join(SMOLLM, file), join(dir, file));
    }
    const flags = ['--eval-dir', evalDir, '--hellaswag', VAL, '--hellaswag-limit', '2', '--base'];
    expect((await itl(['eval', 'hellaswag', '--model', a, ...flags])).code).toBe(0);
    const second = await itl(['eval', 'hellaswag', '--model', b, ...flags]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/model: .*a\/base vs .*b\/base/);
  }, 120_000);
});
