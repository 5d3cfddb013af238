/**
 * The model handle across the addon boundary, on tiny models made at test time (needs the built
 * addon; set ITL_ADDON to use a particular build), and the model/forward/generate commands.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { main } from '../../cli/main.js';
import { ItlError } from '../../errors.js';
import { Model } from '../Model.js';
import { Runtime } from '../Runtime.js';

function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const x of logits) max = Math.max(max, x);
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (x) => x - lse);
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, process.env);
  return { code, stdout, stderr };
}

describe('Model (native engine)', () => {
  const runtime = Runtime.open({ torchThreads: 1, blasThreads: 0 });
  let dir: string;
  let model: Model;
  let other: Model;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'itl-model-test-'));
    model = await Model.init(runtime, 'tiny-smollm', 1, join(dir, 'a'));
    other = await Model.init(runtime, 'tiny-smollm', 2, join(dir, 'b'));
  });
  afterAll(() => {
    model.dispose();
    other.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('init writes a Hugging Face folder and reports the parsed config', async () => {
    const config = JSON.parse(readFileSync(join(dir, 'a', 'config.json'), 'utf8'));
    expect(config.architectures).toEqual(['LlamaForCausalLM']);
    expect(config.tie_word_embeddings).toBe(true);
    expect(model.info.config).toMatchObject({ vocabSize: 49152, numKeyValueHeads: 2, ropeTheta: 10000, eosTokenIds: [2] });
    const inspected = await Model.inspect(runtime, join(dir, 'a'));
    expect(inspected.parameterCount).toBe(model.info.parameterCount);
    expect(inspected.checkpoint.dtypes).toEqual({ F32: model.info.parameterCount });
  });

  test('bf16 with packed weights (the default) gives the unpacked logits and tokens; prepack is checked', async () => {
    const packed = await Model.load(runtime, join(dir, 'a'), { dtype: 'bf16' });
    const plain = await Model.load(runtime, join(dir, 'a'), { dtype: 'bf16', prepack: false });
    try {
      const ids = [5, 6, 7, 8, 300, 4000, 2];
      const [a, b] = [await packed.forward(ids), await plain.forward(ids)];
      expect(Array.from(a.lastLogits)).toEqual(Array.from(b.lastLogits));
      expect(Array.from(a.top1)).toEqual(Array.from(b.top1));
      const prompts = [
        [5, 6, 7],
        [100, 200, 300, 400, 500, 600],
      ];
      expect(await packed.generate(prompts, { maxNewTokens: 6, eosIds: [] })).toEqual(
        await plain.generate(prompts, { maxNewTokens: 6, eosIds: [] }),
      );
    } finally {
      packed.dispose();
      plain.dispose();
    }
    await expect(Model.load(runtime, join(dir, 'a'), { dtype: 'bf16', prepack: 'yes' as unknown as boolean })).rejects.toThrow(/prepack/);
  });

  test('generate continues each row as the forward argmax does, independently of the batch', async () => {
    const prompts = [[5, 6, 7], [100, 200, 300, 400, 500, 600], [9]];
    const together = await model.generate(prompts, { maxNewTokens: 5, eosIds: [] });
    expect(together.map((r) => r.length)).toEqual([5, 5, 5]);
    for (let r = 0; r < prompts.length; r++) {
      const [alone] = await model.generate([prompts[r]], { maxNewTokens: 5, eosIds: [] });
      expect(Array.from(alone)).toEqual(Array.from(together[r]));
      const { top1 } = await model.forward(prompts[r]);
      expect(together[r][0]).toBe(top1[top1.length - 1]);
    }
  });

  test('score of a one-token continuation is its log-softmax under forward; greedy continuations are flagged', async () => {
    const context = [11, 12, 13, 14];
    const { lastLogits } = await model.forward(context);
    const lp = logSoftmax(lastLogits);
    const [greedy] = await model.generate([context], { maxNewTokens: 3, eosIds: [] });
    const results = await model.score([
      { context, continuation: [777] },
      { context, continuation: greedy },
      { context: [1], continuation: [2, 3] },
    ]);
    expect(results[0].logprob).toBeCloseTo(lp[777], 4);
    expect(results[0].isGreedy).toBe(false);
    expect(results[1].isGreedy).toBe(true);
    expect(results[1].logprob).toBeLessThan(0);
  });

  test('divergence is zero against itself and positive against another model', async () => {
    const sequences = [
      [1, 2, 3, 4, 5],
      [6, 7, 8],
    ];
    const masks = [
      [0, 1, 1, 0, 1],
      [0, 1, 1],
    ];
    const same = await model.divergence(model, sequences, masks);
    expect(same.standard.length).toBe(5);
    expect(Array.from(same.observedStandard)).toEqual([0, 0, 0, 0, 0]);
    for (const v of [...same.standard, ...same.bregman, ...same.tv]) expect(v).toBeCloseTo(0, 6);
    const diff = await other.divergence(model, sequences, masks);
    for (const v of diff.standard) expect(v).toBeGreaterThan(0);
    for (const v of diff.observedBregman) expect(v).toBeGreaterThanOrEqual(0);
    // Over the whole vocabulary the bregman form and the standard KL are the same quantity.
    for (let i = 0; i < 5; i++) expect(diff.bregman[i]).toBeCloseTo(diff.standard[i], 4);
    for (let i = 0; i < 5; i++) expect(diff.observedLogSquare[i]).toBeCloseTo(0.5 * diff.observedStandard[i] ** 2, 5);
  });

  test('save then load gives the same logits', async () => {
    await model.save(join(dir, 'copy'));
    const copy = await Model.load(runtime, join(dir, 'copy'));
    try {
      const a = await model.forward([3, 1, 4, 1, 5]);
      const b = await copy.forward([3, 1, 4, 1, 5]);
      expect(Array.from(b.lastLogits)).toEqual(Array.from(a.lastLogits));
    } finally {
      copy.dispose();
    }
  });

  test('errors reject with codes and clear messages', async () => {
    await expect(Model.load(runtime, join(dir, 'missing'))).rejects.toMatchObject({ code: 'ITL_IO' });
    await expect(model.forward([1, 49152])).rejects.toMatchObject({
      code: 'ITL_INVALID_ARGUMENT',
      message: 'ids: token 1 is 49152, outside the vocabulary [0, 49152)',
    });
    await expect(Model.init(runtime, 'tiny-gpt', 0, join(dir, 'c'))).rejects.toMatchObject({ code: 'ITL_INVALID_ARGUMENT' });
    const doomed = await Model.load(runtime, join(dir, 'b'));
    doomed.dispose();
    expect(() => doomed.forward([1])).toThrow(ItlError);
  });

  test('itl model init / info, forward --json and generate --json', async () => {
    const out = join(dir, 'cli');
    expect((await cli(['model', 'init', '--preset', 'tiny-llama31', '--out', out, '--seed', '4'])).code).toBe(0);
    const info = await cli(['model', 'info', out, '--json']);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ config: { tieWordEmbeddings: false, ropeScaling: { ropeType: 'llama3', factor: 8 } } });
    const forward = await cli(['forward', '--model', out, '--ids', '1,2,3', '--json']);
    const f = JSON.parse(forward.stdout);
    expect(f.top1).toHaveLength(3);
    expect(f.last_logits).toHaveLength(128256);
    const generated = await cli(['generate', '--model', out, '--ids', '1,2,3', '--max-new-tokens', '4', '--json']);
    const g = JSON.parse(generated.stdout);
    expect(g.new_ids[0]).toBe(f.top1[2]);
    expect(g.new_ids.length).toBeLessThanOrEqual(4);
    const bad = await cli(['forward', '--model', out, '--ids', '1,,2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--ids');
  });
});
