/**
 * The families beside Llama through the addon: the registry's parameter counts equal the engine's
 * count of each shape preset, the transformers-written fixture folders load with their model_type
 * and sliding window reported, and `itl model init` writes each family's own architecture.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { main } from '../../cli/main.js';
import { FAMILY_MODELS } from '../../train/models.js';
import { Model } from '../Model.js';
import { Runtime } from '../Runtime.js';

const FIXTURES = 'native/tests/fixtures/families';

describe('model families (native engine)', () => {
  const runtime = Runtime.open({ torchThreads: 1, blasThreads: 0 });
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'itl-families-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("each family model's parameter count is the engine's count of its shape preset", () => {
    const presets = new Map(Model.presets(runtime).map((p) => [p.name, p.parameterCount]));
    for (const model of FAMILY_MODELS) {
      expect([model.shortName, presets.get(model.shortName.toLowerCase())]).toEqual([model.shortName, model.parameters]);
    }
  });

  test.each([
    ['qwen2', null],
    ['qwen3', null],
    ['smollm3', null],
    ['mistral', 16],
  ])('the transformers-written %s model loads with its family reported', async (family, slidingWindow) => {
    const model = await Model.load(runtime, join(FIXTURES, family));
    try {
      expect(model.info.config).toMatchObject({ modelType: family, vocabSize: 64, slidingWindow });
    } finally {
      model.dispose();
    }
  });

  test.each([
    ['tiny-qwen2', 'Qwen2ForCausalLM', 'qwen2'],
    ['tiny-qwen3', 'Qwen3ForCausalLM', 'qwen3'],
    ['tiny-smollm3', 'SmolLM3ForCausalLM', 'smollm3'],
    ['tiny-mistral', 'MistralForCausalLM', 'mistral'],
  ])('itl model init --preset %s writes %s', async (preset, architecture, modelType) => {
    let stderr = '';
    const out = join(dir, preset);
    const code = await main(
      ['model', 'init', '--preset', preset, '--out', out],
      { stdout: () => undefined, stderr: (t) => void (stderr += t) },
      process.env,
    );
    expect([code, stderr]).toEqual([0, '']);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ architectures: [architecture], model_type: modelType });
  });
});
