import type { CipherBackend } from '../engine/types.js';

/**
 * What differs between the runtimes sealcam runs in: the cryptographic primitives around the
 * engine (hashes, HKDF, HMAC, the HPKE AEADs, X25519, Ed25519, randomness), how the WASM engine is
 * loaded, and whether the node:crypto AES twin exists. Everything else (the engine binding, the
 * formats' parsing and layout, HPKE, stanzas, the registry's rules) is one implementation on top
 * of this interface.
 *
 * `#platform` (package.json "imports") picks the implementation: src/platform/node.ts on Node
 * (node:crypto, the .wasm files read from build/), src/platform/browser.ts for the browser build
 * (sealcam/browser: @noble/hashes, @noble/curves, @noble/ciphers and WebCrypto's random numbers).
 *
 * Every method is synchronous. WebCrypto's SubtleCrypto is promise-only, while the sealed header,
 * HPKE and key fingerprints are synchronous APIs used by the pool's workers and the camera; the
 * browser fills the interface with the audited noble libraries instead, and each primitive is
 * checked on the published vectors on both platforms (test/platform.test.ts, the /vectors page).
 */

export type OkpCurve = 'x25519' | 'ed25519';
export type AeadName = 'aes-128-gcm' | 'chacha20-poly1305';

declare const curveBrand: unique symbol;
/**
 * A private key as the platform holds it (Node: a KeyObject, the browser: its 32 bytes). Opaque:
 * only the platform that made it reads it.
 */
export interface PrivateKey<C extends OkpCurve> {
  readonly [curveBrand]: C;
}

/** Incremental SHA-256. */
export interface Sha256 {
  update(data: Uint8Array): Sha256;
  digest(): Uint8Array;
}

/** Key handling both curves share: RFC 7748 / RFC 8032 private keys of 32 bytes, public keys of 32. */
export interface CurveKeys<C extends OkpCurve> {
  generate(): PrivateKey<C>;
  /** From the 32 raw private-key bytes (copied: the caller wipes its own). */
  fromBytes(raw: Uint8Array): PrivateKey<C>;
  /** The 32 raw private-key bytes, a fresh copy the caller wipes. */
  toBytes(key: PrivateKey<C>): Uint8Array;
  publicKey(key: PrivateKey<C>): Uint8Array;
}

export interface HostCrypto {
  randomBytes(length: number): Uint8Array;
  sha256(): Sha256;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** HKDF-SHA-256 (RFC 5869), extract and expand. */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** AEAD encryption: ciphertext || 16-byte tag. */
  aeadSeal(name: AeadName, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** AEAD decryption of ciphertext || tag: the plaintext, or undefined when the tag does not verify. */
  aeadOpen(name: AeadName, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  x25519: CurveKeys<'x25519'> & {
    /** X25519(k, u) of RFC 7748: 32 bytes, all zero for a low-order `publicKey` (the caller refuses that). */
    sharedSecret(key: PrivateKey<'x25519'>, publicKey: Uint8Array): Uint8Array;
  };
  ed25519: CurveKeys<'ed25519'> & {
    sign(key: PrivateKey<'ed25519'>, message: Uint8Array): Uint8Array;
    /** RFC 8032 verification (no ZIP-215 leniency); false for a malformed key or signature. */
    verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  };
}

/** The engine's two builds (see asconfig.json). */
export type WasmVariant = 'relaxed' | 'simd';

export interface CompiledEngine {
  module: WebAssembly.Module;
  variant: WasmVariant;
}

export interface Platform {
  readonly name: 'node' | 'browser';
  readonly crypto: HostCrypto;
  /** A SEALCAM_* setting from the environment (the browser has none). */
  setting(name: string): string | undefined;
  /** The engine build this runtime runs, compiled; the browser's is loaded first (sealcam/browser loadEngine). */
  compileEngine(): CompiledEngine;
  /** Either build, for tools that compare them; throws if `variant` cannot run here. */
  compileEngineBuild(variant: WasmVariant): WebAssembly.Module;
  /** The node:crypto twin of the AES engine; the browser has none and says so. */
  nativeBackend(key: Uint8Array): CipherBackend;
}
