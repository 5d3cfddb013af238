/**
 * `itl grid --family F`: the study's grid on a family it did not run. Each model takes the runs of
 * the study model nearest in log parameter count, settings unchanged; the run names round-trip; the
 * dry run's commands parse with the CLI's own builders; filters and --index count this grid's runs.
 */
import { FAMILY_MODELS, findModel, MODELS } from '../../train/models.js';
import { formatRunName, parseRunName } from '../../train/runName.js';
import { familyGridRuns, matchedStudyModel } from '../familyGrid.js';
import { STUDY_RUNS } from '../studyGrid.js';
import { parseItl } from './parseItl.js';
import { runItl as itl } from '../../cli/__tests__/runItl.js';

test('each family model is matched to the study model nearest in log parameter count', () => {
  const matched = Object.fromEntries(FAMILY_MODELS.map((m) => [m.shortName, matchedStudyModel(m).shortName]));
  expect(matched).toEqual({
    'Qwen2.5-0.5B': 'Smol360M',
    'Qwen3-0.6B': 'Smol360M',
    'Qwen2.5-1.5B': 'Smol1.7B',
    'Qwen3-1.7B': 'Smol1.7B',
    'SmolLM3-3B': 'Lam3B',
    'Qwen2.5-3B': 'Lam3B',
    'Qwen3-4B': 'Lam3B',
    'Mistral-7B': 'Lam8B',
    'Qwen2.5-7B': 'Lam8B',
    'Qwen3-8B': 'Lam8B',
    'Mistral-Nemo-12B': 'Lam8B',
  });
  // The rule, checked by its definition: no study model is nearer than the matched one.
  for (const model of FAMILY_MODELS) {
    const d = (m: (typeof MODELS)[number]) => Math.abs(Math.log(m.parameters / model.parameters));
    expect(MODELS.every((m) => d(m) >= d(matchedStudyModel(model)))).toBe(true);
  }
});

test("a family's grid is its models' copies of the matched study runs, names that round-trip", () => {
  const runs = familyGridRuns('Qwen3');
  expect(runs).toHaveLength(4 * 6);
  expect(runs.map((r) => r.index)).toEqual([...Array(24).keys()]);
  const lam8 = STUDY_RUNS.filter((r) => r.model === 'Lam8B');
  const qwen8 = runs.filter((r) => r.model === 'Qwen3-8B');
  expect(qwen8.map(({ facts, epochs, batch, gradAcc, lr, mode }) => ({ facts, epochs, batch, gradAcc, lr, mode }))).toEqual(
    lam8.map(({ facts, epochs, batch, gradAcc, lr, mode }) => ({ facts, epochs, batch, gradAcc, lr, mode })),
  );
  expect(qwen8[0]!.name).toBe('sft_Qwen3-8B_facts=500-epochs=50-batch=4-gradAcc=32-LR=2e-5-loraR=0-loraA=0-weight');
  for (const run of runs) {
    expect(formatRunName(parseRunName(run.name))).toBe(run.name);
    expect(findModel(run.model)?.family).toBe('Qwen3');
  }
  expect(familyGridRuns('SmolLM3').map((r) => r.name)).toContain(
    'sft_SmolLM3-3B_facts=500-epochs=15-batch=4-gradAcc=32-LR=4e-5-loraR=0-loraA=0-tool',
  );
});

test('itl grid --family prints that grid; its commands parse; filters and --index count its runs', async () => {
  const { code, stdout } = await itl(['grid', '--family', 'Mistral', '--dry-run', '--json', '--hellaswag', 'h.jsonl']);
  expect(code).toBe(0);
  const steps = JSON.parse(stdout) as { stage: string; run: string | null; model: string | null; argv: string[] }[];
  // data, 2 models × 6 runs × (train, recall, hellaswag, kl), 2 base models, analyze
  expect(steps).toHaveLength(1 + 2 * 6 * 4 + 2 + 1);
  for (const step of steps) await expect(parseItl(step.argv)).resolves.toBeDefined();
  const train = steps.filter((s) => s.stage === 'train').map((s) => s.run);
  expect(train[0]).toBe('sft_Mistral-7B_facts=500-epochs=50-batch=4-gradAcc=32-LR=2e-5-loraR=0-loraA=0-weight');
  expect(train[6]).toBe('sft_Mistral-Nemo-12B_facts=500-epochs=50-batch=4-gradAcc=32-LR=2e-5-loraR=0-loraA=0-weight');
  const one = await itl(['grid', '--family', 'mistral', '--dry-run', '--stage', 'train', '--index', '5']);
  expect(one.stdout.trim().split('\n')).toHaveLength(1);
  expect(one.stdout).toContain('sft_Mistral-7B_facts=500-epochs=40-batch=4-gradAcc=32-LR=2e-5-loraR=0-loraA=0-tool');
  const qwen = await itl(['grid', '--family', 'qwen2.5', '--dry-run', '--json', '--only', 'Qwen2.5-3B,train']);
  expect(JSON.parse(qwen.stdout).map((s: { run: string }) => s.run)).toHaveLength(6);
  for (const [args, message] of [
    [['--family', 'gemma'], /--family gemma: expected one of qwen2.5, qwen3, smollm3, mistral/],
    [['--family', 'qwen3', '--index', '24'], /expected --index in 0..23 \(a run of the grid\)/],
    [['--family', 'qwen3', '--only', 'Lam1B'], /--only Lam1B: .*a model \(Qwen3-0.6B, Qwen3-1.7B, Qwen3-4B, Qwen3-8B\)/],
  ] as const) {
    const result = await itl(['grid', '--dry-run', ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
  }
});
