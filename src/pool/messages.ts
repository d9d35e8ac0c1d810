import type { EngineName } from '../engine/types.js';
import { openRawIO, RAW_OVERHEAD, rawReadRanges, sealRawIO, type RawLayout } from '../formats/raw.js';
import { openForeignIO, openSidecarIO, sealSidecarIO, type AnyMetadata, type SealSidecarOptions, type SidecarMetadata } from '../formats/sidecar.js';
import { memoryReader, type BufferIO } from '../io/buffer-io.js';
import { taskFailure, type TaskFailure } from './segments.js';

/**
 * The other kind of pool task: one whole raw or sidecar file (a single EAX message, so it cannot
 * be cut into segments), sealed or opened in memory by the format's own code (formats/raw.ts,
 * formats/sidecar.ts). A batch of camera images in the reference scripts' layouts then keeps every
 * worker busy with a file each, instead of running them one after the other on the main thread.
 * Opening returns the plaintext only once the tag verified; a failure wipes what was decrypted.
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

/** A sidecar file's ciphertext: sealed with the metadata that goes beside it, or opened with it. */
export type SidecarTask =
  | { kind: 'sidecar'; op: 'seal'; engine: EngineName; key: Uint8Array; fields: SealSidecarOptions; input: Uint8Array; name: string }
  | { kind: 'sidecar'; op: 'open'; engine: EngineName; key: Uint8Array; metadata: AnyMetadata; metadataName: string; input: Uint8Array; name: string };

export type MessageTask = RawTask | SidecarTask;

/** What a sealed sidecar task gives back: the ciphertext and the metadata that describes it. */
export interface SealedSidecar {
  ciphertext: Uint8Array;
  metadata: SidecarMetadata;
}

/** Files up to this size go to a worker whole; larger ones stream on the calling thread (memory stays bounded). */
export const MESSAGE_TASK_MAX_BYTES = 16 << 20;

/** `input` to `out` in memory, writes at an offset included (a raw layout with the tag first). */
function inMemory(input: Uint8Array, out: Uint8Array): BufferIO & { writeAt(bytes: Uint8Array, position: number): Promise<void> } {
  let at = 0;
  return {
    read: memoryReader(input),
    write: async (bytes) => void (out.set(bytes, at), (at += bytes.length)),
    writeAt: async (bytes, position) => out.set(bytes, position),
  };
}

/** Runs `open` into a fresh buffer of `length`, wiped if it fails. */
async function opened(length: number, open: (out: Uint8Array) => Promise<void>): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  try {
    await open(out);
    return out;
  } catch (err) {
    out.fill(0);
    throw err;
  }
}

async function seal(task: RawTask): Promise<Uint8Array> {
  const out = new Uint8Array(task.input.length + RAW_OVERHEAD);
  await sealRawIO(inMemory(task.input, out), task.key, { engine: task.engine, layout: task.layout });
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
  return opened(input.length - RAW_OVERHEAD, (out) => openRawIO(inMemory(ordered, out), task.key, { engine: task.engine, name: task.name }));
}

async function sidecar(task: SidecarTask): Promise<SealedSidecar | Uint8Array> {
  const { input } = task;
  if (task.op === 'seal') {
    const ciphertext = new Uint8Array(input.length);
    const metadata = await sealSidecarIO(inMemory(input, ciphertext), task.key, task.fields);
    return { ciphertext, metadata };
  }
  const { metadata } = task;
  const options = { engine: task.engine, metadataName: task.metadataName };
  return opened(input.length, (out) =>
    metadata.kind === 'sealcam' ? openSidecarIO(inMemory(input, out), task.key, metadata.metadata, options) : openForeignIO(inMemory(input, out), task.key, metadata.metadata, options),
  );
}

/** Runs one message task; a failure comes back as data, as a segment task's does. */
export async function runMessageTask(task: MessageTask): Promise<Uint8Array | SealedSidecar | TaskFailure> {
  try {
    if (task.kind === 'sidecar') return await sidecar(task);
    return await (task.op === 'seal' ? seal(task) : open(task));
  } catch (err) {
    return taskFailure(err);
  } finally {
    task.key.fill(0);
    if (task.op === 'seal') task.input.fill(0); // the only copy of the plaintext (the caller's was transferred)
  }
}
