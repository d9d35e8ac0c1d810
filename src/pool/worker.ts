import { timingSafeEqual } from 'node:crypto';
import { move, workerData } from 'piscina';
import { createEax, type Eax } from '../engine/eax.js';
import type { EngineName } from '../engine/types.js';
import { useWasmModule, type WasmVariant } from '../engine/wasm.js';
import { SealcamError } from '../errors.js';
import { openSegmentInto, openSegmentPairInto, sealSegmentInto, sealSegmentPairInto, TAG, type SealedHeader, type SegmentKeys } from '../formats/sealed.js';

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
  if (!room) out.set(input);
  // Backwards: segment i's place starts at or after its plaintext and past every earlier
  // plaintext, so moving it there only overwrites segments already sealed; it is sealed in place.
  const moveToPlace = (i: number): Uint8Array => {
    const from = i * size;
    const length = Math.min(size, input.length - from);
    const at = i * (size + TAG);
    out.copyWithin(at, from, from + length);
    return out.subarray(at, at + length + TAG);
  };
  for (let i = count - 1; i >= 0; ) {
    const last = lastIndexIsFinal && i === count - 1;
    if (!last && i >= 1) {
      // Two whole segments, neither the file's last: sealed together (the engine interleaves them).
      const second = moveToPlace(i);
      const first = moveToPlace(i - 1);
      sealSegmentPairInto(eax, keys, firstIndex + i - 1, first.subarray(0, size), first, second.subarray(0, size), second);
      i -= 2;
    } else {
      const segment = moveToPlace(i);
      sealSegmentInto(eax, keys, firstIndex + i, last, segment.subarray(0, segment.length - TAG), segment);
      i -= 1;
    }
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
  // Forwards: each segment opens in place and its plaintext then moves down to i * size, before
  // stored segment i + 1 begins. Nothing leaves unless every segment verified.
  let written = 0;
  const isLast = (i: number) => lastIndexIsFinal && i === count - 1;
  try {
    for (let i = 0; i < count; ) {
      const segment = input.subarray(i * stored, (i + 1) * stored);
      if (i + 1 < count && !isLast(i + 1)) {
        // Two whole segments, neither the file's last: opened together (the engine interleaves them).
        const next = input.subarray((i + 1) * stored, (i + 2) * stored);
        openSegmentPairInto(eax, keys, firstIndex + i, segment, segment.subarray(0, size), next, next.subarray(0, size));
        input.copyWithin(written, i * stored, i * stored + size);
        input.copyWithin(written + size, (i + 1) * stored, (i + 1) * stored + size);
        written += 2 * size;
        i += 2;
      } else {
        const length = Math.max(0, segment.length - TAG);
        openSegmentInto(eax, keys, firstIndex + i, isLast(i), segment, segment.subarray(0, length));
        input.copyWithin(written, i * stored, i * stored + length);
        written += length;
        i += 1;
      }
    }
  } catch (err) {
    // Verified plaintext (and its in-place leftovers) lies anywhere before the failing segment: wipe it all.
    input.fill(0);
    throw err;
  }
  return input.subarray(0, written);
}

/** The task handler. Returns the output on the same (or a new) buffer, transferred back. */
export default function run(task: SegmentTask): ReturnType<typeof move> | TaskFailure {
  try {
    // sealSegmentInto/openSegmentInto read only the nonce prefix and the header MAC of the header.
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
