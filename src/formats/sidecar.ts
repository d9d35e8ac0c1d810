import { platform } from '#platform';
import { fromBase64, fromHex, toBase64, toHex } from '../bytes.js';
import { createEax } from '../engine/eax.js';
import { constantTimeEqual } from '../engine/run.js';
import type { EngineName } from '../engine/types.js';
import * as check from '../engine/validate.js';
import { AuthenticationError, InputError, SealcamError } from '../errors.js';
import { passThrough, type BufferIO } from '../io/buffer-io.js';
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

const sha256Hex = (b: Uint8Array): string => toHex(platform.crypto.sha256().update(b).digest());

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
  const decoded = fromBase64(value);
  if (decoded === undefined) throw formatError(`sidecar metadata: ${field} is not canonical base64`);
  if (decoded.length !== length) {
    throw formatError(`sidecar metadata: ${field} must be ${length} bytes, got ${decoded.length}`);
  }
  return decoded;
}

/**
 * Validates sidecar metadata (the parsed object, or the JSON text) strictly: exactly the known
 * members, the known format, version and algorithm, canonical base64 of the right lengths. Any
 * problem is a one-line SealcamError 'EFORMAT'.
 */
export function parseSidecarMetadata(input: unknown): SidecarMetadata {
  let value = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    try {
      value = JSON.parse(typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input));
    } catch {
      throw formatError('sidecar metadata is not valid JSON');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw formatError(`sidecar metadata must be a JSON object, got ${shown(value)}`);
  }
  const m = value as Record<string, unknown>;
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
    nonce: toBase64(nonce),
    tag: toBase64(tag),
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
    const nonce = platform.crypto.randomBytes(SIDECAR_NONCE_LENGTH);
    const { ciphertext, tag } = eax.encrypt(nonce, plaintext, { tagLength: SIDECAR_TAG_LENGTH });
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
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  const nonce = platform.crypto.randomBytes(SIDECAR_NONCE_LENGTH);
  const encryptor = eax.start(nonce, { tagLength: SIDECAR_TAG_LENGTH });
  try {
    const hash = platform.crypto.sha256();
    const size = await passThrough(io, (chunk) => {
      encryptor.update(chunk, chunk);
      hash.update(chunk);
    });
    return sidecarMetadata(key, nonce, encryptor.final(), { ...options, originalSize: size, ciphertextSha256: toHex(hash.digest()) });
  } finally {
    encryptor.dispose();
    eax.dispose();
  }
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
  if (!constantTimeEqual(sha256, fromHex(m.ciphertextSha256)!)) {
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
  checkCiphertext(m, ciphertext.length, platform.crypto.sha256().update(ciphertext).digest(), where);
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
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  const decryptor = eax.startUnverifiedDecrypt(decodeBase64(m.nonce, 'nonce', SIDECAR_NONCE_LENGTH));
  try {
    const hash = platform.crypto.sha256();
    const size = await passThrough(io, (chunk) => {
      hash.update(chunk);
      decryptor.update(chunk, chunk);
    });
    checkCiphertext(m, size, hash.digest(), where);
    try {
      decryptor.finish(decodeBase64(m.tag, 'tag', SIDECAR_TAG_LENGTH));
    } catch (err) {
      throw err instanceof AuthenticationError ? tagFailure() : err;
    }
  } finally {
    decryptor.dispose();
    eax.dispose();
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
