import { platform } from '#platform';
import { createEax } from '../engine/eax.js';
import type { EngineName } from '../engine/types.js';
import * as check from '../engine/validate.js';
import { AuthenticationError, SealcamError } from '../errors.js';
import { passThrough, type BufferIO, type RandomAccessIO } from '../io/buffer-io.js';

/**
 * The raw layout, byte for byte what pycryptodome's documented EAX example writes:
 *
 *   cipher = AES.new(key, AES.MODE_EAX)
 *   ct, tag = cipher.encrypt_and_digest(data)
 *   file.write(cipher.nonce + tag + ct)
 *
 * that is nonce(16) || tag(16) || ciphertext, with a random 16-byte nonce, a full 16-byte tag and
 * no header. There is no magic number or version: the layout is fixed by the Python side.
 *
 * One EAX message cannot be verified before its end, and its tag comes before the ciphertext: a
 * streamed seal fills the tag in last (a sink that can write at an offset), and a streamed open
 * writes plaintext that is unverified until the end, so its sink must be one a failure discards.
 */

export const RAW_NONCE_LENGTH = 16;
export const RAW_TAG_LENGTH = 16;
/** The smallest raw file: nonce and tag around an empty message. */
export const RAW_OVERHEAD = RAW_NONCE_LENGTH + RAW_TAG_LENGTH;

export interface RawOptions {
  engine?: EngineName;
}

export interface OpenRawOptions extends RawOptions {
  /** What the input is called in errors; default "the input". */
  name?: string;
}

function tooShort(length: number): SealcamError {
  return new SealcamError('EFORMAT', `input is ${length} bytes, too short to be a raw sealed file (at least ${RAW_OVERHEAD}: nonce 16 + tag 16)`);
}

/** A fresh random 128-bit nonce per message, as pycryptodome picks one; never reuse one. */
function freshNonce(): Uint8Array {
  return platform.crypto.randomBytes(RAW_NONCE_LENGTH);
}

/** Seals `plaintext` under `key` (16, 24 or 32 bytes) with a fresh random nonce. */
export function sealRaw(key: Uint8Array, plaintext: Uint8Array, options: RawOptions = {}): Uint8Array {
  check.bytes(plaintext, 'plaintext');
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  try {
    const nonce = freshNonce();
    const out = new Uint8Array(RAW_OVERHEAD + plaintext.length);
    out.set(nonce, 0);
    out.set(eax.encryptInto(nonce, plaintext, out.subarray(RAW_OVERHEAD), { tagLength: RAW_TAG_LENGTH }), RAW_NONCE_LENGTH);
    return out;
  } finally {
    eax.dispose();
  }
}

/**
 * Verifies and opens a raw sealed file. Throws SealcamError 'EFORMAT' when it is too short to hold
 * a nonce and tag, and AuthenticationError when the tag does not verify; no plaintext is returned
 * unless it does.
 */
export function openRaw(key: Uint8Array, sealed: Uint8Array, options: RawOptions = {}): Uint8Array {
  check.bytes(sealed, 'sealed data');
  if (sealed.length < RAW_OVERHEAD) throw tooShort(sealed.length);
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  try {
    const nonce = sealed.subarray(0, RAW_NONCE_LENGTH);
    const tag = sealed.subarray(RAW_NONCE_LENGTH, RAW_OVERHEAD);
    return eax.decrypt(nonce, sealed.subarray(RAW_OVERHEAD), tag);
  } finally {
    eax.dispose();
  }
}

/** Seals everything `io` reads into a raw file: nonce and a place for the tag, the ciphertext, then the tag in its place. */
export async function sealRawIO(io: RandomAccessIO, key: Uint8Array, options: RawOptions = {}): Promise<void> {
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  const nonce = freshNonce();
  const encryptor = eax.start(nonce, { tagLength: RAW_TAG_LENGTH });
  try {
    const head = new Uint8Array(RAW_OVERHEAD);
    head.set(nonce);
    await io.write(head);
    await passThrough(io, (chunk) => encryptor.update(chunk, chunk));
    await io.writeAt(encryptor.final(), RAW_NONCE_LENGTH);
  } finally {
    encryptor.dispose();
    eax.dispose();
  }
}

/**
 * Opens a raw file from `io` into what it writes. The plaintext is written before the tag at the
 * end is checked: a failure (AuthenticationError, EFORMAT) means what was written must be discarded.
 */
export async function openRawIO(io: BufferIO, key: Uint8Array, options: OpenRawOptions = {}): Promise<void> {
  const head = new Uint8Array(RAW_OVERHEAD);
  const got = await io.read(head);
  if (got < RAW_OVERHEAD) throw tooShort(got);
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  const decryptor = eax.startUnverifiedDecrypt(head.subarray(0, RAW_NONCE_LENGTH));
  try {
    await passThrough(io, (chunk) => decryptor.update(chunk, chunk));
    decryptor.finish(head.subarray(RAW_NONCE_LENGTH));
  } catch (err) {
    if (!(err instanceof AuthenticationError)) throw err;
    const name = options.name ?? 'the input';
    throw new AuthenticationError(`authentication failed: ${name} does not verify under this key as a raw file (wrong key, or the file was altered)`);
  } finally {
    decryptor.dispose();
    eax.dispose();
  }
}
