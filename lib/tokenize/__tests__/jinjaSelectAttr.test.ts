/**
 * selectattr / rejectattr as Jinja2 evaluates them (expected outputs printed by Python's jinja2 3.x,
 * the engine behind transformers' apply_chat_template): a missing attribute is Undefined and the test
 * still applies to it. @huggingface/jinja alone selects nothing for `selectattr("x", "undefined")`.
 */
import { Template } from '@huggingface/jinja';

import { ChatRenderer, type RenderMessage } from '../ChatRenderer.js';

const messages = [
  { role: 'user', content: 'a' },
  { role: 'assistant', content: 'b', tool_calls: [{ function: { name: 'f' } }] },
  { role: 'tool', content: 'c', name: '' },
  { role: 'assistant', content: 'd', function: { name: 'f' } },
] as unknown as RenderMessage[];

const render = (source: string, shown: RenderMessage[] = messages): string =>
  new ChatRenderer(new Template(source), {}).renderDirect(shown, { addGenerationPrompt: false, dateString: '26 Jul 2024' });

test.each([
  ['{% for m in messages | selectattr("tool_calls", "undefined") %}{{ m.role }},{% endfor %}', 'user,tool,assistant,'],
  ['{% for m in messages | rejectattr("tool_calls", "defined") %}{{ m.role }},{% endfor %}', 'user,tool,assistant,'],
  ['{% for m in messages | selectattr("tool_calls", "defined") %}{{ m.role }},{% endfor %}', 'assistant,'],
  ['{% for m in messages | rejectattr("name") %}{{ m.content }},{% endfor %}', 'a,b,c,d,'],
  ['{% for m in messages | selectattr("role", "equalto", "assistant") %}{{ m.content }},{% endfor %}', 'b,d,'],
  [
    '{% for m in messages | rejectattr("role", "equalto", "tool") | selectattr("tool_calls", "undefined") %}{{ loop.index0 }}{{ m.role }},{% endfor %}',
    '0user,1assistant,',
  ],
])('%s renders %j, as Jinja2 does', (source, expected) => {
  expect(render(source)).toBe(expected);
});

test('a dotted attribute reads on through the items that have it, and reading through a missing part is an error', () => {
  expect(
    render('{% for m in messages | selectattr("function.name", "equalto", "f") %}{{ m.content }},{% endfor %}', messages.slice(3)),
  ).toBe('d,');
  expect(() => render('{% for m in messages | selectattr("function.name", "equalto", "f") %}{{ m.content }}{% endfor %}')).toThrow(
    /'function.name': no attribute before 'name'/,
  );
  expect(() => render('{{ messages | selectattr("role", "no_such_test") | list }}')).toThrow(/Unknown test: no_such_test/);
});
