/**
 * Selecting part of the grid: `--only TERM[,TERM…]` (repeatable), `--stage S[,S…]` and `--index I`.
 *
 * A term is `key=value` with key stage, model, mode or run, or a bare value whose key is
 * recognised: a stage (data, train, recall, hellaswag, base, kl, analyze) or `eval` (recall,
 * hellaswag, base, kl); a model short name (Smol135M … Lam8B); a mode (weight, tool); else a run
 * name or a `*`/`?` pattern over run names (`sft_Lam8B_*`). Models and runs take patterns too.
 *
 * Terms on one key are alternatives; different keys must all hold. Model, mode and run filters
 * select runs, and a step is kept when it serves at least one selected run: a run's train and
 * evaluation steps serve that run, a base model's HellaSwag serves its model's runs (both modes),
 * data and analyze serve every run. So `--only Lam1B` is Lam1B's whole pipeline (data, its runs,
 * their evaluations, its base model, analyze) and `--only train,kl --only Lam1B` only Lam1B's train
 * and kl steps. `--index I` selects the study's run I (0–35, the results table's order), for SLURM
 * array tasks: `--stage train --index I` is run I's training.
 *
 * Every value must select something in the full grid, so a typo is an error, not an empty grid.
 */
import { ItlError } from '../errors.js';
import { MODELS, type ModelInfo } from '../train/models.js';
import type { TrainingMode } from '../train/runName.js';
import { globToRegExp, hasGlobCharacters } from '../util/glob.js';
import { GRID_STAGES, type GridStage, type GridStep, STAGE_GROUPS } from './gridPlan.js';
import { type GridRun, STUDY_RUNS } from './studyGrid.js';

export interface GridFilter {
  stages?: Set<GridStage>;
  /** Model short-name patterns. */
  models?: RegExp[];
  modes?: Set<TrainingMode>;
  /** Run-name patterns. */
  runs?: RegExp[];
  /** `--index`: exactly this run (besides any run patterns). */
  indexRun?: string;
  /** The runs of the grid the filter selects among (default: the study's). */
  universe?: readonly GridRun[];
}

/** A grid's runs and the models they train (the study's, or a family's: familyGrid.ts). */
export interface GridScope {
  runs: readonly GridRun[];
  models: readonly ModelInfo[];
}

export const STUDY_SCOPE: GridScope = { runs: STUDY_RUNS, models: MODELS };

const KEYS = ['stage', 'model', 'mode', 'run'] as const;
type Key = (typeof KEYS)[number];
const MODES: readonly TrainingMode[] = ['weight', 'tool'];

function usage(message: string): never {
  throw new ItlError('ITL_USAGE', message);
}

function stagesOf(value: string): readonly GridStage[] | undefined {
  if ((GRID_STAGES as readonly string[]).includes(value)) return [value as GridStage];
  return STAGE_GROUPS[value];
}

function modelPattern(value: string, scope: GridScope): RegExp | undefined {
  const pattern = globToRegExp(value.toLowerCase());
  return scope.models.some((m) => pattern.test(m.shortName.toLowerCase())) ? new RegExp(pattern.source, 'i') : undefined;
}

function runPattern(value: string, scope: GridScope): RegExp | undefined {
  const pattern = globToRegExp(value);
  return scope.runs.some((run) => pattern.test(run.name)) ? pattern : undefined;
}

/** The key a bare term belongs to, or undefined when it is nothing the grid knows. */
function classify(value: string, scope: GridScope): Key | undefined {
  if (stagesOf(value)) return 'stage';
  if (!hasGlobCharacters(value) && scope.models.some((m) => m.shortName.toLowerCase() === value.toLowerCase())) return 'model';
  if ((MODES as readonly string[]).includes(value)) return 'mode';
  if (runPattern(value, scope)) return 'run';
  if (hasGlobCharacters(value) && modelPattern(value, scope)) return 'model';
  return undefined;
}

function add(filter: GridFilter, key: Key, value: string, term: string, scope: GridScope): void {
  switch (key) {
    case 'stage': {
      const stages =
        stagesOf(value) ??
        usage(`--only ${term}: '${value}' is not a stage; expected one of ${[...GRID_STAGES, ...Object.keys(STAGE_GROUPS)].join(', ')}`);
      filter.stages ??= new Set();
      for (const stage of stages) filter.stages.add(stage);
      return;
    }
    case 'model': {
      const pattern =
        modelPattern(value, scope) ??
        usage(`--only ${term}: '${value}' matches none of the models ${scope.models.map((m) => m.shortName).join(', ')}`);
      (filter.models ??= []).push(pattern);
      return;
    }
    case 'mode':
      if (!(MODES as readonly string[]).includes(value)) usage(`--only ${term}: expected the mode weight or tool but received '${value}'`);
      (filter.modes ??= new Set()).add(value as TrainingMode);
      return;
    case 'run': {
      const pattern =
        runPattern(value, scope) ??
        usage(`--only ${term}: '${value}' matches none of the grid's ${scope.runs.length} runs (itl grid --dry-run lists them)`);
      (filter.runs ??= []).push(pattern);
      return;
    }
  }
}

export interface FilterInput {
  /** `--only` values, each a comma-separated list of terms. */
  only?: readonly string[];
  /** `--stage` values, each a comma-separated list of stages. */
  stage?: readonly string[];
  /** `--index`: the study's run I. */
  index?: number;
}

export function parseGridFilter(input: FilterInput, scope: GridScope = STUDY_SCOPE): GridFilter {
  const filter: GridFilter = scope === STUDY_SCOPE ? {} : { universe: scope.runs };
  const terms = (values: readonly string[] | undefined) => (values ?? []).flatMap((v) => v.split(',')).map((t) => t.trim());
  for (const term of terms(input.only)) {
    if (term === '') usage('--only has an empty term (two commas, or a trailing one)');
    const equals = term.indexOf('=');
    // Run names contain '=', so only a known key before the first '=' makes a key=value term.
    const key = equals > 0 ? term.slice(0, equals) : '';
    if ((KEYS as readonly string[]).includes(key)) {
      add(filter, key as Key, term.slice(equals + 1), term, scope);
      continue;
    }
    const bare =
      classify(term, scope) ??
      usage(
        `--only ${term}: not a stage (${[...GRID_STAGES, ...Object.keys(STAGE_GROUPS)].join(', ')}), ` +
          `a model (${scope.models.map((m) => m.shortName).join(', ')}), a mode (weight, tool), nor a run name or pattern of the grid (sft_…)`,
      );
    add(filter, bare, term, term, scope);
  }
  for (const stage of terms(input.stage)) add(filter, 'stage', stage, `stage=${stage}`, scope);
  if (input.index !== undefined) {
    const runs = scope.runs;
    if (!Number.isInteger(input.index) || input.index < 0 || input.index >= runs.length) {
      usage(
        `expected --index in 0..${runs.length - 1} (a run of the ${scope === STUDY_SCOPE ? "study's table" : 'grid'}) but received ${input.index}`,
      );
    }
    filter.indexRun = runs[input.index].name;
  }
  return filter;
}

/** The runs a step serves (see the header): the runs a model, mode or run filter is checked against. */
export function servedRuns(step: GridStep, runs: readonly GridRun[] = STUDY_RUNS): readonly GridRun[] {
  if (step.run) return [step.run];
  if (step.model) return runs.filter((run) => run.model === step.model);
  return runs;
}

function runMatches(run: GridRun, filter: GridFilter): boolean {
  if (filter.models && !filter.models.some((p) => p.test(run.model))) return false;
  if (filter.modes && !filter.modes.has(run.mode)) return false;
  if (filter.runs && !filter.runs.some((p) => p.test(run.name))) return false;
  if (filter.indexRun !== undefined && run.name !== filter.indexRun) return false;
  return true;
}

export function stepMatches(step: GridStep, filter: GridFilter): boolean {
  if (filter.stages && !filter.stages.has(step.stage)) return false;
  return servedRuns(step, filter.universe).some((run) => runMatches(run, filter));
}

export function selectSteps(steps: readonly GridStep[], filter: GridFilter): GridStep[] {
  return steps.filter((step) => stepMatches(step, filter));
}
