import { measureAsync, measureSync } from '../measure.js';
import { guard, type Verdict } from './check.js';
import type { Case } from './types.js';

/** Rows from an operation: `task(size)` prepares the inputs of one size and returns the timed call. */

type Fields = Omit<Case, 'check' | 'measure'>;

export function syncCase(fields: Fields, check: () => Verdict | Promise<Verdict>, task: (size: number) => () => unknown): Case {
  return {
    ...fields,
    check: () => guard(check),
    measure: async (size, timeMs, minIterations) => measureSync(task(size), timeMs, minIterations),
  };
}

export function asyncCase(fields: Fields, check: () => Verdict | Promise<Verdict>, task: (size: number) => () => Promise<unknown>): Case {
  return {
    ...fields,
    check: () => guard(check),
    measure: (size, timeMs, minIterations) => measureAsync(task(size), timeMs, minIterations),
  };
}
