import { timingSafeEqual } from 'node:crypto';
import { move, workerData } from 'piscina';
import { createBackend } from '../engine/eax.js';
import type { CipherBackend, EngineName } from '../engine/types.js';
import { useWasmModule, type WasmVariant } from '../engine/wasm.js';
import { SealcamError } from '../errors.js';
import { openSegments, sealSegments, TAG, type SegmentContext } from '../formats/sealed.js';

/**
 * The piscina worker: seals or opens one run of consecutive segments of a file, in place, in the
 * buffer it was handed, and hands the buffer back. The format does the work (formats/sealed.ts);
 * this keeps a few key schedules warm. Node 20 cannot load .ts workers, so the pool always runs
 * the compiled copy (dist/src/pool/worker.js).
 */

/** One task: consecutive segments `firstIndex ..` of one file, in a transferred buffer. */
export interface SegmentTask {
  op: 'seal' | 'open';
  engine: EngineName;
  payloadKey: Uint8Array;
  context: SegmentContext;
  firstIndex: number;
  /** The task's last segment is the file's last (nonce byte `last` = 1). */
  endsFile: boolean;
  /**
   * Seal: plaintext, whole segments unless the task ends the file; its buffer has room for the
   * tags after it. Open: stored segments (ciphertext || tag).
   */
  input: Uint8Array;
}

/** A failure, as data: piscina would clone an Error without its class and code. */
export interface TaskFailure {
  code: string;
  message: string;
}

export type TaskResult = Uint8Array | TaskFailure;

export interface PoolWorkerData {
  module?: WebAssembly.Module;
  variant?: WasmVariant;
}

// Reuse the module the pool compiled instead of compiling it again in every worker.
const data = workerData as PoolWorkerData | undefined;
if (data?.module !== undefined && data.variant !== undefined) useWasmModule(data.module, data.variant);

/** A few live key schedules keyed by payload key, so a file's tasks skip the key schedule. */
const cache: { engine: EngineName; key: Uint8Array; backend: CipherBackend }[] = [];
const CACHE_SIZE = 4;

function backendFor(engine: EngineName, key: Uint8Array): CipherBackend {
  const hit = cache.findIndex((c) => c.engine === engine && c.key.length === key.length && timingSafeEqual(c.key, key));
  if (hit >= 0) {
    const [entry] = cache.splice(hit, 1);
    cache.unshift(entry!);
    return entry!.backend;
  }
  const entry = { engine, key: key.slice(), backend: createBackend(key, engine) };
  cache.unshift(entry);
  for (const old of cache.splice(CACHE_SIZE)) {
    old.backend.dispose();
    old.key.fill(0);
  }
  return entry.backend;
}

/** The input's buffer from the input on, which the pool sizes with room for the tags. */
function withRoomForTags(task: SegmentTask): Uint8Array {
  const { input } = task;
  const needed = input.length + Math.max(1, Math.ceil(input.length / task.context.segmentSize)) * TAG;
  const room = new Uint8Array(input.buffer, input.byteOffset, input.buffer.byteLength - input.byteOffset);
  if (room.length >= needed) return room;
  const copy = new Uint8Array(needed);
  copy.set(input);
  return copy;
}

/** The task handler. Returns the output on the same (or a new) buffer, transferred back. */
export default function run(task: SegmentTask): ReturnType<typeof move> | TaskFailure {
  try {
    const backend = backendFor(task.engine, task.payloadKey);
    const out =
      task.op === 'seal'
        ? sealSegments(backend, task.context, task.firstIndex, task.endsFile, withRoomForTags(task), task.input.length)
        : openSegments(backend, task.context, task.firstIndex, task.endsFile, task.input);
    return move(out);
  } catch (err) {
    if (err instanceof SealcamError) return { code: err.code, message: err.message };
    return { code: 'EWORKER', message: `worker failed: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    task.payloadKey.fill(0);
  }
}
