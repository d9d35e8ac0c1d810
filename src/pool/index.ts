// Parallel sealing and opening on worker threads: buffers and files (SealPool), streams of any size.
import type { SealcamConfig } from '../config.js';
import { SealPool } from './pool.js';

export { SealPool, workerPath } from './pool.js';
export type { PoolOptions } from './pool.js';
export type { Progress, ProgressOptions, PipelineOptions } from './pipeline.js';
export { createSealStream, createOpenStream } from './streams.js';
export type { StreamOptions } from './streams.js';
export type { BufferIO } from '../io/buffer-io.js';

/** The pool the configuration asks for: seal.jobs workers (0 = one per core, the pool's default) on seal.engine. */
export function poolFromConfig(config: SealcamConfig): SealPool {
  return new SealPool({ jobs: config.seal.jobs === 0 ? undefined : config.seal.jobs, engine: config.seal.engine });
}
