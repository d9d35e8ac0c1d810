// Parallel sealing and opening on worker threads: buffers (SealPool) and streams of any size.
export { SealPool, createSealStream, createOpenStream, workerPath } from './pool.js';
export type { PoolOptions, Progress, ProgressOptions, StreamOptions } from './pool.js';
