import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { EngineName } from '../engine/types.js';
import { SealcamError } from '../errors.js';
import type { OpenOptions, ProvenSigner, SealedHeader } from '../formats/sealed.js';
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
  /** How the file's key is found (v1: the KEK; v2: an identity) and who may have sealed it (a registry). */
  keys: Pick<OpenOptions, 'kek' | 'fileKey' | 'trust'>;
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
  /** SHA-256 of the sealed bytes judged. */
  sha256: string;
  /** What the event claimed that the blob is not (`sha256`, `sealedSize`): a hint that lied, counted, never trusted. */
  notificationMismatch?: string[];
}

/**
 * Why a verified header may not be filed under `blobDevice` (the prefix only that camera may write
 * to), or undefined: a signature the registry accepted must be that camera's; without a registry,
 * a device the header names must be it.
 */
function wrongPlace(header: SealedHeader, signer: ProvenSigner | undefined, blobDevice: string): SealcamError | undefined {
  if (signer !== undefined) {
    return signer.deviceId === blobDevice ? undefined : new SealcamError('EDEVICE', `the file is signed by device ${signer.deviceId} but stored under ${blobDevice}`);
  }
  const named = header.version === 2 ? header.deviceId : header.metadata.deviceId;
  if (named === undefined || named === blobDevice) return undefined;
  return new SealcamError('EDEVICE', `the verified header names device ${JSON.stringify(String(named).slice(0, 64))}, the blob is under ${blobDevice}`);
}

/** Fetches, verifies and writes `job`'s blob; a failure leaves nothing at the output. */
export async function openBlob(job: Job, deps: OpenDeps): Promise<OpenedImage> {
  const started = performance.now();
  const source = await deps.store.get(job.blobName);
  let downloadMs: number | undefined;
  let actual = '';
  const mismatch: string[] = [];
  const sha = createHash('sha256');
  // The event's SHA-256 and size are compared, not obeyed: the blob is judged on its own bytes.
  const checked = hashing(sha, (bytes) => {
    downloadMs = performance.now() - started;
    actual = sha.digest('hex');
    if (job.sha256 !== undefined && actual !== job.sha256) mismatch.push('sha256');
    if (job.sealedSize !== undefined && bytes !== job.sealedSize) mismatch.push('sealedSize');
  });
  const opener = createOpenStream({ ...deps.keys, pool: deps.pool, engine: deps.engine });
  const feeding = pipeline(source, checked, opener);
  feeding.catch(() => undefined); // read below

  // The header is verified (signature, MAC, key) before any plaintext: its metadata names and dates the image.
  const [header, signer] = await Promise.race([
    once(opener, 'header') as Promise<[SealedHeader, ProvenSigner | undefined]>,
    feeding.then((): never => {
      throw new SealcamError('EFORMAT', 'the blob ended before its header');
    }),
  ]);
  const { metadata } = header;
  const misplaced = wrongPlace(header, signer, job.deviceId);
  if (misplaced !== undefined) {
    opener.destroy(misplaced);
    throw misplaced;
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
    await deps.state.finished({ blobName: job.blobName, eventId: job.eventId, status: 'opened', outputPath: path, sha256: actual });
    return {
      outputPath: path,
      bytes,
      downloadMs,
      openMs: performance.now() - opening,
      latencyMs: sinceCapture(times),
      sha256: actual,
      ...(mismatch.length > 0 ? { notificationMismatch: mismatch } : {}),
    };
  } finally {
    opener.destroy(); // a no-op once it ended; otherwise releases the download
    // Nothing is left in the output directory for an image that did not open.
    await placement?.release(written);
  }
}
