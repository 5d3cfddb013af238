/**
 * The SLURM jobs call only commands and flags that exist: each jobfile runs under bash with SLURM's
 * variables set and `node`, `srun` and `scontrol` replaced by recorders, and every `itl` command
 * line it would start goes through the CLI's own parser. The grid's jobs also select what they
 * should: array task I of the training job trains the study's run I, and so on.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { main } from '../../cli/main.js';
import { STUDY_RUN_NAMES } from '../studyGrid.js';
import { parseItl } from './parseItl.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const JOBFILES = join(root, 'jobfiles');
const RUN = STUDY_RUN_NAMES[0];
let shims: string;

beforeAll(() => {
  shims = mkdtempSync(join(tmpdir(), 'itl-jobfiles-'));
  // node: records its arguments (one per line; none of ours holds a newline) instead of running.
  // Calls within a job are sequential: a counter file numbers them in order.
  const next = 'n=$(( $(cat "$JOB_LOG.count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$JOB_LOG.count"\n';
  writeFileSync(join(shims, 'node'), `#!/bin/bash\n${next}printf "%s\\n" "$@" > "$JOB_LOG.call-$n"\n`);
  writeFileSync(join(shims, 'srun'), '#!/bin/bash\nwhile [[ $1 == -* ]]; do shift; done\nexec "$@"\n');
  writeFileSync(join(shims, 'scontrol'), '#!/bin/bash\necho node-a\necho node-b\n');
  writeFileSync(join(shims, 'sbatch'), `#!/bin/bash\n${next}printf "%s\\n" "$@" > "$JOB_LOG.sbatch-$n"\necho "$((1000 + n))"\n`);
  for (const name of ['node', 'srun', 'scontrol', 'sbatch']) chmodSync(join(shims, name), 0o755);
});
afterAll(() => rmSync(shims, { recursive: true, force: true }));

interface Job {
  /** Each `node` invocation's arguments, in order. */
  calls: string[][];
  sbatch: string[][];
  status: number | null;
  stderr: string;
}

/** Runs a jobfile as SLURM would (from the submit directory, SLURM's variables set) with the recorders. */
function runJob(file: string, env: Record<string, string> = {}, args: string[] = []): Job {
  const log = join(shims, `log-${Math.random().toString(36).slice(2)}`);
  const result = spawnSync('bash', [join(JOBFILES, file), ...args], {
    encoding: 'utf8',
    cwd: root,
    env: {
      PATH: `${shims}:${process.env.PATH}`,
      JOB_LOG: log,
      SLURM_SUBMIT_DIR: root,
      SLURM_JOB_ID: '4242',
      SLURM_JOB_NODELIST: 'node-[a-b]',
      SLURM_GPUS_ON_NODE: '1',
      HELLASWAG: '/data/hellaswag_val.jsonl',
      ...env,
    },
  });
  const prefix = `${log.split('/').at(-1)}.`;
  const recorded = (kind: string) =>
    readdirSync(shims)
      .filter((f) => f.startsWith(`${prefix}${kind}-`))
      .sort((a, b) => Number(a.split('-').at(-1)) - Number(b.split('-').at(-1)))
      .map((f) => readFileSync(join(shims, f), 'utf8').replace(/\n$/, '').split('\n'));
  return {
    calls: recorded('call'),
    sbatch: recorded('sbatch'),
    status: result.status,
    stderr: result.stderr,
  };
}

/** The itl arguments of a `node bin/itl.js …` call. */
function itlArgs(call: string[]): string[] {
  expect(call[0]).toBe('bin/itl.js');
  return call.slice(1);
}

async function gridPlan(args: string[]): Promise<{ stage: string; run: string | null; model: string | null; argv: string[] }[]> {
  let stdout = '';
  let stderr = '';
  const code = await main(
    [...args, '--dry-run', '--json'],
    { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) },
    process.env,
  );
  if (code !== 0) throw new Error(stderr);
  return JSON.parse(stdout);
}

const directive = (file: string, name: string) =>
  new RegExp(`^#SBATCH --${name}=(.*)$`, 'm').exec(readFileSync(join(JOBFILES, file), 'utf8'))?.[1];

describe('jobfiles', () => {
  it('every jobfile is a bash script of SLURM directives that runs from the submit directory', () => {
    const files = readdirSync(JOBFILES).filter((f) => f.endsWith('.sbatch'));
    for (const script of readdirSync(JOBFILES).filter((f) => f.endsWith('.sh')))
      expect(spawnSync('bash', ['-n', join(JOBFILES, script)]).status).toBe(0);
    expect(files).toEqual(
      expect.arrayContaining(['grid-data.sbatch', 'grid-train.sbatch', 'grid-eval.sbatch', 'grid-eval-base.sbatch', 'grid-analyze.sbatch']),
    );
    for (const file of files) {
      const text = readFileSync(join(JOBFILES, file), 'utf8');
      expect(text.startsWith('#!/bin/bash\n')).toBe(true);
      expect(text).toMatch(/^#SBATCH --job-name=itl-/m);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's own ${…} expansion, as written in the jobfile.
      expect(text).toContain('cd "${ITL_ROOT:-${SLURM_SUBMIT_DIR:-.}}"');
      expect(spawnSync('bash', ['-n', join(JOBFILES, file)]).status).toBe(0);
    }
  });

  it('the existing jobs call only real commands and flags', async () => {
    const doctor = runJob('doctor.sbatch');
    expect(doctor.status).toBe(0);
    expect((await parseItl(itlArgs(doctor.calls[0]))).command).toBe('doctor');

    const evaluation = runJob('eval.sbatch', { RUNS: 'r', EVAL: 'e' });
    expect(evaluation.status).toBe(0);
    const parsed = await Promise.all(evaluation.calls.map((c) => parseItl(itlArgs(c))));
    expect(parsed.map((p) => [p.command, p.args.task, p.args.base])).toEqual([
      ['eval', 'recall', false],
      ['eval', 'hellaswag', false],
      ['eval', 'hellaswag', true],
      ['eval', 'kl', false],
    ]);

    const trainArgs = ['--run-name', RUN, '--data', 'data/facts', '--save-dir', 'runs', '--device', 'cuda'];
    const oneNode = runJob('train-1node.sbatch', { SLURM_GPUS_ON_NODE: '4' }, trainArgs);
    expect(oneNode.status).toBe(0);
    const launch = await parseItl(itlArgs(oneNode.calls[0]));
    expect(launch).toMatchObject({
      command: 'launch',
      args: { 'nproc-per-node': 4, 'master-port': 20000 + 4242 },
      launched: { command: 'train', args: { 'run-name': RUN } },
    });

    const multi = runJob('train-multinode.sbatch', {}, trainArgs);
    expect(multi.status).toBe(0);
    expect(await parseItl(itlArgs(multi.calls[0]))).toMatchObject({ command: 'train', args: { 'run-name': RUN, device: 'cuda' } });
  });

  it("grid-train: an array of one task per run, task I training the study's run I", async () => {
    expect(directive('grid-train.sbatch', 'array')).toBe(`0-${STUDY_RUN_NAMES.length - 1}`);
    for (let i = 0; i < STUDY_RUN_NAMES.length; i++) {
      const job = runJob('grid-train.sbatch', { SLURM_ARRAY_TASK_ID: String(i), DATA: 'd', RUNS: 'r', MODELS: '/models' });
      expect(job.status).toBe(0);
      const args = itlArgs(job.calls[0]);
      expect((await parseItl(args)).command).toBe('grid');
      const steps = await gridPlan(args);
      expect(steps.map((s) => [s.stage, s.run])).toEqual([['train', STUDY_RUN_NAMES[i]]]);
      const train = await parseItl(steps[0].argv);
      expect(train).toMatchObject({
        command: 'train',
        args: { 'run-name': STUDY_RUN_NAMES[i], data: 'd', 'save-dir': 'r', device: 'cuda', resume: true },
      });
      expect(String(train.args.model)).toMatch(/^\/models\/(HuggingFaceTB|meta-llama)\//);
    }
    // Several GPUs per task: the run goes through itl launch, one rank per GPU, on a port of its own.
    const multi = runJob('grid-train.sbatch', { SLURM_ARRAY_TASK_ID: '17', SLURM_GPUS_ON_NODE: '4' });
    const [step] = await gridPlan(itlArgs(multi.calls[0]));
    expect(await parseItl(step.argv)).toMatchObject({
      command: 'launch',
      args: { 'nproc-per-node': 4, 'master-port': 24242 },
      launched: { command: 'train', args: { 'run-name': STUDY_RUN_NAMES[17], data: 'data/facts', 'save-dir': 'runs' } },
    });
    // Outside an array the task id is missing: a clear error, nothing run.
    const outside = runJob('grid-train.sbatch');
    expect(outside.status).not.toBe(0);
    expect(outside.stderr).toContain('submit as a job array');
    expect(outside.calls).toHaveLength(0);
  });

  it('grid-eval: task I evaluates run I (recall, HellaSwag, KL); grid-eval-base the six base models', async () => {
    expect(directive('grid-eval.sbatch', 'array')).toBe(`0-${STUDY_RUN_NAMES.length - 1}`);
    for (const i of [0, 17, 35]) {
      const job = runJob('grid-eval.sbatch', { SLURM_ARRAY_TASK_ID: String(i), RUNS: 'r', EVAL: 'e' });
      expect(job.status).toBe(0);
      const steps = await gridPlan(itlArgs(job.calls[0]));
      expect(steps.map((s) => [s.stage, s.run])).toEqual(['recall', 'hellaswag', 'kl'].map((stage) => [stage, STUDY_RUN_NAMES[i]]));
      for (const s of steps) {
        expect(await parseItl(s.argv)).toMatchObject({
          command: 'eval',
          args: { 'models-dir': 'r', 'eval-dir': 'e', run: [STUDY_RUN_NAMES[i]], 'batch-size': 128 },
        });
      }
    }
    const missing = runJob('grid-eval.sbatch', { SLURM_ARRAY_TASK_ID: '0', HELLASWAG: '' });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('set HELLASWAG');

    const base = runJob('grid-eval-base.sbatch', { RUNS: 'r', EVAL: 'e' });
    const steps = await gridPlan(itlArgs(base.calls[0]));
    expect(steps.map((s) => s.model)).toEqual(['Lam1B', 'Lam3B', 'Lam8B', 'Smol135M', 'Smol360M', 'Smol1.7B']);
    for (const s of steps) {
      expect(await parseItl(s.argv)).toMatchObject({
        command: 'eval',
        args: { task: 'hellaswag', base: true, 'models-dir': 'r', hellaswag: '/data/hellaswag_val.jsonl' },
      });
    }
  });

  it('grid-data and grid-analyze run their stage with the configured folders', async () => {
    const data = await gridPlan(itlArgs(runJob('grid-data.sbatch', { DATA: 'facts' }).calls[0]));
    expect(await parseItl(data[0].argv)).toMatchObject({ command: 'data', args: { action: 'build', out: 'facts', people: 50000 } });
    const analyze = await gridPlan(itlArgs(runJob('grid-analyze.sbatch', { RUNS: 'r', EVAL: 'e', RESULTS: 'out' }).calls[0]));
    expect(await parseItl(analyze[0].argv)).toMatchObject({
      command: 'analyze',
      args: { 'eval-dir': ['e'], 'runs-dir': ['r'], out: 'out' },
    });
  });

  it('submit-grid.sh chains the five jobs with their dependencies', () => {
    const job = runJob('submit-grid.sh', {}, ['--account=study']);
    expect(job.status).toBe(0);
    const submitted = job.sbatch.map((args) => ({
      file: args.at(-1),
      dependency: args.find((a) => a.startsWith('--dependency='))?.split('=')[1] ?? null,
      account: args.includes('--account=study'),
    }));
    expect(submitted.map((s) => s.file).sort()).toEqual([
      'jobfiles/grid-analyze.sbatch',
      'jobfiles/grid-data.sbatch',
      'jobfiles/grid-eval-base.sbatch',
      'jobfiles/grid-eval.sbatch',
      'jobfiles/grid-train.sbatch',
    ]);
    expect(submitted.every((s) => s.account)).toBe(true);
    // The recorder answers job ids 1001, 1002, … in submission order: each dependency names the right job.
    const id = (file: string) => String(1001 + submitted.findIndex((s) => s.file === `jobfiles/${file}`));
    const dependency = (file: string) => submitted.find((s) => s.file === `jobfiles/${file}`)!.dependency;
    expect(dependency('grid-data.sbatch')).toBeNull();
    expect(dependency('grid-train.sbatch')).toBe(`afterok:${id('grid-data.sbatch')}`);
    expect(dependency('grid-eval.sbatch')).toBe(`aftercorr:${id('grid-train.sbatch')}`);
    expect(dependency('grid-eval-base.sbatch')).toBe(`afterok:${id('grid-train.sbatch')}`);
    expect(dependency('grid-analyze.sbatch')).toBe(`afterok:${id('grid-eval.sbatch')}:${id('grid-eval-base.sbatch')}`);
    expect(runJob('submit-grid.sh', { HELLASWAG: '' }).stderr).toContain('set HELLASWAG');
  });
});
