/**
 * HellaSwag as lm-evaluation-harness 0.4.8 processes it: preprocessing of real rows against
 * strings checked by hand, the multiple-choice metrics on a hand-computed mini example, the
 * stderr, the whitespace move of `_encode_pair`, and both data layouts (official jsonl and a
 * Hugging Face on-disk dataset).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Field, Int32, List, Table, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';

import { errorOf } from '../../testing/errorOf.js';
import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { encodePair, scoreDoc, truncateToLength } from '../multipleChoice.js';
import { hellaswagDoc, preprocess, pythonCapitalize, readHellaswag } from '../hellaswagData.js';
import { sampleStderr } from '../stats.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const VAL = join(root, '..', 'shared', 'reference', 'hellaswag', 'hellaswag_val_sample1000.jsonl');
const SMOLLM = join(root, '..', 'shared', 'reference', 'models', 'HuggingFaceTB__SmolLM2-135M-Instruct');

describe('HellaSwag documents', () => {
  const docs = readHellaswag(VAL);

  test('all 1000 real rows read, gold labels as given', () => {
    expect(docs).toHaveLength(1000);
    expect(docs[0]).toMatchObject({ ind: 20022, gold: 3 });
  });

  test('an ActivityNet row: activity label, ctx_a and the capitalised ctx_b', () => {
    expect(docs[0]!.query).toBe('Pole vault: Pole vault is a sport where you run with a pole and stop and swing your body. A few women');
    expect(docs[0]!.choices[3]).toBe('are in the gym practicing to do this pole vault, trying to do their best.');
  });

  test('WikiHow rows: [title] becomes ". ", other [markup] goes, double spaces collapse, ends stripped', () => {
    const bowl = docs[3]!;
    expect(bowl.ind).toBe(670);
    // ctx_b is empty: ctx_a + " " + "" leaves a trailing space that strip() removes.
    expect(bowl.query).toBe(
      "Sports and Fitness: How to bowl the leg spinner's variations. To bowl a googly, you grip the ball the same as you " +
        'would for a leg break but hold it so your palm faces away from you. As you bowl, you bring your elbow close to your head and ' +
        'cock your wrist so that back of your hand faces the batsman. You spin the ball by rotating the fingers.',
    );
    // A leading "[title]" has no space before it, so it is simply removed (the space after it stays);
    // "dribble. [title] If" becomes "dribble.. If".
    expect(bowl.choices[0]).toBe(
      " If you're outside, the batsman only looks at the batsman as they dribble.. If you're inside, the batsman lets you line up the batsman with you.",
    );
    expect(bowl.choices[1]).toBe(
      'Bring your wrist back towards your head so that the ball is back in front of your body and your fist will be holding the ball. A barbell is not needed for this style of bowl.',
    );
    expect(docs[4]!.query).toBe(
      'Food and Entertaining: How to make taco sauce. Whisk together the tomato sauce and seasonings. In a medium mixing bowl, ' +
        'whisk together the tomato sauce, chili powder, cumin, garlic powder, onion powder, paprika, cayenne pepper, apple cider vinegar, and honey. ' +
        'Mix until smooth and evenly combined.',
    );
  });

  test('preprocess and capitalize follow Python: three spaces become two, the rest of the text is lower-cased', () => {
    expect(preprocess('  a   b [x] c\t')).toBe('a  b c');
    expect(preprocess('x [title] y')).toBe('x. y');
    expect(pythonCapitalize('the MAN is')).toBe('The man is');
    expect(pythonCapitalize('')).toBe('');
    expect(pythonCapitalize('éCOLE')).toBe('École');
  });

  test('a bad row is an error naming the file and line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'itl-hellaswag-'));
    try {
      const bad = join(dir, 'bad.jsonl');
      const good = readFileSync(VAL, 'utf8').split('\n')[0];
      writeFileSync(bad, `${good}\n${JSON.stringify({ ...JSON.parse(good!), endings: ['only one'] })}\n`);
      const error = errorOf(() => readHellaswag(bad));
      expect(error).toMatchObject({ code: 'ITL_DATA' });
      expect(error.message).toContain(`${bad}:2: 'endings' must be 4 strings`);
      writeFileSync(bad, `${good}\n{not json\n`);
      expect(errorOf(() => readHellaswag(bad)).message).toContain(`${bad}:2: not valid JSON`);
      expect(errorOf(() => hellaswagDoc({ ...JSON.parse(good!), label: 7 }, 0, 'row')).message).toContain("'label' must be 0..3");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a Hugging Face on-disk dataset (string labels) gives the same documents as the jsonl', () => {
    const dir = mkdtempSync(join(tmpdir(), 'itl-hellaswag-hf-'));
    try {
      const rows = readFileSync(VAL, 'utf8')
        .split('\n')
        .filter(Boolean)
        .slice(0, 20)
        .map((l) => JSON.parse(l));
      const text = (key: string) =>
        vectorFromArray(
          rows.map((r) => r[key] as string),
          new Utf8(),
        );
      const table = new Table({
        ind: vectorFromArray(
          rows.map((r) => r.ind as number),
          new Int32(),
        ),
        activity_label: text('activity_label'),
        ctx_a: text('ctx_a'),
        ctx_b: text('ctx_b'),
        ctx: text('ctx'),
        endings: vectorFromArray(
          rows.map((r) => r.endings as string[]),
          new List(new Field('item', new Utf8(), true)),
        ),
        source_id: text('source_id'),
        split: text('split'),
        split_type: text('split_type'),
        label: vectorFromArray(
          rows.map((r) => String(r.label)),
          new Utf8(),
        ),
      });
      const split = join(dir, 'validation');
      writeFileSync(join(dir, 'dataset_dict.json'), JSON.stringify({ splits: ['validation'] }));
      mkdirSync(split);
      writeFileSync(join(split, 'data-00000-of-00001.arrow'), tableToIPC(table, 'stream'));
      writeFileSync(join(split, 'state.json'), JSON.stringify({ _data_files: [{ filename: 'data-00000-of-00001.arrow' }] }));
      expect(readHellaswag(dir)).toEqual(readHellaswag(VAL, { limit: 20 }));
      expect(readHellaswag(dir, { limit: 3 })).toHaveLength(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('HellaSwag metrics', () => {
  test('acc takes the largest sum, acc_norm the largest sum per character of the choice', () => {
    const doc = { ind: 0, query: 'q', choices: ['ab', 'abcdef', 'a', 'abcd'], gold: 1 };
    // sums −4, −6, −3, −10 → acc picks 2 (wrong); per character −2, −1, −3, −2.5 → acc_norm picks 1 (right).
    expect(scoreDoc(doc, [-4, -6, -3, -10], [false, false, true, false])).toMatchObject({ acc: 0, accNorm: 1 });
    // Ties go to the first (numpy's argmax).
    expect(scoreDoc({ ...doc, gold: 0 }, [-1, -1, -5, -5], [true, true, false, false])).toMatchObject({ acc: 1 });
    // Lengths are counted in code points, as Python's len does.
    expect(
      scoreDoc({ ...doc, choices: ['😀😀', 'abc', 'x', 'y'], gold: 0 }, [-2, -3.3, -5, -5], [false, false, false, false]).accNorm,
    ).toBe(1);
  });

  test('stderr is the sample standard deviation over √n', () => {
    // values 1, 0, 1, 1: mean 0.75, Σ(x − m)² = 0.75, sample variance 0.25, stderr 0.5 / 2
    expect(sampleStderr([1, 0, 1, 1])).toBeCloseTo(0.25, 12);
    expect(sampleStderr([1])).toBeNull();
  });
});

describe('request encoding', () => {
  test('the continuation is encode(context + continuation) past the context ids; trailing context spaces move over', async () => {
    const tokenizer = await loadTokenizer(SMOLLM);
    const pair = encodePair(tokenizer, 'The cat sat on', ' the mat.');
    expect(pair.context).toEqual(Array.from(tokenizer.encode('The cat sat on', { addSpecialTokens: false })));
    expect([...pair.context, ...pair.continuation]).toEqual(
      Array.from(tokenizer.encode('The cat sat on the mat.', { addSpecialTokens: false })),
    );
    const moved = encodePair(tokenizer, 'The cat sat on ', 'the mat.');
    expect(moved).toEqual(pair);
    expect(truncateToLength({ context: [1, 2, 3, 4], continuation: [5, 6] }, 4)).toEqual({ context: [2, 3, 4], continuation: [5, 6] });
    expect(errorOf(() => truncateToLength({ context: [1], continuation: [5, 6, 7] }, 2)).message).toContain('does not fit');
  });
});
