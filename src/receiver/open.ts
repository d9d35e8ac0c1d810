import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import type { EngineName } from '../engine/types.js';
import { SealcamError } from '../errors.js';
import type { OpenOptions, ProvenSigner, SealedHeader } from '../formats/sealed.js';
import type { ImageCheck } from '../io/image-check.js';
import type { SealPool } from '../pool/pool.js';
import { createOpenStream } from '../pool/streams.js';
import type { BlobStore } from '../storage/store.js';
import { hashing, type Job } from './job.js';
import type { Output, Published } from './output.js';

/**
 * One blob, fetched, verified and published: the download streams through its SHA-256 into the
 * pool's open stream, the verified header is checked against the place the blob was stored, and
 * the plaintext is staged whole (output.ts) and published under the job's output name only once
 * the last segment verified, so nothing unverified ever appears in the output.
 */

export interface OpenDeps {
  store: BlobStore;
  pool: SealPool;
  engine?: EngineName;
  /** How the file's key is found (v1: the KEK; v2: an identity) and who may have sealed it (a registry). */
  keys: Pick<OpenOptions, 'kek' | 'fileKey' | 'trust'>;
  output: Output;
}

export interface OpenedImage {
  /** Where the image is (`published` 'exists': where another receiver put it). */
  outputPath: string;
  /** 'exists': another receiver (or an earlier run) published this image first; nothing was written. */
  published: Published;
  /** Image bytes. */
  bytes: number;
  /** Request to last sealed byte received. */
  downloadMs?: number;
  /** Verified header to image in place (opening overlaps the download). */
  openMs: number;
  /** SHA-256 of the sealed bytes judged. */
  sha256: string;
  /** SHA-256 of the image. */
  imageSha256: string;
  /** What the event claimed that the blob is not (`sha256`, `sealedSize`): a hint that lied, counted, never trusted. */
  notificationMismatch?: string[];
  /** The verified header, and the device key the registry accepted (when one was given). */
  header: SealedHeader;
  signer?: ProvenSigner;
  /** The image checks (image-check.ts): warnings, never a refusal of a verified image. */
  check: ImageCheck;
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

/** Fetches, verifies and publishes `job`'s blob; a failure leaves nothing in the output. */
export async function openBlob(job: Job & { outputName: string }, deps: OpenDeps): Promise<OpenedImage> {
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

  try {
    // The header is verified (signature, MAC, key) before any plaintext.
    const [header, signer] = await Promise.race([
      once(opener, 'header') as Promise<[SealedHeader, ProvenSigner | undefined]>,
      feeding.then((): never => {
        throw new SealcamError('EFORMAT', 'the blob ended before its header');
      }),
    ]);
    const misplaced = wrongPlace(header, signer, job.deviceId);
    if (misplaced !== undefined) throw misplaced;

    const opening = performance.now();
    const staging = deps.output.stage(opener);
    const [fed, staged] = await Promise.allSettled([feeding, staging]);
    // The download side's own errors (verification, network) say more than the staging's echo of them.
    if (fed.status === 'rejected' && (fed.reason instanceof SealcamError || staged.status === 'fulfilled')) {
      if (staged.status === 'fulfilled') await staged.value.discard();
      throw fed.reason;
    }
    if (staged.status === 'rejected') throw staged.reason;
    const image = staged.value;
    const { metadata } = header;
    const contentType = typeof metadata.contentType === 'string' ? metadata.contentType : undefined;
    let check: ImageCheck;
    try {
      check = await image.check({ ...(contentType ? { contentType } : {}), name: job.outputName });
    } catch (err) {
      await image.discard();
      throw err;
    }
    const published = await image.publish(job.outputName, contentType ? { contentType } : {});
    return {
      outputPath: deps.output.locate(job.outputName),
      published,
      bytes: image.bytes,
      downloadMs,
      openMs: performance.now() - opening,
      sha256: actual,
      imageSha256: image.sha256,
      ...(mismatch.length > 0 ? { notificationMismatch: mismatch } : {}),
      header,
      ...(signer === undefined ? {} : { signer }),
      check,
    };
  } finally {
    opener.destroy(); // a no-op once it ended; otherwise releases the download
  }
}
