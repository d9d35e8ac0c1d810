import { move, workerData } from 'piscina';
import { useWasmModule, type WasmVariant } from '../engine/wasm.js';
import { runMessageTask, type MessageTask, type SealedSidecar } from './messages.js';
import { runTask, type SegmentTask, type TaskFailure } from './segments.js';

/**
 * The piscina worker: runs one task (a run of segments, segments.ts, or a whole raw or sidecar
 * file, messages.ts) and hands a buffered task's buffer back by transfer. Node 20 cannot load .ts
 * workers, so the pool always runs the compiled copy (dist/src/pool/worker.js, through the
 * CommonJS shim worker-entry.cts).
 */

export interface PoolWorkerData {
  module?: WebAssembly.Module;
  variant?: WasmVariant;
}

// Reuse the module the pool compiled instead of compiling it again in every worker.
const data = workerData as PoolWorkerData | undefined;
if (data?.module !== undefined && data.variant !== undefined) useWasmModule(data.module, data.variant);

/** The task handler: a buffered task's output is transferred back; a file task returns the bytes it covered. */
export default async function run(task: SegmentTask | MessageTask): Promise<ReturnType<typeof move> | number | SealedSidecar | TaskFailure> {
  const out = 'kind' in task ? await runMessageTask(task) : runTask(task);
  return out instanceof Uint8Array ? move(out) : out;
}
