#!/usr/bin/env node
// `npm run test:faults [-- --rounds N] [--seed S] [--no-demo] [--root DIR] [--keep] [--json]`: the
// fault-injection suite (lib/faults/faultSuite.ts) at the larger size: N rounds (default 3) of kills
// of data build, train and eval, injected and real full disks, and kills of `itl demo --scale smoke`.
// Prints the faults injected, the runs compared and the mismatches; exits 1 on any mismatch.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { formatFaultSummary, runFaultSuite } from '../dist/faults/faultSuite.js';
import { Runtime } from '../dist/native/Runtime.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seed: { type: 'string' },
    'no-demo': { type: 'boolean', default: false },
    root: { type: 'string' },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const seed = values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(seed) || seed < 0) {
  console.error(`test-faults: expected --rounds N ≥ 1 and --seed S ≥ 0, got ${values.rounds} and ${values.seed}`);
  process.exit(2);
}
const root = values.root ?? mkdtempSync(join(tmpdir(), 'itl-faults-'));
let runtime;
const result = await runFaultSuite({
  root,
  rounds,
  seed,
  demo: !values['no-demo'],
  runtime: () => (runtime ??= Runtime.open({ torchThreads: 1, blasThreads: 1 })),
  log: (line) => console.error(line),
});
for (const mismatch of result.mismatches) console.error(`MISMATCH ${mismatch}`);
if (values.json) console.log(JSON.stringify(result, null, 2));
else console.log(formatFaultSummary(result));
if (!values.keep && values.root === undefined) rmSync(root, { recursive: true, force: true });
else console.error(`test-faults: files kept in ${root}`);
process.exitCode = result.mismatches.length > 0 ? 1 : 0;
