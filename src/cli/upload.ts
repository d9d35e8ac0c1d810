import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isTransient, SealcamError } from '../errors.js';
import { fsError, STDIO, tempPathFor } from '../io/atomic.js';
import { sealingFromConfig, sealOptionsFor } from '../keys/fleet.js';
import { currentKek } from '../keys/kek.js';
import type { KeyProvider } from '../keys/provider.js';
import type { SealedMetadata } from '../formats/sealed.js';
import type { HeaderKeys } from './layouts.js';
import type { SealPool } from '../pool/pool.js';
import { createSealStream } from '../pool/streams.js';
import { contentTypeOf, SEALED_CONTENT_TYPE } from '../storage/index.js';
import { listOutbox, queueSealed, retryOutbox, sendOrQueue } from '../storage/outbox.js';
import { printError, reporterFrom, type Reporter } from './output.js';
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
  /** The name for stdin's blob (`upload -`). */
  name?: string;
  json?: boolean;
  quiet?: boolean;
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
  if (files.filter((f) => f === STDIO).length > 1) throw new SealcamError('EUSAGE', 'stdin (-) can be read only once');
  if (opts.name !== undefined && !files.includes(STDIO)) throw new SealcamError('EUSAGE', '--name names the blob of stdin (-); files keep their own names');
  const captureTime = opts.captureTime === undefined ? undefined : parseCaptureTime(opts.captureTime);
  const out = reporterFrom(opts);
  const session = await openSession(opts);
  refuseConfig(session.config, ['device', 'seal']);
  const spooled: string[] = [];
  try {
    // Every input is checked before anything is sent; stdin is sealed into a spool first, so it can wait in the outbox like a file.
    const inputs: UploadInput[] = [];
    for (const file of files) {
      if (file !== STDIO) {
        inputs.push(await planUpload(file, { device: session.config.device.id, captureTime }));
        continue;
      }
      const name = opts.name ?? 'stdin';
      const spool = await sealStdin(session, name, captureTime ?? new Date().toISOString());
      spooled.push(spool);
      inputs.push({ ...(await planUpload(spool, { device: session.config.device.id, captureTime, name })), temporary: true });
    }
    refuseCollisions(inputs);

    const retried = opts.retryOutbox ? await sendQueued(session, out) : { status: 0 };
    const status = inputs.length > 0 ? await uploadAll(session, inputs, retried.unreachable, out) : 0;
    // A refusal (1) outranks files waiting in the outbox (EXIT_QUEUED).
    const worst = retried.status === 1 || status === 1 ? 1 : Math.max(retried.status, status);
    if (worst !== 0) process.exitCode = worst;
  } finally {
    for (const spool of spooled) await rm(spool, { force: true });
  }
}

/** Seals stdin into a spool beside the outbox (0600, our temp naming), as uploadAll seals a file. */
async function sealStdin(session: Session, name: string, captureTime: string): Promise<string> {
  const { config } = session;
  const dir = config.store.outboxDir;
  await mkdir(dir, { recursive: true });
  const temp = tempPathFor(join(dir, basename(name)));
  const sealing: Sealing = { keys: await headerKeys(session), pool: session.pool(), segmentSize: config.seal.segmentSize };
  try {
    const metadata = { contentType: contentTypeOf(name), deviceId: config.device.id, captureTime, originalName: basename(name) };
    await pipeline(process.stdin, sealingStream(sealing, metadata), createWriteStream(temp, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    await rm(temp, { force: true });
    throw fsError(err, 'seal stdin into', temp);
  } finally {
    await closeSealing(sealing);
  }
  return temp;
}

async function kekSealing(provider: KeyProvider, name: string): Promise<HeaderKeys> {
  const { kek, keyId, keyVersion } = await currentKek(provider, name);
  return { kek, keyId, keyVersion };
}

/** The header's keys for what this run seals: to the recipients (and signer) when configured, else under the newest KEK version. */
async function headerKeys(session: Session): Promise<HeaderKeys> {
  const fleet = await sealingFromConfig(session.config);
  return fleet !== undefined ? sealOptionsFor(fleet) : kekSealing(await session.keys(), session.config.keys.name);
}

/** Wipes the batch's KEK and closes its pool. */
async function closeSealing(sealing: Sealing | undefined): Promise<void> {
  if (sealing !== undefined && 'kek' in sealing.keys) sealing.keys.kek.fill(0);
  await sealing?.pool.close();
}

async function uploadAll(session: Session, inputs: UploadInput[], unreachable: string | undefined, out: Reporter): Promise<number> {
  const { config } = session;
  let sealing: Sealing | undefined;
  if (inputs.some((input) => input.sealed === undefined)) {
    // One key version for the batch, taken once: a rotation meanwhile applies to the next batch.
    sealing = { keys: await headerKeys(session), pool: session.pool(), segmentSize: config.seal.segmentSize };
  }
  let summary: string | undefined;
  const progress = createProgress({
    label: 'uploading',
    total: inputs.reduce((n, input) => n + input.size, 0),
    interactive: out.chatty ? undefined : false,
    log: (line) => (summary = line),
  });
  let done = 0;
  let reason = unreachable;
  const kept: string[] = [];
  try {
    for (const input of inputs) {
      const why = reason === undefined ? await sendOne(session, input, sealing, (bytes) => progress.update(done + bytes)) : await keep(session, input, sealing, reason);
      const file = input.temporary ? STDIO : input.path;
      if (why === undefined) {
        out.line(input.blobName);
        out.record({ file, blob: input.blobName, status: 'stored' });
      } else {
        reason = why;
        kept.push(basename(input.name ?? input.path));
        out.record({ file, blob: input.blobName, status: 'queued', reason: why });
      }
      done += input.size;
      progress.update(done);
    }
  } finally {
    progress.finish();
    await closeSealing(sealing);
  }
  if (kept.length < inputs.length && summary !== undefined) out.note(summary);
  if (reason === undefined) return 0;
  const which = kept.length === 1 ? `${kept[0]} is` : `${kept.length} files (${kept.slice(0, 5).join(', ')}${kept.length > 5 ? ', ...' : ''}) are`;
  printError(`${reason}; ${which} kept in the outbox ${config.store.outboxDir}: sealcam upload --retry-outbox sends ${kept.length === 1 ? 'it' : 'them'} later`);
  return EXIT_QUEUED;
}

/** Sends one input; when the store is unreachable or busy, keeps it in the outbox and returns why. */
async function sendOne(session: Session, input: UploadInput, sealing: Sealing | undefined, onBytes: (bytes: number) => void): Promise<string | undefined> {
  const { store, config } = session;
  const options = { metadata: blobMetadata(input), contentType: SEALED_CONTENT_TYPE };
  if (input.sealed !== undefined) {
    const result = await sendOrQueue(store, config.store.outboxDir, input.blobName, input.path, { ...options, move: input.temporary });
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
  return sealingStream(sealing, headerMetadata(input), onBytes);
}

/** A seal stream for one file of the batch, with `metadata` in its header. */
function sealingStream(sealing: Sealing, metadata: SealedMetadata, onBytes?: (bytes: number) => void): Duplex {
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
    await queueSealed(dir, input.blobName, input.path, reason, { ...options, move: input.temporary });
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
async function sendQueued(session: Session, out: Reporter): Promise<{ status: number; unreachable?: string }> {
  const dir = session.config.store.outboxDir;
  if ((await listOutbox(dir)).length === 0) {
    out.note(`the outbox ${dir} is empty`);
    return { status: 0 };
  }
  const result = await retryOutbox(session.store, dir);
  for (const name of result.sent) {
    out.line(name);
    out.record({ blob: name, status: 'stored', from: 'outbox' });
  }
  for (const failure of result.failed) printError(`${failure.name} stays in the outbox: ${failure.message}`);
  const status = result.failed.length > 0 ? 1 : 0;
  const waiting = result.remaining - result.failed.length;
  if (waiting === 0) return { status };
  const unreachable = `${session.where} is still unreachable or busy`;
  printError(`${unreachable}; ${waiting} file${waiting === 1 ? '' : 's'} stay in the outbox ${dir}: run sealcam upload --retry-outbox again later`);
  return { status: status || EXIT_QUEUED, unreachable };
}
