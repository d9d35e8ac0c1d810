import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { EngineName } from '../engine/types.js';
import { SealcamError } from '../errors.js';
import type { OpenOptions, SealedHeader } from '../formats/sealed.js';
import { writeStreamAtomic } from '../io/atomic.js';
import type { SealPool } from '../pool/pool.js';
import { createOpenStream } from '../pool/streams.js';
import type { BlobStore } from '../storage/store.js';
import { hashing, type Job } from './job.js';
import { captureDay, imageName, sinceCapture, type OutputPlacer, type Placement } from './output.js';
import type { ReceiverState } from './state.js';

/**
 * One blob, fetched, verified and written: the download streams through its SHA-256 into the
 * pool's open stream, the verified header names and dates the image, and the plaintext goes into
 * an atomic write at the place output.ts reserves, so nothing unverified ever appears there. The
 * journal learns the output path before the image can appear, and the outcome once it has.
 */

/** Opened images are plaintext: owner and group only (the umask may narrow it further). */
const IMAGE_MODE = 0o640;

export interface OpenDeps {
  store: BlobStore;
  pool: SealPool;
  engine?: EngineName;
  kek: OpenOptions['kek'];
  output: OutputPlacer;
  state: ReceiverState;
}

export interface OpenedImage {
  outputPath: string;
  /** Image bytes written. */
  bytes: number;
  /** Request to last sealed byte received. */
  downloadMs?: number;
  /** Verified header to image in place (opening overlaps the download). */
  openMs: number;
  /** Capture (from the verified header, else the event) to image written. */
  latencyMs?: number;
}

/** Fetches, verifies and writes `job`'s blob; a failure leaves nothing at the output. */
export async function openBlob(job: Job, deps: OpenDeps): Promise<OpenedImage> {
  const started = performance.now();
  const source = await deps.store.get(job.blobName);
  let downloadMs: number | undefined;
  const sha = createHash('sha256');
  const checked = hashing(sha, () => {
    downloadMs = performance.now() - started;
    const actual = sha.digest('hex');
    if (job.sha256 !== undefined && actual !== job.sha256) {
      throw new SealcamError('ESHA256', `the blob's SHA-256 is ${actual}, the event announced ${job.sha256}`);
    }
  });
  const opener = createOpenStream({ kek: deps.kek, pool: deps.pool, engine: deps.engine });
  const feeding = pipeline(source, checked, opener);
  feeding.catch(() => undefined); // read below

  // The header is verified (MAC, key) before any plaintext: its metadata names and dates the image.
  const header = await Promise.race([
    once(opener, 'header').then(([h]) => h as SealedHeader),
    feeding.then((): never => {
      throw new SealcamError('EFORMAT', 'the blob ended before its header');
    }),
  ]);
  const { metadata } = header;
  if (metadata.deviceId !== undefined && metadata.deviceId !== job.deviceId) {
    const err = new SealcamError('EDEVICE', `the verified header names device ${JSON.stringify(String(metadata.deviceId).slice(0, 64))}, the blob is under ${job.deviceId}`);
    opener.destroy(err);
    throw err;
  }
  const times = [metadata.captureTime, job.captureTime];
  let placement: Placement | undefined;
  let written = false;
  try {
    placement = await deps.output.place(job.deviceId, captureDay(times, job.blobName), imageName(metadata, job.blobName));
    const { path } = placement;
    await deps.state.writing(job.blobName, path);
    const opening = performance.now();
    const writing = writeStreamAtomic(path, opener, { mode: IMAGE_MODE }).catch((err) => {
      opener.destroy(err); // stops the download too
      throw err;
    });
    const [fed, wrote] = await Promise.allSettled([feeding, writing]);
    // The download side's own errors (verification, network) say more than the write's echo of them.
    if (fed.status === 'rejected' && (fed.reason instanceof SealcamError || wrote.status === 'fulfilled')) throw fed.reason;
    if (wrote.status === 'rejected') throw wrote.reason;
    if (fed.status === 'rejected') throw fed.reason;
    written = true;
    const bytes = (await stat(path)).size;
    await deps.state.finished({ blobName: job.blobName, eventId: job.eventId, status: 'opened', outputPath: path });
    return {
      outputPath: path,
      bytes,
      downloadMs,
      openMs: performance.now() - opening,
      latencyMs: sinceCapture(times),
    };
  } finally {
    opener.destroy(); // a no-op once it ended; otherwise releases the download
    // Nothing is left in the output directory for an image that did not open.
    await placement?.release(written);
  }
}
