import { createBackend } from '../engine/eax.js';
import type { CipherBackend, EngineName, RunMessage } from '../engine/types.js';
import * as check from '../engine/validate.js';
import { AuthenticationError, InputError, SealcamError } from '../errors.js';
import {
  createHeader,
  openHeader,
  parseHeader,
  PREFIX,
  segmentContext,
  TAG,
  unlockHeader,
  type CreatedHeader,
  type OpenOptions,
  type SealedHeader,
  type SealHeaderInput,
} from './sealed-header.js';

/**
 * The `sealed` format (docs/FORMAT.md): an authenticated header (sealed-header.ts: the file key
 * wrapped under a KEK (v1) or for recipients (v2), public metadata, a MAC, for v2 a device
 * signature), then STREAM segments, each an independent EAX message. This module owns where each
 * segment lives and sealing or opening a run of segments in place; the pool's workers run those
 * runs, the single-thread functions at the end run them all at once.
 */

export * from './sealed-header.js';

/** What every segment of one file needs besides the payload key: the nonce prefix, the header MAC (each segment's associated data) and the segment size. */
export type SegmentContext = ReturnType<typeof segmentContext>;

function formatError(message: string): SealcamError {
  return new SealcamError('EFORMAT', message);
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

/** How a new file's key is held: under a KEK (v1) or for recipients (v2, optionally signed). */
export type SealOptions = SealHeaderInput;

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

/** The body of `sealed` verified and opened under the payload key (wiped afterwards). */
function openBody(sealed: Uint8Array, header: SealedHeader, payloadKey: Uint8Array, engine?: EngineName): Uint8Array {
  const backend = createBackend(payloadKey, engine);
  try {
    // A copy, opened in place: the plaintext is its start.
    return openSegments(backend, segmentContext(header), 0, true, sealed.slice(header.headerLength));
  } finally {
    backend.dispose();
    payloadKey.fill(0);
  }
}

/** Verify and open a whole v1 sealed buffer with a known KEK, on this thread. */
export function openSealed(sealed: Uint8Array, kek: Uint8Array, engine?: EngineName): { plaintext: Uint8Array; header: SealedHeader } {
  check.bytes(sealed, 'sealed file');
  const header = parseHeader(sealed);
  segmentLayout(sealed.length - header.headerLength, header.segmentSize);
  if (header.version !== 1) throw new SealcamError('ENOKEY', 'the file is sealed to recipients, not under a key-encryption key: open it with an identity');
  return { plaintext: openBody(sealed, header, openHeader(header, kek, engine), engine), header };
}

/** Verify and open a whole sealed buffer of either version, on this thread (the keys as OpenOptions says). */
export async function openBuffer(sealed: Uint8Array, options: OpenOptions): Promise<{ plaintext: Uint8Array; header: SealedHeader }> {
  check.bytes(sealed, 'sealed file');
  const header = parseHeader(sealed);
  segmentLayout(sealed.length - header.headerLength, header.segmentSize);
  const { payloadKey } = await unlockHeader(header, options);
  return { plaintext: openBody(sealed, header, payloadKey, options.engine), header };
}
