import { parentPort } from 'node:worker_threads';
import { wasmVariant } from '../src/engine/wasm.js';
import { engineCases, wasmImpl } from './cases/engine.js';
import { caseName } from './cases/types.js';
import type { SimdDescriptor, SimdReply, SimdRequest } from './cases/simd.js';

/**
 * The other WASM build on a worker thread (started with SEALCAM_WASM=simd): a thread compiles
 * its own engine, so both builds can be timed in one run, one row at a time, driven by the main
 * thread (bench/cases/simd.ts).
 */

const cases = new Map(engineCases(wasmImpl(wasmVariant()), 'wasm').map((c) => [caseName(c), c]));

async function serve(req: SimdRequest): Promise<unknown> {
  if (req.cmd === 'hello') {
    return {
      variant: wasmVariant(),
      cases: [...cases.values()].map(
        ({ impl, op, kind, keyBits, direction, pureJs, wholeBlocks }): SimdDescriptor => ({ impl, op, kind, keyBits, direction, pureJs, wholeBlocks }),
      ),
    };
  }
  const c = cases.get(req.name);
  if (!c) throw new Error(`the SIMD worker has no row '${req.name}'`);
  if (req.cmd === 'check') return c.check();
  return c.measure(req.size, req.timeMs, req.minIterations);
}

parentPort!.on('message', (req: SimdRequest) => {
  serve(req).then(
    (value) => parentPort!.postMessage({ id: req.id, ok: true, value } satisfies SimdReply),
    (e: unknown) => parentPort!.postMessage({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) } satisfies SimdReply),
  );
});
