// Tokenises rows [start, end) of an `itl data build` output with a model folder's tokenizer into a
// tokenised-dataset cache entry (lib/tokenize/TokenizedDatasetCache.ts), and prints its folder.
// train_reference.py reads such entries; `itl train` writes its own (run_config.json "tokenized"),
// which parity.py uses. This helper lets the reference side run without `itl train` (a standalone
// check of train_reference.py) through the same tokenizer code. Needs `npm run build:ts`.
//
//   node scripts/reference/tokenize_rows.mjs --model DIR --data DATA_DIR --mode weight|tool --start 0 --end 16 --cache DIR
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { openFactsDataset } from '../../dist/data/openFactsDataset.js';
import { loadTokenizer } from '../../dist/tokenize/loadTokenizer.js';
import { DEFAULT_DATE_STRING } from '../../dist/tokenize/ChatTokenizer.js';
import { loadOrBuildTokenized, sha256OfFile } from '../../dist/tokenize/TokenizedDatasetCache.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string' },
    mode: { type: 'string', default: 'weight' },
    start: { type: 'string' },
    end: { type: 'string' },
    cache: { type: 'string' },
  },
  strict: true,
});
for (const key of ['model', 'data', 'start', 'end', 'cache']) {
  if (values[key] === undefined) throw new Error(`tokenize_rows: --${key} is required`);
}
if (values.mode !== 'weight' && values.mode !== 'tool') throw new Error(`tokenize_rows: --mode is weight or tool, not ${values.mode}`);
const start = Number(values.start);
const end = Number(values.end);
const dataset = openFactsDataset(values.data);
try {
  const rows = dataset.rows(start, end);
  const tokenizer = await loadTokenizer(values.model);
  const key = {
    manifestSha: await sha256OfFile(join(values.data, 'manifest.json')),
    tokenizerHash: tokenizer.filesHash,
    mode: values.mode,
    dateString: DEFAULT_DATE_STRING,
    selection: `rows:${start}-${end}`,
  };
  const column = values.mode === 'weight' ? 'qa' : 'qatool';
  const entry = await loadOrBuildTokenized(values.cache, key, () => rows.map((row) => row[column]), tokenizer);
  console.log(entry.path);
} finally {
  dataset.close();
}
