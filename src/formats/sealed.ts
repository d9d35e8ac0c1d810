import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createEax, type Eax } from '../engine/eax.js';
import type { EngineName } from '../engine/types.js';
import { AuthenticationError, InputError, SealcamError } from '../errors.js';
import * as check from '../engine/validate.js';

/**
 * The `sealed` v1 format (docs/FORMAT.md): an authenticated header with the wrapped per-file key
 * and public metadata, then STREAM segments, each an independent EAX message. This module holds
 * the layout and the per-segment crypto; the pool and the streams call it.
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

/** The keys and constants needed to seal or open segments of one file. */
export interface SegmentKeys {
  header: SealedHeader;
  /** The EAX key for segments (derived from the DEK). */
  payloadKey: Uint8Array;
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

function segmentExponent(size: number): number {
  const e = Math.log2(size);
  if (!Number.isInteger(e) || e < MIN_EXP || e > MAX_EXP) {
    throw new InputError(`segment size must be a power of two from 4 KiB to 16 MiB, got ${size}`);
  }
  return e;
}

function text(value: string, what: string): Uint8Array {
  const b = encoder.encode(value);
  if (b.length < 1 || b.length > 255) throw new InputError(`${what} must be 1 to 255 bytes of UTF-8, got ${b.length}`);
  return b;
}

/** Build a header for a new file: draws the DEK, salt and prefix, wraps the DEK, MACs the header. */
export function createHeader(input: SealHeaderInput): { bytes: Uint8Array; keys: SegmentKeys } {
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
  const metadata = encoder.encode(JSON.stringify(input.metadata ?? {}));

  const kek = createEax(input.kek, { engine: input.engine });
  const wrapped = kek.encrypt(salt, dek, { header: wrapHeader(input.keyId, input.keyVersion) });
  kek.dispose();

  const headerLength = 16 + 1 + id.length + 1 + version.length + SALT + 1 + dekLength + TAG + PREFIX + 4 + metadata.length + MAC;
  if (headerLength > MAX_HEADER) throw new InputError(`header would be ${headerLength} bytes (limit ${MAX_HEADER}): metadata too large`);

  const out = new Uint8Array(headerLength);
  const view = new DataView(out.buffer);
  let at = 0;
  const put = (b: Uint8Array) => {
    out.set(b, at);
    at += b.length;
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
  put(salt);
  out[at++] = dekLength + TAG;
  put(wrapped.ciphertext);
  put(wrapped.tag);
  put(prefix);
  view.setUint32(at, metadata.length);
  at += 4;
  put(metadata);

  const headerKey = derive(dek, salt, 'sealcam v1 header', MAC);
  const authenticated = out.subarray(0, at);
  const mac = headerMac(headerKey, authenticated);
  out.set(mac, at);
  const payloadKey = derive(dek, salt, 'sealcam v1 payload', dekLength);
  headerKey.fill(0);
  if (!input.fixed) dek.fill(0);

  const header = parseHeader(out);
  return { bytes: out, keys: { header, payloadKey } };
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

/** Unwrap the DEK with the KEK and verify the header MAC; returns the segment keys. */
export function openHeader(header: SealedHeader, kek: Uint8Array, engine?: EngineName): SegmentKeys {
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
  return { header, payloadKey };
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

/** Seal one segment with an EAX object for the payload key. Returns ciphertext || tag. */
export function sealSegment(eax: Eax, keys: SegmentKeys, index: number, last: boolean, plaintext: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + TAG);
  sealSegmentInto(eax, keys, index, last, plaintext, out);
  return out;
}

/**
 * sealSegment() into `out` (plaintext.length + TAG bytes: ciphertext || tag), allocating nothing
 * for the data. The ciphertext part of `out` is `plaintext` itself (sealing in place) or apart from it.
 */
export function sealSegmentInto(eax: Eax, keys: SegmentKeys, index: number, last: boolean, plaintext: Uint8Array, out: Uint8Array): void {
  const length = plaintext.length;
  if (out.length !== length + TAG) throw new InputError(`a segment of ${length} bytes seals into ${length + TAG} bytes, not ${out.length}`);
  const tag = eax.encryptInto(segmentNonce(keys.header.prefix, index, last), plaintext, out.subarray(0, length), { header: keys.header.mac });
  out.set(tag, length);
}

/** Verify and open one stored segment (ciphertext || tag). */
export function openSegment(eax: Eax, keys: SegmentKeys, index: number, last: boolean, stored: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(0, stored.length - TAG));
  openSegmentInto(eax, keys, index, last, stored, out);
  return out;
}

/**
 * openSegment() into `out` (stored.length - TAG bytes), allocating nothing for the data. `out` is
 * the ciphertext part of `stored` itself (opening in place) or apart from `stored`. If the segment
 * does not verify, `out` is wiped before the error is thrown.
 */
export function openSegmentInto(eax: Eax, keys: SegmentKeys, index: number, last: boolean, stored: Uint8Array, out: Uint8Array): void {
  if (stored.length < TAG) throw formatError(`truncated: segment ${index} is shorter than its tag`);
  const ct = stored.subarray(0, stored.length - TAG);
  try {
    eax.decryptInto(segmentNonce(keys.header.prefix, index, last), ct, stored.subarray(stored.length - TAG), out, {
      header: keys.header.mac,
    });
  } catch (err) {
    throw err instanceof AuthenticationError ? segmentFailure(index, last) : err;
  }
}

function segmentFailure(index: number, last: boolean): AuthenticationError {
  return new AuthenticationError(
    last
      ? `segment ${index} (the last) failed verification: altered, or the file was truncated or extended`
      : `segment ${index} failed verification: altered, reordered, or the file was truncated`,
  );
}

/**
 * sealSegmentInto() on segments `index` and `index + 1` at once: two whole segments, neither the
 * file's last, so of one length. The WASM engine interleaves the two (Eax.encryptTwoInto).
 */
export function sealSegmentPairInto(
  eax: Eax,
  keys: SegmentKeys,
  index: number,
  first: Uint8Array,
  firstOut: Uint8Array,
  second: Uint8Array,
  secondOut: Uint8Array,
): void {
  const length = first.length;
  if (second.length !== length || firstOut.length !== length + TAG || secondOut.length !== length + TAG) {
    throw new InputError(`a segment pair is two segments of one length, each sealing into its length + ${TAG} bytes`);
  }
  const { prefix, mac } = keys.header;
  const [firstTag, secondTag] = eax.encryptTwoInto(
    { nonce: segmentNonce(prefix, index, false), input: first, out: firstOut.subarray(0, length) },
    { nonce: segmentNonce(prefix, index + 1, false), input: second, out: secondOut.subarray(0, length) },
    { header: mac },
  );
  firstOut.set(firstTag, length);
  secondOut.set(secondTag, length);
}

/**
 * openSegmentInto() on stored segments `index` and `index + 1` at once (neither the file's last).
 * If either does not verify, both outputs are wiped and the error names the segment that failed.
 */
export function openSegmentPairInto(
  eax: Eax,
  keys: SegmentKeys,
  index: number,
  first: Uint8Array,
  firstOut: Uint8Array,
  second: Uint8Array,
  secondOut: Uint8Array,
): void {
  const length = first.length - TAG;
  if (length < 0 || second.length !== first.length || firstOut.length !== length || secondOut.length !== length) {
    throw new InputError('a segment pair is two stored segments of one length, each opening into its length - 16 bytes');
  }
  const { prefix, mac } = keys.header;
  try {
    eax.decryptTwoInto(
      { nonce: segmentNonce(prefix, index, false), input: first.subarray(0, length), out: firstOut, tag: first.subarray(length) },
      { nonce: segmentNonce(prefix, index + 1, false), input: second.subarray(0, length), out: secondOut, tag: second.subarray(length) },
      { header: mac },
    );
  } catch (err) {
    throw err instanceof AuthenticationError ? segmentFailure(index + (err.which ?? 0), false) : err;
  }
}

/** How a body of `bodyLength` bytes splits into stored segments; rejects impossible sizes. */
export function segmentLayout(bodyLength: number, segmentSize: number): { count: number; lastStored: number } {
  const stored = segmentSize + TAG;
  if (bodyLength < TAG) throw formatError('truncated: the body is shorter than one segment tag');
  const count = Math.ceil(bodyLength / stored);
  if (count > 2 ** 32) throw formatError('too many segments (limit 2^32)');
  const lastStored = bodyLength - (count - 1) * stored;
  if (lastStored < TAG) throw formatError(`truncated: the last segment is ${lastStored} bytes, shorter than its tag`);
  return { count, lastStored };
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

/** Seal `plaintext` as the body after an already built header (header bytes + its keys). */
export function sealPayload(header: Uint8Array, keys: SegmentKeys, plaintext: Uint8Array, engine?: EngineName): Uint8Array {
  const size = keys.header.segmentSize;
  const count = Math.max(1, Math.ceil(plaintext.length / size));
  const out = new Uint8Array(header.length + plaintext.length + count * TAG);
  out.set(header);
  const eax = createEax(keys.payloadKey, { engine });
  try {
    let at = header.length;
    for (let i = 0; i < count; i++) {
      const plain = plaintext.subarray(i * size, (i + 1) * size);
      sealSegmentInto(eax, keys, i, i === count - 1, plain, out.subarray(at, at + plain.length + TAG));
      at += plain.length + TAG;
    }
  } finally {
    eax.dispose();
  }
  return out;
}

/** Seal a whole buffer on this thread. */
export function sealBuffer(plaintext: Uint8Array, options: SealOptions): Uint8Array {
  check.bytes(plaintext, 'plaintext');
  const metadata = { originalSize: plaintext.length, ...options.metadata };
  const { bytes: header, keys } = createHeader({ ...options, metadata });
  try {
    return sealPayload(header, keys, plaintext, options.engine);
  } finally {
    keys.payloadKey.fill(0);
  }
}

/** Verify and open a whole sealed buffer with a known KEK, on this thread. */
export function openSealed(sealed: Uint8Array, kek: Uint8Array, engine?: EngineName): { plaintext: Uint8Array; header: SealedHeader } {
  check.bytes(sealed, 'sealed file');
  const header = parseHeader(sealed);
  const { count, lastStored } = segmentLayout(sealed.length - header.headerLength, header.segmentSize);
  if (count > 1 && lastStored === TAG) throw formatError('invalid: an empty last segment after others');
  const keys = openHeader(header, kek, engine);
  const size = header.segmentSize;
  const out = new Uint8Array((count - 1) * size + lastStored - TAG);
  const eax = createEax(keys.payloadKey, { engine });
  try {
    for (let i = 0; i < count; i++) {
      const start = header.headerLength + i * (size + TAG);
      const last = i === count - 1;
      const stored = sealed.subarray(start, last ? sealed.length : start + size + TAG);
      openSegmentInto(eax, keys, i, last, stored, out.subarray(i * size, i * size + stored.length - TAG));
    }
  } catch (err) {
    out.fill(0);
    throw err;
  } finally {
    eax.dispose();
    keys.payloadKey.fill(0);
  }
  return { plaintext: out, header };
}

/** Verify and open a whole sealed buffer, asking `options.kek` for the key the header names. */
export async function openBuffer(sealed: Uint8Array, options: OpenOptions): Promise<{ plaintext: Uint8Array; header: SealedHeader }> {
  check.bytes(sealed, 'sealed file');
  const header = parseHeader(sealed);
  return openSealed(sealed, await resolveKek(options, header), options.engine);
}
