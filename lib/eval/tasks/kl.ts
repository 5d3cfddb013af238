/**
 * KL and TV from the base model (lib/eval/kl.ts) on the base model's greedy answers to general
 * prompts. The base model is the run's (run_config.json, the adapter's base, or --base-model); its
 * answers are generated once per base model and date, and cached under EVAL/cache/.
 * Results: EVAL/kl_tv/<run>/checkpoint_kl_eval_results.json.
 */
import { join, resolve } from 'node:path';

import { ItlError } from '../../errors.js';
import { Model } from '../../native/Model.js';
import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { modelIdentity } from '../../util/provenance.js';
import { fileDigest } from './digests.js';
import { Held } from '../Held.js';
import { type BaseCompletion, baseCompletions, evaluateKl, type KlPrompt, readKlPrompts, SHIPPED_KL_PROMPTS } from '../kl.js';
import type { EvalTask, SubjectDescription, TaskContext } from './EvalTask.js';
import { KeyedResults } from './keyedResults.js';
import { optionalNumber, requiredNumber } from './readResults.js';
import { positiveInteger } from './taskFlags.js';

interface KlSettings {
  prompts: string;
  maxNewTokens: number;
}

interface KlState {
  settings: KlSettings;
  context: TaskContext;
  prompts: KlPrompt[];
  promptsDigest: string;
  bases: Held<{ model: Model; completions: Map<string, BaseCompletion[]> }>;
}

const results = new KeyedResults('kl_tv', 'checkpoint_kl_eval_results.json');

function baseModelOf(subject: SubjectDescription): string {
  if (subject.run.baseModel === undefined) {
    throw new ItlError(
      'ITL_CONFIG',
      subject.runProblem ?? `${subject.label}: KL needs the base model (--base-model DIR, or the run's run_config.json)`,
    );
  }
  return subject.run.baseModel;
}

export const klTask: EvalTask<KlSettings, KlState> = {
  name: 'kl',
  describe: "KL and TV from the base model at every position of its greedy answers to general prompts (the study's estimators)",
  flags: {
    'kl-prompts': {
      type: 'string',
      describe: 'kl: a prompts file ({"prompts": [{"category", "prompt"}]}; default: the ~120 shipped prompts)',
    },
    'kl-max-new-tokens': { type: 'number', default: 400, describe: 'kl: most tokens of each base-model answer' },
  },
  baseModels: "a base model's divergence from itself is 0 by definition",
  columns: ['kl', 'kl_stderr', 'tv', 'tv_stderr'],

  settings: (args) => ({
    prompts: typeof args['kl-prompts'] === 'string' ? args['kl-prompts'] : SHIPPED_KL_PROMPTS,
    maxNewTokens: positiveInteger(args['kl-max-new-tokens'] ?? 400, '--kl-max-new-tokens'),
  }),

  async open(settings, context) {
    return {
      settings,
      context,
      prompts: await readKlPrompts(settings.prompts),
      promptsDigest: fileDigest(settings.prompts),
      bases: new Held((b) => b.model.dispose()),
    };
  },

  async provenance(state, subject) {
    return {
      base_model: modelIdentity(baseModelOf(subject)),
      options: {
        'kl prompts sha256': state.promptsDigest,
        'kl max new tokens': state.settings.maxNewTokens,
        'date string': subject.dateString,
      },
    };
  },

  async evaluate(state, subject, target, provenance) {
    const { context } = state;
    const baseDir = baseModelOf(subject);
    const base = await state.bases.get(resolve(baseDir), async () => ({
      model: await Model.load(context.runtime, baseDir, context.loadOptions),
      completions: new Map<string, BaseCompletion[]>(),
    }));
    // The base model answers with its own tokenizer and template; the checkpoint reads the same ids.
    let completions = base.completions.get(subject.dateString);
    if (!completions) {
      completions = await baseCompletions(base.model, await loadTokenizer(base.model.info.folder), state.prompts, {
        dateString: subject.dateString,
        maxNewTokens: state.settings.maxNewTokens,
        batch: context.batch,
        cacheDir: join(context.evalDir, 'cache', 'kl_base_completions'),
        onProgress: context.log,
      });
      base.completions.set(subject.dateString, completions);
    }
    const entry = await evaluateKl(subject.model, base.model, completions, { batch: context.batch, onProgress: context.log });
    await results.write(target, entry, provenance);
    return `kl ${entry.kl_mean.toExponential(4)}, tv ${entry.tv_mean.toExponential(4)} (${entry.num_positions} positions)`;
  },

  recorded: (target) => results.recorded(target),

  collect: (evalDir, sink) =>
    results.collect(evalDir, sink, (entry, where) => ({
      kl: requiredNumber(entry, 'kl_mean', where),
      kl_stderr: optionalNumber(entry, 'kl_stderr', where),
      tv: requiredNumber(entry, 'tv_mean', where),
      tv_stderr: optionalNumber(entry, 'tv_stderr', where),
    })),

  close: (state) => state.bases.release(),
};
