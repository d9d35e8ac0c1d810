import { Bench } from 'tinybench';

/**
 * Timing with tinybench: one task per call, a time box with a floor on iterations, samples kept so
 * rounds of one row can be pooled and the median taken over all of them.
 */

export interface Measurement {
  /** Per-operation latencies in milliseconds. */
  samples: number[];
}

function bench(timeMs: number, minIterations: number): Bench {
  return new Bench({
    time: timeMs,
    iterations: minIterations,
    warmupTime: Math.min(100, timeMs / 4),
    warmupIterations: 1,
    retainSamples: true,
    throws: true,
  });
}

function samplesOf(b: Bench): Measurement {
  const r = b.tasks[0]!.result;
  if (r.state !== 'completed') throw new Error(`tinybench task ended in state ${r.state}`);
  const samples = r.latency.samples;
  if (!samples || samples.length === 0) throw new Error('tinybench kept no samples');
  return { samples: [...samples] };
}

/** Times a synchronous operation. */
export function measureSync(fn: () => unknown, timeMs: number, minIterations: number): Measurement {
  const b = bench(timeMs, minIterations);
  b.add('task', fn);
  b.runSync();
  return samplesOf(b);
}

/** Times an asynchronous operation (each iteration awaited before the next starts). */
export async function measureAsync(fn: () => Promise<unknown>, timeMs: number, minIterations: number): Promise<Measurement> {
  const b = bench(timeMs, minIterations);
  b.add('task', fn);
  await b.run();
  return samplesOf(b);
}

/** Linear-interpolated quantile of ascending `sorted`. */
export function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** The median of unsorted values. */
export function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}
