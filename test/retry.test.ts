import { describe, expect, it } from 'vitest';
import { SealcamError } from '../src/errors.js';
import { backoffDelay, DEFAULT_BACKOFF, withRetry } from '../src/retry.js';

/**
 * The one retry policy (retry.ts): exponential backoff with full jitter. What matters for a fleet
 * is that the waits of many clients that failed together are spread out, grow, and stop growing.
 */

const policy = { baseMs: 100, maxMs: 2000, attempts: Infinity };

/** `n` waits before retry `attempt`, as n clients that failed at the same moment would draw them. */
const draws = (attempt: number, n = 2000) => Array.from({ length: n }, () => backoffDelay(attempt, policy));

describe('backoff with full jitter', () => {
  it('draws each wait from [0, ceiling): clients that failed together spread over the whole range', () => {
    const waits = draws(3); // ceiling 100 * 2^2 = 400
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...waits)).toBeLessThan(400);
    // Spread, not lockstep: every tenth of the range gets some of the clients.
    const deciles = new Set(waits.map((w) => Math.floor(w / 40)));
    expect(deciles.size).toBe(10);
  });

  it('doubles the ceiling per attempt, then caps it at maxMs', () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 10, 50].map((attempt) => backoffDelay(attempt, policy, () => 1));
    expect(ceilings).toEqual([100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    expect(Math.max(...draws(40))).toBeLessThan(2000);
  });

  it('the default policy starts below a second and never waits more than 30 s', () => {
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 1)).toBe(250);
    expect(backoffDelay(1000, DEFAULT_BACKOFF, () => 1)).toBe(30_000);
  });
});

describe('withRetry', () => {
  it('retries transient failures until one succeeds, and stops at once on one that is not', async () => {
    let tries = 0;
    const value = await withRetry(
      async () => {
        if (++tries < 3) throw new SealcamError('EUNREACHABLE', 'down');
        return 'up';
      },
      { policy: { baseMs: 1 } },
    );
    expect([value, tries]).toEqual(['up', 3]);

    let refused = 0;
    await expect(
      withRetry(
        async () => {
          refused++;
          throw new SealcamError('EACCESS', 'refused');
        },
        { policy: { baseMs: 1 } },
      ),
    ).rejects.toMatchObject({ code: 'EACCESS' });
    expect(refused).toBe(1);
  });

  it('gives up after the attempts it is allowed, rethrowing the last failure', async () => {
    let tries = 0;
    await expect(
      withRetry(
        async () => {
          throw new SealcamError('EUNAVAILABLE', `busy ${++tries}`);
        },
        { policy: { baseMs: 1, attempts: 4 } },
      ),
    ).rejects.toMatchObject({ message: 'busy 4' });
  });
});
