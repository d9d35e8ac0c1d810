import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../../src/paths.js';
import type { Measurement } from '../measure.js';
import { caseName, type Case } from './types.js';

/** The main-thread side of bench/simd-worker.ts: proxies that forward check and measure to the worker. */

type SimdCommand =
  | { cmd: 'hello' }
  | { cmd: 'check'; name: string }
  | { cmd: 'measure'; name: string; size: number; timeMs: number; minIterations: number };
export type SimdRequest = SimdCommand & { id: number };
export type SimdReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

export type SimdDescriptor = Pick<Case, 'impl' | 'op' | 'kind' | 'keyBits' | 'direction' | 'pureJs' | 'wholeBlocks'>;

/** Compiled like the pool worker: Node 20 cannot start a .ts worker. */
const WORKER = join(packageRoot, 'dist', 'bench', 'simd-worker.js');

class SimdWorker {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly worker: Worker;

  constructor() {
    this.worker = new Worker(WORKER, { env: { ...process.env, SEALCAM_WASM: 'simd' } });
    this.worker.on('message', (r: SimdReply) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      if (r.ok) p?.resolve(r.value);
      else p?.reject(new Error(r.error));
    });
    const fail = (e: Error): void => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the SIMD worker exited (${code})`)));
  }

  call<T>(req: SimdCommand): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}

/** Starts the worker and returns its rows (named `sealcam WASM (simd) ...`). */
export async function simdCases(): Promise<Case[]> {
  const worker = new SimdWorker();
  let hello: { variant: string; cases: SimdDescriptor[] };
  try {
    hello = await worker.call({ cmd: 'hello' });
  } catch (e) {
    await worker.close();
    throw e;
  }
  if (hello.variant !== 'simd') {
    await worker.close();
    throw new Error(`the SIMD worker runs the ${hello.variant} build`);
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) await worker.close();
    closed = true;
  };
  return hello.cases.map((d) => {
    const name = caseName(d);
    return {
      ...d,
      check: () => worker.call<string | null>({ cmd: 'check', name }).catch((e: Error) => `SIMD worker: ${e.message}`),
      measure: (size: number, timeMs: number, minIterations: number) =>
        worker.call<Measurement>({ cmd: 'measure', name, size, timeMs, minIterations }),
      close,
    };
  });
}
