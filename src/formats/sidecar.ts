import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createEax } from '../engine/eax.js';
import type { EngineName } from '../engine/types.js';
import * as check from '../engine/validate.js';
import { AuthenticationError, InputError, SealcamError } from '../errors.js';
import type { BufferIO } from '../io/buffer-io.js';
import { openMessageIO, sealMessageIO } from './message.js';
import { MAGIC } from './sealed.js';

/**
 * The sidecar layout, as the reference Azure scripts store an image: the ciphertext alone (one
 * EAX message under the key, no associated data) and, beside it, a JSON metadata file in the
 * manner of their `encryption_metadata.json`:
 *
 *   { "format": "sealcam-sidecar", "version": 1, "algorithm": "AES-128-EAX",
 *     "nonce": base64 (16 bytes), "tag": base64 (16 bytes), "keyName", "keyVersion",
 *     "originalName", "originalSize", "ciphertextSha256": lowercase hex }
 *
 * pycryptodome opens a pair with AES.new(key, AES.MODE_EAX, nonce=b64decode(nonce))
 * .decrypt_and_verify(ciphertext, b64decode(tag)).
 *
 * Only the ciphertext is authenticated (by the tag). The JSON is not: a changed keyName or
 * originalName goes unnoticed by the cryptography, so nothing in it may be trusted for a
 * security decision, and originalName is checked to be a plain file name before anyone can use it
 * as a path. New files should use the `sealed` format (docs/FORMAT.md), which authenticates its
 * metadata, streams, and commits to the key; the sidecar layout exists to exchange files with the
 * reference scripts.
 *
 * Sealing and opening stream too (sealSidecarIO, openSidecarIO): the pair is checked against the
 * metadata (size, SHA-256) and the tag only at the end, so a streamed open writes plaintext that
 * must be discarded if it fails.
 *
 * The reference scripts' own metadata files (other member names, hex or base64, fields of their
 * own) are read by parseForeignMetadata and opened by openForeignIO.
 */

export const SIDECAR_FORMAT = 'sealcam-sidecar';
export const SIDECAR_VERSION = 1;
export const SIDECAR_NONCE_LENGTH = 16;
export const SIDECAR_TAG_LENGTH = 16;

export type SidecarAlgorithm = 'AES-128-EAX' | 'AES-192-EAX' | 'AES-256-EAX';
const KEY_LENGTHS: Record<SidecarAlgorithm, number> = { 'AES-128-EAX': 16, 'AES-192-EAX': 24, 'AES-256-EAX': 32 };

export interface SidecarMetadata {
  format: typeof SIDECAR_FORMAT;
  version: typeof SIDECAR_VERSION;
  algorithm: SidecarAlgorithm;
  /** Base64 (RFC 4648, padded) of the 16-byte EAX nonce. */
  nonce: string;
  /** Base64 of the 16-byte EAX tag. */
  tag: string;
  /** The key's name at the key provider (e.g. the Key Vault secret name). */
  keyName: string;
  /** The key's version at the provider; may be empty (the provider's current version). */
  keyVersion: string;
  /** The plaintext's file name (a base name, no directories). */
  originalName: string;
  /** Plaintext bytes; the ciphertext has the same length. */
  originalSize: number;
  /** SHA-256 of the ciphertext, lowercase hex: detects a mismatched or damaged pair before decryption. */
  ciphertextSha256: string;
}

const FIELDS: readonly (keyof SidecarMetadata)[] = [
  'format',
  'version',
  'algorithm',
  'nonce',
  'tag',
  'keyName',
  'keyVersion',
  'originalName',
  'originalSize',
  'ciphertextSha256',
];

export interface SealSidecarOptions {
  keyName: string;
  keyVersion: string;
  originalName: string;
  engine?: EngineName;
}

export interface OpenSidecarOptions {
  engine?: EngineName;
  /** What the metadata is called in errors (its file name); default "the metadata". */
  metadataName?: string;
}

function formatError(message: string): SealcamError {
  return new SealcamError('EFORMAT', message);
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function algorithmFor(key: Uint8Array): SidecarAlgorithm {
  return key.length === 16 ? 'AES-128-EAX' : key.length === 24 ? 'AES-192-EAX' : 'AES-256-EAX';
}

/** Quote a value for a one-line message without echoing much of it. */
function shown(value: unknown): string {
  if (typeof value === 'string') {
    const s = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
    return s;
  }
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? 'an array' : typeof value;
}

/** A plain file name: no directories, no NUL or other control characters, not "." or "..". */
function isBaseName(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return name.length > 0 && name.length <= 255 && name !== '.' && name !== '..' && !/[/\\\u0000-\u001f\u007f]/.test(name);
}

function checkOptions(options: SealSidecarOptions): void {
  if (typeof options !== 'object' || options === null) throw new InputError('sidecar options must be an object');
  if (typeof options.keyName !== 'string' || options.keyName.length === 0) throw new InputError('keyName must be a non-empty string');
  if (typeof options.keyVersion !== 'string') throw new InputError('keyVersion must be a string (empty for the current version)');
  if (typeof options.originalName !== 'string' || !isBaseName(options.originalName)) {
    throw new InputError(`originalName must be a plain file name without directories, got ${shown(options.originalName)}`);
  }
}

/** Canonical, padded base64 decoding to exactly `length` bytes; anything else is EFORMAT. */
function decodeBase64(value: unknown, field: string, length: number): Uint8Array {
  if (typeof value !== 'string') throw formatError(`sidecar metadata: ${field} must be a base64 string, got ${shown(value)}`);
  const decoded = Buffer.from(value, 'base64');
  // Buffer ignores bad characters and missing padding: insist on the canonical encoding.
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || decoded.toString('base64') !== value) {
    throw formatError(`sidecar metadata: ${field} is not canonical base64`);
  }
  if (decoded.length !== length) {
    throw formatError(`sidecar metadata: ${field} must be ${length} bytes, got ${decoded.length}`);
  }
  return new Uint8Array(decoded);
}

/** The parsed object, or the JSON text (string or UTF-8 bytes) parsed to one; anything else is EFORMAT naming `what`. */
function jsonObject(input: unknown, what: string): Record<string, unknown> {
  let value = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    try {
      value = JSON.parse(typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input));
    } catch {
      throw formatError(`${what} is not valid JSON`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw formatError(`${what} must be a JSON object, got ${shown(value)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Validates sidecar metadata (the parsed object, or the JSON text) strictly: exactly the known
 * members, the known format, version and algorithm, canonical base64 of the right lengths. Any
 * problem is a one-line SealcamError 'EFORMAT'.
 */
export function parseSidecarMetadata(input: unknown): SidecarMetadata {
  const m = jsonObject(input, 'sidecar metadata');
  if (m.format !== SIDECAR_FORMAT) throw formatError(`unknown sidecar format ${shown(m.format)} (expected "${SIDECAR_FORMAT}")`);
  if (m.version !== SIDECAR_VERSION) throw formatError(`unsupported sidecar version ${shown(m.version)} (this sealcam reads version ${SIDECAR_VERSION})`);
  if (typeof m.algorithm !== 'string' || !Object.hasOwn(KEY_LENGTHS, m.algorithm)) {
    throw formatError(`unknown sidecar algorithm ${shown(m.algorithm)} (expected AES-128-EAX, AES-192-EAX or AES-256-EAX)`);
  }
  const unknown = Object.keys(m).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw formatError(`sidecar metadata has unknown member ${shown(unknown[0])}`);
  const missing = FIELDS.filter((k) => !Object.hasOwn(m, k));
  if (missing.length > 0) throw formatError(`sidecar metadata lacks ${missing.join(', ')}`);
  decodeBase64(m.nonce, 'nonce', SIDECAR_NONCE_LENGTH);
  decodeBase64(m.tag, 'tag', SIDECAR_TAG_LENGTH);
  if (typeof m.keyName !== 'string' || m.keyName.length === 0) throw formatError(`sidecar metadata: keyName must be a non-empty string, got ${shown(m.keyName)}`);
  if (typeof m.keyVersion !== 'string') throw formatError(`sidecar metadata: keyVersion must be a string, got ${shown(m.keyVersion)}`);
  if (typeof m.originalName !== 'string' || !isBaseName(m.originalName)) {
    throw formatError(`sidecar metadata: originalName must be a plain file name, got ${shown(m.originalName)}`);
  }
  if (typeof m.originalSize !== 'number' || !Number.isSafeInteger(m.originalSize) || m.originalSize < 0) {
    throw formatError(`sidecar metadata: originalSize must be a non-negative integer, got ${shown(m.originalSize)}`);
  }
  if (typeof m.ciphertextSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.ciphertextSha256)) {
    throw formatError('sidecar metadata: ciphertextSha256 must be 64 lowercase hex digits');
  }
  return m as unknown as SidecarMetadata;
}

/** The metadata as the JSON text of the metadata file (members in the documented order). */
export function serializeSidecarMetadata(metadata: SidecarMetadata): string {
  const ordered: Record<string, unknown> = {};
  for (const k of FIELDS) ordered[k] = metadata[k];
  return JSON.stringify(ordered, null, 2) + '\n';
}

/**
 * The metadata of a sealed message, checked by the reader's own rules, so a pair that could not be
 * opened is refused before it is written.
 */
function sidecarMetadata(
  key: Uint8Array,
  nonce: Uint8Array,
  tag: Uint8Array,
  fields: Pick<SidecarMetadata, 'keyName' | 'keyVersion' | 'originalName' | 'originalSize' | 'ciphertextSha256'>,
): SidecarMetadata {
  return parseSidecarMetadata({
    format: SIDECAR_FORMAT,
    version: SIDECAR_VERSION,
    algorithm: algorithmFor(key),
    nonce: b64(nonce),
    tag: b64(tag),
    keyName: fields.keyName,
    keyVersion: fields.keyVersion,
    originalName: fields.originalName,
    originalSize: fields.originalSize,
    ciphertextSha256: fields.ciphertextSha256,
  });
}

/**
 * Encrypts `plaintext` under `key` (16, 24 or 32 bytes) with a fresh random 16-byte nonce and no
 * associated data, and describes it for the metadata file.
 */
export function sealSidecar(
  key: Uint8Array,
  plaintext: Uint8Array,
  options: SealSidecarOptions,
): { ciphertext: Uint8Array; metadata: SidecarMetadata } {
  check.aesKey(key);
  check.bytes(plaintext, 'plaintext');
  checkOptions(options);
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  try {
    const nonce = new Uint8Array(randomBytes(SIDECAR_NONCE_LENGTH));
    const { ciphertext, tag } = eax.encrypt(nonce, plaintext);
    const metadata = sidecarMetadata(key, nonce, tag, { ...options, originalSize: plaintext.length, ciphertextSha256: sha256Hex(ciphertext) });
    return { ciphertext, metadata };
  } finally {
    eax.dispose();
  }
}

/** sealSidecar() for a stream: encrypts what `io` reads into what it writes and returns the metadata for it. */
export async function sealSidecarIO(io: BufferIO, key: Uint8Array, options: SealSidecarOptions): Promise<SidecarMetadata> {
  check.aesKey(key);
  checkOptions(options);
  const nonce = new Uint8Array(randomBytes(SIDECAR_NONCE_LENGTH));
  const hash = createHash('sha256');
  let size = 0;
  const tag = await sealMessageIO(io, key, nonce, {
    engine: options.engine,
    onCiphertext: (chunk) => {
      hash.update(chunk);
      size += chunk.length;
    },
  });
  return sidecarMetadata(key, nonce, tag, { ...options, originalSize: size, ciphertextSha256: hash.digest('hex') });
}

/** The metadata's algorithm must be the key's: a key of another size is the wrong key. */
function checkKey(key: Uint8Array, m: SidecarMetadata, where: string): void {
  if (key.length !== KEY_LENGTHS[m.algorithm]) {
    throw new InputError(`wrong key: ${where} says ${m.algorithm} but the key is ${key.length} bytes`);
  }
}

/** The ciphertext must be the one the metadata describes, by size and SHA-256, before its tag is worth checking. */
function checkCiphertext(m: SidecarMetadata, size: number, sha256: Uint8Array, where: string): void {
  if (size !== m.originalSize) {
    throw new AuthenticationError(`sidecar mismatch: the ciphertext is ${size} bytes but ${where} says ${m.originalSize} (truncated, extended, or not this metadata's file)`);
  }
  if (!timingSafeEqual(sha256, Buffer.from(m.ciphertextSha256, 'hex'))) {
    throw new AuthenticationError(`sidecar mismatch: the ciphertext does not match the ciphertextSha256 in ${where} (altered, or not this metadata's file)`);
  }
}

function tagFailure(): AuthenticationError {
  return new AuthenticationError('sidecar tag does not verify: wrong key, or the ciphertext, nonce or tag was altered');
}

/**
 * Verifies and opens a sidecar pair. `metadata` is the parsed metadata file or its JSON text.
 * Malformed metadata is SealcamError 'EFORMAT'; a key of another size than the metadata's
 * algorithm is InputError; a ciphertext that does not match ciphertextSha256 or originalSize, or
 * whose tag does not verify, is AuthenticationError. No plaintext is returned unless the tag verifies.
 */
export function openSidecar(key: Uint8Array, ciphertext: Uint8Array, metadata: unknown, options: OpenSidecarOptions = {}): Uint8Array {
  check.aesKey(key);
  check.bytes(ciphertext, 'ciphertext');
  const m = parseSidecarMetadata(metadata);
  const where = options.metadataName ?? 'the metadata';
  checkKey(key, m, where);
  checkCiphertext(m, ciphertext.length, createHash('sha256').update(ciphertext).digest(), where);
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  try {
    return eax.decrypt(decodeBase64(m.nonce, 'nonce', SIDECAR_NONCE_LENGTH), ciphertext, decodeBase64(m.tag, 'tag', SIDECAR_TAG_LENGTH));
  } catch (err) {
    throw err instanceof AuthenticationError ? tagFailure() : err;
  } finally {
    eax.dispose();
  }
}

/**
 * openSidecar() for a stream: decrypts what `io` reads into what it writes. The plaintext is
 * written before the size, SHA-256 and tag are checked at the end: a failure means what was
 * written must be discarded.
 */
export async function openSidecarIO(io: BufferIO, key: Uint8Array, metadata: unknown, options: OpenSidecarOptions = {}): Promise<void> {
  check.aesKey(key);
  const m = parseSidecarMetadata(metadata);
  const where = options.metadataName ?? 'the metadata';
  checkKey(key, m, where);
  const hash = createHash('sha256');
  try {
    await openMessageIO(io, key, decodeBase64(m.nonce, 'nonce', SIDECAR_NONCE_LENGTH), decodeBase64(m.tag, 'tag', SIDECAR_TAG_LENGTH), {
      engine: options.engine,
      onCiphertext: (chunk) => hash.update(chunk),
      beforeTag: (size) => checkCiphertext(m, size, hash.digest(), where),
    });
  } catch (err) {
    throw err instanceof AuthenticationError && !err.message.startsWith('sidecar mismatch') ? tagFailure() : err;
  }
}

// --- the metadata files the reference scripts wrote ----------------------------------------------

/**
 * What scripts in the manner of the seed wrote beside `encrypted_image.bin`: a JSON object with
 * the nonce and the tag, base64 or hex, under names of their choosing, and fields of their own.
 * Only the nonce and tag are needed to open the file; a name and a capture time are kept when
 * present (for `sealcam convert`). None of it is authenticated.
 */
export interface ForeignMetadata {
  nonce: Uint8Array;
  tag: Uint8Array;
  /** The members the nonce and tag came from, for messages. */
  fields: { nonce: string; tag: string };
  originalName?: string;
  /** ISO 8601, UTC. */
  captureTime?: string;
}

/** The member names tried, in this order (case does not matter). */
export const FOREIGN_NAMES = {
  nonce: ['nonce', 'iv'],
  tag: ['tag', 'mac'],
  originalName: ['originalName', 'original_name', 'original_filename', 'filename', 'file_name'],
  captureTime: ['captureTime', 'capture_time', 'captured_at', 'timestamp'],
} as const;

/**
 * The names of a metadata file that belongs to `fileName` alone, most specific first:
 * `<name>.json` (sealcam's sidecars) and `<name without extension>.json`.
 */
export function metadataNames(fileName: string): string[] {
  const dot = fileName.lastIndexOf('.');
  const stem = dot > 0 ? fileName.slice(0, dot) : undefined;
  return [...new Set([`${fileName}.json`, ...(stem === undefined ? [] : [`${stem}.json`])])].filter((n) => n !== fileName);
}

/**
 * The seed's fixed pair: `encrypted_image.bin` beside `encryption_metadata.json`. That metadata
 * file describes the seed's file, or the one ciphertext of a directory, never every file in one.
 */
export const SEED_FILES = { ciphertext: 'encrypted_image.bin', metadata: 'encryption_metadata.json' } as const;

function member(m: Record<string, unknown>, names: readonly string[]): [string, unknown] | undefined {
  const keys = Object.keys(m);
  for (const name of names) {
    const key = keys.find((k) => k.toLowerCase() === name.toLowerCase());
    if (key !== undefined) return [key, m[key]];
  }
  return undefined;
}

/** Bytes from base64 (padded or not, standard or URL alphabet) or hex; when both readings work, the one of `preferred` bytes wins. */
function decodeText(value: string, preferred: number): Uint8Array | undefined {
  const readings: Uint8Array[] = [];
  if (/^([0-9a-fA-F]{2})+$/.test(value)) readings.push(new Uint8Array(Buffer.from(value, 'hex')));
  const b64 = value.replace(/-/g, '+').replace(/_/g, '/');
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(b64) && b64.replace(/=+$/, '').length % 4 !== 1) {
    const decoded = Buffer.from(b64, 'base64');
    // Only a reading that encodes back to the text: Buffer skips what it does not understand.
    if (decoded.toString('base64').replace(/=+$/, '') === b64.replace(/=+$/, '')) readings.push(new Uint8Array(decoded));
  }
  return readings.find((r) => r.length === preferred) ?? readings[0];
}

function foreignBytes(m: Record<string, unknown>, what: 'nonce' | 'tag', where: string): { bytes: Uint8Array; field: string } {
  const names = FOREIGN_NAMES[what];
  const found = member(m, names);
  if (found === undefined) {
    throw formatError(`${where} has no ${what}: tried the members ${names.join(', ')} (found ${Object.keys(m).slice(0, 8).join(', ') || 'none'})`);
  }
  const [field, value] = found;
  const bytes = typeof value === 'string' ? decodeText(value.trim(), 16) : undefined;
  if (bytes === undefined) throw formatError(`${where}: ${field} must be base64 or hex text, got ${shown(value)}`);
  return { bytes, field };
}

/**
 * Reads a metadata file of the reference scripts (the parsed object, or its JSON text): the nonce
 * (`nonce` or `iv`) and the tag (`tag` or `mac`), base64 or hex; other members are ignored. The
 * tag must be 16 bytes, pycryptodome's default: a shorter tag from an unauthenticated file would
 * be an easier forgery, and no script in this family writes one. Problems are EFORMAT.
 */
export function parseForeignMetadata(input: unknown, where = 'the metadata'): ForeignMetadata {
  const m = jsonObject(input, where);
  const nonce = foreignBytes(m, 'nonce', where);
  const tag = foreignBytes(m, 'tag', where);
  if (nonce.bytes.length === 0 || nonce.bytes.length > 64) throw formatError(`${where}: ${nonce.field} is ${nonce.bytes.length} bytes; an EAX nonce here is 1 to 64 bytes (16 as pycryptodome makes them)`);
  if (tag.bytes.length !== SIDECAR_TAG_LENGTH) {
    throw formatError(`${where}: ${tag.field} is ${tag.bytes.length} bytes; sealcam opens only 16-byte tags (pycryptodome's default mac_len)`);
  }
  const name = member(m, FOREIGN_NAMES.originalName)?.[1];
  const time = member(m, FOREIGN_NAMES.captureTime)?.[1];
  const captured = typeof time === 'string' || typeof time === 'number' ? new Date(typeof time === 'number' && time < 1e11 ? time * 1000 : time) : undefined;
  return {
    nonce: nonce.bytes,
    tag: tag.bytes,
    fields: { nonce: nonce.field, tag: tag.field },
    ...(typeof name === 'string' && isBaseName(name) ? { originalName: name } : {}),
    ...(captured !== undefined && !Number.isNaN(captured.getTime()) ? { captureTime: captured.toISOString() } : {}),
  };
}

/** Either kind of metadata file: sealcam's own (it says `"format": "sealcam-sidecar"`) or a reference script's. */
export type AnyMetadata = { kind: 'sealcam'; metadata: SidecarMetadata } | { kind: 'foreign'; metadata: ForeignMetadata };

export function parseAnyMetadata(input: unknown, where = 'the metadata'): AnyMetadata {
  const m = jsonObject(input, where);
  if (m.format === SIDECAR_FORMAT) {
    try {
      return { kind: 'sealcam', metadata: parseSidecarMetadata(m) };
    } catch (err) {
      throw err instanceof SealcamError ? formatError(`${where}: ${err.message}`) : err;
    }
  }
  return { kind: 'foreign', metadata: parseForeignMetadata(m, where) };
}

/** Opens a file described by a reference script's metadata: one EAX message under its nonce, checked against its tag at the end (what was written must be discarded on a failure). */
export async function openForeignIO(io: BufferIO, key: Uint8Array, metadata: ForeignMetadata, options: OpenSidecarOptions = {}): Promise<void> {
  check.aesKey(key);
  try {
    await openMessageIO(io, key, metadata.nonce, metadata.tag, { engine: options.engine });
  } catch (err) {
    if (!(err instanceof AuthenticationError)) throw err;
    throw new AuthenticationError(`authentication failed: the file does not verify under this key with the nonce and tag of ${options.metadataName ?? 'the metadata'} (wrong key, wrong metadata file, or the file was altered)`);
  }
}

/**
 * Which layout a stored file uses: `sealed` when it starts with the sealed magic, otherwise
 * `sidecar` when a sidecar metadata file accompanies it, otherwise `raw` (nonce || tag ||
 * ciphertext, which has no magic of its own). The magic wins over a stray metadata file.
 */
export function detectFormat(bytes: Uint8Array, hasSidecarJson: boolean): 'sealed' | 'raw' | 'sidecar' {
  check.bytes(bytes, 'file start');
  if (bytes.length >= MAGIC.length && MAGIC.every((b, i) => bytes[i] === b)) return 'sealed';
  return hasSidecarJson ? 'sidecar' : 'raw';
}
