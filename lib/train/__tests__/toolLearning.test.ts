/**
 * In-tool learning, end to end on a tiny model: a model that can copy names learns, from a few
 * hundred steps of in-tool dialogues, to send the database the exact `FIND <attribute> FOR <name>`
 * request for people it never saw in training. The model is the demo's (lib/demo: 0.92M parameters,
 * the project's byte-level BPE): first a short pre-training on the demo's general dialogues that copy
 * names from the question (greeting people, naming the people in a sentence, first letters, reading
 * — a random model cannot copy, and in-tool learning is copying plus a format), then `itl train` in
 * tool mode, then `itl eval recall`, whose predictions carry the request each answer made.
 * Deterministic (seeded, CPU); about 90 s.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { main } from '../../cli/main.js';
import { writeDemoConfig } from '../../demo/demoModel.js';
import { writeDemoTokenizer } from '../../demo/demoTokenizer.js';
import { generalDialogue, generalQuestions } from '../../demo/generalTasks.js';
import { Model } from '../../native/Model.js';
import { Runtime } from '../../native/Runtime.js';
import type { ToolPrediction } from '../../eval/recall.js';
import { latestCheckpoint } from '../runFolder.js';

async function itl(args: string[]) {
  let stderr = '';
  const code = await main(args, { stdout: () => {}, stderr: (t) => void (stderr += t) });
  if (code !== 0) throw new Error(`itl ${args.join(' ')} exited ${code}:\n${stderr.slice(-2000)}`);
}

const COPY_TASKS = new Set(['greet', 'names', 'first-letter', 'reading']);

describe('in-tool learning on a tiny model', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-tool-learning-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('emits the exact FIND request for unseen people', async () => {
    const init = join(scratch, 'init');
    await writeDemoTokenizer(init);
    await writeDemoConfig(init);
    (await Model.initFromConfig(Runtime.open(), init, 0, init)).dispose();
    const copying = generalQuestions(12000, 11)
      .filter((q) => COPY_TASKS.has(q.task))
      .slice(0, 2030);
    const general = join(scratch, 'copying.jsonl');
    writeFileSync(general, `${copying.map((q) => JSON.stringify({ messages: generalDialogue(q) })).join('\n')}\n`);
    await itl([
      'train',
      '--run-name',
      'sft_Demo_facts=2000-epochs=5-batch=16-gradAcc=1-LR=1e-3-loraR=0-loraA=0-weight',
      '--model',
      init,
      '--data',
      general,
      '--save-dir',
      join(scratch, 'pretrain'),
      '--save-checkpoints',
      'last',
    ]);
    const base = latestCheckpoint(
      join(scratch, 'pretrain', 'sft_Demo_facts=2000-epochs=5-batch=16-gradAcc=1-LR=1e-3-loraR=0-loraA=0-weight'),
    )!.path;

    const data = join(scratch, 'facts');
    await itl(['data', 'build', '--people', '300', '--seed', '3', '--out', data]);
    const run = 'sft_Demo_facts=1024-epochs=3-batch=16-gradAcc=1-LR=1e-3-loraR=0-loraA=0-tool';
    await itl([
      'train',
      '--run-name',
      run,
      '--model',
      base,
      '--data',
      data,
      '--save-dir',
      join(scratch, 'runs'),
      '--save-checkpoints',
      'last',
    ]);
    const evalDir = join(scratch, 'eval');
    await itl([
      'eval',
      'recall',
      '--models-dir',
      join(scratch, 'runs'),
      '--eval-dir',
      evalDir,
      '--train-examples',
      '1',
      '--test-examples',
      '100',
    ]);

    const results = JSON.parse(readFileSync(join(evalDir, 'recall', run, 'checkpoints_recall_results.json'), 'utf8')) as Record<
      string,
      { predictions_test: ToolPrediction[] }
    >;
    const [entry] = Object.values(results);
    const unseen = entry!.predictions_test;
    expect(unseen).toHaveLength(100);
    // Exact: the request names the asked person (as the question spells it) and the database's
    // reply is the asked fact (so the attribute was right too).
    const isExact = (p: ToolPrediction): boolean => {
      const name = /(?:of|was|does) ([A-Z][a-z]+ [A-Z][a-z]+)/.exec(p.question)?.[1];
      if (name === undefined) return false;
      return p.request?.endsWith(` FOR ${name}`) === true && p.db_answer === p.ground_truth;
    };
    const misses = unseen.filter((p) => !isExact(p)).map((p) => `${p.question} → ${p.request ?? p.tool_call}`);
    // A model that has not learned to copy gets none right (the untrained format, or a remembered
    // training name); after this short pre-training about 80 of 100 are exact (the demo's longer
    // pre-training reaches 99). At least 75; a failure lists what the model asked instead.
    expect(misses.length > 25 ? misses : []).toEqual([]);
  }, 900_000);
});
