import { createCipheriv, createDecipheriv, createHash, createHmac, diffieHellman, hkdfSync, sign, verify, webcrypto, type KeyObject } from 'node:crypto';
import { NativeBackend } from '../engine/native.js';
import { compileEngine, compileEngineBuild } from './node-engine.js';
import { generateOkp, okpPrivateKey, okpPublicKey, okpRawPrivate, okpRawPublic } from './okp.js';
import type { AeadName, CurveKeys, HostCrypto, OkpCurve, Platform, PrivateKey } from './platform.js';

/**
 * sealcam on Node (what `#platform` resolves to there): node:crypto (OpenSSL) for every
 * primitive, private keys kept as KeyObjects so a key is imported once, not at every use.
 */

const TAG = 16;

/** A KeyObject as the platform's opaque handle, and back. */
const handle = <C extends OkpCurve>(key: KeyObject) => key as unknown as PrivateKey<C>;
const keyObject = <C extends OkpCurve>(key: PrivateKey<C>) => key as unknown as KeyObject;

function curveKeys<C extends OkpCurve>(curve: C): CurveKeys<C> {
  return {
    generate: () => handle<C>(generateOkp(curve)),
    fromBytes: (raw) => handle<C>(okpPrivateKey(curve, raw)),
    toBytes: (key) => okpRawPrivate(curve, keyObject(key)),
    publicKey: (key) => okpRawPublic(curve, keyObject(key)),
  };
}

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  // getRandomValues fills at most 64 KiB a call; it fills our own array, leaving no copy behind.
  for (let at = 0; at < length; at += 65536) webcrypto.getRandomValues(out.subarray(at, at + 65536));
  return out;
}

function aeadSeal(name: AeadName, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  // Two calls, not one: node's typings give each AEAD family its own overload.
  const cipher = name === 'chacha20-poly1305' ? createCipheriv(name, key, nonce, { authTagLength: TAG }) : createCipheriv(name, key, nonce, { authTagLength: TAG });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const parts = [cipher.update(plaintext), cipher.final(), cipher.getAuthTag()];
  const out = new Uint8Array(plaintext.length + TAG);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
    p.fill(0);
  }
  return out;
}

function aeadOpen(name: AeadName, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < TAG) return undefined;
  const body = sealed.subarray(0, sealed.length - TAG);
  const decipher = name === 'chacha20-poly1305' ? createDecipheriv(name, key, nonce, { authTagLength: TAG }) : createDecipheriv(name, key, nonce, { authTagLength: TAG });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  decipher.setAAD(aad, { plaintextLength: body.length });
  const plaintext = decipher.update(body);
  try {
    decipher.final();
  } catch {
    plaintext.fill(0);
    return undefined;
  }
  const out = Uint8Array.from(plaintext);
  plaintext.fill(0);
  return out;
}

const crypto: HostCrypto = {
  randomBytes,
  sha256() {
    const hash = createHash('sha256');
    const api = {
      update: (data: Uint8Array) => (hash.update(data), api),
      digest: () => new Uint8Array(hash.digest()),
    };
    return api;
  },
  hmacSha256: (key, data) => new Uint8Array(createHmac('sha256', key).update(data).digest()),
  hkdfSha256: (ikm, salt, info, length) => new Uint8Array(hkdfSync('sha256', ikm, salt, info, length)),
  aeadSeal,
  aeadOpen,
  x25519: {
    ...curveKeys('x25519'),
    sharedSecret(key, publicKey) {
      try {
        return new Uint8Array(diffieHellman({ privateKey: keyObject(key), publicKey: okpPublicKey('x25519', publicKey) }));
      } catch (err) {
        // OpenSSL refuses an all-zero result (a low-order public key): report it as that result.
        if ((err as { code?: string }).code === 'ERR_OSSL_FAILED_DURING_DERIVATION') return new Uint8Array(32);
        throw err;
      }
    },
  },
  ed25519: {
    ...curveKeys('ed25519'),
    sign: (key, message) => new Uint8Array(sign(null, message, keyObject(key))),
    verify(publicKey, message, signature) {
      try {
        return verify(null, message, okpPublicKey('ed25519', publicKey), signature);
      } catch {
        return false;
      }
    },
  },
};

export const platform: Platform = {
  name: 'node',
  crypto,
  setting: (name) => process.env[name],
  compileEngine,
  compileEngineBuild,
  nativeBackend: (key) => new NativeBackend(key),
};
