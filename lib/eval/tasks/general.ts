/**
 * General ability on held-out questions with one right answer (lib/eval/general.ts; `itl demo`
 * writes them), exact match of greedy answers. Results: EVAL/general/<run>/checkpoint_general_results.json,
 * base models EVAL/general/base_models/<model>/general_results.json.
 */
import { fileDigest } from './digests.js';
import { evaluateGeneral, type GeneralQuestionRecord, readGeneralQuestions } from '../general.js';
import type { EvalTask, TaskContext } from './EvalTask.js';
import { KeyedResults } from './keyedResults.js';
import { optionalNumber, requiredNumber } from './readResults.js';
import { positiveInteger, requiredPath } from './taskFlags.js';

interface GeneralSettings {
  questions: string;
  maxNewTokens: number;
}

interface GeneralState {
  settings: GeneralSettings;
  context: TaskContext;
  questions: GeneralQuestionRecord[];
  digest: string;
}

const results = new KeyedResults('general', 'checkpoint_general_results.json', 'general_results.json');

export const generalTask: EvalTask<GeneralSettings, GeneralState> = {
  name: 'general',
  describe: 'general ability: exact-match greedy answers to held-out questions (`itl demo` writes them)',
  flags: {
    questions: {
      type: 'string',
      describe:
        'general: held-out questions with one right answer ({"questions": [{"task", "question", "answer"}]}; `itl demo` writes one)',
    },
    'general-max-new-tokens': { type: 'number', default: 64, describe: 'general: most tokens of each answer' },
  },
  baseModels: true,
  columns: ['general_absolute', 'general_absolute_stderr', 'general_relative', 'general_relative_stderr'],
  relative: {
    absolute: 'general_absolute',
    absoluteStderr: 'general_absolute_stderr',
    relative: 'general_relative',
    relativeStderr: 'general_relative_stderr',
  },

  settings: (args) => ({
    questions: requiredPath(
      args.questions,
      '--questions',
      'general',
      'FILE (held-out questions: {"questions": [{"task", "question", "answer"}]})',
    ),
    maxNewTokens: positiveInteger(args['general-max-new-tokens'] ?? 64, '--general-max-new-tokens'),
  }),

  async open(settings, context) {
    return { settings, context, questions: await readGeneralQuestions(settings.questions), digest: fileDigest(settings.questions) };
  },

  async provenance(state, subject) {
    return {
      options: {
        'questions sha256': state.digest,
        'general max new tokens': state.settings.maxNewTokens,
        'date string': subject.dateString,
      },
    };
  },

  async evaluate(state, subject, target, provenance) {
    const entry = await evaluateGeneral(subject.model, subject.tokenizer, state.questions, {
      dateString: subject.dateString,
      maxNewTokens: state.settings.maxNewTokens,
      batch: state.context.batch,
      onProgress: state.context.log,
    });
    await results.write(target, entry, provenance);
    return `accuracy ${entry.accuracy.toFixed(4)} (${entry.num_eval} questions)`;
  },

  recorded: (target) => results.recorded(target),

  collect: (evalDir, sink) =>
    results.collect(evalDir, sink, (entry, where) => ({
      general_absolute: requiredNumber(entry, 'accuracy', where),
      general_absolute_stderr: optionalNumber(entry, 'stderr', where),
    })),

  close: () => {},
};
