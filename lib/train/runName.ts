/**
 * The study's run name, `sft_<Model>_facts=<N>-epochs=<E>-batch=<B>-gradAcc=<G>-LR=<lr>-loraR=<r>-loraA=<alpha>-<weight|tool>`,
 * as a typed object and back. Run names key every result file, so parsing is strict: a name that
 * would not format back to itself is rejected, naming the part that is wrong; one run has one name.
 */
import { ItlError } from '../errors.js';
import { findModel, KNOWN_MODELS } from './models.js';
import type { TrainingMode } from '../tokenize/labelMask.js';

export type { TrainingMode };

export interface RunName {
  model: string;
  facts: number;
  epochs: number;
  batch: number;
  gradAcc: number;
  lr: number;
  loraR: number;
  loraAlpha: number;
  mode: TrainingMode;
}

const PREFIX = 'sft_';

/** The integer fields in the order they appear, with their key in the name. */
const INTEGER_PARTS = [
  ['facts', 'facts'],
  ['epochs', 'epochs'],
  ['batch', 'batch'],
  ['gradAcc', 'gradAcc'],
] as const;

const LORA_PARTS = [
  ['loraR', 'loraR'],
  ['loraA', 'loraAlpha'],
] as const;

/** `1e-3`, `5e-5`, `2.5e-4`: JavaScript's exponential form without the `+` of positive exponents. */
export function formatLearningRate(lr: number): string {
  return lr.toExponential().replace('e+', 'e');
}

export function formatRunName(run: RunName): string {
  return (
    `${PREFIX}${run.model}_facts=${run.facts}-epochs=${run.epochs}-batch=${run.batch}-gradAcc=${run.gradAcc}` +
    `-LR=${formatLearningRate(run.lr)}-loraR=${run.loraR}-loraA=${run.loraAlpha}-${run.mode}`
  );
}

function fail(name: string, part: string, expected: string): never {
  throw new ItlError('ITL_DATA', `run name '${name}': ${part} — expected ${expected}`);
}

/** Takes `key=<value>` from the front of `rest` (values end at the next `-` that starts a new key). */
function takeField(name: string, rest: string, key: string, valuePattern: RegExp): [string, string] {
  const prefix = `${key}=`;
  if (!rest.startsWith(prefix)) {
    fail(name, `'${rest.split('-')[0]}' where '${prefix}…' belongs`, `'${prefix}<value>'`);
  }
  const match = valuePattern.exec(rest.slice(prefix.length));
  if (!match) fail(name, `the value of '${key}' in '${rest.split('-')[0]}'`, `a value matching ${valuePattern.source}`);
  const value = match[0];
  let after = rest.slice(prefix.length + value.length);
  if (!after.startsWith('-')) {
    fail(name, `'${key}=${value}${after.split('-')[0]}'`, `'-' after ${key}=${value}`);
  }
  after = after.slice(1);
  return [value, after];
}

const NON_NEGATIVE_INTEGER = /^(0|[1-9][0-9]*)/;
const POSITIVE_INTEGER = /^[1-9][0-9]*/;
// A decimal mantissa and an exponent, as formatLearningRate writes it.
const LEARNING_RATE = /^[0-9]+(\.[0-9]+)?e-?[0-9]+/;

export function parseRunName(name: string): RunName {
  if (!name.startsWith(PREFIX)) fail(name, `the start '${name.slice(0, PREFIX.length)}'`, `'${PREFIX}'`);
  const afterPrefix = name.slice(PREFIX.length);
  const modelEnd = afterPrefix.indexOf('_facts=');
  if (modelEnd < 0) fail(name, `no '_facts=' after the model`, `'${PREFIX}<Model>_facts=<N>-…'`);
  const model = afterPrefix.slice(0, modelEnd);
  if (!findModel(model)) {
    fail(name, `the model '${model}'`, `one of ${KNOWN_MODELS.map((m) => m.shortName).join(', ')}`);
  }
  let rest = afterPrefix.slice(modelEnd + 1);

  const integers: Record<string, number> = {};
  for (const [key, field] of INTEGER_PARTS) {
    const [value, after] = takeField(name, rest, key, POSITIVE_INTEGER);
    integers[field] = Number(value);
    rest = after;
  }
  const [lrText, afterLr] = takeField(name, rest, 'LR', LEARNING_RATE);
  rest = afterLr;
  const lr = Number(lrText);
  if (!(lr > 0) || formatLearningRate(lr) !== lrText) {
    fail(
      name,
      `the learning rate 'LR=${lrText}'`,
      `a positive number written as ${formatLearningRate(lr > 0 ? lr : 1e-4)}-style exponential`,
    );
  }
  for (const [key, field] of LORA_PARTS) {
    const [value, after] = takeField(name, rest, key, NON_NEGATIVE_INTEGER);
    integers[field] = Number(value);
    rest = after;
  }
  if (rest !== 'weight' && rest !== 'tool') fail(name, `the mode '${rest}'`, `'weight' or 'tool'`);

  const run: RunName = {
    model,
    facts: integers.facts,
    epochs: integers.epochs,
    batch: integers.batch,
    gradAcc: integers.gradAcc,
    lr,
    loraR: integers.loraR,
    loraAlpha: integers.loraAlpha,
    mode: rest,
  };
  // Catches what the field patterns let through (say, digits that overflow to a different number).
  const canonical = formatRunName(run);
  if (canonical !== name) fail(name, `the name as a whole`, `its canonical form '${canonical}'`);
  return run;
}
