/**
 * Chat templates render under step, time, size and range() limits: a hostile template fails fast with
 * an error saying why (issue 24: a 10⁸-iteration loop ran the process out of heap after 43 s), and the
 * real templates render exactly as without the limits.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Template } from '@huggingface/jinja';

import { boundedRender, DEFAULT_RENDER_LIMITS } from '../boundedRender.js';
import { loadTokenizer } from '../loadTokenizer.js';

const MODELS = '../shared/reference/models';
const templateOf = (model: string): string =>
  (JSON.parse(readFileSync(path.join(MODELS, model, 'tokenizer_config.json'), 'utf8')) as { chat_template: string }).chat_template;

const dialogue = [
  { role: 'system', content: 'You answer briefly.' },
  { role: 'user', content: 'Where was Ada Lovelace born?' },
  { role: 'assistant', content: 'FIND birth_place FOR Ada Lovelace' },
  { role: 'tool', content: 'London' },
  { role: 'assistant', content: 'She was born in London.' },
];

test.each(['HuggingFaceTB__SmolLM2-135M-Instruct', 'HuggingFaceTB__SmolLM-360M-Instruct', 'meta-llama__Llama-3.2-3B-Instruct'])(
  "%s's template renders exactly as without limits",
  (model) => {
    const template = new Template(templateOf(model));
    const items = { messages: dialogue, add_generation_prompt: true, bos_token: '<s>', eos_token: '</s>', date_string: '26 Jul 2024' };
    expect(boundedRender(template, items)).toBe(template.render(items));
  },
);

test('a loop over range(10^8) is refused before the list is built', () => {
  const started = performance.now();
  expect(() => boundedRender(new Template('{% for i in range(100000000) %}x{% endfor %}'), {})).toThrow(
    'rendering one dialogue stopped: range() of 100,000,000 elements (limit 1,000,000); the chat template loops or grows without bound',
  );
  expect(performance.now() - started).toBeLessThan(1000); // a generous bound: it fails at the call, not after the loop
});

test('10^8 iterations of nested loops stop at the step limit', () => {
  const template = new Template('{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}');
  expect(() => boundedRender(template, {}, { ...DEFAULT_RENDER_LIMITS, maxSteps: 50_000, maxMs: 60_000 })).toThrow(
    'it took more than 50,000 evaluation steps',
  );
  // With the default limits, whichever of steps or time comes first (time under a loaded machine).
  const started = performance.now();
  expect(() => boundedRender(template, {})).toThrow(
    /rendering one dialogue stopped: it (took more than 1,000,000 evaluation steps|ran longer than 2000 ms)/,
  );
  expect(performance.now() - started).toBeLessThan(10_000); // generous: the unbounded render never ends
});

test('a string doubled in a loop stops at the size limit', () => {
  const template = new Template(
    "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
  );
  expect(() => boundedRender(template, {})).toThrow(/it produced a string of 16,777,216 characters \(limit 16,000,000\)/);
});

test('the clock is checked as the steps run', () => {
  const template = new Template('{% for a in range(5000) %}x{% endfor %}');
  expect(() => boundedRender(template, {}, { ...DEFAULT_RENDER_LIMITS, maxMs: -1 })).toThrow('it ran longer than -1 ms');
  expect(boundedRender(template, {})).toHaveLength(5000);
});

test('range() keeps Python semantics within the limit', () => {
  const render = (source: string) => boundedRender(new Template(source), {});
  expect(
    render('{{ range(5) | join(",") }}|{{ range(2, 11, 3) | join(",") }}|{{ range(5, 0, -2) | join(",") }}|{{ range(3, 1) | length }}'),
  ).toBe('0,1,2,3,4|2,5,8|5,3,1|0');
});

test('a model folder whose template never ends fails through the tokenizer with ITL_CONFIG naming the folder', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'itl-template-'));
  try {
    cpSync(path.join(MODELS, 'HuggingFaceTB__SmolLM2-135M-Instruct'), dir, { recursive: true });
    const configPath = path.join(dir, 'tokenizer_config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    // Still SmolLM's family (its tokens, a template writing <|im_start|>), but looping 10^8 times.
    config.chat_template = '<|im_start|>{% for i in range(100000000) %}{{ messages[0].content }}{% endfor %}';
    writeFileSync(configPath, JSON.stringify(config));
    const tokenizer = await loadTokenizer(dir);
    expect(() => tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(
      expect.objectContaining({
        code: 'ITL_CONFIG',
        message: expect.stringContaining(`${dir}: the chat template failed: rendering one dialogue stopped`),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
