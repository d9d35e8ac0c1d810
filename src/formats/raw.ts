import { randomBytes } from 'node:crypto';
import { createEax } from '../engine/eax.js';
import type { EngineName } from '../engine/types.js';
import * as check from '../engine/validate.js';
import { SealcamError } from '../errors.js';

/**
 * The raw layout, byte for byte what pycryptodome's documented EAX example writes:
 *
 *   cipher = AES.new(key, AES.MODE_EAX)
 *   ct, tag = cipher.encrypt_and_digest(data)
 *   file.write(cipher.nonce + tag + ct)
 *
 * that is nonce(16) || tag(16) || ciphertext, with a random 16-byte nonce, a full 16-byte tag and
 * no header. There is no magic number or version: the layout is fixed by the Python side.
 */

export const RAW_NONCE_LENGTH = 16;
export const RAW_TAG_LENGTH = 16;
/** The smallest raw file: nonce and tag around an empty message. */
export const RAW_OVERHEAD = RAW_NONCE_LENGTH + RAW_TAG_LENGTH;

export interface RawOptions {
  engine?: EngineName;
}

/** Seals `plaintext` under `key` (16, 24 or 32 bytes) with a fresh random nonce. */
export function sealRaw(key: Uint8Array, plaintext: Uint8Array, options: RawOptions = {}): Uint8Array {
  check.bytes(plaintext, 'plaintext');
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  try {
    // A fresh random 128-bit nonce per message, as pycryptodome picks one; never reuse one.
    const nonce = new Uint8Array(randomBytes(RAW_NONCE_LENGTH));
    const { ciphertext, tag } = eax.encrypt(nonce, plaintext, { tagLength: RAW_TAG_LENGTH });
    const out = new Uint8Array(RAW_OVERHEAD + ciphertext.length);
    out.set(nonce, 0);
    out.set(tag, RAW_NONCE_LENGTH);
    out.set(ciphertext, RAW_OVERHEAD);
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
  if (sealed.length < RAW_OVERHEAD) {
    throw new SealcamError(
      'EFORMAT',
      `input is ${sealed.length} bytes, too short to be a raw sealed file (at least ${RAW_OVERHEAD}: nonce 16 + tag 16)`,
    );
  }
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  try {
    const nonce = sealed.subarray(0, RAW_NONCE_LENGTH);
    const tag = sealed.subarray(RAW_NONCE_LENGTH, RAW_OVERHEAD);
    return eax.decrypt(nonce, sealed.subarray(RAW_OVERHEAD), tag);
  } finally {
    eax.dispose();
  }
}
