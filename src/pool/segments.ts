import { timingSafeEqual } from 'node:crypto';
import { readSync, writeSync } from 'node:fs';
import { createBackend } from '../engine/eax.js';
import type { CipherBackend, EngineName } from '../engine/types.js';
import { SealcamError } from '../errors.js';
import { openSegments, sealSegments, TAG, type SegmentContext } from '../formats/sealed.js';
import { fsError } from '../io/atomic.js';
import { inputChanged } from '../io/file-io.js';

/**
 * One task of the pool: a run of consecutive segments of one file, sealed or opened in place
 * through the format (formats/sealed.ts), with a few key schedules kept warm. Free of threads: a
 * pool worker runs it (worker.ts), and so does the calling thread for work too small to be worth
 * a worker (pool.ts). A task carries its bytes in a buffer, or, when both ends are files, the
 * byte ranges it reads and writes itself with positional I/O on the process's descriptors, so the
 * main thread copies nothing (the layout says where each segment lives: docs/FORMAT.md).
 */

/** What every task of one file shares. */
export interface SegmentRun {
  op: 'seal' | 'open';
  engine: EngineName;
  payloadKey: Uint8Array;
  context: SegmentContext;
  firstIndex: number;
  /** The task's last segment is the file's last (nonce byte `last` = 1). */
  endsFile: boolean;
}

/** The input and output ranges of a task that does its own I/O. */
export interface TaskRanges {
  input: number;
  output: number;
  /** Where the task's input bytes start in the input, and how many there are (plaintext, or stored segments). */
  readAt: number;
  length: number;
  /** Where its output goes in the output file. */
  writeAt: number;
  /** For the error when the input turns out to have changed: its name and measured size. */
  name: string;
  size: number;
}

export type SegmentTask = SegmentRun &
  (
    | {
        /**
         * Seal: plaintext, whole segments unless the task ends the file; its buffer has room for
         * the tags after it. Open: stored segments (ciphertext || tag).
         */
        input: Uint8Array;
        files?: undefined;
      }
    | { files: TaskRanges; input?: undefined }
  );

/** A failure, as data: piscina would clone an Error without its class and code. */
export interface TaskFailure {
  code: string;
  message: string;
}

/** `err` as the failure a task hands back: a SealcamError's code and message, anything else EWORKER. */
export function taskFailure(err: unknown): TaskFailure {
  if (err instanceof SealcamError) return { code: err.code, message: err.message };
  return { code: 'EWORKER', message: `worker failed: ${err instanceof Error ? err.message : String(err)}` };
}

/** Whether a task's answer is a failure (every output is bytes, a count or an object without a code). */
export function isTaskFailure(result: unknown): result is TaskFailure {
  return typeof result === 'object' && result !== null && !(result instanceof Uint8Array) && typeof (result as TaskFailure).code === 'string';
}

/** A buffered task's output (in its own buffer), or the plaintext bytes a file task covered. */
export type TaskOutput = Uint8Array | number;

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
function withRoomForTags(input: Uint8Array, segmentSize: number): Uint8Array {
  const needed = input.length + Math.max(1, Math.ceil(input.length / segmentSize)) * TAG;
  const room = new Uint8Array(input.buffer, input.byteOffset, input.buffer.byteLength - input.byteOffset);
  if (room.length >= needed) return room;
  const copy = new Uint8Array(needed);
  copy.set(input);
  return copy;
}

/** This thread's buffer for tasks that do their own I/O: allocated once, grown rarely, so its pages stay warm. */
let ioBuffer = new Uint8Array(0);
function ioBufferOf(bytes: number): Uint8Array {
  if (ioBuffer.length < bytes) ioBuffer = new Uint8Array(bytes);
  return ioBuffer;
}

/** Reads `ranges.length` bytes at `readAt`; a task that ends the file also asks for one byte more, which must not exist. */
function readRange(ranges: TaskRanges, into: Uint8Array, endsFile: boolean): void {
  const want = ranges.length + (endsFile ? 1 : 0);
  let n = 0;
  try {
    while (n < want) {
      const got = readSync(ranges.input, into, n, want - n, ranges.readAt + n);
      if (got === 0) break;
      n += got;
    }
  } catch (err) {
    throw fsError(err, 'read', ranges.name);
  }
  if (n !== ranges.length) throw inputChanged(ranges.name, ranges.size);
}

function writeRange(ranges: TaskRanges, bytes: Uint8Array): void {
  try {
    for (let done = 0; done < bytes.length; ) done += writeSync(ranges.output, bytes, done, bytes.length - done, ranges.writeAt + done);
  } catch (err) {
    throw fsError(err, 'write the output of', ranges.name);
  }
}

function runInPlace(task: SegmentRun, backend: CipherBackend, buffer: Uint8Array, length: number): Uint8Array {
  return task.op === 'seal'
    ? sealSegments(backend, task.context, task.firstIndex, task.endsFile, buffer, length)
    : openSegments(backend, task.context, task.firstIndex, task.endsFile, buffer.subarray(0, length));
}

/** A task that reads its segments from the input and writes its output itself; returns the plaintext bytes it covered. */
function runRanges(task: SegmentRun, ranges: TaskRanges, backend: CipherBackend): number {
  const segments = Math.max(1, Math.ceil(ranges.length / (task.context.segmentSize + (task.op === 'open' ? TAG : 0))));
  const buffer = ioBufferOf(ranges.length + segments * TAG + 1);
  try {
    readRange(ranges, buffer, task.endsFile);
    const out = runInPlace(task, backend, buffer, ranges.length);
    writeRange(ranges, out);
    return task.op === 'seal' ? ranges.length : out.length;
  } finally {
    // Opened plaintext (written out, or wiped by a failed run) does not linger in the thread's buffer.
    if (task.op === 'open') buffer.fill(0, 0, ranges.length + 1);
  }
}

/** Runs one task. The output of a buffered task is on the same (or a new) buffer; a failure comes back as data. */
export function runTask(task: SegmentTask): TaskOutput | TaskFailure {
  try {
    const backend = backendFor(task.engine, task.payloadKey);
    if (task.files !== undefined) return runRanges(task, task.files, backend);
    const input = task.input;
    return task.op === 'seal' ? runInPlace(task, backend, withRoomForTags(input, task.context.segmentSize), input.length) : runInPlace(task, backend, input, input.length);
  } catch (err) {
    return taskFailure(err);
  } finally {
    task.payloadKey.fill(0);
  }
}
