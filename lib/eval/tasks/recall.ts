/**
 * Factual recall (lib/eval/recall.ts): 300 seeded training facts and the 100 unseen rows after N,
 * asked through the chat template; in-tool runs get their database requests answered by the run's
 * own facts.sqlite. Results: EVAL/recall/<run>/checkpoints_recall_results.json.
 */
import { resolve } from 'node:path';

import { type FactsDb, openFactsDatabase } from '../../data/factsDatabase.js';
import { type FactsDataset, openFactsDataset } from '../../data/openFactsDataset.js';
import { factsDatabasePath } from '../../data/verifyDataFiles.js';
import { ItlError } from '../../errors.js';
import type { TrainingMode } from '../../train/runName.js';
import { dataIdentity } from '../../util/provenance.js';
import { Held } from '../Held.js';
import { evaluateRecall, type RecallSelection, selectRecallExamples } from '../recall.js';
import type { EvalTask, RunFacts, SubjectDescription, TaskContext } from './EvalTask.js';
import { KeyedResults } from './keyedResults.js';
import { optionalNumber } from './readResults.js';
import { nonNegativeInteger, positiveInteger } from './taskFlags.js';

interface RecallSettings {
  selection: Required<RecallSelection>;
}

interface RecallState {
  settings: RecallSettings;
  context: TaskContext;
  datasets: Held<{ dataset: FactsDataset; db: FactsDb | undefined }>;
}

const results = new KeyedResults('recall', 'checkpoints_recall_results.json');

function runFacts(subject: SubjectDescription): Required<Pick<RunFacts, 'data' | 'facts' | 'mode'>> {
  const { data, facts, mode } = subject.run;
  if (data === undefined || facts === undefined || mode === undefined) {
    throw new ItlError(
      'ITL_CONFIG',
      subject.runProblem ?? `${subject.label}: recall needs the dataset, the number of facts and the mode (--data, --facts, --mode)`,
    );
  }
  return { data, facts, mode };
}

export const recallTask: EvalTask<RecallSettings, RecallState> = {
  name: 'recall',
  describe: "factual recall: seeded training facts and unseen people, answered in weights or through the tool (the run's own facts.sqlite)",
  flags: {
    'train-examples': { type: 'number', default: 300, describe: 'recall: training facts drawn (seeded) from rows 0..N-1' },
    'test-examples': { type: 'number', default: 100, describe: 'recall: unseen rows N.. evaluated' },
    'recall-seed': { type: 'number', default: 42, describe: 'recall: seed of the training-fact draw' },
  },
  baseModels:
    "a base model's recall has no run to take the facts from: evaluate it with --model DIR --data DIR --facts N --mode weight|tool",
  columns: ['recall_train', 'recall_train_stderr', 'recall_test', 'recall_test_stderr'],

  settings: (args) => ({
    selection: {
      trainCount: positiveInteger(args['train-examples'] ?? 300, '--train-examples'),
      testCount: positiveInteger(args['test-examples'] ?? 100, '--test-examples'),
      seed: nonNegativeInteger(args['recall-seed'] ?? 42, '--recall-seed'),
    },
  }),

  async open(settings, context) {
    return {
      settings,
      context,
      datasets: new Held((d) => {
        d.dataset.close();
        d.db?.close();
      }),
    };
  },

  async provenance(state, subject) {
    const { data, facts, mode } = runFacts(subject);
    const { trainCount, testCount, seed } = state.settings.selection;
    return {
      data: dataIdentity(data),
      options: {
        facts,
        mode,
        'train examples': trainCount,
        'test examples': testCount,
        'recall seed': seed,
        'date string': subject.dateString,
      },
    };
  },

  async evaluate(state, subject, target, provenance) {
    const { data, facts, mode } = runFacts(subject);
    const { dataset, db } = await state.datasets.get(`${resolve(data)}\0${mode}`, async () => openDataset(data, mode));
    const splits = selectRecallExamples(dataset, facts, state.settings.selection);
    const entry = await evaluateRecall(subject.model, subject.tokenizer, splits, {
      mode,
      db,
      dateString: subject.dateString,
      batch: state.context.batch,
      onProgress: state.context.log,
    });
    await results.write(target, entry, provenance);
    return `train ${entry.accuracy_train.toFixed(4)} (${entry.num_eval_train}), unseen ${entry.accuracy_test.toFixed(4)} (${entry.num_eval_test})`;
  },

  recorded: (target) => results.recorded(target),

  collect: (evalDir, sink) =>
    results.collect(evalDir, sink, (entry, where) => {
      const metrics = {
        recall_train: optionalNumber(entry, 'accuracy_train', where),
        recall_train_stderr: optionalNumber(entry, 'stderr_train', where),
        recall_test: optionalNumber(entry, 'accuracy_test', where),
        recall_test_stderr: optionalNumber(entry, 'stderr_test', where),
      };
      if (metrics.recall_train === undefined && metrics.recall_test === undefined) {
        throw new ItlError('ITL_DATA', `${where}: neither 'accuracy_train' nor 'accuracy_test' is given`);
      }
      return metrics;
    }),

  close: (state) => state.datasets.release(),
};

function openDataset(data: string, mode: TrainingMode): { dataset: FactsDataset; db: FactsDb | undefined } {
  const dataset = openFactsDataset(data);
  try {
    return { dataset, db: mode === 'tool' ? openFactsDatabase(factsDatabasePath(data)) : undefined };
  } catch (error) {
    dataset.close();
    throw error;
  }
}
