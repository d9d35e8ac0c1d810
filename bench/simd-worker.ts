import { parentPort } from 'node:worker_threads';
import { wasmVariant } from '../src/engine/wasm.js';
import { serveCases } from './case-server.js';
import { engineCases, wasmImpl } from './cases/engine.js';

/**
 * The other WASM build on a worker thread (started with SEALCAM_WASM=simd): a thread compiles
 * its own engine, so both builds can be timed in one run, one row at a time, driven by the main
 * thread (bench/cases/simd.ts).
 */

serveCases(engineCases(wasmImpl(wasmVariant()), 'wasm'), { variant: wasmVariant() }, {
  onMessage: (h) => void parentPort!.on('message', h),
  send: (r) => parentPort!.postMessage(r),
});
