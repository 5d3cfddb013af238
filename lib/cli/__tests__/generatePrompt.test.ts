/**
 * `itl generate --prompt`: a text prompt goes through the model folder's own tokenizer and chat
 * template, and gives the same tokens as passing those ids by hand. A tiny random SmolLM-shaped
 * model (real vocabulary size) gets the real SmolLM2 tokenizer files copied beside its weights.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { main } from '../main.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const smollm = join(root, '..', 'shared', 'reference', 'models', 'HuggingFaceTB__SmolLM2-135M-Instruct');

async function run(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

describe('itl generate --prompt', () => {
  let scratch: string;
  let model: string;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-generate-'));
    model = join(scratch, 'tiny');
    expect((await run(['model', 'init', '--preset', 'tiny-smollm', '--out', model, '--seed', '3'])).code).toBe(0);
    for (const file of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
      copyFileSync(join(smollm, file), join(model, file));
    }
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('renders the chat template, generates, and decodes the new tokens', async () => {
    const prompt = 'What is the birth date of Wenette Drayer?';
    const byPrompt = await run(['generate', '--model', model, '--prompt', prompt, '--max-new-tokens', '6', '--eos', '', '--json']);
    expect(byPrompt.stderr).toBe('');
    const { new_ids: newIds, text } = JSON.parse(byPrompt.stdout);
    expect(newIds).toHaveLength(6);

    const tokenizer = await loadTokenizer(model);
    const promptIds = tokenizer.applyChatTemplate([{ role: 'user', content: prompt }], { addGenerationPrompt: true, tokenize: true });
    const byIds = await run([
      'generate',
      '--model',
      model,
      '--ids',
      Array.from(promptIds).join(','),
      '--max-new-tokens',
      '6',
      '--eos',
      '',
      '--json',
    ]);
    expect(JSON.parse(byIds.stdout).new_ids).toEqual(newIds);
    expect(text).toBe(tokenizer.decode(newIds, { skipSpecialTokens: true }));
  });

  test('needs exactly one of --ids and --prompt', async () => {
    const neither = await run(['generate', '--model', model]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('pass --ids or --prompt');
    const both = await run(['generate', '--model', model, '--ids', '1', '--prompt', 'hi']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('mutually exclusive');
  });
});
