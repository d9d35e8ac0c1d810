import type { EngineName } from '../engine/types.js';
import { SealcamError } from '../errors.js';
import { openRawIO, RAW_OVERHEAD, rawReadRanges, sealRawIO, type RawLayout } from '../formats/raw.js';
import { memoryReader } from '../io/buffer-io.js';
import type { TaskFailure } from './segments.js';

/**
 * The other kind of pool task: one whole raw file (a single EAX message, so it cannot be cut into
 * segments), sealed or opened in memory by the format's own code (formats/raw.ts). A batch of
 * camera images in the reference scripts' layout then keeps every worker busy with a file each,
 * instead of running them one after the other on the main thread. Opening returns the plaintext
 * only once the tag verified; a failure wipes what was decrypted.
 */

export interface RawTask {
  kind: 'raw';
  op: 'seal' | 'open';
  engine: EngineName;
  key: Uint8Array;
  layout: RawLayout;
  /** The whole plaintext (seal), or the whole raw file in `layout` (open). */
  input: Uint8Array;
  /** What the input is called in errors. */
  name: string;
}

/** Files up to this size go to a worker whole; larger ones stream on the calling thread (memory stays bounded). */
export const RAW_TASK_MAX_BYTES = 16 << 20;

async function seal(task: RawTask): Promise<Uint8Array> {
  const out = new Uint8Array(task.input.length + RAW_OVERHEAD);
  let at = 0;
  await sealRawIO(
    {
      read: memoryReader(task.input),
      write: async (bytes) => void (out.set(bytes, at), (at += bytes.length)),
      writeAt: async (bytes, position) => out.set(bytes, position),
    },
    task.key,
    { engine: task.engine, layout: task.layout },
  );
  return out;
}

async function open(task: RawTask): Promise<Uint8Array> {
  const { input } = task;
  // The parts in the order openRawIO reads them (nonce, tag, ciphertext), whatever the file's order.
  const ordered = new Uint8Array(input.length);
  let at = 0;
  for (const r of rawReadRanges(task.layout, input.length)) {
    ordered.set(input.subarray(r.start, r.start + r.length), at);
    at += r.length;
  }
  const out = new Uint8Array(input.length - RAW_OVERHEAD);
  let written = 0;
  try {
    await openRawIO({ read: memoryReader(ordered), write: async (bytes) => void (out.set(bytes, written), (written += bytes.length)) }, task.key, { engine: task.engine, name: task.name });
    return out;
  } catch (err) {
    out.fill(0);
    throw err;
  }
}

/** Runs one raw task; a failure comes back as data, as a segment task's does. */
export async function runRawTask(task: RawTask): Promise<Uint8Array | TaskFailure> {
  try {
    return await (task.op === 'seal' ? seal(task) : open(task));
  } catch (err) {
    if (err instanceof SealcamError) return { code: err.code, message: err.message };
    return { code: 'EWORKER', message: `worker failed: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    task.key.fill(0);
    if (task.op === 'seal') task.input.fill(0); // the only copy of the plaintext (the caller's was transferred)
  }
}
