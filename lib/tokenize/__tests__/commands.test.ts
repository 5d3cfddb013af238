/** `itl tokenize` and `itl chat-template` through the CLI's own parser, as a user runs them. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { main } from '../../cli/main.js';
import { loadTokenizer } from '../loadTokenizer.js';
import { makeTinyLlama3Folder } from './tinyLlama3Tokenizer.js';

const SMOL2 = '../shared/reference/models/HuggingFaceTB__SmolLM2-135M-Instruct';
const LLAMA_REFERENCE = '../shared/reference/models/meta-llama__Llama-3.2-3B-Instruct';
const root = mkdtempSync(path.join(tmpdir(), 'itl-tokcli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, {});
  return { code, stdout, stderr };
}

function file(name: string, value: unknown): string {
  const target = path.join(root, name);
  writeFileSync(target, typeof value === 'string' ? value : JSON.stringify(value));
  return target;
}

const qatool = [
  { role: 'user', content: 'Where was Ana born?' },
  { role: 'assistant', content: 'FIND birth_place FOR Ana' },
  { role: 'ipython', content: 'Chile' },
  { role: 'assistant', content: 'Ana was born in Chile.' },
];

test('tokenize --json prints the ids', async () => {
  const { code, stdout } = await run('tokenize', '--model', SMOL2, '--text', 'Hello world', '--json');
  expect(code).toBe(0);
  expect(JSON.parse(stdout)).toEqual({ ids: [19556, 905], tokens: ['Hello', 'Ġworld'] });
});

test('tokenize prints one line per token', async () => {
  const { code, stdout } = await run('tokenize', '--model', SMOL2, '--text', 'Hi 42');
  expect(code).toBe(0);
  expect(stdout).toMatch(/4 tokens/);
  expect(stdout).toMatch(/"Ġ"\n.*"4"\n.*"2"\n$/);
});

test('chat-template --json: text, ids and labels of an in-tool training example', async () => {
  const { code, stdout } = await run(
    'chat-template',
    '--model',
    SMOL2,
    '--messages',
    file('tool.json', qatool),
    '--mode',
    'tool',
    '--json',
  );
  expect(code).toBe(0);
  const report = JSON.parse(stdout) as { text: string; ids: number[]; labels: number[] };
  const smol = await loadTokenizer(SMOL2);
  const expected = smol.buildTrainingExample(qatool, 'tool');
  expect(report.ids).toEqual(Array.from(expected.ids));
  expect(report.labels).toEqual(Array.from(expected.labels));
  expect(report.text).toBe(smol.decode(expected.ids));
  expect(report.text.endsWith('<|im_end|>\n<|endoftext|>')).toBe(true);
});

test('chat-template takes a dataset row: qa in weight mode, qatool in tool mode', async () => {
  const row = file('row.json', { qa: [qatool[0], qatool[3]], qatool, name: 'Ana', attribute: 'birth_place', value: 'Chile' });
  const weight = JSON.parse((await run('chat-template', '--model', SMOL2, '--messages', row, '--json')).stdout) as { text: string };
  expect(weight.text).not.toMatch(/FIND/);
  const tool = JSON.parse((await run('chat-template', '--model', SMOL2, '--messages', row, '--mode', 'tool', '--json')).stdout) as {
    text: string;
  };
  expect(tool.text).toMatch(/FIND birth_place FOR Ana/);
});

test('chat-template --line picks one row of a JSON Lines file', async () => {
  const rows = [
    { qa: [qatool[0], qatool[3]], qatool },
    {
      qa: [
        { role: 'user', content: 'Who?' },
        { role: 'assistant', content: 'Bo.' },
      ],
      qatool,
    },
  ];
  const jsonl = file('preview.jsonl', `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
  const second = JSON.parse((await run('chat-template', '--model', SMOL2, '--messages', jsonl, '--line', '2', '--json')).stdout) as {
    text: string;
  };
  expect(second.text).toMatch(/user\nWho\?<\|im_end\|>\n<\|im_start\|>assistant\nBo\.<\|im_end\|>/);
  const whole = await run('chat-template', '--model', SMOL2, '--messages', jsonl);
  expect(whole.stderr).toMatch(/preview\.jsonl is not valid JSON.*--line N/);
  const past = await run('chat-template', '--model', SMOL2, '--messages', jsonl, '--line', '7');
  expect(past.stderr).toMatch(/no JSON document on line 7/);
});

test('chat-template --generation-prompt renders an inference prompt, with no labels', async () => {
  const { stdout } = await run(
    'chat-template',
    '--model',
    SMOL2,
    '--messages',
    file('q.json', [qatool[0]]),
    '--generation-prompt',
    '--json',
  );
  const report = JSON.parse(stdout) as { text: string; ids: number[]; labels: number[] };
  expect(report.text.endsWith('<|im_start|>assistant\n')).toBe(true);
  expect(report.labels.every((l) => l === -100)).toBe(true);
  expect(report.labels).toHaveLength(report.ids.length);
});

test('chat-template shows masked tokens distinctly and the labelled spans', async () => {
  const { code, stdout } = await run('chat-template', '--model', SMOL2, '--messages', file('tool2.json', qatool), '--mode', 'tool');
  expect(code).toBe(0);
  expect(stdout).toMatch(/ · +"user"/);
  expect(stdout).toMatch(/ LOSS +"<\|im_end\|>"/);
  expect(stdout).toContain('"\\nFIND birth_place FOR Ana<|im_end|>"');
  expect(stdout).toContain('"\\nAna was born in Chile.<|im_end|>\\n<|endoftext|>"');
});

test('chat-template on a Llama 3 folder: one BOS, the fixed date, --date-string overrides it', async () => {
  const model = makeTinyLlama3Folder(root);
  const messages = file('llama.json', qatool);
  const fixed = JSON.parse((await run('chat-template', '--model', model, '--messages', messages, '--mode', 'tool', '--json')).stdout) as {
    text: string;
    ids: number[];
  };
  expect(fixed.ids.filter((id) => id === 128000)).toHaveLength(1);
  expect(fixed.text).toContain('Today Date: 26 Jul 2024\n');
  expect(fixed.text).toContain('<|start_header_id|>ipython<|end_header_id|>\n\n"Chile"<|eot_id|>');
  expect(fixed.text.endsWith('<|eot_id|><|end_of_text|>')).toBe(true);
  const dated = JSON.parse(
    (await run('chat-template', '--model', model, '--messages', messages, '--date-string', '03 Mar 2025', '--json')).stdout,
  ) as { text: string };
  expect(dated.text).toContain('Today Date: 03 Mar 2025\n');
});

test('bad input: clear errors and non-zero exits', async () => {
  const badMessage = await run('chat-template', '--model', SMOL2, '--messages', file('bad.json', [{ role: 'user', content: 3 }]));
  expect(badMessage.code).toBe(1);
  expect(badMessage.stderr).toMatch(/bad\.json: message 0: expected \{"role": string, "content": string\}.*\[ITL_DATA\]/);

  const notJson = await run('chat-template', '--model', SMOL2, '--messages', file('broken.json', '[{'));
  expect(notJson.stderr).toMatch(/broken\.json is not valid JSON/);

  const noAnswer = await run('chat-template', '--model', SMOL2, '--messages', file('noanswer.json', [qatool[0]]));
  expect(noAnswer.code).toBe(1);
  expect(noAnswer.stderr).toMatch(/no assistant turn/);

  const noTokenizer = await run('tokenize', '--model', LLAMA_REFERENCE, '--text', 'x');
  expect(noTokenizer.code).toBe(1);
  expect(noTokenizer.stderr).toMatch(/no tokenizer\.json .*\[ITL_IO\]/);

  const badMode = await run('chat-template', '--model', SMOL2, '--messages', file('ok.json', qatool), '--mode', 'both');
  expect(badMode.code).toBe(2);
});
