import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../../src/paths.js';
import { remoteCases, workerTransport } from './remote.js';
import type { Case } from './types.js';

/** Compiled like the pool worker: Node 20 cannot start a .ts worker. */
const WORKER = join(packageRoot, 'dist', 'bench', 'simd-worker.js');

/** Starts the worker of the SIMD 1.0 build and returns its rows (named `sealcam WASM (simd) ...`). */
export async function simdCases(): Promise<Case[]> {
  const worker = new Worker(WORKER, { env: { ...process.env, SEALCAM_WASM: 'simd' } });
  return remoteCases(workerTransport(worker), 'SIMD worker', (facts) => (facts.variant === 'simd' ? null : `the SIMD worker runs the ${facts.variant} build`));
}
