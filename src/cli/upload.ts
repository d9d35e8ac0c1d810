import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isTransient, SealcamError } from '../errors.js';
import { fsError, tempPathFor } from '../io/atomic.js';
import { sealingFromConfig, sealOptionsFor } from '../keys/fleet.js';
import { currentKek } from '../keys/kek.js';
import type { KeyProvider } from '../keys/provider.js';
import type { HeaderKeys } from './layouts.js';
import type { SealPool } from '../pool/pool.js';
import { createSealStream } from '../pool/streams.js';
import { SEALED_CONTENT_TYPE } from '../storage/index.js';
import { listOutbox, queueSealed, retryOutbox, sendOrQueue } from '../storage/outbox.js';
import { createProgress } from './progress.js';
import { refuseConfig } from '../config.js';
import { openSession, type Session } from './session.js';
import { blobMetadata, headerMetadata, parseCaptureTime, planUpload, refuseCollisions, type UploadInput } from './upload-plan.js';

/**
 * `sealcam upload <file...>` and `sealcam upload --retry-outbox`. A plain file is sealed on the
 * way: the seal stream is piped straight into the store's put, so no file is ever held in memory
 * whole. A file that is sealed already goes up as it is. Blob names go to stdout, one a line, as
 * each upload completes.
 *
 * When the store is unreachable or busy after its own retries, the sealed file is kept in the
 * outbox and the rest of the batch goes straight there too (the store would only make each file
 * wait out the same retries); one line says so and the exit status is EXIT_QUEUED.
 */

/** Exit status when files were kept in the outbox (sysexits' EX_TEMPFAIL): nothing is lost, try again later. */
export const EXIT_QUEUED = 75;

export interface UploadOptions {
  retryOutbox?: boolean;
  captureTime?: string;
  [flag: string]: unknown;
}

/** What sealing needs, shared by the whole batch: the header's keys (the newest KEK version, or the recipients and signer) and one pool. */
interface Sealing {
  keys: HeaderKeys;
  pool: SealPool;
  segmentSize: number;
}

export async function upload(files: string[], opts: UploadOptions): Promise<void> {
  if (files.length === 0 && !opts.retryOutbox) throw new SealcamError('EUSAGE', 'name the files to upload (or use --retry-outbox to send what the outbox holds)');
  const captureTime = opts.captureTime === undefined ? undefined : parseCaptureTime(opts.captureTime);
  const session = await openSession(opts);
  refuseConfig(session.config, ['device', 'seal']);
  // Every input is checked before anything is sent.
  const inputs: UploadInput[] = [];
  for (const file of files) inputs.push(await planUpload(file, { device: session.config.device.id, captureTime }));
  refuseCollisions(inputs);

  const retried = opts.retryOutbox ? await sendQueued(session) : { status: 0 };
  const status = inputs.length > 0 ? await uploadAll(session, inputs, retried.unreachable) : 0;
  // A refusal (1) outranks files waiting in the outbox (EXIT_QUEUED).
  const worst = retried.status === 1 || status === 1 ? 1 : Math.max(retried.status, status);
  if (worst !== 0) process.exitCode = worst;
}

async function kekSealing(provider: KeyProvider, name: string): Promise<HeaderKeys> {
  const { kek, keyId, keyVersion } = await currentKek(provider, name);
  return { kek, keyId, keyVersion };
}

async function uploadAll(session: Session, inputs: UploadInput[], unreachable: string | undefined): Promise<number> {
  const { config } = session;
  let sealing: Sealing | undefined;
  if (inputs.some((input) => input.sealed === undefined)) {
    // One key version for the batch, taken once: a rotation meanwhile applies to the next batch.
    const fleet = await sealingFromConfig(config);
    const keys = fleet !== undefined ? sealOptionsFor(fleet) : await kekSealing(await session.keys(), config.keys.name);
    sealing = { keys, pool: session.pool(), segmentSize: config.seal.segmentSize };
  }
  let summary: string | undefined;
  const progress = createProgress({ label: 'uploading', total: inputs.reduce((n, input) => n + input.size, 0), log: (line) => (summary = line) });
  let done = 0;
  let reason = unreachable;
  const kept: string[] = [];
  try {
    for (const input of inputs) {
      const why = reason === undefined ? await sendOne(session, input, sealing, (bytes) => progress.update(done + bytes)) : await keep(session, input, sealing, reason);
      if (why === undefined) console.log(input.blobName);
      else {
        reason = why;
        kept.push(basename(input.path));
      }
      done += input.size;
      progress.update(done);
    }
  } finally {
    progress.finish();
    if (sealing !== undefined && 'kek' in sealing.keys) sealing.keys.kek.fill(0);
    await sealing?.pool.close();
  }
  if (kept.length < inputs.length && summary !== undefined) process.stderr.write(`${summary}\n`);
  if (reason === undefined) return 0;
  const which = kept.length === 1 ? `${kept[0]} is` : `${kept.length} files (${kept.slice(0, 5).join(', ')}${kept.length > 5 ? ', ...' : ''}) are`;
  console.error(`sealcam: ${reason}; ${which} kept in the outbox ${config.store.outboxDir}: sealcam upload --retry-outbox sends ${kept.length === 1 ? 'it' : 'them'} later`);
  return EXIT_QUEUED;
}

/** Sends one input; when the store is unreachable or busy, keeps it in the outbox and returns why. */
async function sendOne(session: Session, input: UploadInput, sealing: Sealing | undefined, onBytes: (bytes: number) => void): Promise<string | undefined> {
  const { store, config } = session;
  const options = { metadata: blobMetadata(input), contentType: SEALED_CONTENT_TYPE };
  if (input.sealed !== undefined) {
    const result = await sendOrQueue(store, config.store.outboxDir, input.blobName, input.path, options);
    return result.queued ? result.reason : undefined;
  }
  const source = createReadStream(input.path);
  const seal = sealStream(input, sealing!, onBytes);
  source.on('error', (err) => seal.destroy(err));
  try {
    await store.put(input.blobName, source.pipe(seal), options);
    return undefined;
  } catch (err) {
    if (!isTransient(err)) throw err;
    const reason = (err as SealcamError).message;
    return keep(session, input, sealing, reason);
  } finally {
    source.destroy();
    seal.destroy();
  }
}

function sealStream(input: UploadInput, sealing: Sealing, onBytes?: (bytes: number) => void): Duplex {
  const metadata = headerMetadata(input);
  // A v2 header names its device in a field of its own (the signer's), not in the metadata.
  if ('wrap' in sealing.keys) delete metadata.deviceId;
  return createSealStream({
    ...sealing.keys,
    segmentSize: sealing.segmentSize,
    pool: sealing.pool,
    metadata,
    onProgress: onBytes && ((p) => onBytes(p.bytes)),
  });
}

/** Puts `input` in the outbox without trying the store (sealing it first if it is plain); returns `reason`. */
async function keep(session: Session, input: UploadInput, sealing: Sealing | undefined, reason: string): Promise<string> {
  const dir = session.config.store.outboxDir;
  const options = { metadata: blobMetadata(input), contentType: SEALED_CONTENT_TYPE };
  if (input.sealed !== undefined) {
    await queueSealed(dir, input.blobName, input.path, reason, options);
    return reason;
  }
  // Sealed again, under a fresh file key: the stream that failed is gone, the plaintext is still here.
  const temp = tempPathFor(join(dir, basename(input.blobName)));
  try {
    await mkdir(dir, { recursive: true });
    await pipeline(createReadStream(input.path), sealStream(input, sealing!), createWriteStream(temp, { flags: 'wx' }));
    await queueSealed(dir, input.blobName, temp, reason, { ...options, move: true });
  } catch (err) {
    throw fsError(err, `keep ${input.path} in the outbox`, dir);
  } finally {
    await rm(temp, { force: true });
  }
  return reason;
}

/** Sends what the outbox holds, oldest first; says what stays and why. */
async function sendQueued(session: Session): Promise<{ status: number; unreachable?: string }> {
  const dir = session.config.store.outboxDir;
  if ((await listOutbox(dir)).length === 0) {
    console.error(`the outbox ${dir} is empty`);
    return { status: 0 };
  }
  const result = await retryOutbox(session.store, dir);
  for (const name of result.sent) console.log(name);
  for (const failure of result.failed) console.error(`sealcam: ${failure.name} stays in the outbox: ${failure.message}`);
  const status = result.failed.length > 0 ? 1 : 0;
  const waiting = result.remaining - result.failed.length;
  if (waiting === 0) return { status };
  const unreachable = `${session.where} is still unreachable or busy`;
  console.error(`sealcam: ${unreachable}; ${waiting} file${waiting === 1 ? '' : 's'} stay in the outbox ${dir}: run sealcam upload --retry-outbox again later`);
  return { status: status || EXIT_QUEUED, unreachable };
}
