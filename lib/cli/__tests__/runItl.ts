/**
 * Test helpers shared by the command tests: `itl ARGS` run in this process through the CLI's own
 * entry (lib/cli/main.ts) with its output captured, and a tiny-smollm model folder with SmolLM2's
 * real tokenizer files (../shared/reference/models), which `itl train`, `generate` and `eval` load.
 */
import { copyFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { main } from '../main.js';

export interface ItlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `itl ARGS` with `env` as its environment: the exit code and everything it printed. */
export async function runItl(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ItlResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) }, env);
  return { code, stdout, stderr };
}

const repository = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** SmolLM2-135M-Instruct's real tokenizer and config files (see their PROVENANCE.md). */
export const SMOLLM2_REFERENCE = join(repository, '..', 'shared', 'reference', 'models', 'HuggingFaceTB__SmolLM2-135M-Instruct');

/** `itl model init --preset tiny-smollm --seed SEED --out DIR`, then SmolLM2's tokenizer files beside the weights. */
export async function initTinySmolLM(dir: string, seed: number): Promise<void> {
  const init = await runItl(['model', 'init', '--preset', 'tiny-smollm', '--out', dir, '--seed', String(seed)]);
  if (init.code !== 0) throw new Error(`itl model init failed (${init.code}): ${init.stderr}`);
  for (const file of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    copyFileSync(join(SMOLLM2_REFERENCE, file), join(dir, file));
  }
}
