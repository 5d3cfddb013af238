import { readFileSync } from 'node:fs';

import { errorOf } from '../../testing/errorOf.js';
import { FAMILY_MODELS, MODELS, findModel, findModelByDirectoryName } from '../models.js';
import { formatRunName, parseRunName, type RunName } from '../runName.js';

const STUDY_CSV = '../shared/reference/paper-results/large_scale_results.csv';

/** The study's run names, read with a plain split: the file has no quoted fields. */
function studyRunNames(): string[] {
  const lines = readFileSync(STUDY_CSV, 'utf8').trim().split('\n');
  const runColumn = lines[0].split(',').indexOf('run');
  const names = new Set(lines.slice(1).map((line) => line.split(',')[runColumn]));
  return [...names].filter((name) => !name.endsWith('_base')).sort();
}

describe('parseRunName / formatRunName', () => {
  it('parses a study run name into its typed fields', () => {
    expect(parseRunName('sft_Smol1.7B_facts=50000-epochs=30-batch=64-gradAcc=2-LR=3e-4-loraR=0-loraA=0-weight')).toEqual({
      model: 'Smol1.7B',
      facts: 50000,
      epochs: 30,
      batch: 64,
      gradAcc: 2,
      lr: 3e-4,
      loraR: 0,
      loraAlpha: 0,
      mode: 'weight',
    });
  });

  it('round-trips every run name of the study table (36 runs)', () => {
    const names = studyRunNames();
    expect(names).toHaveLength(36);
    for (const name of names) {
      expect(formatRunName(parseRunName(name))).toBe(name);
    }
    const modes = names.map((n) => parseRunName(n).mode);
    expect(modes.filter((m) => m === 'tool')).toHaveLength(6);
  });

  it('formats LoRA and fractional learning rates', () => {
    const run: RunName = {
      model: 'Lam3B',
      facts: 500,
      epochs: 15,
      batch: 4,
      gradAcc: 32,
      lr: 2.5e-4,
      loraR: 16,
      loraAlpha: 32,
      mode: 'tool',
    };
    const name = formatRunName(run);
    expect(name).toBe('sft_Lam3B_facts=500-epochs=15-batch=4-gradAcc=32-LR=2.5e-4-loraR=16-loraA=32-tool');
    expect(parseRunName(name)).toEqual(run);
  });

  it.each([
    ['run_Smol135M_facts=500-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight', /start 'run_'/],
    ['sft_Smol999M_facts=500-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight', /model 'Smol999M'/],
    ['sft_Smol135M_facts=500-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-both', /mode 'both'/],
    ['sft_Smol135M_facts=500-epochs=30-batch=64-gradAcc=2-LR=0.001-loraR=0-loraA=0-weight', /value of 'LR'/],
    ['sft_Smol135M_facts=500-epochs=30-batch=64-gradAcc=2-LR=10e-4-loraR=0-loraA=0-weight', /learning rate 'LR=10e-4'/],
    ['sft_Smol135M_facts=500-epochs=thirty-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight', /value of 'epochs'/],
    ['sft_Smol135M_facts=500-epochs=30-bs=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight', /'bs=64' where 'batch=…'/],
    ['sft_Smol135M_facts=0500-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-loraA=0-weight', /value of 'facts'/],
    ['sft_Smol135M_facts=500-epochs=30-batch=64-gradAcc=2-LR=1e-3-loraR=0-weight', /'weight' where 'loraA=…'/],
    ['sft_Smol135M-facts=500', /'_facts='/],
  ])('rejects %s naming the wrong part', (name, pattern) => {
    const error = errorOf(() => parseRunName(name));
    expect(error.code).toBe('ITL_DATA');
    expect(error.message).toContain(name);
    expect(error.message).toMatch(pattern);
  });
});

/** Parameters of a Llama-architecture model from its config.json (embeddings once when tied). */
function parametersFromConfig(c: Record<string, number | boolean>): number {
  const hidden = c.hidden_size as number;
  const headDim = (c.head_dim as number | undefined) ?? hidden / (c.num_attention_heads as number);
  const kv = (c.num_key_value_heads as number) * headDim;
  const attention = 2 * hidden * hidden + 2 * hidden * kv;
  const mlp = 3 * hidden * (c.intermediate_size as number);
  const layer = attention + mlp + 2 * hidden;
  const embeddings = (c.vocab_size as number) * hidden * (c.tie_word_embeddings ? 1 : 2);
  return embeddings + (c.num_hidden_layers as number) * layer + hidden;
}

describe('MODELS', () => {
  it('lists the six study models in order of size', () => {
    expect(MODELS.map((m) => m.shortName)).toEqual(['Smol135M', 'Smol360M', 'Lam1B', 'Smol1.7B', 'Lam3B', 'Lam8B']);
    const sizes = MODELS.map((m) => m.parameters);
    expect([...sizes].sort((a, b) => a - b)).toEqual(sizes);
  });

  it.each([
    ['Smol360M', 'HuggingFaceTB__SmolLM-360M-Instruct'],
    ['Lam3B', 'meta-llama__Llama-3.2-3B-Instruct'],
  ])('gives %s the parameter count its reference config.json implies', (shortName, folder) => {
    const config = JSON.parse(readFileSync(`../shared/reference/models/${folder}/config.json`, 'utf8'));
    const model = findModel(shortName)!;
    expect(model.hfId).toBe(folder.replace('__', '/'));
    expect(model.parameters).toBe(parametersFromConfig(config));
  });

  it("knows today's family models; their names (with '.' and '-') round-trip in run names", () => {
    expect(FAMILY_MODELS.map((m) => m.shortName)).toEqual([
      'Qwen2.5-0.5B',
      'Qwen3-0.6B',
      'Qwen2.5-1.5B',
      'Qwen3-1.7B',
      'SmolLM3-3B',
      'Qwen2.5-3B',
      'Qwen3-4B',
      'Mistral-7B',
      'Qwen2.5-7B',
      'Qwen3-8B',
      'Mistral-Nemo-12B',
    ]);
    const sizes = FAMILY_MODELS.map((m) => m.parameters);
    expect([...sizes].sort((a, b) => a - b)).toEqual(sizes);
    for (const model of FAMILY_MODELS) {
      const name = `sft_${model.shortName}_facts=500-epochs=30-batch=4-gradAcc=32-LR=2.5e-5-loraR=16-loraA=32-tool`;
      expect(parseRunName(name)).toMatchObject({ model: model.shortName, facts: 500, lr: 2.5e-5, loraR: 16, mode: 'tool' });
      expect(formatRunName(parseRunName(name))).toBe(name);
    }
    expect(findModelByDirectoryName('Qwen__Qwen2.5-0.5B-Instruct')?.shortName).toBe('Qwen2.5-0.5B');
    expect(findModelByDirectoryName('Mistral-7B-Instruct-v0.3')?.shortName).toBe('Mistral-7B');
    expect(findModelByDirectoryName('mistralai__Mistral-Nemo-Instruct-2407')?.shortName).toBe('Mistral-Nemo-12B');
    expect(findModelByDirectoryName('qwen3-0.6b')?.shortName).toBe('Qwen3-0.6B');
    expect(
      errorOf(() => parseRunName('sft_Qwen2.5-0.6B_facts=500-epochs=30-batch=4-gradAcc=32-LR=2e-5-loraR=0-loraA=0-tool')).message,
    ).toMatch(/the model 'Qwen2.5-0.6B' — expected one of .*Qwen2.5-0.5B/);
  });

  it('finds models by the directory names result files use', () => {
    expect(findModelByDirectoryName('Llama-3.2-1B')?.shortName).toBe('Lam1B');
    expect(findModelByDirectoryName('HuggingFaceTB__SmolLM-135M-Instruct')?.shortName).toBe('Smol135M');
    expect(findModelByDirectoryName('smol1.7b')?.shortName).toBe('Smol1.7B');
    expect(findModelByDirectoryName('gpt2')).toBeUndefined();
  });
});
