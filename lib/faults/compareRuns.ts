/**
 * What "a rerun reaches the uninterrupted run's results" means, file by file, for the fault suite:
 * checkpoints bit-identical (weights, optimizer state, RNG state, configs; the trainer's JSON states
 * with their timing fields left out, and run_config.json with each run's own folder written as one
 * placeholder), data builds with the same manifest files, result files with the same entries.
 * Each function returns human-readable differences (empty: equal).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Timing fields of trainer_state.json's log_history and of itl_trainer_state.json: they differ run to run. */
const TIMING_KEYS = new Set(['train_runtime', 'train_tokens_per_second', 'eval_runtime', 'eval_samples_per_second', 'run_seconds']);

function withoutTiming(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTiming);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !TIMING_KEYS.has(key))
      .map(([key, v]) => [key, withoutTiming(v)]),
  );
}

/** The complete checkpoints of a run folder (checkpoint-<step>, not the dot-named staging folders). */
export function checkpointNames(runDir: string): string[] {
  if (!existsSync(runDir)) return [];
  return readdirSync(runDir)
    .filter((name) => /^checkpoint-\d+$/.test(name))
    .sort((a, b) => Number(a.slice(11)) - Number(b.slice(11)));
}

/** Differences between one checkpoint folder and the reference's of the same step. */
export function compareCheckpoint(reference: string, candidate: string, roots: { reference: string; candidate: string }): string[] {
  const differences: string[] = [];
  const files = readdirSync(reference).sort();
  const got = existsSync(candidate) ? readdirSync(candidate).sort() : [];
  if (files.join() !== got.join())
    differences.push(`${candidate}: files [${got.join(', ')}], the uninterrupted run has [${files.join(', ')}]`);
  for (const file of files.filter((f) => got.includes(f))) {
    const a = readFileSync(join(reference, file));
    const b = readFileSync(join(candidate, file));
    if (file === 'trainer_state.json' || file === 'itl_trainer_state.json') {
      if (JSON.stringify(withoutTiming(JSON.parse(a.toString()))) !== JSON.stringify(withoutTiming(JSON.parse(b.toString())))) {
        differences.push(`${join(candidate, file)} differs from the uninterrupted run's (timing fields aside)`);
      }
    } else if (file === 'run_config.json') {
      const placeholder = (text: string, root: string) => text.replaceAll(root, '<run root>');
      if (placeholder(a.toString(), roots.reference) !== placeholder(b.toString(), roots.candidate)) {
        differences.push(`${join(candidate, file)} differs from the uninterrupted run's (its own folder aside)`);
      }
    } else if (!a.equals(b)) {
      differences.push(`${join(candidate, file)} is not bit-identical to the uninterrupted run's (${a.length} vs ${b.length} bytes)`);
    }
  }
  return differences;
}

/**
 * Every complete checkpoint of `candidate` must equal the reference's; with `complete`, the run must
 * also hold every checkpoint the reference holds (a finished rerun), else a prefix is fine (a run cut
 * short: nothing half-written may look complete). With `stopCheckpoints`, checkpoints the reference
 * lacks are allowed (a stop request writes one at the step it stopped), and compared with nothing.
 */
export function compareRun(
  reference: string,
  candidate: string,
  options: { complete: boolean; roots: { reference: string; candidate: string }; stopCheckpoints?: boolean },
): string[] {
  const expected = checkpointNames(reference);
  const got = checkpointNames(candidate).filter((name) => expected.includes(name) || !options.stopCheckpoints);
  const differences: string[] = [];
  for (const name of got) {
    if (!expected.includes(name)) differences.push(`${join(candidate, name)}: the uninterrupted run has no such checkpoint`);
    else differences.push(...compareCheckpoint(join(reference, name), join(candidate, name), options.roots));
  }
  if (options.complete && got.join() !== expected.join())
    differences.push(`${candidate}: checkpoints [${got.join(', ')}], the uninterrupted run [${expected.join(', ')}]`);
  for (const name of existsSync(candidate) && options.complete ? readdirSync(candidate) : []) {
    if (/^\.checkpoint-.*\.(tmp|old)-\d+$/.test(name)) differences.push(`${join(candidate, name)}: a staging folder was left behind`);
  }
  return differences;
}

/** A data build against the reference build: the same files with the same sha256s, and nothing else. */
export function compareDataBuild(reference: string, candidate: string): string[] {
  if (!existsSync(join(candidate, 'manifest.json'))) return [`${candidate}: no manifest.json`];
  const a = JSON.parse(readFileSync(join(reference, 'manifest.json'), 'utf8')) as { files: Record<string, unknown> };
  const b = JSON.parse(readFileSync(join(candidate, 'manifest.json'), 'utf8')) as { files: Record<string, unknown> };
  if (JSON.stringify(a.files) !== JSON.stringify(b.files))
    return [`${candidate}/manifest.json lists other files or digests than the uninterrupted build's`];
  const differences: string[] = [];
  for (const file of Object.keys(a.files)) {
    if (!readFileSync(join(reference, file)).equals(readFileSync(join(candidate, file))))
      differences.push(`${join(candidate, file)} differs from the uninterrupted build's`);
  }
  return differences;
}

/**
 * A keyed result file (EVAL/<metric>/<run>/…json) against the reference's: every entry present must
 * equal the reference's; with `complete`, all of them must be there.
 */
export function compareKeyedResults(reference: string, candidate: string, complete: boolean): string[] {
  if (!existsSync(candidate)) return complete ? [`${candidate}: missing`] : [];
  let got: Record<string, unknown>;
  try {
    got = JSON.parse(readFileSync(candidate, 'utf8'));
  } catch (error) {
    return [`${candidate}: not valid JSON (${(error as Error).message}): a half-written result file`];
  }
  const expected = JSON.parse(readFileSync(reference, 'utf8')) as Record<string, unknown>;
  const differences: string[] = [];
  for (const [key, value] of Object.entries(got)) {
    if (JSON.stringify(value) !== JSON.stringify(expected[key]))
      differences.push(`${candidate}: entry ${key} differs from the uninterrupted evaluation's`);
  }
  if (complete && Object.keys(got).sort().join() !== Object.keys(expected).sort().join()) {
    differences.push(
      `${candidate}: entries [${Object.keys(got).join(', ')}], the uninterrupted evaluation [${Object.keys(expected).join(', ')}]`,
    );
  }
  return differences;
}

/** Files and folders below `dir` whose names say they are leftovers (temporary, partial, lock). */
export function leftovers(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const base = name.split('/').pop()!;
    if (/\.tmp-\d+|\.partial-\d+|\.old-\d+|\.lock$|\.itl-write-test-/.test(base)) out.push(join(dir, name));
  }
  return out.filter((path) => existsSync(path) && (statSync(path).isFile() || statSync(path).isDirectory()));
}

/**
 * results.csv of a rerun against the uninterrupted run's: every row of the reference, equal (the first
 * column, a row number, aside). Rows of checkpoints the reference lacks are allowed: a stop (SIGTERM
 * to `itl train` when its parent died) writes a checkpoint at the step it stopped, which is evaluated.
 */
export function compareResultsCsv(reference: string, candidate: string): string[] {
  if (!existsSync(candidate)) return [`${candidate}: missing`];
  const rows = (path: string) =>
    readFileSync(path, 'utf8')
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((line) => line.slice(line.indexOf(',') + 1));
  const got = new Set(rows(candidate));
  return rows(reference)
    .filter((row) => !got.has(row))
    .map((row) => `${candidate}: the uninterrupted run's row ${row.split(',').slice(0, 4).join(',')}… is missing or differs`);
}
