// Parallel sealing and opening on worker threads: buffers (SealPool) and streams of any size.
import type { SealcamConfig } from '../config.js';
import { SealPool } from './pool.js';

export { SealPool, createSealStream, createOpenStream, workerPath } from './pool.js';
export type { BufferIO, PoolOptions, Progress, ProgressOptions, StreamOptions } from './pool.js';

/** The pool the configuration asks for: seal.jobs workers (0 = one per core, the pool's default) on seal.engine. */
export function poolFromConfig(config: SealcamConfig): SealPool {
  return new SealPool({ jobs: config.seal.jobs === 0 ? undefined : config.seal.jobs, engine: config.seal.engine });
}
