/**
 * HellaSwag relative to the base model, in percent, with the standard error of a ratio of two
 * independent estimates (first-order propagation): r = 100·a/a₀, σ_r = r·√((σ/a)² + (σ₀/a₀)²).
 * This is what the study's table holds; the test recomputes its rows from their absolute columns.
 * Written as σ_r = (100/a₀)·√(σ² + (a·σ₀/a₀)²), the same value, which stays defined when a = 0
 * (an accuracy of 0 has the error σ·100/a₀, not 0/0).
 */
export function relativeAccuracy(
  accuracy: number,
  stderr: number | undefined,
  baseAccuracy: number,
  baseStderr: number | undefined,
): { relative: number; relativeStderr?: number } {
  const relative = (100 * accuracy) / baseAccuracy;
  if (stderr === undefined || baseStderr === undefined) return { relative };
  const relativeStderr = (100 / baseAccuracy) * Math.sqrt(stderr ** 2 + ((accuracy * baseStderr) / baseAccuracy) ** 2);
  return { relative, relativeStderr };
}
