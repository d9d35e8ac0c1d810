import { extname } from 'node:path';
import { Readable } from 'node:stream';
import { refuseConfig, type SealcamConfig } from '../config.js';
import { InputError, SealcamError } from '../errors.js';
import type { BlobInfo, BlobStore, ListOptions } from './store.js';

/**
 * The blob store named by the configuration, plus the few rules every store shares (names,
 * metadata, listing order, upload bodies). Stores are loaded on demand: the Azure and AWS SDKs are
 * large, and a device writing to a local directory should never load them.
 */

export interface CreateStoreOptions {
  /** SSE-C only: the 32-byte customer key (the caller loads store.sseCustomerKeyName from its key provider). */
  sseCustomerKey?: Uint8Array;
  env?: NodeJS.ProcessEnv;
}

export async function createStore(config: SealcamConfig, options: CreateStoreOptions = {}): Promise<BlobStore> {
  const env = options.env ?? process.env;
  const { store } = config;
  refuseConfig(config, ['store'], env);
  if (store.kind === 'azure') {
    const { AzureBlobStore } = await import('./azure.js');
    // An explicit account URL wins: the connection-string variable may be set for something else.
    const connectionString = store.accountUrl ? undefined : env[store.connectionStringEnv];
    return new AzureBlobStore({ container: store.container, accountUrl: store.accountUrl, connectionString });
  }
  if (store.kind === 's3') {
    if (store.sse === 'c' && options.sseCustomerKey === undefined) {
      throw new SealcamError('ECONFIG', `store.sse is c but no SSE-C key was loaded (key '${store.sseCustomerKeyName}' in the key provider)`);
    }
    const { S3Store } = await import('./s3.js');
    return new S3Store({
      bucket: store.container,
      // S3-compatible endpoints often ignore the region, but the SDK needs one to sign.
      region: store.region ?? env.AWS_REGION ?? 'us-east-1',
      endpoint: store.endpoint,
      forcePathStyle: store.forcePathStyle,
      sse: store.sse,
      kmsKeyId: store.kmsKeyId,
      sseCustomerKey: options.sseCustomerKey,
    });
  }
  const { LocalStore } = await import('./local.js');
  return new LocalStore(store.dir);
}

// --- Shared by the stores -----------------------------------------------------------------------

/** Content type of the blob itself: sealed bytes (the image's own type is inside the sealed header). */
export const SEALED_CONTENT_TYPE = 'application/octet-stream';

const CONTENT_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.heic': 'image/heic',
  '.heif': 'image/heif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.bmp': 'image/bmp',
  '.dng': 'image/x-adobe-dng',
  '.mp4': 'video/mp4',
  '.mov': 'video/quicktime',
  '.json': 'application/json',
  '.txt': 'text/plain',
};

export function contentTypeOf(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** `<device>/<yyyy>/<mm>/<dd>/`, dated in UTC: how every writer lays out a device's blobs. */
export function datedPrefix(device: string, time: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${device}/${time.getUTCFullYear()}/${pad(time.getUTCMonth() + 1)}/${pad(time.getUTCDate())}/`;
}

/**
 * One path segment; never starting with '.', so '..' cannot occur and hidden names stay the local
 * store's own. '%' and '~' appear only in names receivers make for their records (fleet/records.ts).
 */
const SEGMENT = /^[A-Za-z0-9_%~-][A-Za-z0-9._%~-]*$/;

/** The one hidden segment a name may have: where receivers keep their records beside an output (receiver/output.ts). */
export const RECORDS_FOLDER = '.sealcam';

const segmentOk = (s: string) => SEGMENT.test(s) || s === RECORDS_FOLDER;

/** Refuses names that could escape a directory or differ between stores (`<device>/<yyyy>/<mm>/<dd>/<name>`). */
export function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 1024 || !name.split('/').every(segmentOk)) {
    throw new InputError(`blob name ${JSON.stringify(name)} is not valid: use '/'-separated parts of letters, digits, '.', '_' or '-', none starting with '.'`);
  }
  return name;
}

/** The one prefix that selects `prefix` and `device` together; undefined when they cannot both hold. */
export function listPrefix(options: ListOptions = {}): string | undefined {
  const { prefix = '', device } = options;
  const parts = typeof prefix === 'string' ? prefix.split('/') : [];
  // The last part may be cut short ('cam-01/2024/0'), or empty after a trailing '/'.
  if (parts.length === 0 || !parts.every((p, i) => segmentOk(p) || (i === parts.length - 1 && p === ''))) {
    throw new InputError(`list prefix ${JSON.stringify(prefix)} is not valid: use '/'-separated parts of letters, digits, '.', '_' or '-'`);
  }
  if (device === undefined) return prefix;
  if (typeof device !== 'string' || !SEGMENT.test(device)) throw new InputError(`device ${JSON.stringify(device)} is not a valid device id`);
  const devicePrefix = `${device}/`;
  if (prefix.startsWith(devicePrefix)) return prefix;
  return devicePrefix.startsWith(prefix) ? devicePrefix : undefined;
}

/** Refuses a folder prefix that is not '' or '/'-terminated parts a name may have. */
export function checkFolder(prefix: unknown): string {
  if (prefix === '') return prefix;
  if (typeof prefix !== 'string' || !prefix.endsWith('/')) throw new InputError(`folder ${JSON.stringify(prefix)} must be empty or end in '/'`);
  checkName(prefix.slice(0, -1));
  return prefix;
}

/** S3 takes a create-only body in one PutObject: at most 5 GiB, and its length must be known. */
export const MAX_SINGLE_PUT = 5 * 1024 ** 3;

/** The error of a create-only put whose name exists: nothing was written. */
export function alreadyExists(name: string, where: string): SealcamError {
  return new SealcamError('EEXIST', `${name} exists in ${where}: not replaced`);
}

/** Newest first (neither S3 nor Azure lists in time order), ties by name so the order is stable. */
export function newestFirst(blobs: BlobInfo[], limit?: number): BlobInfo[] {
  blobs.sort((a, b) => b.lastModified.getTime() - a.lastModified.getTime() || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  return limit === undefined ? blobs : blobs.slice(0, Math.max(0, limit));
}

/** S3 and Azure both carry metadata as HTTP headers: lower-case identifiers, printable ASCII, 2 KiB in all (S3's limit). */
export function checkMetadata(metadata: Record<string, string> = {}): Record<string, string> {
  let total = 0;
  for (const [key, value] of Object.entries(metadata)) {
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(key)) throw new InputError(`metadata key ${JSON.stringify(key)} must be a lower-case identifier (a-z, 0-9, _)`);
    if (typeof value !== 'string' || !/^[\x20-\x7e]*$/.test(value)) throw new InputError(`metadata ${key} must be printable ASCII`);
    total += key.length + value.length;
  }
  if (total > 2048) throw new InputError(`metadata is ${total} bytes; stores keep at most 2048`);
  return { ...metadata };
}

/** An upload body as the SDKs take it, with what is needed to tell a failed source from a failed service. */
export interface MeasuredBody {
  stream: Readable;
  /** Bytes read from the source so far. */
  bytes(): number;
  /** Set when the source stream failed or ended short of `size`: then the service is not to blame. */
  failure(): Error | undefined;
  /** Releases the source (an open file, say) if the upload stopped before reading all of it. */
  close(): void;
}

/**
 * Wraps `body` so that a source that errors, or ends before `size` bytes, errors the upload before
 * its last part is sent: the store then abandons it and nothing becomes visible. The source is
 * read only as the uploader reads (an async generator), so nothing flows, and no error can go
 * unheard, before the uploader is listening.
 */
export function measure(body: Readable | Uint8Array, size?: number): MeasuredBody {
  if (body instanceof Uint8Array) {
    if (size !== undefined && size !== body.length) throw new InputError(`size is ${size} but the body has ${body.length} bytes`);
    return { stream: Readable.from([body], { objectMode: false }), bytes: () => body.length, failure: () => undefined, close: () => undefined };
  }
  let bytes = 0;
  let failure: Error | undefined;
  const fail = (why: string) => (failure = new Error(why));
  // A source that fails before it is read (a file that cannot be opened) must not crash the
  // process; iterating it later still raises the error.
  body.on('error', () => undefined);
  async function* counted(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of body) {
        bytes += (chunk as Buffer).length;
        if (size !== undefined && bytes > size) throw fail(`the source gave more than the ${size} bytes announced`);
        yield chunk as Buffer;
      }
    } catch (err) {
      // Only the source's own errors land here: an uploader that gives up ends the generator quietly.
      failure ??= err as Error;
      throw err;
    }
    if (size !== undefined && bytes !== size) throw fail(`the source ended after ${bytes} of ${size} bytes`);
  }
  return {
    stream: Readable.from(counted(), { objectMode: false }),
    bytes: () => bytes,
    failure: () => failure,
    close: () => {
      if (!body.readableEnded && !body.destroyed) body.destroy();
    },
  };
}

/** The one-line error for an upload whose source failed: nothing was stored. */
export function sourceFailed(name: string, where: string, cause: Error): SealcamError {
  return new SealcamError('EABORTED', `upload of ${name} to ${where} abandoned, nothing was stored: ${cause.message.split('\n')[0]}`);
}

/** Expiry of a link in seconds: a positive integer up to 7 days (the longest a user delegation SAS may live). */
export function checkExpiry(seconds: unknown): number {
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 1 || seconds > 7 * 24 * 3600) {
    throw new InputError(`link expiry must be 1 to 604800 seconds (7 days), got ${String(seconds)}`);
  }
  return seconds;
}
