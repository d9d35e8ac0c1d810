import { createHash } from 'node:crypto';
import { InputError, SealcamError } from '../errors.js';
import { checkFields, count, isoTime, matches, oneOf, pathLike, type Rule } from '../fields.js';
import type { ImageRecordFields, QuarantineRecordFields, ReceiverStatusFields, ThroughputBucket } from './schema.js';
import { directoryRecords, type RecordSink } from './store.js';

export type { ImageRecordFields, QuarantineRecordFields, ReceiverStatusFields, SignatureStatus, ThroughputBucket } from './schema.js';

/**
 * What receivers record for the dashboard: one small JSON file per outcome, created once and never
 * replaced, under `<outputRoot>/.sealcam/`, so any number of receivers sharing one output location
 * all contribute and a reader needs nothing but listing and reading:
 *
 *   records/<deviceId>/<yyyy-mm-dd>/<image name>.json   an opened image (the path mirrors outputPath)
 *   records/quarantine/<yyyy-mm-dd>/<blob name>.json    a quarantined blob (percent-encoded name, day of `time`)
 *   receivers/<receiver id>.json                        a receiver's counters, replaced every few seconds
 *
 * Every record is checked field by field on the way in and out (validateRecord): the reader skips
 * what does not pass instead of trusting it, and a record's name must be the one its content gives.
 */

export const RECORD_VERSION = 1;
/** Width of the throughput buckets in a receiver status (`recent`), and of the dashboard's chart bins. */
export const BUCKET_SECONDS = 10;
/** A status keeps the last hour of buckets. */
export const RECENT_SECONDS = 3600;
/** Records larger than this are not read (a status with a bucket per second for an hour is about 150 kB). */
export const MAX_RECORD_BYTES = 1 << 20;

type Versioned<K extends string, F> = { v: typeof RECORD_VERSION; kind: K } & F;
export type ImageRecord = Versioned<'image', ImageRecordFields>;
export type QuarantineRecord = Versioned<'quarantine', QuarantineRecordFields>;
export type ReceiverStatus = Versioned<'receiver', ReceiverStatusFields>;
export type FleetRecord = ImageRecord | QuarantineRecord | ReceiverStatus;

// --- Validation ----------------------------------------------------------------------------------

/** A path segment (no leading dot, so never '.' or '..') of at most 64 characters. */
const ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$/i;
const CODE = /^E[A-Z0-9_]{1,31}$/;
/** Printable ASCII without spaces. */
const KEY_ID = /^[\x21-\x7e]{1,256}$/;
/** One line of text: no control characters (C0, DEL, C1, line and paragraph separators). */
const ONE_LINE = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]+$/u;

const id = matches(ID, "1-64 letters, digits, '.', '_' or '-', not starting with '.'");
const line = (max: number): Rule => (v) => (typeof v === 'string' && v.length <= max && ONE_LINE.test(v) ? undefined : `must be one line of at most ${max} characters`);
const finite: Rule = (v) => (typeof v === 'number' && Number.isFinite(v) ? undefined : 'must be a finite number');
const list =
  (max: number, item: Rule, what: string): Rule =>
  (v) => {
    if (!Array.isArray(v) || v.length > max) return `must be a list of at most ${max} ${what}`;
    for (const [i, x] of v.entries()) {
      const problem = item(x);
      if (problem) return `[${i}] ${problem}`;
    }
    return undefined;
  };
const bucket: Rule = (v) => {
  try {
    const b = checkFields<ThroughputBucket>(v, { t: count, images: count, bytes: count }, (p) => new InputError(p));
    return b.t > 0 ? undefined : 't must be an epoch time in seconds';
  } catch (err) {
    return (err as Error).message;
  }
};

const HEAD = { v: oneOf(RECORD_VERSION) };
const IMAGE_RULES: Record<keyof ImageRecord, Rule> = {
  ...HEAD,
  kind: oneOf('image'),
  deviceId: id,
  blobName: pathLike,
  outputPath: pathLike,
  contentType: matches(MIME, 'a media type such as image/jpeg'),
  bytes: count,
  sha256: matches(SHA256, '64 lower-case hex digits'),
  captureTime: isoTime,
  receivedAt: isoTime,
  sealToReceiveMs: finite,
  receiver: id,
  signature: oneOf('verified', 'unsigned', 'n/a'),
  keyId: matches(KEY_ID, '1-256 printable characters without spaces'),
  warnings: list(32, line(500), 'lines of at most 500 characters'),
};
const QUARANTINE_RULES: Record<keyof QuarantineRecord, Rule> = {
  ...HEAD,
  kind: oneOf('quarantine'),
  deviceId: id,
  blobName: pathLike,
  code: matches(CODE, 'an error code such as EAUTH'),
  reason: line(2000),
  time: isoTime,
  receiver: id,
};
const STATUS_RULES: Record<keyof ReceiverStatus, Rule> = {
  ...HEAD,
  kind: oneOf('receiver'),
  receiver: id,
  startedAt: isoTime,
  updatedAt: isoTime,
  opened: count,
  duplicates: count,
  redeliveries: count,
  quarantined: count,
  bytes: count,
  inFlight: count,
  recent: list(RECENT_SECONDS, bucket, 'buckets'),
};

const refuse = (problem: string) => new InputError(`fleet record refused: ${problem}`);

/**
 * The record `json` holds, checked strictly (every field, no unknown ones, version 1), as a fresh
 * object; anything else throws an InputError that says what is wrong, in one line.
 */
export function validateRecord(json: unknown): FleetRecord {
  const kind = (json as { kind?: unknown } | null)?.kind;
  if (kind === 'image') {
    const record = checkFields<ImageRecord>(json, IMAGE_RULES, refuse, ['keyId']);
    const [device, day, name, ...rest] = record.outputPath.split('/');
    if (device !== record.deviceId || !DAY.test(day ?? '') || name === undefined || rest.length > 0) {
      throw refuse("outputPath must be '<deviceId>/<yyyy-mm-dd>/<file name>'");
    }
    return record;
  }
  if (kind === 'quarantine') return checkFields<QuarantineRecord>(json, QUARANTINE_RULES, refuse);
  if (kind === 'receiver') return checkFields<ReceiverStatus>(json, STATUS_RULES, refuse);
  throw refuse(`kind must be one of image, quarantine, receiver`);
}

/** Parses and validates a record file's bytes. */
export function parseRecord(bytes: Uint8Array): FleetRecord {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw refuse('not JSON');
  }
  return validateRecord(json);
}

// --- Where each record lives ---------------------------------------------------------------------

const MAX_FILE_NAME = 200;

/**
 * A file name for a blob name: percent-encoded (so it is one segment, and never an image name,
 * which has no '%'), cut to fit with a digest of the whole name when long.
 */
export function blobFileName(blobName: string): string {
  const encoded = blobName.replace(/[^A-Za-z0-9_-]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  if (encoded.length <= MAX_FILE_NAME) return encoded;
  const digest = createHash('sha256').update(blobName).digest('hex').slice(0, 16);
  return `${encoded.slice(0, MAX_FILE_NAME - 17)}~${digest}`;
}

/** The record's name under `<outputRoot>/.sealcam/`. */
export function recordName(record: FleetRecord): string {
  switch (record.kind) {
    case 'image':
      return `records/${record.outputPath}.json`;
    case 'quarantine':
      return `records/quarantine/${record.time.slice(0, 10)}/${blobFileName(record.blobName)}.json`;
    case 'receiver':
      return `receivers/${record.receiver}.json`;
  }
}

// --- Writing -------------------------------------------------------------------------------------

export type WriteOutcome = 'written' | 'exists';

const encode = (record: FleetRecord) => Buffer.from(JSON.stringify(record) + '\n');

function sinkFor(root: string | RecordSink): RecordSink {
  return typeof root === 'string' ? directoryRecords(root) : root;
}

const checked = <T extends FleetRecord>(record: T): T => validateRecord(record) as T;

/**
 * Records an opened image, once: 'exists' when a record for this output is already there (another
 * receiver, or a retry after a crash, wrote it first). `root` is the output root (a directory) or
 * any RecordSink. An invalid record throws an InputError before anything is written.
 */
export async function writeImageRecord(root: string | RecordSink, fields: ImageRecordFields): Promise<WriteOutcome> {
  const record = checked<ImageRecord>({ v: RECORD_VERSION, kind: 'image', ...fields });
  return sinkFor(root).create(recordName(record), encode(record));
}

/** Records a quarantined blob, once (as writeImageRecord). */
export async function writeQuarantineRecord(root: string | RecordSink, fields: QuarantineRecordFields): Promise<WriteOutcome> {
  const record = checked<QuarantineRecord>({ v: RECORD_VERSION, kind: 'quarantine', ...fields });
  return sinkFor(root).create(recordName(record), encode(record));
}

/** Replaces the receiver's status file (atomically: a reader sees the old one or the new one). */
export async function writeReceiverStatus(root: string | RecordSink, fields: ReceiverStatusFields): Promise<void> {
  const record = checked<ReceiverStatus>({ v: RECORD_VERSION, kind: 'receiver', ...fields });
  await sinkFor(root).replace(recordName(record), encode(record));
}

// --- Throughput buckets for a receiver status -----------------------------------------------------

/**
 * Counts images opened into BUCKET_SECONDS buckets over the last hour, for a receiver's status
 * (`recent`). Times are epoch milliseconds; the buckets are aligned to multiples of their width,
 * so those of several receivers add up bucket by bucket.
 */
export class RecentThroughput {
  private readonly buckets = new Map<number, ThroughputBucket>();

  add(bytes: number, nowMs = Date.now()): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new SealcamError('EINPUT', 'bytes must be a non-negative integer');
    const t = Math.floor(nowMs / 1000 / BUCKET_SECONDS) * BUCKET_SECONDS;
    const b = this.buckets.get(t) ?? { t, images: 0, bytes: 0 };
    b.images++;
    b.bytes += bytes;
    this.buckets.set(t, b);
    this.prune(nowMs);
  }

  /** The buckets of the last hour, oldest first (copies). */
  recent(nowMs = Date.now()): ThroughputBucket[] {
    this.prune(nowMs);
    return [...this.buckets.values()].sort((a, b) => a.t - b.t).map((b) => ({ ...b }));
  }

  private prune(nowMs: number): void {
    const oldest = nowMs / 1000 - RECENT_SECONDS;
    for (const t of this.buckets.keys()) if (t + BUCKET_SECONDS <= oldest) this.buckets.delete(t);
  }
}
