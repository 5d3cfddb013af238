/** Label-mask rules on synthetic ids: H = assistant header (2 ids), S = turn start, E = end of turn, X = end of text. */
import { IGNORE_INDEX, labelMask, type MaskMarkers } from '../labelMask.js';

const S = 1;
const E = 2;
const X = 0;
const markers: MaskMarkers = { assistantHeader: [S, 50], turnStart: S, endOfTurn: E };
const _ = IGNORE_INDEX;

// system turn, user turn, assistant (tool request), ipython turn, assistant (answer), separator 9, end of text
const dialogue = [S, 40, 10, E, 9, S, 41, 11, E, 9, S, 50, 20, 21, E, 9, S, 42, 30, E, 9, S, 50, 22, 23, E, 9, X];

test('weight: only the last assistant turn, through the end of the sequence', () => {
  expect(Array.from(labelMask(dialogue, markers, 'weight'))).toEqual([
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    22,
    23,
    E,
    9,
    X,
  ]);
});

test('tool: every assistant turn through its end of turn; the last one also through the end of text', () => {
  expect(Array.from(labelMask(dialogue, markers, 'tool'))).toEqual([
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    20,
    21,
    E,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    _,
    22,
    23,
    E,
    9,
    X,
  ]);
});

test('a truncated last turn is labelled to the end; a prompt ending in a header labels nothing after it', () => {
  expect(Array.from(labelMask([S, 41, E, S, 50, 20, 21], markers, 'weight'))).toEqual([_, _, _, _, _, 20, 21]);
  expect(Array.from(labelMask([S, 41, E, S, 50], markers, 'weight'))).toEqual([_, _, _, _, _]);
});

test('the header is matched as a whole id sequence; the pad/end-of-turn id is labelled like any other', () => {
  // S followed by another role id is not an assistant header.
  expect(() => labelMask([S, 51, 20, E, X], markers, 'tool')).toThrow(expect.objectContaining({ code: 'ITL_DATA' }));
  const labels = labelMask([S, 50, E, E, X], markers, 'weight');
  expect(Array.from(labels)).toEqual([_, _, E, E, X]);
});
