import { dataShardName, pythonJsonDumps, pythonJsonIndent } from '../datasetsLayout.js';

test("JSON is laid out as Python's json module writes it, non-ASCII escaped", () => {
  expect(pythonJsonDumps({ a: 'Bogotá 🙂', b: [1, null, true, 'x"y'], c: {} })).toBe(
    '{"a": "Bogot\\u00e1 \\ud83d\\ude42", "b": [1, null, true, "x\\"y"], "c": {}}',
  );
  expect(pythonJsonIndent({ k: ['São Paulo'], e: [], o: {} })).toBe('{\n  "k": [\n    "S\\u00e3o Paulo"\n  ],\n  "e": [],\n  "o": {}\n}');
});

test('shard names follow save_to_disk', () => {
  expect(dataShardName(0, 1)).toBe('data-00000-of-00001.arrow');
  expect(dataShardName(11, 12)).toBe('data-00011-of-00012.arrow');
});
