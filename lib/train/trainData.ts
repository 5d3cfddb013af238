/**
 * The rows a run trains and evaluates on, as the study used them: rows 0..N−1 of the facts dataset
 * train, the next `evalRows` give the eval loss; mode `weight` reads each row's `qa` dialogue, `tool`
 * its `qatool` one. Tokenised through the tokenizer layer (labels included) and cached on disk.
 *
 * `data` may also be a JSON Lines file of dialogues (one `{"messages": [...]}`, message array or
 * facts-dataset row per line): the same row split applies to its lines. The demo pre-trains its
 * model on general dialogues that way, through the same trainer.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { ItlError } from '../errors.js';
import { openFactsDataset } from '../data/openFactsDataset.js';
import { MANIFEST_FILE } from '../data/outputLayout.js';
import type { ChatMessage, ChatTokenizer } from '../tokenize/ChatTokenizer.js';
import { dialogueOf } from '../tokenize/readMessagesFile.js';
import { type CacheEntry, loadOrBuildTokenized, sha256OfFile } from '../tokenize/TokenizedDatasetCache.js';
import type { TrainingMode } from './runName.js';

export interface TrainingRows {
  train: CacheEntry;
  eval: CacheEntry;
  /** Eval rows actually available (fewer than asked when the dataset ends first). */
  evalRows: number;
}

type LoadOptions = {
  data: string;
  facts: number;
  evalRows: number;
  mode: TrainingMode;
  tokenizer: ChatTokenizer;
  dateString: string;
  cacheDir: string;
};

/** A source of dialogues: how many, the hash that keys its cache entries, and a reader of rows start..end−1. */
interface DialogueSource {
  rows: number;
  /** What a row is called in errors ("rows" of a dataset, "dialogues" of a file). */
  unit: string;
  sha256: string;
  read: (start: number, end: number) => () => Iterable<ChatMessage[]>;
}

/** Rows 0..N−1 train, the next evalRows (fewer when the source ends first) give the eval loss; both tokenised through the cache. */
async function splitRows(options: LoadOptions, source: DialogueSource): Promise<TrainingRows> {
  if (options.facts > source.rows) {
    throw new ItlError('ITL_DATA', `the run trains on ${options.facts} rows but ${options.data} has ${source.rows} ${source.unit}`);
  }
  const evalRows = Math.min(options.evalRows, source.rows - options.facts);
  const key = {
    manifestSha: source.sha256,
    tokenizerHash: options.tokenizer.filesHash,
    mode: options.mode,
    dateString: options.dateString,
  };
  const evalEnd = options.facts + evalRows;
  const train = await loadOrBuildTokenized(
    options.cacheDir,
    { ...key, selection: `rows:0-${options.facts}` },
    source.read(0, options.facts),
    options.tokenizer,
  );
  const evaluation = await loadOrBuildTokenized(
    options.cacheDir,
    { ...key, selection: `rows:${options.facts}-${evalEnd}` },
    source.read(options.facts, evalEnd),
    options.tokenizer,
  );
  return { train, eval: evaluation, evalRows };
}

export async function loadTrainingRows(options: LoadOptions): Promise<TrainingRows> {
  if (existsSync(options.data) && statSync(options.data).isFile()) {
    const dialogues = await readDialogueLines(options.data, options.mode);
    return splitRows(options, {
      rows: dialogues.length,
      unit: 'dialogues',
      sha256: await sha256OfFile(options.data),
      read: (start, end) => () => dialogues.slice(start, end),
    });
  }
  const manifest = path.join(options.data, MANIFEST_FILE);
  if (!existsSync(manifest))
    throw new ItlError('ITL_IO', `${options.data} is not a facts dataset (no ${MANIFEST_FILE}; make one with itl data build)`);
  const dataset = openFactsDataset(options.data);
  try {
    const field = options.mode === 'weight' ? 'qa' : 'qatool';
    return await splitRows(options, {
      rows: dataset.numRows,
      unit: 'rows',
      sha256: await sha256OfFile(manifest),
      read: (start, end) =>
        function* () {
          // Read in slices so a 50k-row selection never sits in memory as objects all at once.
          for (let first = start; first < end; first += 4096) {
            for (const row of dataset.rows(first, Math.min(end, first + 4096))) yield row[field];
          }
        },
    });
  } finally {
    dataset.close();
  }
}

/** Every dialogue of a JSON Lines file, validated (the line number names a bad one). */
async function readDialogueLines(file: string, mode: TrainingMode): Promise<ChatMessage[][]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  const dialogues: ChatMessage[][] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let document: unknown;
    try {
      document = JSON.parse(line);
    } catch (error) {
      throw new ItlError('ITL_DATA', `${file}:${index + 1} is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
    dialogues.push(dialogueOf(document, mode, `${file}:${index + 1}`));
  });
  return dialogues;
}
