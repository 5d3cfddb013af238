/**
 * Shape rendering (render a dialogue's roles once with placeholders, splice contents in) must equal
 * the interpreter's rendering, and must be refused for any template that looks at contents.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { Template } from '@huggingface/jinja';

import { ChatRenderer, opaqueContentBlocker } from '../ChatRenderer.js';

const MODELS = '../shared/reference/models';
const templateOf = (model: string): string =>
  (JSON.parse(readFileSync(path.join(MODELS, model, 'tokenizer_config.json'), 'utf8')) as { chat_template: string }).chat_template;
const blocker = (source: string): string | null => opaqueContentBlocker(new Template(source).parsed as never);

test("SmolLM's ChatML templates only concatenate contents; Llama 3's inspects them", () => {
  expect(blocker(templateOf('HuggingFaceTB__SmolLM2-135M-Instruct'))).toBeNull();
  expect(blocker(templateOf('HuggingFaceTB__SmolLM-360M-Instruct'))).toBeNull();
  expect(blocker(templateOf('meta-llama__Llama-3.2-3B-Instruct'))).not.toBeNull();
});

test.each([
  ["{% for m in messages %}{{ m['content'] | trim }}{% endfor %}", 'filtered'],
  ["{% for m in messages %}{{ (m['content'] + '!') | upper }}{% endfor %}", 'filter above the concatenation'],
  ["{% for m in messages %}{% if m['content'] == '' %}x{% endif %}{% endfor %}", 'compared'],
  ["{% for m in messages %}{% if '</think>' in m.content %}x{% endif %}{% endfor %}", 'searched'],
  ['{% for m in messages %}{{ m.content[0] }}{% endfor %}', 'indexed'],
  ['{% for m in messages %}{{ m.content is string }}{% endfor %}', 'tested'],
  ['{% for m in messages %}{{ m | tojson }}{% endfor %}', 'the message object serialised'],
  ["{{ messages[0]['content'] }}{% for m in messages %}{{ m.role }}{% endfor %}", 'read outside the loop'],
  ['{% for m in messages %}{% set c = m.content %}{{ c }}{% endfor %}', 'aliased'],
  ['{% for m in messages %}{% set x %}{{ m.content }}{% endset %}{{ x | upper }}{% endfor %}', 'captured in a set block'],
  ['{% for m in messages %}{{ m.content if m.role else "" }}{% endfor %}', 'in a conditional expression'],
  ['{% for m in messages %}{{ m.content }}{% endfor %}{% for m in messages %}{{ m.role }}{% endfor %}', 'two loops'],
  ['{% for m in messages %}{{ m.tool_calls }}{{ m.content }}{% endfor %}', 'another field'],
  ['{% macro f(x) %}{{ x }}{% endmacro %}{% for m in messages %}{{ f(m.content) }}{% endfor %}', 'passed to a macro'],
])('refused when content is %s (%s)', (source) => {
  expect(blocker(source)).not.toBeNull();
});

test('accepted: contents concatenated and output, roles and counts read freely', () => {
  expect(
    blocker(
      "{% for m in messages %}{% if loop.first and messages[0]['role'] != 'system' %}S{% endif %}{{ '<' + m.role + '>' + m['content'] }}{% endfor %}{{ messages | length }}",
    ),
  ).toBeNull();
  expect(blocker('{% for m in messages %}{{ m.content }}{% endfor %}')).toBeNull();
});

/** Deterministic pseudo-random strings with the characters templates and tokenizers care about. */
function contents(count: number): string[] {
  const pieces = [
    '',
    ' ',
    '  x ',
    '\n',
    'word',
    '{{ a }}',
    '{% if %}',
    '"',
    '\\',
    '<|im_end|>',
    'é中😀',
    '\uE000',
    '\uE0010\uE001',
    '1975',
    '\t',
  ];
  let state = 3;
  const next = (n: number): number => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 8) % n;
  return Array.from({ length: count }, () => Array.from({ length: next(6) }, () => pieces[next(pieces.length)]).join(''));
}

test.each(['HuggingFaceTB__SmolLM2-135M-Instruct', 'HuggingFaceTB__SmolLM-360M-Instruct'])(
  '%s: spliced renderings equal the interpreter on many dialogues',
  (model) => {
    const renderer = new ChatRenderer(new Template(templateOf(model)), { bos_token: '<|im_start|>', eos_token: '<|im_end|>' });
    expect(renderer.blocker).toBeNull();
    const texts = contents(400);
    const roleSets = [['user', 'assistant'], ['system', 'user', 'assistant'], ['user', 'assistant', 'ipython', 'assistant'], ['user']];
    for (let i = 0; i < 200; i++) {
      const roles = roleSets[i % roleSets.length]!;
      const messages = roles.map((role, k) => ({ role, content: texts[(i * 5 + k) % texts.length]! }));
      for (const addGenerationPrompt of [false, true]) {
        const options = { addGenerationPrompt, dateString: '26 Jul 2024' };
        expect(renderer.render(messages, options)).toBe(renderer.renderDirect(messages, options));
      }
    }
  },
);
