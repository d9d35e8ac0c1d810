import { randomBytes } from 'node:crypto';
import { createBackend, createEax, type CipherBackend, type Eax, type EngineName } from '../../src/index.js';

/**
 * The inputs every case of one process shares: random keys, nonce, header and counter, and the
 * plaintext (and its EAX ciphertext) of the size being timed. Only one size is kept at a time.
 */

export const HEADER_BYTES = 32;
export const NONCE_BYTES = 16;
export const TAG_BYTES = 16;

/** Fresh random bytes as a plain Uint8Array (not a pooled Buffer). */
export const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

export const KEYS: Readonly<Record<128 | 256, Uint8Array>> = { 128: random(16), 256: random(32) };
export const nonce = random(NONCE_BYTES);
export const header = random(HEADER_BYTES);
export const counter = random(16);

/**
 * What every case is checked against: sealcam's node:crypto engine, except in a process whose
 * node:crypto is itself the row under test (bench/noaes-child.ts), which checks against the WASM
 * engine instead (itself checked against node:crypto in the main run).
 */
let referenceEngine: EngineName = 'native';

export function useReferenceEngine(engine: EngineName): void {
  referenceEngine = engine;
  references.clear();
}

export function referenceEngineName(): EngineName {
  return referenceEngine;
}

/** The reference engine under one of the keys. */
export interface Reference {
  key: Uint8Array;
  eax: Eax;
  backend: CipherBackend;
}

const references = new Map<number, Reference>();
export function reference(bits: 128 | 256): Reference {
  let r = references.get(bits);
  if (!r) {
    const key = KEYS[bits];
    r = { key, eax: createEax(key, { engine: referenceEngine }), backend: createBackend(key, referenceEngine) };
    references.set(bits, r);
  }
  return r;
}

let current: { size: number; plaintext: Uint8Array; sealed: Map<number, { ciphertext: Uint8Array; tag: Uint8Array }> } | undefined;

function forSize(size: number): NonNullable<typeof current> {
  if (current?.size !== size) {
    current = undefined; // let the previous size's buffers go first
    current = { size, plaintext: random(size), sealed: new Map() };
  }
  return current;
}

export function plaintext(size: number): Uint8Array {
  return forSize(size).plaintext;
}

/** The plaintext of `size` under EAX with the shared nonce and header (the decryption rows' input). */
export function eaxSealed(bits: 128 | 256, size: number): { ciphertext: Uint8Array; tag: Uint8Array } {
  const s = forSize(size);
  let sealed = s.sealed.get(bits);
  if (!sealed) {
    sealed = reference(bits).eax.encrypt(nonce, s.plaintext, { header });
    s.sealed.set(bits, sealed);
  }
  return sealed;
}
