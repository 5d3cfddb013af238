/**
 * `itl grid --dry-run`: every step of the study's grid as an `itl` command line that the CLI's own
 * parser accepts (real commands, real flags), in order; the filters (--only, --stage, --index) and
 * their errors.
 */
import { STUDY_RUN_NAMES } from '../studyGrid.js';
import { parseItl } from './parseItl.js';
import { runItl as itl } from '../../cli/__tests__/runItl.js';

interface Step {
  index: number | null;
  stage: string;
  model: string | null;
  mode: string | null;
  run: string | null;
  argv: string[];
  command: string;
}

async function plan(...args: string[]): Promise<Step[]> {
  const result = await itl(['grid', '--dry-run', '--json', ...args]);
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

/** Splits a printed line the way a POSIX shell does for the quoting shellQuote emits (bare words, '…'). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const match of line.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g))
    words.push(match[1] !== undefined ? match[1].replaceAll(`'\\''`, "'") : match[2]);
  return words;
}

const H = '/data/hella swag.jsonl';

describe('itl grid --dry-run', () => {
  it('prints the whole grid, one runnable itl command per line, in stage order', async () => {
    const { code, stdout } = await itl(['grid', '--dry-run', '--hellaswag', H]);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    // data, 36 × (train, recall, hellaswag, kl), 6 base models, analyze
    expect(lines).toHaveLength(1 + 36 * 4 + 6 + 1);
    const parsed = [];
    for (const line of lines) {
      const words = shellWords(line);
      expect(words[0]).toBe('itl');
      parsed.push(await parseItl(words.slice(1))); // throws on an unknown command or flag
    }
    expect(parsed[0]).toMatchObject({ command: 'data', args: { action: 'build', people: 50000, seed: 0, out: 'data/facts' } });
    const trains = parsed.filter((p) => p.command === 'train');
    expect(trains.map((p) => p.args['run-name'])).toEqual([...STUDY_RUN_NAMES]);
    expect(trains[0].args).toMatchObject({ data: 'data/facts', 'save-dir': 'runs', device: 'cuda', precision: 'bf16', resume: true });
    for (const metric of ['recall', 'kl']) {
      const evals = parsed.filter((p) => p.command === 'eval' && p.args.task === metric);
      expect(evals.map((p) => p.args.run)).toEqual(STUDY_RUN_NAMES.map((name) => [name]));
      expect(evals[0].args).toMatchObject({ 'models-dir': 'runs', 'eval-dir': 'eval', device: 'cuda', dtype: 'bf16' });
    }
    const hellaswag = parsed.filter((p) => p.command === 'eval' && p.args.task === 'hellaswag');
    expect(hellaswag.filter((p) => !p.args.base).map((p) => p.args.run)).toEqual(STUDY_RUN_NAMES.map((name) => [name]));
    expect(hellaswag.filter((p) => p.args.base).map((p) => p.args.run)).toEqual(
      ['Lam1B', 'Lam3B', 'Lam8B', 'Smol135M', 'Smol360M', 'Smol1.7B'].map((m) => [`sft_${m}_*`]),
    );
    expect(hellaswag.every((p) => p.args.hellaswag === H)).toBe(true);
    expect(parsed.at(-1)).toMatchObject({ command: 'analyze', args: { 'eval-dir': ['eval'], 'runs-dir': ['runs'], out: 'results' } });
    const order = parsed.map((p) => (p.command === 'eval' ? (p.args.base ? 'base' : p.args.task) : p.command));
    expect(order.filter((s, i) => s !== order[i - 1])).toEqual(['data', 'train', 'recall', 'hellaswag', 'base', 'kl', 'analyze']);
  });

  it("--index I with --stage train is the study's run I, for every I", async () => {
    for (let i = 0; i < STUDY_RUN_NAMES.length; i++) {
      const steps = await plan('--stage', 'train', '--index', String(i));
      expect(steps).toHaveLength(1);
      expect(steps[0]).toMatchObject({ stage: 'train', index: i, run: STUDY_RUN_NAMES[i] });
      expect((await parseItl(steps[0].argv)).args['run-name']).toBe(STUDY_RUN_NAMES[i]);
    }
    expect((await plan('--index', '7', '--stage', 'recall,hellaswag,kl', '--hellaswag', H)).map((s) => [s.stage, s.run])).toEqual(
      ['recall', 'hellaswag', 'kl'].map((stage) => [stage, STUDY_RUN_NAMES[7]]),
    );
  });

  it('passes the paths, devices and multi-GPU launch through to each command', async () => {
    const steps = await plan(
      '--data',
      'd',
      '--runs',
      'r',
      '--eval-dir',
      'e',
      '--results',
      'out',
      '--models-dir',
      '/models',
      '--hellaswag',
      H,
      '--device',
      'cpu',
      '--precision',
      'fp32',
      '--dtype',
      'fp32',
      '--eval-batch-size',
      '8',
      '--nproc-per-node',
      '4',
      '--master-port',
      '29555',
      '--only',
      'Lam8B,data,analyze',
      '--only',
      'stage=train,data,analyze,base,kl',
    );
    // data and analyze serve every run, Lam8B's among them.
    expect(steps.map((s) => s.stage)).toEqual(['data', ...Array(6).fill('train'), 'base', ...Array(6).fill('kl'), 'analyze']);
    expect((await parseItl(steps[0].argv)).args).toMatchObject({ action: 'build', out: 'd' });
    steps.shift();
    const train = await parseItl(steps[0].argv);
    expect(train).toMatchObject({ command: 'launch', args: { 'nproc-per-node': 4, 'master-port': 29555 } });
    expect(train.launched).toMatchObject({
      command: 'train',
      args: {
        'run-name': STUDY_RUN_NAMES[10],
        data: 'd',
        'save-dir': 'r',
        model: '/models/meta-llama/Llama-3.1-8B-Instruct',
        device: 'cpu',
        precision: 'fp32',
      },
    });
    expect((await parseItl(steps[6].argv)).args).toMatchObject({
      base: true,
      'models-dir': 'r',
      run: ['sft_Lam8B_*'],
      'eval-dir': 'e',
      dtype: 'fp32',
      'batch-size': 8,
    });
    const analyze = await plan('--stage', 'analyze', '--runs', 'r', '--eval-dir', 'e', '--results', 'out');
    expect((await parseItl(analyze[0].argv)).args).toMatchObject({ 'eval-dir': ['e'], 'runs-dir': ['r'], out: 'out' });
  });

  it('--only: stages, groups, models, modes, runs and patterns; alternatives within a key, all keys together', async () => {
    expect((await plan('--only', 'train', '--only', 'tool')).map((s) => s.run)).toEqual(STUDY_RUN_NAMES.filter((n) => n.endsWith('-tool')));
    expect((await plan('--only', 'eval', '--only', 'Smol135M', '--only', 'tool', '--hellaswag', H)).map((s) => s.stage)).toEqual([
      'recall',
      'hellaswag',
      'base',
      'kl',
    ]);
    // A model alone is its whole pipeline: the dataset, its runs' steps, its base model, the analysis.
    const smol = await plan('--only', 'Smol360M', '--hellaswag', H);
    expect(smol.map((s) => s.stage)).toEqual([
      'data',
      ...Array(6).fill('train'),
      ...Array(6).fill('recall'),
      ...Array(6).fill('hellaswag'),
      'base',
      ...Array(6).fill('kl'),
      'analyze',
    ]);
    expect(smol.every((s) => s.model === null || s.model === 'Smol360M')).toBe(true);
    // A run's pipeline: its base model too, no other model's.
    expect((await plan('--index', '30', '--hellaswag', H)).map((s) => [s.stage, s.model])).toEqual([
      ['data', null],
      ...['train', 'recall', 'hellaswag', 'base', 'kl'].map((stage) => [stage, 'Smol1.7B']),
      ['analyze', null],
    ]);
    expect(await plan('--only', 'model=smol1*,Lam1B', '--only', 'stage=base', '--hellaswag', H)).toEqual([
      expect.objectContaining({ model: 'Lam1B' }),
      expect.objectContaining({ model: 'Smol135M' }),
      expect.objectContaining({ model: 'Smol1.7B' }),
    ]);
    const fiftyK = await plan('--only', 'sft_*_facts=50000-*', '--stage', 'kl');
    expect(fiftyK.map((s) => s.model)).toEqual(['Lam1B', 'Lam3B', 'Lam8B', 'Smol135M', 'Smol360M', 'Smol1.7B']);
    const one = STUDY_RUN_NAMES[20];
    expect(
      (await plan('--only', `run=${one}`, '--only', 'train,recall,hellaswag,kl', '--hellaswag', H)).map((s) => [s.stage, s.run]),
    ).toEqual(['train', 'recall', 'hellaswag', 'kl'].map((stage) => [stage, one]));
    expect((await plan('--only', 'data', '--only', 'analyze')).map((s) => s.stage)).toEqual(['data', 'analyze']);
    // --index and a run pattern must both hold.
    expect(await plan('--index', '0', '--only', 'sft_Smol*', '--stage', 'train').catch((e: Error) => e.message)).toMatch(/select no step/);
  });

  it('shell-quotes what needs it, so a printed line runs as printed', async () => {
    const { stdout } = await itl([
      'grid',
      '--dry-run',
      '--stage',
      'base',
      '--only',
      'Smol135M',
      '--hellaswag',
      "it's here.jsonl",
      '--runs',
      'my runs',
    ]);
    expect(stdout).toBe(
      "itl eval hellaswag --base --models-dir 'my runs' --run 'sft_Smol135M_*' --hellaswag 'it'\\''s here.jsonl' --eval-dir eval --device cuda --dtype bf16\n",
    );
    expect(shellWords(stdout.trim()).slice(1)).toEqual([
      'eval',
      'hellaswag',
      '--base',
      '--models-dir',
      'my runs',
      '--run',
      'sft_Smol135M_*',
      '--hellaswag',
      "it's here.jsonl",
      '--eval-dir',
      'eval',
      '--device',
      'cuda',
      '--dtype',
      'bf16',
    ]);
  });

  it.each([
    [['--only', 'Smol999M'], /--only Smol999M: not a stage .*a model \(Smol135M, Smol360M, Lam1B, Smol1.7B, Lam3B, Lam8B\)/],
    [['--only', 'stage=evaluate'], /'evaluate' is not a stage; expected one of data, train, recall, hellaswag, base, kl, analyze, eval/],
    [['--only', 'mode=both'], /expected the mode weight or tool but received 'both'/],
    [['--only', 'run=sft_Lam2B_*'], /'sft_Lam2B_\*' matches none of the grid's 36 runs/],
    [['--only', 'model=Qwen*'], /'Qwen\*' matches none of the models/],
    [['--only', 'train,,kl'], /empty term/],
    [['--index', '36'], /expected --index in 0..35/],
    [['--index', '-1'], /expected --index in 0..35/],
    [['--only', 'tool', '--only', 'sft_*_facts=50000-*'], /select no step/],
    [['--stage', 'hellaswag'], /the hellaswag and base steps need --hellaswag FILE/],
    [['--stage', 'train', '--master-port', '1234'], /--master-port goes with --nproc-per-node/],
    [['--stage', 'train', '--nproc-per-node', '0'], /expected a positive integer for --nproc-per-node but received 0/],
    [['--stage', 'train', '--unknown-flag'], /Unknown argument/],
  ])('rejects %j with a usage error naming the problem', async (args, pattern) => {
    const result = await itl(['grid', '--dry-run', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(pattern);
    expect(result.stderr).toContain('[ITL_USAGE]');
    expect(result.stdout).toBe('');
  });
});
