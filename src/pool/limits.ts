import { availableParallelism } from 'node:os';

/**
 * How many worker threads a pool may have. Each worker is a thread with its own engine instance,
 * heap and task buffers (about 1 MiB in and out each), and beyond a few per core they only add
 * memory and switching: `--jobs 5000` took 4.9 GB and `--jobs 100000` never started. Kept apart
 * from pool.ts so the configuration can check it without loading the pool (and piscina).
 */
export const JOBS_PER_CORE = 4;

/** The most workers a pool may have on this machine. */
export function maxJobs(cores: number = availableParallelism()): number {
  return JOBS_PER_CORE * cores;
}

/** Why `jobs` is too many here, or undefined when it is allowed. */
export function tooManyJobs(jobs: number, cores: number = availableParallelism()): string | undefined {
  if (jobs <= maxJobs(cores)) return undefined;
  return `${jobs} workers is more than ${maxJobs(cores)} (${JOBS_PER_CORE} x the ${cores} core${cores === 1 ? '' : 's'} here): each worker is a thread with its own engine and buffers, so more only costs memory (0 means one per core)`;
}
