/**
 * `itl generate --prompt`: a text prompt goes through the model folder's own tokenizer and chat
 * template, and gives the same tokens as passing those ids by hand. A tiny random SmolLM-shaped
 * model (real vocabulary size) gets the real SmolLM2 tokenizer files copied beside its weights.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadTokenizer } from '../../tokenize/loadTokenizer.js';
import { runItl as run, initTinySmolLM } from './runItl.js';

describe('itl generate --prompt', () => {
  let scratch: string;
  let model: string;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'itl-generate-'));
    model = join(scratch, 'tiny');
    await initTinySmolLM(model, 3);
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
