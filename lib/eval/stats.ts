/** The small statistics the result files carry, as the study's tools compute them. */

export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return values.length === 0 ? Number.NaN : sum / values.length;
}

/**
 * Standard error of the mean as lm-evaluation-harness's `mean_stderr` computes it: the sample
 * standard deviation (n − 1) ÷ √n. Null below two values, where it is undefined (lm-eval divides by zero).
 */
export function sampleStderr(values: ArrayLike<number>): number | null {
  const n = values.length;
  if (n < 2) return null;
  const m = mean(values);
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (values[i]! - m) ** 2;
  return Math.sqrt(squares / (n - 1)) / Math.sqrt(n);
}

/** √(p(1 − p)/n): the recall files' stderr, as the study's script computed it. */
export function binomialStderr(p: number, n: number): number {
  return n === 0 ? 0 : Math.sqrt((p * (1 - p)) / n);
}
