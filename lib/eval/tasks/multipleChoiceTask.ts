/**
 * A multiple-choice log-likelihood task in lm-evaluation-harness's manner (lib/eval/multipleChoice.ts):
 * what differs between HellaSwag, ARC and the like is only how a data row becomes a document
 * (query, choices, gold), so a task is a spec handed to `multipleChoiceTask`. Results go where
 * lm-eval writes them — EVAL/<task>/<run>/<checkpoint>/results_<timestamp>.json (base models:
 * EVAL/<task>/base_models/<model>/) — with `results.<task>` holding acc, acc_norm and their stderr,
 * and analysis reads them into `<prefix>_absolute`, `<prefix>_acc_norm` and `<prefix>_relative` columns.
 */
import type { Options } from 'yargs';
import { join, resolve } from 'node:path';

import { ItlError } from '../../errors.js';
import { pathDigest } from './digests.js';
import { writeFileAtomic } from '../../util/writeFileAtomic.js';
import { evaluateMultipleChoice, type MultipleChoiceDoc, resultsDocument } from '../multipleChoice.js';
import { BASE_MODELS_FOLDER, latestResultsFile, lmEvalFolder, resultsTimestamp } from '../resultFiles.js';
import type { EvalTask, TaskContext } from './EvalTask.js';
import { isObject, listDirectories, optionalNumber, readJsonIfPresent, requiredNumber } from './readResults.js';
import { checkpointStep } from '../../train/runFolder.js';
import { optionalPositiveInteger, requiredPath } from './taskFlags.js';

export interface MultipleChoiceSpec {
  /** lm-eval's task name: the CLI name, the folder under EVAL and the key under `results`. */
  name: string;
  describe: string;
  /** The flag naming the data file or folder, and the one limiting it to the first N documents. */
  dataFlag: string;
  dataDescribe: string;
  limitFlag: string;
  readDocs: (path: string, limit: number | undefined) => MultipleChoiceDoc[];
  /** Analysis columns: `<prefix>_absolute`, `<prefix>_acc_norm`, `<prefix>_relative` (the study's names for HellaSwag). */
  columnPrefix: string;
  /** What the scores follow, recorded in the results file. */
  rules: string;
}

interface Settings {
  data: string;
  limit: number | undefined;
  addBos: boolean;
  logSamples: boolean;
}

interface State {
  settings: Settings;
  context: TaskContext;
  docs: MultipleChoiceDoc[];
  digest: string;
}

/** Flags every multiple-choice task shares (declared identically by each). */
const SHARED_FLAGS: Record<string, Options> = {
  'add-bos': {
    type: 'boolean',
    default: false,
    describe: "multiple-choice tasks: encode with the tokenizer's special tokens (lm-eval add_bos_token=True; off in 0.4.8)",
  },
  'log-samples': {
    type: 'boolean',
    default: false,
    describe: 'multiple-choice tasks: also write per-document log-likelihoods (samples_<task>_<timestamp>.jsonl)',
  },
};

export function multipleChoiceTask(spec: MultipleChoiceSpec): EvalTask<Settings, State> {
  const p = spec.columnPrefix;
  const metricsOf = (document: unknown, path: string) => {
    const task = isObject(document) && isObject(document.results) ? document.results[spec.name] : undefined;
    if (!isObject(task)) throw new ItlError('ITL_DATA', `${path}: no 'results.${spec.name}' object`);
    const where = `${path}: results.${spec.name}`;
    return {
      [`${p}_absolute`]: requiredNumber(task, 'acc,none', where),
      [`${p}_absolute_stderr`]: optionalNumber(task, 'acc_stderr,none', where),
      [`${p}_acc_norm`]: optionalNumber(task, 'acc_norm,none', where),
      [`${p}_acc_norm_stderr`]: optionalNumber(task, 'acc_norm_stderr,none', where),
    };
  };
  return {
    name: spec.name,
    describe: spec.describe,
    flags: {
      [spec.dataFlag]: { type: 'string', describe: spec.dataDescribe },
      [spec.limitFlag]: { type: 'number', describe: `${spec.name}: only the first N documents` },
      ...SHARED_FLAGS,
    },
    baseModels: true,
    columns: [`${p}_absolute`, `${p}_absolute_stderr`, `${p}_relative`, `${p}_relative_stderr`, `${p}_acc_norm`, `${p}_acc_norm_stderr`],
    relative: {
      absolute: `${p}_absolute`,
      absoluteStderr: `${p}_absolute_stderr`,
      relative: `${p}_relative`,
      relativeStderr: `${p}_relative_stderr`,
    },

    settings: (args) => ({
      data: requiredPath(args[spec.dataFlag], `--${spec.dataFlag}`, spec.name, `FILE|DIR (${spec.dataDescribe})`),
      limit: optionalPositiveInteger(args[spec.limitFlag], `--${spec.limitFlag}`),
      addBos: args['add-bos'] === true,
      logSamples: args['log-samples'] === true,
    }),

    async open(settings, context) {
      return { settings, context, docs: spec.readDocs(settings.data, settings.limit), digest: pathDigest(settings.data) };
    },

    async provenance(state) {
      return {
        options: {
          [`${spec.name} data sha256`]: state.digest,
          [`${spec.name} limit`]: state.settings.limit ?? 'all',
          'add bos': state.settings.addBos,
        },
      };
    },

    async evaluate(state, subject, target, provenance) {
      const { settings, context } = state;
      const started = performance.now();
      const evaluation = await evaluateMultipleChoice(subject.model, subject.tokenizer, state.docs, {
        task: spec.name,
        addBos: settings.addBos,
        batch: context.batch,
        onProgress: (done, total) => context.log(`${spec.name} ${done}/${total}`),
      });
      const timestamp = resultsTimestamp();
      const folder = lmEvalFolder(target.evalDir, spec.name, target);
      if (settings.logSamples) {
        const lines = evaluation.docs.map((d, i) =>
          JSON.stringify({
            doc_id: i,
            ind: d.ind,
            target: d.gold,
            resps: d.logprobs.map((l, k) => [l, d.isGreedy[k]]),
            acc: d.acc,
            acc_norm: d.accNorm,
          }),
        );
        await writeFileAtomic(join(folder, `samples_${spec.name}_${timestamp}.jsonl`), `${lines.join('\n')}\n`);
      }
      const path = join(folder, `results_${timestamp}.json`);
      const info = subject.model.info;
      await writeFileAtomic(
        path,
        `${JSON.stringify(
          resultsDocument(spec.name, evaluation, {
            model: info.folder,
            dtype: info.dtype,
            device: info.device,
            batch_size: context.batch.current,
            add_bos_token: settings.addBos,
            tokenizer_files_sha256: subject.tokenizer.filesHash,
            rules: spec.rules,
            adapter: subject.adapter ?? null,
            data: resolve(settings.data),
            limit: settings.limit ?? null,
            docs: state.docs.length,
            context_reuse: evaluation.tokens.naive / evaluation.tokens.processed,
            seconds: (performance.now() - started) / 1000,
            provenance,
          }),
          null,
          2,
        )}\n`,
      );
      return `acc ${evaluation.acc.toFixed(4)}, acc_norm ${evaluation.accNorm.toFixed(4)} (${evaluation.docs.length} docs) → ${path}`;
    },

    async recorded(target) {
      const file = await latestResultsFile(lmEvalFolder(target.evalDir, spec.name, target));
      if (file === undefined) return undefined;
      const document = await readJsonIfPresent(file);
      const config = isObject(document) ? document.config : undefined;
      return isObject(config) && isObject(config.provenance) ? config.provenance : null;
    },

    async collect(evalDir, sink) {
      const root = join(evalDir, spec.name);
      for (const run of await listDirectories(root)) {
        if (run === BASE_MODELS_FOLDER || !sink.isRun(join(root, run), run)) continue;
        for (const folder of await listDirectories(join(root, run))) {
          const path = join(root, run, folder);
          const step = checkpointStep(folder);
          if (step === undefined) {
            sink.problem(`${path}: not a 'checkpoint-<step>' folder, skipped`);
            continue;
          }
          await sink.attempt(async () => {
            const file = await latestResultsFile(path);
            if (file) sink.addRun(join(root, run), run, step, metricsOf(await readJsonIfPresent(file), file));
          });
        }
      }
      for (const model of await listDirectories(join(root, BASE_MODELS_FOLDER))) {
        const path = join(root, BASE_MODELS_FOLDER, model);
        await sink.attempt(async () => {
          const file = await latestResultsFile(path);
          if (file) sink.addBase(path, metricsOf(await readJsonIfPresent(file), file));
        });
      }
    },

    close: () => {},
  };
}
