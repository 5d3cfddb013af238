/**
 * The evaluators on real tiny models (native engine): out-of-memory back-off keeps finished chunks
 * and gives the same numbers; HellaSwag with shared contexts equals scoring each request alone;
 * KL/TV are 0 between identical models and pool every completion position.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Model } from '../../native/Model.js';
import { Runtime } from '../../native/Runtime.js';
import type { ChatTokenizer } from '../../tokenize/ChatTokenizer.js';
import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { BatchSize } from '../BatchSize.js';
import type { EvalModel } from '../EvalModel.js';
import { choiceRequests as hellaswagRequests, evaluateMultipleChoice } from '../multipleChoice.js';
import { readHellaswag } from '../hellaswagData.js';
import { type BaseCompletion, baseCompletions, evaluateKl } from '../kl.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SMOLLM = join(root, '..', 'shared', 'reference', 'models', 'HuggingFaceTB__SmolLM2-135M-Instruct');
const VAL = join(root, '..', 'shared', 'reference', 'hellaswag', 'hellaswag_val_sample1000.jsonl');

function outOfMemory(): Error {
  return Object.assign(new Error('CUDA out of memory (injected by the test)'), { code: 'ITL_OUT_OF_MEMORY' });
}

describe('evaluators on the native engine', () => {
  const runtime = Runtime.open({ torchThreads: 1, blasThreads: 0 });
  let dir: string;
  let model: Model;
  let other: Model;
  let twin: Model;
  let tokenizer: ChatTokenizer;
  const docs = readHellaswag(VAL, { limit: 6 });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'itl-eval-engine-'));
    model = await Model.init(runtime, 'tiny-smollm', 11, join(dir, 'a'));
    other = await Model.init(runtime, 'tiny-smollm', 12, join(dir, 'b'));
    twin = await Model.load(runtime, join(dir, 'a'));
    for (const file of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
      copyFileSync(join(SMOLLM, file), join(dir, 'a', file));
    tokenizer = await loadTokenizer(join(dir, 'a'));
  });
  afterAll(() => {
    for (const m of [model, other, twin]) m.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('HellaSwag: shared contexts give the numbers of scoring every request alone, with fewer tokens', async () => {
    const evaluation = await evaluateMultipleChoice(model, tokenizer, docs, { task: 'hellaswag', batch: new BatchSize(16, () => {}) });
    const maxLength = model.info.config.maxPositionEmbeddings;
    for (const [d, doc] of docs.entries()) {
      const requests = hellaswagRequests(tokenizer, doc, maxLength);
      for (const [k, request] of requests.entries()) {
        const [alone] = await model.score([request], { batchRows: 1 });
        expect(evaluation.docs[d]!.logprobs[k]).toBeCloseTo(alone!.logprob, 4);
        expect(evaluation.docs[d]!.isGreedy[k]).toBe(alone!.isGreedy);
      }
    }
    expect(evaluation.acc).toBe(evaluation.docs.filter((d) => d.acc === 1).length / docs.length);
    expect(evaluation.tokens.naive / evaluation.tokens.processed).toBeGreaterThan(2);
  });

  test('out of memory halves the batch and retries only the chunk that failed', async () => {
    const attempts: number[] = [];
    let calls = 0;
    const flaky: EvalModel = {
      info: model.info,
      generate: (...a) => model.generate(...a),
      divergence: (...a) => model.divergence(...a),
      score: (requests, options) => {
        calls++;
        attempts.push(options!.batchRows!);
        // The first chunk goes through at 8; from the second on, more than 4 rows run out of memory.
        return calls > 1 && options!.batchRows! > 4 ? Promise.reject(outOfMemory()) : model.score(requests, options);
      },
    };
    const logs: string[] = [];
    const backedOff = await evaluateMultipleChoice(flaky, tokenizer, docs, {
      task: 'hellaswag',
      batch: new BatchSize(8, (m) => logs.push(m)),
      chunkDocs: 2,
    });
    expect(attempts).toEqual([8, 8, 4, 4]);
    expect(logs).toEqual([expect.stringContaining('hellaswag: out of memory at batch size 8, retrying with 4')]);
    const plain = await evaluateMultipleChoice(model, tokenizer, docs, { task: 'hellaswag', batch: new BatchSize(8, () => {}) });
    for (const [i, d] of backedOff.docs.entries())
      for (const [k, l] of d.logprobs.entries()) expect(l).toBeCloseTo(plain.docs[i]!.logprobs[k]!, 3);
    expect(backedOff.docs.map((d) => d.isGreedy)).toEqual(plain.docs.map((d) => d.isGreedy));

    const failing = { ...flaky, score: () => Promise.reject(Object.assign(new Error('bad token'), { code: 'ITL_INVALID_ARGUMENT' })) };
    await expect(
      evaluateMultipleChoice(failing, tokenizer, docs, { task: 'hellaswag', batch: new BatchSize(8, () => {}) }),
    ).rejects.toMatchObject({ code: 'ITL_INVALID_ARGUMENT' });
    // At batch size 1 there is nothing left to back off to.
    const always = { ...flaky, score: () => Promise.reject(outOfMemory()) };
    await expect(
      evaluateMultipleChoice(always, tokenizer, docs, { task: 'hellaswag', batch: new BatchSize(2, () => {}) }),
    ).rejects.toMatchObject({ code: 'ITL_OUT_OF_MEMORY' });
  });

  test('KL/TV: 0 for identical weights; otherwise the pooled mean of every completion position', async () => {
    const prompts = [
      { category: 'factual', prompt: 'What is the capital of Spain?' },
      { category: 'creative', prompt: 'Describe a cloud.' },
    ];
    const completions: BaseCompletion[] = await baseCompletions(model, tokenizer, prompts, {
      dateString: '26 Jul 2024',
      maxNewTokens: 9,
      batch: new BatchSize(4, () => {}),
    });
    expect(completions).toHaveLength(2);
    for (const c of completions) expect(c.completion_ids.length).toBeGreaterThan(0);
    const same = await evaluateKl(twin, model, completions, { batch: new BatchSize(4, () => {}) });
    expect(same.kl_mean).toBeCloseTo(0, 6);
    expect(same.tv_mean).toBeCloseTo(0, 6);
    expect(same.num_positions).toBe(completions.reduce((n, c) => n + c.completion_ids.length, 0));

    const diff = await evaluateKl(other, model, completions, { batch: new BatchSize(1, () => {}), chunkSequences: 1 });
    const direct = await other.divergence(
      model,
      completions.map((c) => [...c.prompt_ids, ...c.completion_ids]),
      completions.map((c) => [...c.prompt_ids.map(() => 0), ...c.completion_ids.map(() => 1)]),
    );
    const mean = (a: Float32Array) => a.reduce((s, x) => s + x, 0) / a.length;
    expect(diff.kl_mean).toBeCloseTo(mean(direct.bregman), 6);
    expect(diff.tv_mean).toBeCloseTo(mean(direct.tv), 6);
    expect(diff.kl_standard_mean).toBeCloseTo(mean(direct.standard), 6);
    expect(diff.kl_mean).toBeGreaterThan(0);
    expect(diff.num_eval_kl).toBe(2);
    const sd = Math.sqrt(
      Array.from(direct.bregman, (x) => (x - mean(direct.bregman)) ** 2).reduce((a, b) => a + b) / (direct.bregman.length - 1),
    );
    expect(diff.kl_stderr).toBeCloseTo(sd / Math.sqrt(direct.bregman.length), 6);
  });
});
