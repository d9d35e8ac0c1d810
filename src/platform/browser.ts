import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { InputError, SealcamError } from '../errors.js';
import type { AeadName, CurveKeys, HostCrypto, OkpCurve, Platform, PrivateKey } from './platform.js';

/**
 * sealcam in a browser (what `#platform` resolves to in the sealcam/browser build): the audited
 * noble libraries, pinned (@noble/hashes, @noble/curves, @noble/ciphers 2.4.0), and WebCrypto's
 * getRandomValues. They are synchronous, as the interface is (platform.ts says why WebCrypto's
 * SubtleCrypto is not used). Ed25519 verification is RFC 8032's, not ZIP-215's (`zip215: false`).
 * AES-128-GCM is here only for RFC 9180's test vectors: sealcam wraps file keys with
 * ChaCha20-Poly1305. The engine is loaded asynchronously first (src/browser/engine.ts).
 */

const KEY = 32;

/** A private key is its bytes here; the handle is a private copy. */
const handle = <C extends OkpCurve>(raw: Uint8Array) => Uint8Array.from(raw) as unknown as PrivateKey<C>;
const bytesOf = <C extends OkpCurve>(key: PrivateKey<C>) => key as unknown as Uint8Array;

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += 65536) globalThis.crypto.getRandomValues(out.subarray(at, at + 65536));
  return out;
}

function checkRaw(curve: OkpCurve, raw: unknown, what: string): Uint8Array {
  if (!(raw instanceof Uint8Array) || raw.length !== KEY) throw new InputError(`an ${curve} ${what} must be a Uint8Array of 32 bytes`);
  return raw;
}

function curveKeys<C extends OkpCurve>(curve: C, publicOf: (raw: Uint8Array) => Uint8Array): CurveKeys<C> {
  return {
    generate: () => {
      const raw = randomBytes(KEY);
      const key = handle<C>(raw);
      raw.fill(0);
      return key;
    },
    fromBytes: (raw) => handle<C>(checkRaw(curve, raw, 'private key')),
    toBytes: (key) => Uint8Array.from(bytesOf(key)),
    publicKey: (key) => publicOf(bytesOf(key)),
  };
}

function aead(name: AeadName, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array) {
  return name === 'chacha20-poly1305' ? chacha20poly1305(key, nonce, aad) : gcm(key, nonce, aad);
}

const crypto: HostCrypto = {
  randomBytes,
  sha256() {
    const hash = sha256.create();
    const api = {
      update: (data: Uint8Array) => (hash.update(data), api),
      digest: () => hash.digest(),
    };
    return api;
  },
  hmacSha256: (key, data) => hmac(sha256, key, data),
  hkdfSha256: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
  aeadSeal: (name, key, nonce, aad, plaintext) => aead(name, key, nonce, aad).encrypt(plaintext),
  aeadOpen(name, key, nonce, aad, sealed) {
    try {
      return aead(name, key, nonce, aad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
  x25519: {
    ...curveKeys('x25519', (raw) => x25519.getPublicKey(raw)),
    sharedSecret(key, publicKey) {
      checkRaw('x25519', publicKey, 'public key');
      try {
        return x25519.getSharedSecret(bytesOf(key), publicKey);
      } catch {
        // noble refuses low-order points (their result is zero) with its one error for valid-length input.
        return new Uint8Array(KEY);
      }
    },
  },
  ed25519: {
    ...curveKeys('ed25519', (raw) => ed25519.getPublicKey(raw)),
    sign: (key, message) => ed25519.sign(message, bytesOf(key)),
    verify(publicKey, message, signature) {
      try {
        return ed25519.verify(signature, message, publicKey, { zip215: false });
      } catch {
        return false;
      }
    },
  },
};

function notLoaded(): never {
  throw new SealcamError('ENOWASM', 'the WASM engine is not loaded: await loadEngine() from sealcam/browser first');
}

export const platform: Platform = {
  name: 'browser',
  crypto,
  setting: () => undefined,
  compileEngine: notLoaded,
  compileEngineBuild: notLoaded,
  nativeBackend() {
    throw new InputError("engine 'native' is node:crypto's AES, which a browser does not have: use the WASM engine");
  },
};
