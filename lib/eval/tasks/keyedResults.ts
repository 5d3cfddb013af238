/**
 * The study's per-run result files keyed by checkpoint (recall, KL/TV, and ours, general ability):
 * EVAL/<folder>/<run>/<file> = { "checkpoint-<step>": {…entry, provenance} }, and for tasks that
 * evaluate base models EVAL/<folder>/base_models/<model>/<baseFile> = {…entry, provenance}.
 * One object per task says where its files are; writing, reuse checks and reading back are shared.
 */
import { join } from 'node:path';

import { ItlError } from '../../errors.js';
import { writeFileAtomic } from '../../util/writeFileAtomic.js';
import { BASE_MODELS_FOLDER, baseFilePath, keyedFilePath, readKeyedFile, writeKeyedEntry } from '../resultFiles.js';
import type { Provenance, ResultSink, ResultTarget } from './EvalTask.js';
import { checkpointEntries, isObject, listDirectories, readJsonIfPresent, recordedProvenance } from './readResults.js';

export class KeyedResults {
  constructor(
    /** The task's folder under EVAL (the study calls KL/TV's `kl_tv`). */
    readonly folder: string,
    readonly file: string,
    /** A base model's own file name, for tasks that evaluate base models. */
    readonly baseFile?: string,
  ) {}

  path(target: ResultTarget): string {
    return target.baseModel
      ? baseFilePath(target.evalDir, this.folder, target.run, this.baseFile!)
      : keyedFilePath(target.evalDir, this.folder, target.run, this.file);
  }

  async write(target: ResultTarget, entry: object, provenance: Provenance): Promise<void> {
    const recorded = { ...entry, provenance };
    if (target.baseModel) await writeFileAtomic(this.path(target), `${JSON.stringify(recorded, null, 2)}\n`);
    else await writeKeyedEntry(this.path(target), target.checkpoint, recorded);
  }

  async recorded(target: ResultTarget): Promise<Provenance | null | undefined> {
    if (target.baseModel) {
      const document = await readJsonIfPresent(this.path(target));
      return document === undefined ? undefined : recordedProvenance(document);
    }
    const document = await readKeyedFile(this.path(target));
    return Object.hasOwn(document, target.checkpoint) ? recordedProvenance(document[target.checkpoint]) : undefined;
  }

  /** Every run's entries (and base models' files) through `metricsOf`, into the sink. */
  async collect(
    evalDir: string,
    sink: ResultSink,
    metricsOf: (entry: Record<string, unknown>, where: string) => Record<string, number | undefined>,
  ): Promise<void> {
    const root = join(evalDir, this.folder);
    for (const run of await listDirectories(root)) {
      if (run === BASE_MODELS_FOLDER || !sink.isRun(join(root, run), run)) continue;
      const path = join(root, run, this.file);
      await sink.attempt(async () => {
        const document = await readJsonIfPresent(path);
        if (document === undefined) return;
        const parsed = [...checkpointEntries(document, path)].map(
          ([step, entry]) => [step, metricsOf(entry, `${path}: checkpoint-${step}`)] as const,
        );
        for (const [step, metrics] of parsed) sink.addRun(join(root, run), run, step, metrics);
      });
    }
    if (!this.baseFile) return;
    for (const model of await listDirectories(join(root, BASE_MODELS_FOLDER))) {
      const path = join(root, BASE_MODELS_FOLDER, model, this.baseFile);
      await sink.attempt(async () => {
        const document = await readJsonIfPresent(path);
        if (document === undefined) return;
        if (!isObject(document)) throw new ItlError('ITL_DATA', `${path}: expected an object`);
        sink.addBase(join(root, BASE_MODELS_FOLDER, model), metricsOf(document, path));
      });
    }
  }
}
