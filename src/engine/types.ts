/** The two interchangeable implementations behind the binding. */
export type EngineName = 'wasm' | 'native';
export const ENGINES: readonly EngineName[] = ['wasm', 'native'];

/**
 * One EAX message in progress on a concrete engine. The binding (eax.ts) owns validation,
 * ordering rules, tag truncation and comparison; a backend only computes.
 */
export interface EaxState {
  /** Absorb associated data (the EAX "header"); any number of calls, any sizes. */
  header(data: Uint8Array): void;
  /** CTR-encrypt and absorb the ciphertext; returns ciphertext of the same length. */
  encrypt(data: Uint8Array): Uint8Array;
  /** Absorb the ciphertext and CTR-decrypt it; the caller must not release the result unverified. */
  decrypt(data: Uint8Array): Uint8Array;
  /**
   * encrypt() into `out` (data.length bytes), allocating nothing per call. `out` is `data` itself
   * (in place) or does not overlap it; the binding checks that.
   */
  encryptInto(data: Uint8Array, out: Uint8Array): void;
  /** decrypt() into `out`, on the same terms as encryptInto(). */
  decryptInto(data: Uint8Array, out: Uint8Array): void;
  /**
   * encryptInto() on this message and `other` (a message of the same backend) at once, for data
   * of equal length: the same result as the two calls in turn, which is what the default does.
   * The WASM engine interleaves the two, so each message's serial OMAC chain runs in the other's
   * gaps. The binding checks lengths and overlaps.
   */
  encryptIntoWith(other: EaxState, data: Uint8Array, out: Uint8Array, otherData: Uint8Array, otherOut: Uint8Array): void;
  /** decryptInto() on two messages at once, on the same terms as encryptIntoWith(). */
  decryptIntoWith(other: EaxState, data: Uint8Array, out: Uint8Array, otherData: Uint8Array, otherOut: Uint8Array): void;
  /** The full 16-byte tag N ^ H ^ C. Ends the message. */
  tag(): Uint8Array;
  /** Wipe the message state. Safe to call more than once. */
  dispose(): void;
}

/** What both backends' messages share: encrypt() and decrypt() are their Into forms on a new array. */
export abstract class EaxMessage implements EaxState {
  abstract header(data: Uint8Array): void;
  abstract encryptInto(data: Uint8Array, out: Uint8Array): void;
  abstract decryptInto(data: Uint8Array, out: Uint8Array): void;
  abstract tag(): Uint8Array;
  abstract dispose(): void;

  encrypt(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.length);
    this.encryptInto(data, out);
    return out;
  }

  decrypt(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.length);
    this.decryptInto(data, out);
    return out;
  }

  encryptIntoWith(other: EaxState, data: Uint8Array, out: Uint8Array, otherData: Uint8Array, otherOut: Uint8Array): void {
    this.encryptInto(data, out);
    other.encryptInto(otherData, otherOut);
  }

  decryptIntoWith(other: EaxState, data: Uint8Array, out: Uint8Array, otherData: Uint8Array, otherOut: Uint8Array): void {
    this.decryptInto(data, out);
    other.decryptInto(otherData, otherOut);
  }
}

/** AES under one key, with the modes EAX is built from exposed for vectors and benchmarks. */
export interface CipherBackend {
  readonly engine: EngineName;
  readonly keyLength: 16 | 24 | 32;
  /** ECB-encipher whole 16-byte blocks (each on its own). */
  encryptBlocks(blocks: Uint8Array): Uint8Array;
  /** CTR with the whole 16-byte block as a big-endian counter (mod 2^128), as EAX uses it. */
  ctr(counter: Uint8Array, data: Uint8Array): Uint8Array;
  /** OMAC1/CMAC (NIST SP 800-38B), full 16-byte tag. */
  cmac(message: Uint8Array): Uint8Array;
  /** Begin an EAX message; the nonce may be empty at this level. */
  eax(nonce: Uint8Array): EaxState;
  /** Wipe the key schedule. */
  dispose(): void;
}
