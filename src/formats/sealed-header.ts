import { platform } from '#platform';
import { createEax } from '../engine/eax.js';
import { constantTimeEqual } from '../engine/run.js';
import type { EngineName } from '../engine/types.js';
import * as check from '../engine/validate.js';
import { AuthenticationError, InputError, SealcamError } from '../errors.js';
import { DEFAULT_SEGMENT_SIZE, isSegmentSize, MAX_EXP, MIN_EXP } from './segment-size.js';

export { DEFAULT_SEGMENT_SIZE, isSegmentSize, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE } from './segment-size.js';

/**
 * The `sealed` header, both versions (docs/FORMAT.md gives every byte). The header says how the
 * file's key is held, carries public metadata, and ends in an HMAC-SHA256 under a key derived from
 * the file key; each segment then uses that MAC as its associated data, which binds the body to
 * the header.
 *
 * - v1 wraps the file key under a symmetric key-encryption key named by id and version: whoever
 *   seals can also open.
 * - v2 wraps it for public-key recipients, one stanza each (type, recipient fingerprint, body), as
 *   age's header does, so a camera that seals holds nothing that opens; it names the device, and a
 *   signed file ends in the device's Ed25519 signature over every header byte before it, MAC
 *   included. The signature is checked before any key is unwrapped, so a forged file costs no
 *   vault call.
 *
 * This module knows stanzas and signatures only by shape: the recipients, identities and device
 * keys themselves live in src/keys, which builds on these types.
 */

export const MAGIC = new Uint8Array([0x73, 0x65, 0x61, 0x6c, 0x63, 0x61, 0x6d, 0x00]);
export const VERSIONS = [1, 2] as const;
export const MAX_HEADER = 65536;
export const TAG = 16;
export const PREFIX = 11;
const SALT = 16;
const MAC = 32;

/** v2 limits: stanzas per file, a stanza type's length, a body's length, the device id's length. */
export const MAX_STANZAS = 16;
const MAX_TYPE = 32;
const MAX_BODY = 1024;
export const FINGERPRINT = 16;
const SIGNATURE = 64;
/** v2 flags (header byte 11): bit 0 says the header ends in a device signature. */
const SIGNED = 0x01;
/** What a device signs: this, a zero byte, then every header byte before the signature. */
const SIGNATURE_DOMAIN = 'sealcam v2 header signature';

export type Algorithm = 'AES-128-EAX' | 'AES-256-EAX';
const ALGORITHM_IDS: Record<Algorithm, number> = { 'AES-128-EAX': 1, 'AES-256-EAX': 2 };

/** Public, authenticated metadata. Never put secrets here. */
export interface SealedMetadata {
  contentType?: string;
  originalSize?: number;
  /** v1 only: a v2 header names its device in a field of its own. */
  deviceId?: string;
  captureTime?: string;
  originalName?: string;
  [other: string]: unknown;
}

/** A file key wrapped for one recipient: `type` says how, `fingerprint` for whom. */
export interface Stanza {
  type: string;
  /** 16 bytes naming the recipient's public key (src/keys/stanza.ts keyFingerprint). */
  fingerprint: Uint8Array;
  body: Uint8Array;
}

/** What a v2 writer needs of a device key: its fingerprint, and a signature (Ed25519, 64 bytes). */
export interface HeaderSigner {
  readonly fingerprint: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

interface HeaderFields {
  algorithm: Algorithm;
  segmentSize: number;
  headerLength: number;
  salt: Uint8Array;
  prefix: Uint8Array;
  metadata: SealedMetadata;
  /** Header bytes before the MAC, and the MAC. */
  authenticated: Uint8Array;
  mac: Uint8Array;
}

export interface SealedHeaderV1 extends HeaderFields {
  version: 1;
  keyId: string;
  keyVersion: string;
  wrappedKey: Uint8Array;
}

export interface HeaderSignature {
  /** The signing key's fingerprint. */
  signer: Uint8Array;
  signature: Uint8Array;
  /** What was signed: the domain, a zero byte, and the header up to the signature. */
  message: Uint8Array;
}

export interface SealedHeaderV2 extends HeaderFields {
  version: 2;
  stanzas: Stanza[];
  /** The device the header names (proven only by a signature that a registry accepts). */
  deviceId?: string;
  signature?: HeaderSignature;
}

export type SealedHeader = SealedHeaderV1 | SealedHeaderV2;

interface CommonSealing {
  algorithm?: Algorithm;
  segmentSize?: number;
  metadata?: SealedMetadata;
  engine?: EngineName;
}

/** v1: the file key wrapped under a symmetric key-encryption key, recorded by id and version. */
export interface KekSealing extends CommonSealing {
  kek: Uint8Array;
  keyId: string;
  keyVersion: string;
  /** Fixed randomness, for frozen test vectors only. */
  fixed?: { dek: Uint8Array; salt: Uint8Array; prefix: Uint8Array };
}

/** v2: the file key wrapped for each recipient; with a signer, the device's signature over the header. */
export interface RecipientSealing extends CommonSealing {
  /** One stanza per recipient for the file key (src/keys wrapFileKey with the recipients' public keys). */
  wrap: (fileKey: Uint8Array) => Stanza[];
  /** The device that seals: named in the header (1-64 of [A-Za-z0-9._-]). */
  deviceId?: string;
  /** The device's signing key; a signed header must name its device. */
  signer?: HeaderSigner;
  /** Fixed randomness, for frozen test vectors only (their stanzas come from a `wrap` that returns fixed ones). */
  fixed?: { dek: Uint8Array; salt: Uint8Array; prefix: Uint8Array };
}

export type SealHeaderInput = KekSealing | RecipientSealing;

/** A header just built for a new file: its bytes, what they say, and the segments' key. */
export interface CreatedHeader {
  bytes: Uint8Array;
  header: SealedHeader;
  /** The EAX key for segments (derived from the DEK); the caller wipes it when done. */
  payloadKey: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
/** What a device id may be, here and in the registry (notify/notifier.ts DEVICE_ID is the same rule for channels). */
export const DEVICE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const STANZA_TYPE = /^[a-z0-9][a-z0-9-]{0,31}$/;

function formatError(message: string): SealcamError {
  return new SealcamError('EFORMAT', message);
}

function derive(dek: Uint8Array, salt: Uint8Array, info: string, length: number): Uint8Array {
  return platform.crypto.hkdfSha256(dek, salt, encoder.encode(info), length);
}

function hmac(key: Uint8Array, bytes: Uint8Array): Uint8Array {
  return platform.crypto.hmacSha256(key, bytes);
}

/** The version's names for its two derived keys (v2's differ, so no key serves both). */
const INFO = { 1: { header: 'sealcam v1 header', payload: 'sealcam v1 payload' }, 2: { header: 'sealcam v2 header', payload: 'sealcam v2 payload' } } as const;

function dekLengthOf(algorithm: Algorithm): 16 | 32 {
  return algorithm === 'AES-128-EAX' ? 16 : 32;
}

function segmentExponent(size: number): number {
  if (!isSegmentSize(size)) throw new InputError(`segment size must be a power of two from 4 KiB to 16 MiB, got ${size}`);
  return Math.log2(size);
}

function text(value: string, what: string, max = 255): Uint8Array {
  const b = encoder.encode(value);
  if (b.length < 1 || b.length > max) throw new InputError(`${what} must be 1 to ${max} bytes of UTF-8, got ${b.length}`);
  return b;
}

/** A header's bytes as they are written: fields in order, each returned as the view it became. */
class HeaderWriter {
  readonly out: Uint8Array;
  private readonly view: DataView;
  at = 0;
  constructor(length: number) {
    this.out = new Uint8Array(length);
    this.view = new DataView(this.out.buffer);
  }
  bytes(b: Uint8Array): Uint8Array {
    this.out.set(b, this.at);
    this.at += b.length;
    return this.out.subarray(this.at - b.length, this.at);
  }
  u8(n: number): void {
    this.out[this.at++] = n;
  }
  u16(n: number): void {
    this.view.setUint16(this.at, n);
    this.at += 2;
  }
  u32(n: number): void {
    this.view.setUint32(this.at, n);
    this.at += 4;
  }
  /** A one-byte length, then the bytes. */
  short(b: Uint8Array): Uint8Array {
    this.u8(b.length);
    return this.bytes(b);
  }
}

/** The parts every header starts with (magic, version, algorithm, segment size, flags, length). */
function writeStart(w: HeaderWriter, version: 1 | 2, algorithm: Algorithm, exp: number, flags: number, length: number): void {
  w.bytes(MAGIC);
  w.u8(version);
  w.u8(ALGORITHM_IDS[algorithm]);
  w.u8(exp);
  w.u8(flags);
  w.u32(length);
}

interface Randomness {
  dek: Uint8Array;
  salt: Uint8Array;
  prefix: Uint8Array;
}

function randomness(algorithm: Algorithm, fixed: Partial<Randomness> | undefined): Randomness {
  const dekLength = dekLengthOf(algorithm);
  const r = {
    dek: fixed?.dek ?? platform.crypto.randomBytes(dekLength),
    salt: fixed?.salt ?? platform.crypto.randomBytes(SALT),
    prefix: fixed?.prefix ?? platform.crypto.randomBytes(PREFIX),
  };
  if (r.dek.length !== dekLength || r.salt.length !== SALT || r.prefix.length !== PREFIX) throw new InputError('fixed DEK, salt or prefix has the wrong size');
  return r;
}

/** Build a header for a new file: draws the file key, salt and prefix, wraps the key (v1: under the KEK; v2: for each recipient), MACs (and signs) the header. */
export function createHeader(input: SealHeaderInput): CreatedHeader {
  const algorithm = input.algorithm ?? 'AES-128-EAX';
  if (!(algorithm in ALGORITHM_IDS)) throw new InputError(`algorithm must be AES-128-EAX or AES-256-EAX, got ${algorithm}`);
  const segmentSize = input.segmentSize ?? DEFAULT_SEGMENT_SIZE;
  const exp = segmentExponent(segmentSize);
  const metadataJson = JSON.stringify(input.metadata ?? {});
  const metadata = encoder.encode(metadataJson);
  const r = randomness(algorithm, input.fixed);
  try {
    const built = 'wrap' in input ? writeV2(input, algorithm, exp, r, metadata) : writeV1(input, algorithm, exp, r, metadata);
    const fields = {
      algorithm,
      segmentSize,
      headerLength: built.w.out.length,
      // What a reader parses out of these bytes (JSON drops undefined members, for one).
      metadata: JSON.parse(metadataJson) as SealedMetadata,
      authenticated: built.w.out.subarray(0, built.macAt),
      mac: built.w.out.subarray(built.macAt, built.macAt + MAC),
    };
    const header = { ...built.header, ...fields } as SealedHeader;
    return { bytes: built.w.out, header, payloadKey: derive(r.dek, r.salt, INFO[header.version].payload, r.dek.length) };
  } finally {
    if (!input.fixed) r.dek.fill(0);
  }
}

/** Writes the MAC over everything before it, at the writer's place. */
function writeMac(w: HeaderWriter, version: 1 | 2, r: Randomness): number {
  const macAt = w.at;
  const headerKey = derive(r.dek, r.salt, INFO[version].header, MAC);
  w.bytes(hmac(headerKey, w.out.subarray(0, macAt)));
  headerKey.fill(0);
  return macAt;
}

function checkLength(length: number): void {
  if (length > MAX_HEADER) throw new InputError(`header would be ${length} bytes (limit ${MAX_HEADER}): metadata too large`);
}

function wrapAad(keyId: string, keyVersion: string): Uint8Array {
  return encoder.encode(`sealcam v1 key\0${keyId}\0${keyVersion}`);
}

function writeV1(input: KekSealing, algorithm: Algorithm, exp: number, r: Randomness, metadata: Uint8Array) {
  check.aesKey(input.kek, 'key-encryption key');
  const id = text(input.keyId, 'key id');
  const version = text(input.keyVersion, 'key version');
  const kek = createEax(input.kek, { engine: input.engine });
  const wrapped = kek.encrypt(r.salt, r.dek, { header: wrapAad(input.keyId, input.keyVersion) });
  kek.dispose();
  const length = 16 + 1 + id.length + 1 + version.length + SALT + 1 + r.dek.length + TAG + PREFIX + 4 + metadata.length + MAC;
  checkLength(length);
  const w = new HeaderWriter(length);
  writeStart(w, 1, algorithm, exp, 0, length);
  w.short(id);
  w.short(version);
  const salt = w.bytes(r.salt);
  w.u8(r.dek.length + TAG);
  const wrappedStart = w.at;
  w.bytes(wrapped.ciphertext);
  w.bytes(wrapped.tag);
  const wrappedKey = w.out.subarray(wrappedStart, w.at);
  const prefix = w.bytes(r.prefix);
  w.u32(metadata.length);
  w.bytes(metadata);
  const macAt = writeMac(w, 1, r);
  const header: Pick<SealedHeaderV1, 'version' | 'keyId' | 'keyVersion' | 'wrappedKey' | 'salt' | 'prefix'> = { version: 1, keyId: input.keyId, keyVersion: input.keyVersion, wrappedKey, salt, prefix };
  return { w, macAt, header };
}

function checkStanza(s: Stanza): { type: Uint8Array } {
  if (typeof s.type !== 'string' || !STANZA_TYPE.test(s.type)) throw new InputError(`stanza type ${JSON.stringify(String(s.type).slice(0, 40))} is not 1-${MAX_TYPE} of [a-z0-9-]`);
  if (!(s.fingerprint instanceof Uint8Array) || s.fingerprint.length !== FINGERPRINT) throw new InputError(`a stanza fingerprint is ${FINGERPRINT} bytes`);
  if (!(s.body instanceof Uint8Array) || s.body.length < 1 || s.body.length > MAX_BODY) throw new InputError(`a stanza body is 1 to ${MAX_BODY} bytes`);
  return { type: encoder.encode(s.type) };
}

function writeV2(input: RecipientSealing, algorithm: Algorithm, exp: number, r: Randomness, metadata: Uint8Array) {
  const { signer, deviceId } = input;
  if (deviceId !== undefined && (typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId))) {
    throw new InputError("device id must be 1-64 letters, digits, '.', '_' or '-'");
  }
  if (signer !== undefined && deviceId === undefined) throw new InputError('a signed file names its device: give the device id with the signing key');
  if (input.metadata?.deviceId !== undefined) throw new InputError('a v2 header names its device in its own field: pass deviceId, not metadata.deviceId');
  const stanzas = input.wrap(r.dek);
  if (!Array.isArray(stanzas) || stanzas.length === 0) throw new InputError('sealing to recipients needs at least one recipient');
  if (stanzas.length > MAX_STANZAS) throw new InputError(`a file takes at most ${MAX_STANZAS} recipients, got ${stanzas.length}`);
  const types = stanzas.map(checkStanza);
  const device = deviceId === undefined ? new Uint8Array(0) : encoder.encode(deviceId);
  const stanzaBytes = stanzas.reduce((n, s, i) => n + 1 + types[i]!.type.length + FINGERPRINT + 2 + s.body.length, 0);
  const signatureBytes = signer === undefined ? 0 : FINGERPRINT + SIGNATURE;
  const length = 16 + 1 + stanzaBytes + 1 + device.length + SALT + PREFIX + 4 + metadata.length + MAC + signatureBytes;
  checkLength(length);
  const w = new HeaderWriter(length);
  writeStart(w, 2, algorithm, exp, signer === undefined ? 0 : SIGNED, length);
  w.u8(stanzas.length);
  const written = stanzas.map((s, i) => {
    w.short(types[i]!.type);
    const fingerprint = w.bytes(s.fingerprint);
    w.u16(s.body.length);
    return { type: s.type, fingerprint, body: w.bytes(s.body) };
  });
  w.short(device);
  const salt = w.bytes(r.salt);
  const prefix = w.bytes(r.prefix);
  w.u32(metadata.length);
  w.bytes(metadata);
  const macAt = writeMac(w, 2, r);
  const header: Pick<SealedHeaderV2, 'version' | 'stanzas' | 'salt' | 'prefix' | 'deviceId' | 'signature'> = { version: 2, stanzas: written, salt, prefix };
  if (deviceId !== undefined) header.deviceId = deviceId;
  if (signer !== undefined) {
    if (!(signer.fingerprint instanceof Uint8Array) || signer.fingerprint.length !== FINGERPRINT) throw new InputError(`a signer fingerprint is ${FINGERPRINT} bytes`);
    const fingerprint = w.bytes(signer.fingerprint);
    const message = signatureMessage(w.out.subarray(0, w.at));
    const signature = signer.sign(message);
    if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE) throw new InputError(`a device signature is ${SIGNATURE} bytes`);
    header.signature = { signer: fingerprint, signature: w.bytes(signature), message };
  }
  return { w, macAt, header };
}

function signatureMessage(signed: Uint8Array): Uint8Array {
  const domain = encoder.encode(SIGNATURE_DOMAIN);
  const message = new Uint8Array(domain.length + 1 + signed.length);
  message.set(domain);
  message.set(signed, domain.length + 1);
  return message;
}

// --- Reading ---------------------------------------------------------------------------------------

/** The smallest header of each version: every field at its least. */
const MIN_LENGTH = { 1: 16 + 2 + 2 + SALT + 1 + 32 + PREFIX + 4 + MAC, 2: 16 + 1 + (1 + 1 + FINGERPRINT + 2 + 1) + 1 + SALT + PREFIX + 4 + MAC } as const;

/** The header's total length from its first 16 bytes, after the cheap checks (magic, version, limits). */
export function peekHeaderLength(start: Uint8Array): number {
  if (start.length < 16) throw formatError('not a sealed file (too short)');
  for (let i = 0; i < MAGIC.length; i++) if (start[i] !== MAGIC[i]) throw formatError('not a sealed file (bad magic)');
  const version = start[8]!;
  if (version !== 1 && version !== 2) throw formatError(`unsupported sealed version ${version} (this sealcam reads versions ${VERSIONS.join(' and ')})`);
  if (start[9] !== 1 && start[9] !== 2) throw formatError(`unknown algorithm id ${start[9]}`);
  if (start[10]! < MIN_EXP || start[10]! > MAX_EXP) throw formatError(`invalid segment size exponent ${start[10]}`);
  const flags = start[11]!;
  if (version === 1 && flags !== 0) throw formatError(`reserved header byte is ${flags}, not 0`);
  if (version === 2 && (flags & ~SIGNED) !== 0) throw formatError(`unknown header flags ${flags} (this sealcam knows only 1, signed)`);
  const length = new DataView(start.buffer, start.byteOffset, 16).getUint32(12);
  if (length < MIN_LENGTH[version] + (flags & SIGNED ? FINGERPRINT + SIGNATURE : 0) || length > MAX_HEADER) {
    throw formatError(`invalid header length ${length} (limit ${MAX_HEADER})`);
  }
  return length;
}

/** Reads a header's fields in order, each checked against the end of the part it belongs to. */
class HeaderReader {
  at = 16;
  constructor(
    private readonly h: Uint8Array,
    private readonly end: number,
  ) {}
  take(n: number, what: string): Uint8Array {
    if (this.at + n > this.end) throw formatError(`header field ${what} runs past the header`);
    this.at += n;
    return this.h.subarray(this.at - n, this.at);
  }
  u8(what: string): number {
    return this.take(1, what)[0]!;
  }
  u16(what: string): number {
    const b = this.take(2, what);
    return (b[0]! << 8) | b[1]!;
  }
  u32(what: string): number {
    const b = this.take(4, what);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }
  /** A one-byte length (at least `min`), then UTF-8. */
  text(what: string, min = 1): string {
    const n = this.u8(what);
    if (n < min) throw formatError(`empty ${what}`);
    const raw = this.take(n, what);
    try {
      return decoder.decode(raw);
    } catch {
      throw formatError(`${what} is not UTF-8`);
    }
  }
}

function parseMetadata(bytes: Uint8Array): SealedMetadata {
  try {
    const parsed: unknown = JSON.parse(decoder.decode(bytes));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as SealedMetadata;
  } catch {
    throw formatError('metadata is not a JSON object');
  }
}

/** Parse (not verify) a complete header. Every length is checked against the header's own size. */
export function parseHeader(bytes: Uint8Array): SealedHeader {
  const headerLength = peekHeaderLength(bytes);
  if (bytes.length < headerLength) throw formatError('truncated header');
  const h = bytes.subarray(0, headerLength);
  const version = h[8] as 1 | 2;
  const signed = version === 2 && (h[11]! & SIGNED) !== 0;
  const macAt = headerLength - MAC - (signed ? FINGERPRINT + SIGNATURE : 0);
  const r = new HeaderReader(h, macAt);
  const algorithm: Algorithm = h[9] === 1 ? 'AES-128-EAX' : 'AES-256-EAX';
  const dekLength = dekLengthOf(algorithm);
  let keyPart: Omit<SealedHeaderV1, keyof HeaderFields> | Omit<SealedHeaderV2, keyof HeaderFields>;
  let salt: Uint8Array;
  if (version === 1) {
    const keyId = r.text('key id');
    const keyVersion = r.text('key version');
    salt = r.take(SALT, 'salt');
    const w = r.u8('wrapped key length');
    if (w !== dekLength + TAG) throw formatError(`wrapped key length ${w} does not match ${algorithm}`);
    keyPart = { version, keyId, keyVersion, wrappedKey: r.take(w, 'wrapped key') };
  } else {
    const count = r.u8('stanza count');
    if (count < 1 || count > MAX_STANZAS) throw formatError(`stanza count ${count} (a file has 1 to ${MAX_STANZAS})`);
    const stanzas: Stanza[] = [];
    for (let i = 0; i < count; i++) {
      const type = r.text(`stanza ${i} type`);
      if (!STANZA_TYPE.test(type)) throw formatError(`stanza ${i} type is not 1-${MAX_TYPE} of [a-z0-9-]`);
      const fingerprint = r.take(FINGERPRINT, `stanza ${i} fingerprint`);
      const bodyLength = r.u16(`stanza ${i} body length`);
      if (bodyLength < 1 || bodyLength > MAX_BODY) throw formatError(`stanza ${i} body length ${bodyLength} (1 to ${MAX_BODY})`);
      stanzas.push({ type, fingerprint, body: r.take(bodyLength, `stanza ${i} body`) });
    }
    const deviceId = r.text('device id', 0);
    if (deviceId !== '' && !DEVICE_ID.test(deviceId)) throw formatError('the device id is not 1-64 of [A-Za-z0-9._-]');
    if (signed && deviceId === '') throw formatError('a signed header names no device');
    keyPart = { version, stanzas, ...(deviceId === '' ? {} : { deviceId }) };
    salt = r.take(SALT, 'salt');
  }
  const prefix = r.take(PREFIX, 'nonce prefix');
  const metadataBytes = r.take(r.u32('metadata length'), 'metadata');
  if (r.at !== macAt) throw formatError('header length does not match its fields');
  const metadata = parseMetadata(metadataBytes);
  if (version === 2 && metadata.deviceId !== undefined) throw formatError('a v2 header names its device in its own field, not in the metadata');
  const header = {
    ...keyPart,
    algorithm,
    segmentSize: 2 ** h[10]!,
    headerLength,
    salt,
    prefix,
    metadata,
    authenticated: h.subarray(0, macAt),
    mac: h.subarray(macAt, macAt + MAC),
  } as SealedHeader;
  if (header.version === 2 && signed) {
    const sigAt = headerLength - SIGNATURE;
    header.signature = { signer: h.subarray(macAt + MAC, sigAt), signature: h.subarray(sigAt), message: signatureMessage(h.subarray(0, sigAt)) };
  }
  return header;
}

// --- Opening ---------------------------------------------------------------------------------------

/** Whether a device key may sign for a device and did sign this: src/keys DeviceRegistry.verify has this shape. */
export interface SignatureCheck {
  verify(deviceId: string, signer: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<{ ok: true } | { ok: false; reason: string }>;
}

export interface OpenOptions {
  /** v1 files: the KEK, or a lookup by the key id and version the header names. */
  kek?: Uint8Array | ((keyId: string, keyVersion: string) => Uint8Array | Promise<Uint8Array>);
  /** v2 files: the file key from the header's stanzas (src/keys unwrapWith(identities) makes one). */
  fileKey?: (stanzas: readonly Stanza[]) => Promise<Uint8Array>;
  /** Only files signed by a key the check accepts for the device they name open (v1 files are unsigned). */
  trust?: SignatureCheck;
  engine?: EngineName;
}

/** Who sealed a file, as its verified signature proves. */
export interface ProvenSigner {
  deviceId: string;
  /** The signing key's fingerprint. */
  signer: Uint8Array;
}

function signatureFailure(reason: string): SealcamError {
  return new SealcamError('ESIGNATURE', reason);
}

/** The signature against `trust`, before any key is unwrapped: a refusal says why in one line. */
async function checkSignature(header: SealedHeader, trust: SignatureCheck): Promise<ProvenSigner> {
  if (header.version === 1) throw signatureFailure('the file is unsigned (a v1 file, sealed under a symmetric key)');
  const { signature, deviceId } = header;
  if (signature === undefined || deviceId === undefined) throw signatureFailure(`the file is unsigned${deviceId === undefined ? '' : ` (it names device ${deviceId})`}`);
  const verdict = await trust.verify(deviceId, signature.signer, signature.message, signature.signature);
  if (!verdict.ok) throw signatureFailure(verdict.reason);
  return { deviceId, signer: signature.signer };
}

/** Verify the header MAC under the key derived from `dek`, and derive the payload key (`dek` is wiped). */
function finishOpen(header: SealedHeader, dek: Uint8Array): Uint8Array {
  try {
    const headerKey = derive(dek, header.salt, INFO[header.version].header, MAC);
    const ok = constantTimeEqual(hmac(headerKey, header.authenticated), header.mac);
    headerKey.fill(0);
    if (!ok) throw new AuthenticationError('header was altered: its MAC does not verify');
    return derive(dek, header.salt, INFO[header.version].payload, dekLengthOf(header.algorithm));
  } finally {
    dek.fill(0);
  }
}

/** v1: unwrap the DEK with the KEK and verify the header MAC; returns the payload key (the caller wipes it). */
export function openHeader(header: SealedHeaderV1, kek: Uint8Array, engine?: EngineName): Uint8Array {
  check.aesKey(kek, 'key-encryption key');
  const dekLength = dekLengthOf(header.algorithm);
  const eax = createEax(kek, { engine });
  let dek: Uint8Array;
  try {
    dek = eax.decrypt(header.salt, header.wrappedKey.subarray(0, dekLength), header.wrappedKey.subarray(dekLength), {
      header: wrapAad(header.keyId, header.keyVersion),
    });
  } catch (err) {
    if (err instanceof AuthenticationError) {
      throw new AuthenticationError(`wrong key: the file's key could not be unwrapped with key ${header.keyId} version ${header.keyVersion}`);
    }
    throw err;
  } finally {
    eax.dispose();
  }
  return finishOpen(header, dek);
}

/**
 * Everything a reader does before the body: the signature (when `trust` is given), then the file
 * key (v1: under the KEK; v2: from a stanza), then the MAC. Returns the payload key (the caller
 * wipes it) and, for a signed file that `trust` accepted, who signed it.
 */
export async function unlockHeader(header: SealedHeader, options: OpenOptions): Promise<{ payloadKey: Uint8Array; signer?: ProvenSigner }> {
  const signer = options.trust === undefined ? undefined : await checkSignature(header, options.trust);
  if (header.version === 1) {
    if (options.kek === undefined) throw new SealcamError('ENOKEY', `the file is sealed under key ${header.keyId} version ${header.keyVersion}: give that key-encryption key`);
    const kek = typeof options.kek === 'function' ? await options.kek(header.keyId, header.keyVersion) : options.kek;
    return { payloadKey: openHeader(header, kek, options.engine), ...(signer && { signer }) };
  }
  if (options.fileKey === undefined) throw new SealcamError('ENOKEY', 'the file is sealed to recipients: give an identity that holds one of them');
  const dek = await options.fileKey(header.stanzas);
  if (!(dek instanceof Uint8Array) || dek.length !== dekLengthOf(header.algorithm)) {
    dek?.fill?.(0);
    throw new AuthenticationError(`a stanza unwrapped to a key of the wrong size for ${header.algorithm}`);
  }
  return { payloadKey: finishOpen(header, dek), ...(signer && { signer }) };
}

/** What the segments of the file with this header need. */
export function segmentContext(header: SealedHeader): { prefix: Uint8Array; headerMac: Uint8Array; segmentSize: number } {
  return { prefix: header.prefix, headerMac: header.mac, segmentSize: header.segmentSize };
}
