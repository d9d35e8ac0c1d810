import { timingSafeEqual } from 'node:crypto';
import { move, workerData } from 'piscina';
import { createEax, type Eax } from '../engine/eax.js';
import type { EngineName } from '../engine/types.js';
import { useWasmModule, type WasmVariant } from '../engine/wasm.js';
import { SealcamError } from '../errors.js';
import { openSegment, sealSegment, TAG, type SealedHeader, type SegmentKeys } from '../formats/sealed.js';

/**
 * The piscina worker: seals or opens a run of consecutive segments of one file. Node 20 cannot
 * load .ts workers, so the pool always runs the compiled copy (dist/src/pool/worker.js).
 */

/** One task: consecutive segments `firstIndex ..` of one file, in a transferred buffer. */
export interface SegmentTask {
  op: 'seal' | 'open';
  engine: EngineName;
  payloadKey: Uint8Array;
  prefix: Uint8Array;
  headerMac: Uint8Array;
  segmentSize: number;
  firstIndex: number;
  /** The task's last segment is the file's last (nonce byte `last` = 1). */
  lastIndexIsFinal: boolean;
  /**
   * Seal: plaintext, whole segments unless final; if its buffer has room for the tags after it,
   * the output is written in place. Open: stored segments (ciphertext || tag); always in place.
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

/** A few live EAX objects keyed by payload key, so a file's tasks skip the key schedule. */
const cache: { engine: EngineName; key: Uint8Array; eax: Eax }[] = [];
const CACHE_SIZE = 4;

function eaxFor(engine: EngineName, key: Uint8Array): Eax {
  const hit = cache.findIndex((c) => c.engine === engine && c.key.length === key.length && timingSafeEqual(c.key, key));
  if (hit >= 0) {
    const [entry] = cache.splice(hit, 1);
    cache.unshift(entry!);
    return entry!.eax;
  }
  const entry = { engine, key: key.slice(), eax: createEax(key, { engine }) };
  cache.unshift(entry);
  for (const old of cache.splice(CACHE_SIZE)) {
    old.eax.dispose();
    old.key.fill(0);
  }
  return entry.eax;
}

function formatError(message: string): SealcamError {
  return new SealcamError('EFORMAT', message);
}

function seal(eax: Eax, keys: SegmentKeys, task: SegmentTask): Uint8Array {
  const { input, segmentSize: size, firstIndex, lastIndexIsFinal } = task;
  if (!lastIndexIsFinal && (input.length === 0 || input.length % size !== 0)) {
    throw formatError('a task that does not end the file must hold whole segments');
  }
  const count = Math.max(1, Math.ceil(input.length / size));
  const outLength = input.length + count * TAG;
  const room = input.buffer.byteLength - input.byteOffset >= outLength;
  const out = room ? new Uint8Array(input.buffer, input.byteOffset, outLength) : new Uint8Array(outLength);
  // Backwards: segment i's output starts at or after its input and past every earlier input,
  // so writing in place only overwrites plaintext already sealed.
  for (let i = count - 1; i >= 0; i--) {
    const last = lastIndexIsFinal && i === count - 1;
    const sealed = sealSegment(eax, keys, firstIndex + i, last, input.subarray(i * size, (i + 1) * size));
    out.set(sealed, i * (size + TAG));
  }
  return out;
}

function open(eax: Eax, keys: SegmentKeys, task: SegmentTask): Uint8Array {
  const { input, segmentSize: size, firstIndex, lastIndexIsFinal } = task;
  const stored = size + TAG;
  if (!lastIndexIsFinal && (input.length === 0 || input.length % stored !== 0)) {
    throw formatError('a task that does not end the file must hold whole segments');
  }
  const count = Math.max(1, Math.ceil(input.length / stored));
  // Forwards: plaintext i lands at i * size, before stored segment i + 1 begins.
  let written = 0;
  try {
    for (let i = 0; i < count; i++) {
      const last = lastIndexIsFinal && i === count - 1;
      const plain = openSegment(eax, keys, firstIndex + i, last, input.subarray(i * stored, (i + 1) * stored));
      input.set(plain, written);
      written += plain.length;
    }
  } catch (err) {
    input.fill(0, 0, written);
    throw err;
  }
  return input.subarray(0, written);
}

/** The task handler. Returns the output on the same (or a new) buffer, transferred back. */
export default function run(task: SegmentTask): ReturnType<typeof move> | TaskFailure {
  try {
    // sealSegment/openSegment read only the nonce prefix and the header MAC of the header.
    const header: Pick<SealedHeader, 'prefix' | 'mac'> = { prefix: task.prefix, mac: task.headerMac };
    const keys: SegmentKeys = { header: header as SealedHeader, payloadKey: task.payloadKey };
    const eax = eaxFor(task.engine, task.payloadKey);
    return move(task.op === 'seal' ? seal(eax, keys, task) : open(eax, keys, task));
  } catch (err) {
    if (err instanceof SealcamError) return { code: err.code, message: err.message };
    return { code: 'EWORKER', message: `worker failed: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    task.payloadKey.fill(0);
  }
}
