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
  /**
   * CTR-encrypt `data` into `out` (data.length bytes) and absorb the ciphertext, allocating nothing
   * per call. `out` is `data` itself (in place) or does not overlap it; the binding checks that.
   */
  encryptInto(data: Uint8Array, out: Uint8Array): void;
  /** Absorb the ciphertext and CTR-decrypt it into `out`, on the same terms; the caller must not release it unverified. */
  decryptInto(data: Uint8Array, out: Uint8Array): void;
  /** The full 16-byte tag N ^ H ^ C. Ends the message. */
  tag(): Uint8Array;
  /** Wipe the message state. Safe to call more than once. */
  dispose(): void;
}

/** One message of a run: its nonce, its data (processed in place) and the 16 bytes of its tag. */
export interface RunMessage {
  nonce: Uint8Array;
  data: Uint8Array;
  tag: Uint8Array;
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
  /**
   * EAX over a run of messages under one header, each in place, writing each full tag into its
   * `tag`: the same bytes as one message after the other (run.ts), however many the engine keeps in
   * flight at once (the WASM engine runs two equal-length messages together). The sealed format's
   * hot path: its inputs come checked from the format and are not checked again here.
   */
  encryptRun(header: Uint8Array, messages: readonly RunMessage[]): void;
  /**
   * Decrypts a run in place and compares each computed tag with its `tag` in constant time; returns
   * the index of the first message that does not verify, or -1. The caller wipes on a failure.
   */
  decryptRun(header: Uint8Array, messages: readonly RunMessage[]): number;
  /** Wipe the key schedule. */
  dispose(): void;
}
