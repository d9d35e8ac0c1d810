import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createBackend, createEax } from '../engine/eax.js';
import type { CipherBackend, EngineName, RunMessage } from '../engine/types.js';
import { AuthenticationError, InputError, SealcamError } from '../errors.js';
import * as check from '../engine/validate.js';

/**
 * The `sealed` v1 format (docs/FORMAT.md): an authenticated header with the wrapped per-file key
 * and public metadata, then STREAM segments, each an independent EAX message. This module owns the
 * layout: the header, where each segment lives, and sealing or opening a run of segments in place.
 * The pool's workers run those runs; the single-thread functions at the end run them all at once.
 */

export const MAGIC = new Uint8Array([0x73, 0x65, 0x61, 0x6c, 0x63, 0x61, 0x6d, 0x00]);
export const VERSION = 1;
export const MAX_HEADER = 65536;
export const TAG = 16;
const PREFIX = 11;
const SALT = 16;
const MAC = 32;
const MIN_EXP = 12;
const MAX_EXP = 24;
export const DEFAULT_SEGMENT_SIZE = 1 << 16;
/** The segment sizes a file may declare: powers of two from 4 KiB to 16 MiB. */
export const MIN_SEGMENT_SIZE = 1 << MIN_EXP;
export const MAX_SEGMENT_SIZE = 1 << MAX_EXP;

export type Algorithm = 'AES-128-EAX' | 'AES-256-EAX';
const ALGORITHM_IDS: Record<Algorithm, number> = { 'AES-128-EAX': 1, 'AES-256-EAX': 2 };

/** Public, authenticated metadata. Never put secrets here. */
export interface SealedMetadata {
  contentType?: string;
  originalSize?: number;
  deviceId?: string;
  captureTime?: string;
  originalName?: string;
  [other: string]: unknown;
}

export interface SealHeaderInput {
  kek: Uint8Array;
  keyId: string;
  keyVersion: string;
  algorithm?: Algorithm;
  segmentSize?: number;
  metadata?: SealedMetadata;
  engine?: EngineName;
  /** Fixed randomness, for frozen test vectors only. */
  fixed?: { dek: Uint8Array; salt: Uint8Array; prefix: Uint8Array };
}

export interface SealedHeader {
  algorithm: Algorithm;
  segmentSize: number;
  headerLength: number;
  keyId: string;
  keyVersion: string;
  salt: Uint8Array;
  wrappedKey: Uint8Array;
  prefix: Uint8Array;
  metadata: SealedMetadata;
  /** Header bytes before the MAC, and the MAC. */
  authenticated: Uint8Array;
  mac: Uint8Array;
}

/** A header just built for a new file: its bytes, what they say, and the segments' key. */
export interface CreatedHeader {
  bytes: Uint8Array;
  header: SealedHeader;
  /** The EAX key for segments (derived from the DEK); the caller wipes it when done. */
  payloadKey: Uint8Array;
}

/** What every segment of one file needs besides the payload key: the nonce prefix, the header MAC (each segment's associated data) and the segment size. */
export interface SegmentContext {
  prefix: Uint8Array;
  headerMac: Uint8Array;
  segmentSize: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function formatError(message: string): SealcamError {
  return new SealcamError('EFORMAT', message);
}

function wrapHeader(keyId: string, keyVersion: string): Uint8Array {
  return encoder.encode(`sealcam v1 key\0${keyId}\0${keyVersion}`);
}

function derive(dek: Uint8Array, salt: Uint8Array, info: string, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', dek, salt, info, length));
}

function headerMac(headerKey: Uint8Array, bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', headerKey).update(bytes).digest());
}

/** True for a segment size a file may declare. */
export function isSegmentSize(size: number): boolean {
  const e = Math.log2(size);
  return Number.isInteger(e) && e >= MIN_EXP && e <= MAX_EXP;
}

function segmentExponent(size: number): number {
  if (!isSegmentSize(size)) throw new InputError(`segment size must be a power of two from 4 KiB to 16 MiB, got ${size}`);
  return Math.log2(size);
}

function text(value: string, what: string): Uint8Array {
  const b = encoder.encode(value);
  if (b.length < 1 || b.length > 255) throw new InputError(`${what} must be 1 to 255 bytes of UTF-8, got ${b.length}`);
  return b;
}

/** Build a header for a new file: draws the DEK, salt and prefix, wraps the DEK, MACs the header. */
export function createHeader(input: SealHeaderInput): CreatedHeader {
  const algorithm = input.algorithm ?? 'AES-128-EAX';
  if (!(algorithm in ALGORITHM_IDS)) throw new InputError(`algorithm must be AES-128-EAX or AES-256-EAX, got ${algorithm}`);
  const segmentSize = input.segmentSize ?? DEFAULT_SEGMENT_SIZE;
  const exp = segmentExponent(segmentSize);
  check.aesKey(input.kek, 'key-encryption key');
  const id = text(input.keyId, 'key id');
  const version = text(input.keyVersion, 'key version');
  const dekLength = algorithm === 'AES-128-EAX' ? 16 : 32;
  const dek = input.fixed?.dek ?? randomBytes(dekLength);
  const salt = input.fixed?.salt ?? randomBytes(SALT);
  const prefix = input.fixed?.prefix ?? randomBytes(PREFIX);
  if (dek.length !== dekLength || salt.length !== SALT || prefix.length !== PREFIX) {
    throw new InputError('fixed DEK, salt or prefix has the wrong size');
  }
  const metadataJson = JSON.stringify(input.metadata ?? {});
  const metadata = encoder.encode(metadataJson);

  const kek = createEax(input.kek, { engine: input.engine });
  const wrapped = kek.encrypt(salt, dek, { header: wrapHeader(input.keyId, input.keyVersion) });
  kek.dispose();

  const headerLength = 16 + 1 + id.length + 1 + version.length + SALT + 1 + dekLength + TAG + PREFIX + 4 + metadata.length + MAC;
  if (headerLength > MAX_HEADER) throw new InputError(`header would be ${headerLength} bytes (limit ${MAX_HEADER}): metadata too large`);

  const out = new Uint8Array(headerLength);
  const view = new DataView(out.buffer);
  let at = 0;
  /** Writes `b` at the current place and returns where it went. */
  const put = (b: Uint8Array): Uint8Array => {
    out.set(b, at);
    at += b.length;
    return out.subarray(at - b.length, at);
  };
  put(MAGIC);
  out[8] = VERSION;
  out[9] = ALGORITHM_IDS[algorithm];
  out[10] = exp;
  out[11] = 0;
  view.setUint32(12, headerLength);
  at = 16;
  out[at++] = id.length;
  put(id);
  out[at++] = version.length;
  put(version);
  const saltField = put(salt);
  out[at++] = dekLength + TAG;
  const wrappedStart = at;
  put(wrapped.ciphertext);
  put(wrapped.tag);
  const wrappedKey = out.subarray(wrappedStart, at);
  const prefixField = put(prefix);
  view.setUint32(at, metadata.length);
  at += 4;
  put(metadata);

  const headerKey = derive(dek, salt, 'sealcam v1 header', MAC);
  const authenticated = out.subarray(0, at);
  const mac = put(headerMac(headerKey, authenticated));
  const payloadKey = derive(dek, salt, 'sealcam v1 payload', dekLength);
  headerKey.fill(0);
  if (!input.fixed) dek.fill(0);

  const header: SealedHeader = {
    algorithm,
    segmentSize,
    headerLength,
    keyId: input.keyId,
    keyVersion: input.keyVersion,
    salt: saltField,
    wrappedKey,
    prefix: prefixField,
    // What a reader parses out of these bytes (JSON drops undefined members, for one).
    metadata: JSON.parse(metadataJson) as SealedMetadata,
    authenticated,
    mac,
  };
  return { bytes: out, header, payloadKey };
}

/** The header's total length from its first 16 bytes, after the cheap checks (magic, version, limits). */
export function peekHeaderLength(start: Uint8Array): number {
  if (start.length < 16) throw formatError('not a sealed file (too short)');
  for (let i = 0; i < MAGIC.length; i++) if (start[i] !== MAGIC[i]) throw formatError('not a sealed file (bad magic)');
  if (start[8] !== VERSION) throw formatError(`unsupported sealed version ${start[8]} (this sealcam reads version ${VERSION})`);
  if (start[9] !== 1 && start[9] !== 2) throw formatError(`unknown algorithm id ${start[9]}`);
  if (start[10]! < MIN_EXP || start[10]! > MAX_EXP) throw formatError(`invalid segment size exponent ${start[10]}`);
  if (start[11] !== 0) throw formatError(`reserved header byte is ${start[11]}, not 0`);
  const length = new DataView(start.buffer, start.byteOffset, 16).getUint32(12);
  if (length < 16 + 2 + 2 + SALT + 1 + 32 + PREFIX + 4 + MAC || length > MAX_HEADER) {
    throw formatError(`invalid header length ${length} (limit ${MAX_HEADER})`);
  }
  return length;
}

/** Parse (not verify) a complete header. Every length is checked against the header's own size. */
export function parseHeader(bytes: Uint8Array): SealedHeader {
  const headerLength = peekHeaderLength(bytes);
  if (bytes.length < headerLength) throw formatError('truncated header');
  const h = bytes.subarray(0, headerLength);
  const end = headerLength - MAC;
  let at = 16;
  const take = (n: number, what: string): Uint8Array => {
    if (at + n > end) throw formatError(`header field ${what} runs past the header`);
    const b = h.subarray(at, at + n);
    at += n;
    return b;
  };
  const str = (what: string): string => {
    const n = take(1, what)[0]!;
    if (n === 0) throw formatError(`empty ${what}`);
    const raw = take(n, what);
    try {
      return decoder.decode(raw);
    } catch {
      throw formatError(`${what} is not UTF-8`);
    }
  };
  const algorithm: Algorithm = h[9] === 1 ? 'AES-128-EAX' : 'AES-256-EAX';
  const keyId = str('key id');
  const keyVersion = str('key version');
  const salt = take(SALT, 'salt');
  const w = take(1, 'wrapped key length')[0]!;
  const dekLength = algorithm === 'AES-128-EAX' ? 16 : 32;
  if (w !== dekLength + TAG) throw formatError(`wrapped key length ${w} does not match ${algorithm}`);
  const wrappedKey = take(w, 'wrapped key');
  const prefix = take(PREFIX, 'nonce prefix');
  const j = new DataView(h.buffer, h.byteOffset + at, 4).getUint32(0);
  take(4, 'metadata length');
  const metaBytes = take(j, 'metadata');
  if (at !== end) throw formatError('header length does not match its fields');
  let metadata: SealedMetadata;
  try {
    const parsed: unknown = JSON.parse(decoder.decode(metaBytes));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    metadata = parsed as SealedMetadata;
  } catch {
    throw formatError('metadata is not a JSON object');
  }
  return {
    algorithm,
    segmentSize: 2 ** h[10]!,
    headerLength,
    keyId,
    keyVersion,
    salt,
    wrappedKey,
    prefix,
    metadata,
    authenticated: h.subarray(0, end),
    mac: h.subarray(end),
  };
}

/** Unwrap the DEK with the KEK and verify the header MAC; returns the payload key (the caller wipes it). */
export function openHeader(header: SealedHeader, kek: Uint8Array, engine?: EngineName): Uint8Array {
  check.aesKey(kek, 'key-encryption key');
  const dekLength = header.algorithm === 'AES-128-EAX' ? 16 : 32;
  const eax = createEax(kek, { engine });
  let dek: Uint8Array;
  try {
    dek = eax.decrypt(header.salt, header.wrappedKey.subarray(0, dekLength), header.wrappedKey.subarray(dekLength), {
      header: wrapHeader(header.keyId, header.keyVersion),
    });
  } catch (err) {
    if (err instanceof AuthenticationError) {
      throw new AuthenticationError(`wrong key: the file's key could not be unwrapped with key ${header.keyId} version ${header.keyVersion}`);
    }
    throw err;
  } finally {
    eax.dispose();
  }
  const headerKey = derive(dek, header.salt, 'sealcam v1 header', MAC);
  const ok = timingSafeEqual(headerMac(headerKey, header.authenticated), header.mac);
  headerKey.fill(0);
  if (!ok) {
    dek.fill(0);
    throw new AuthenticationError('header was altered: its MAC does not verify');
  }
  const payloadKey = derive(dek, header.salt, 'sealcam v1 payload', dekLength);
  dek.fill(0);
  return payloadKey;
}

/** What the segments of the file with this header need. */
export function segmentContext(header: SealedHeader): SegmentContext {
  return { prefix: header.prefix, headerMac: header.mac, segmentSize: header.segmentSize };
}

/** The 16-byte nonce of segment `index`: prefix || uint32(index) || last. */
export function segmentNonce(prefix: Uint8Array, index: number, last: boolean): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) throw formatError('too many segments (limit 2^32)');
  // Byte by byte rather than through a DataView: a 16-byte array stays on the JS heap unless its buffer is asked for.
  const n = new Uint8Array(16);
  n.set(prefix);
  n[PREFIX] = index >>> 24;
  n[PREFIX + 1] = index >>> 16;
  n[PREFIX + 2] = index >>> 8;
  n[PREFIX + 3] = index;
  n[15] = last ? 1 : 0;
  return n;
}

function segmentFailure(index: number, last: boolean): AuthenticationError {
  return new AuthenticationError(
    last
      ? `segment ${index} (the last) failed verification: altered, or the file was truncated or extended`
      : `segment ${index} failed verification: altered, reordered, or the file was truncated`,
  );
}

/**
 * How a body of `bodyLength` bytes splits into stored segments, with the checks a reader can make
 * once it knows the body's size (FORMAT.md, Reading, step 3): impossible sizes and an empty last
 * segment after others are refused.
 */
export function segmentLayout(bodyLength: number, segmentSize: number): { count: number; lastStored: number; plaintextLength: number } {
  const stored = segmentSize + TAG;
  if (bodyLength < TAG) throw formatError('truncated: the body is shorter than one segment tag');
  const count = Math.ceil(bodyLength / stored);
  if (count > 2 ** 32) throw formatError('too many segments (limit 2^32)');
  const lastStored = bodyLength - (count - 1) * stored;
  if (lastStored < TAG) throw formatError(`truncated: the last segment is ${lastStored} bytes, shorter than its tag`);
  if (count > 1 && lastStored === TAG) throw formatError('invalid: an empty last segment after others');
  return { count, lastStored, plaintextLength: (count - 1) * segmentSize + lastStored - TAG };
}

/** Sealed bytes of a body holding `plaintextLength` bytes (an empty plaintext is one empty segment). */
export function sealedBodyLength(plaintextLength: number, segmentSize: number): number {
  return plaintextLength + Math.max(1, Math.ceil(plaintextLength / segmentSize)) * TAG;
}

/**
 * Seals segments `firstIndex ..` of a file in place. `buffer` holds their plaintext in its first
 * `length` bytes (whole segments unless the run `endsFile`; an empty final run is one empty
 * segment) and room after it for a tag per segment; returns the sealed segments (each ciphertext ||
 * tag), which fill buffer[0, length + count * 16).
 */
export function sealSegments(backend: CipherBackend, context: SegmentContext, firstIndex: number, endsFile: boolean, buffer: Uint8Array, length: number): Uint8Array {
  const size = context.segmentSize;
  if (!endsFile && (length === 0 || length % size !== 0)) throw formatError('a run that does not end the file must hold whole segments');
  const count = Math.max(1, Math.ceil(length / size));
  const sealedLength = length + count * TAG;
  if (buffer.length < sealedLength) throw new InputError(`${length} bytes seal into ${sealedLength} bytes; the buffer holds ${buffer.length}`);
  const messages: RunMessage[] = new Array(count);
  // Backwards: segment i's place starts at or after its plaintext and past every earlier
  // plaintext, so moving it there overwrites only segments already moved.
  for (let i = count - 1; i >= 0; i--) {
    const from = i * size;
    const n = Math.min(size, length - from);
    const at = i * (size + TAG);
    buffer.copyWithin(at, from, from + n);
    const nonce = segmentNonce(context.prefix, firstIndex + i, endsFile && i === count - 1);
    messages[i] = { nonce, data: buffer.subarray(at, at + n), tag: buffer.subarray(at + n, at + n + TAG) };
  }
  backend.encryptRun(context.headerMac, messages);
  return buffer.subarray(0, sealedLength);
}

/**
 * Verifies and opens stored segments `firstIndex ..` of a file in place (whole ones unless the run
 * `endsFile`); returns their plaintext, moved to the start of `stored`. If any segment does not
 * verify, all of `stored` is wiped (nothing unverified, and nothing verified of a failed run,
 * leaves) and the error names the segment.
 */
export function openSegments(backend: CipherBackend, context: SegmentContext, firstIndex: number, endsFile: boolean, stored: Uint8Array): Uint8Array {
  const unit = context.segmentSize + TAG;
  if (!endsFile && (stored.length === 0 || stored.length % unit !== 0)) throw formatError('a run that does not end the file must hold whole segments');
  const count = Math.max(1, Math.ceil(stored.length / unit));
  const messages: RunMessage[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const segment = stored.subarray(i * unit, (i + 1) * unit);
    if (segment.length < TAG) throw formatError(`truncated: segment ${firstIndex + i} is shorter than its tag`);
    const n = segment.length - TAG;
    const nonce = segmentNonce(context.prefix, firstIndex + i, endsFile && i === count - 1);
    messages[i] = { nonce, data: segment.subarray(0, n), tag: segment.subarray(n) };
  }
  const failed = backend.decryptRun(context.headerMac, messages);
  if (failed >= 0) {
    stored.fill(0);
    throw segmentFailure(firstIndex + failed, endsFile && failed === count - 1);
  }
  // Forwards: each plaintext moves down to i * size, before stored segment i + 1 begins.
  let written = 0;
  for (const { data } of messages) {
    stored.copyWithin(written, data.byteOffset - stored.byteOffset, data.byteOffset - stored.byteOffset + data.length);
    written += data.length;
  }
  return stored.subarray(0, written);
}

export interface SealOptions extends SealHeaderInput {}

export interface OpenOptions {
  /** Returns the KEK for a key id and version (from a key provider or a key file). */
  kek: Uint8Array | ((keyId: string, keyVersion: string) => Uint8Array | Promise<Uint8Array>);
  engine?: EngineName;
}

export async function resolveKek(options: OpenOptions, header: SealedHeader): Promise<Uint8Array> {
  return typeof options.kek === 'function' ? await options.kek(header.keyId, header.keyVersion) : options.kek;
}

/** Seals `plaintext` as the body after a header just built for it, on this thread. */
export function sealWithHeader(created: CreatedHeader, plaintext: Uint8Array, engine?: EngineName): Uint8Array {
  const { bytes, header, payloadKey } = created;
  const out = new Uint8Array(bytes.length + sealedBodyLength(plaintext.length, header.segmentSize));
  out.set(bytes);
  out.set(plaintext, bytes.length);
  const backend = createBackend(payloadKey, engine);
  try {
    sealSegments(backend, segmentContext(header), 0, true, out.subarray(bytes.length), plaintext.length);
  } finally {
    backend.dispose();
  }
  return out;
}

/** Seal a whole buffer on this thread. */
export function sealBuffer(plaintext: Uint8Array, options: SealOptions): Uint8Array {
  check.bytes(plaintext, 'plaintext');
  const metadata = { originalSize: plaintext.length, ...options.metadata };
  const created = createHeader({ ...options, metadata });
  try {
    return sealWithHeader(created, plaintext, options.engine);
  } finally {
    created.payloadKey.fill(0);
  }
}

/** Verify and open a whole sealed buffer with a known KEK, on this thread. */
export function openSealed(sealed: Uint8Array, kek: Uint8Array, engine?: EngineName): { plaintext: Uint8Array; header: SealedHeader } {
  check.bytes(sealed, 'sealed file');
  const header = parseHeader(sealed);
  segmentLayout(sealed.length - header.headerLength, header.segmentSize);
  const payloadKey = openHeader(header, kek, engine);
  const backend = createBackend(payloadKey, engine);
  try {
    // A copy, opened in place: the plaintext is its start.
    const plaintext = openSegments(backend, segmentContext(header), 0, true, sealed.slice(header.headerLength));
    return { plaintext, header };
  } finally {
    backend.dispose();
    payloadKey.fill(0);
  }
}

/** Verify and open a whole sealed buffer, asking `options.kek` for the key the header names. */
export async function openBuffer(sealed: Uint8Array, options: OpenOptions): Promise<{ plaintext: Uint8Array; header: SealedHeader }> {
  check.bytes(sealed, 'sealed file');
  const header = parseHeader(sealed);
  return openSealed(sealed, await resolveKek(options, header), options.engine);
}
