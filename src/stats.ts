/**
 * Latency summaries, shared by the fleet simulator's report and the dashboard's camera cards, so
 * both mean the same thing by p50 and p95. A module of its own because the dashboard needs it
 * without loading the simulator's stores and key providers.
 */

export interface LatencySummary {
  p50: number;
  p95: number;
  mean: number;
  max: number;
}

/** Nearest-rank percentiles. */
export function summarize(values: number[]): LatencySummary {
  if (values.length === 0) return { p50: 0, p95: 0, mean: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { p50: rank(50), p95: rank(95), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length, max: sorted[sorted.length - 1]! };
}
