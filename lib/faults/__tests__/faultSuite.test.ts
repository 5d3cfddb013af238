/**
 * The fault-injection suite at its small size, as part of `npm test`: one round of kills (data build,
 * train SIGKILL and SIGINT, eval), injected and real full disks, a read-only mount, concurrent writers
 * and the hostile inputs; every rerun must reach the uninterrupted run's results. The larger size
 * (more rounds, demo kills): `npm run test:faults -- --rounds N`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Runtime } from '../../native/Runtime.js';
import { formatFaultSummary, runFaultSuite } from '../faultSuite.js';

test('one round of faults: every rerun equals the uninterrupted run, nothing half-written looks complete', async () => {
  const root = mkdtempSync(join(tmpdir(), 'itl-faults-'));
  const lines: string[] = [];
  try {
    const result = await runFaultSuite({
      root,
      rounds: 1,
      seed: 2024,
      demo: false,
      runtime: () => Runtime.open({ torchThreads: 1, blasThreads: 1 }),
      log: (line) => lines.push(line),
    });
    console.log([...lines, formatFaultSummary(result)].join('\n'));
    expect(result.mismatches).toEqual([]);
    expect(result.faults).toBeGreaterThanOrEqual(12);
    expect(result.compared).toBeGreaterThanOrEqual(7);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}, 600_000);
