/**
 * The relative accuracy's standard error: the study's ratio formula where the accuracy is positive,
 * and a number (not 0/0) where it is 0 — a checkpoint that answers nothing right by exact match
 * otherwise wrote NaN into results.csv, which then could not be read back.
 */
import { relativeAccuracy } from '../relativeAccuracy.js';

test('positive accuracy: r = 100·a/a₀, σ_r = r·√((σ/a)² + (σ₀/a₀)²)', () => {
  const { relative, relativeStderr } = relativeAccuracy(0.33, 0.004, 0.347, 0.00475);
  expect(relative).toBeCloseTo((100 * 0.33) / 0.347, 12);
  expect(relativeStderr).toBeCloseTo(relative * Math.hypot(0.004 / 0.33, 0.00475 / 0.347), 12);
});

test('zero accuracy: relative 0 with the error of the accuracy alone, σ·100/a₀', () => {
  const { relative, relativeStderr } = relativeAccuracy(0, 0.01, 0.8, 0.02);
  expect(relative).toBe(0);
  expect(relativeStderr).toBeCloseTo((100 * 0.01) / 0.8, 12);
});

test('without both standard errors there is no relative one', () => {
  expect(relativeAccuracy(0.5, undefined, 0.8, 0.02)).toEqual({ relative: 62.5 });
});
