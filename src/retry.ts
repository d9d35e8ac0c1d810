import pRetry from 'p-retry';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTransient } from './errors.js';

/**
 * One retry policy for everything that talks to a network (store calls, key lookups, uploads,
 * notifications): exponential backoff with full jitter, each wait drawn uniformly from
 * [0, min(maxMs, baseMs * 2^(attempt - 1))), so a fleet that lost its store at the same moment does
 * not come back in lockstep. p-retry runs the loop; the wait is drawn and slept here, because
 * p-retry's own randomisation only stretches a delay by 1 to 2 times, and because a wait must end
 * at once when its work is abandoned (a signal) or the service is known to be back (an interrupt).
 */

export interface BackoffPolicy {
  /** The first wait's ceiling (ms); each retry doubles it. */
  baseMs: number;
  /** The largest ceiling (ms). */
  maxMs: number;
  /** Tries in all, the first included; Infinity to keep trying. */
  attempts: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 30_000, attempts: Infinity };

/** The wait before retry number `attempt` (1 = after the first failure). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  return random() * Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
}

/** Waits `ms`, or until `signal` aborts; never rejects (a caller that cares looks at signal.aborted). `unref` lets the process exit meanwhile. */
export async function pause(ms: number, signal?: AbortSignal, unref = false): Promise<void> {
  if (ms <= 0 || signal?.aborted) return;
  await sleep(ms, undefined, { signal, ref: !unref }).catch(() => undefined);
}

export interface RetryOptions {
  policy?: Partial<BackoffPolicy>;
  /** Whether a failure may pass and is worth another try; default errors.ts isTransient. */
  retryable?: (err: unknown) => boolean;
  /** Abandons the work: a wait ends at once and no further try starts (the last failure is rethrown); a try already running finishes. */
  signal?: AbortSignal;
  /** Called at each wait; when the signal it returns aborts, the wait ends and the next try starts now. */
  interrupt?: () => AbortSignal;
  /** Every failure, retried or not, with its attempt number. */
  onFailure?: (err: unknown, attempt: number) => void;
  /** Waits do not keep the process alive (a background sender). */
  unref?: boolean;
}

/** Runs `work` until it succeeds, a failure is not retryable, the attempts are used up, or the signal aborts. */
// The signal is not handed to p-retry: it would reject even a try that succeeded after the abort.
export function withRetry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const policy = { ...DEFAULT_BACKOFF, ...options.policy };
  const retryable = options.retryable ?? isTransient;
  const { signal } = options;
  return pRetry(work, {
    retries: policy.attempts - 1,
    minTimeout: 0,
    factor: 1,
    onFailedAttempt: ({ error, attemptNumber }) => options.onFailure?.(error, attemptNumber),
    shouldRetry: async ({ error, attemptNumber }) => {
      if (signal?.aborted || !retryable(error)) return false;
      const interrupt = options.interrupt?.();
      const wake = interrupt === undefined ? signal : signal === undefined ? interrupt : AbortSignal.any([signal, interrupt]);
      await pause(backoffDelay(attemptNumber, policy), wake, options.unref);
      return !signal?.aborted;
    },
  });
}
