import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { InputError } from '../errors.js';
import { toBase64url as encodeBase64url } from '../bytes.js';

/**
 * Raw 32-byte X25519 and Ed25519 keys as node:crypto KeyObjects and back. Public keys go through
 * JWK (`x` is the raw key in base64url): OpenSSL 3 decodes and encodes DER some 10 to 40 times
 * slower (95 us to import, 81 us to export a public key here, against 11 and 2 us), and every wrap
 * does both. Private keys go through PKCS #8 DER, a fixed prefix and then the raw key (RFC 8410):
 * JWK would want the public half `x` beside `d`, and nothing here trusts a public half supplied
 * beside a private one; a private KeyObject derives its own.
 */

export type OkpCurve = 'x25519' | 'ed25519';

const PKCS8_PREFIX: Record<OkpCurve, Buffer> = {
  x25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
};
const JWK_CURVE: Record<OkpCurve, string> = { x25519: 'X25519', ed25519: 'Ed25519' };

function checkRaw(curve: OkpCurve, raw: unknown, what: string): Uint8Array {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) {
    throw new InputError(`an ${curve} ${what} must be a Uint8Array of 32 bytes, got ${raw instanceof Uint8Array ? `${raw.length} bytes` : typeof raw}`);
  }
  return raw;
}

export function okpPrivateKey(curve: OkpCurve, raw: Uint8Array): KeyObject {
  const der = Buffer.concat([PKCS8_PREFIX[curve], checkRaw(curve, raw, 'private key')]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

export function okpPublicKey(curve: OkpCurve, raw: Uint8Array): KeyObject {
  const x = encodeBase64url(checkRaw(curve, raw, 'public key'));
  return createPublicKey({ key: { kty: 'OKP', crv: JWK_CURVE[curve], x }, format: 'jwk' });
}

/** The raw public key of a public or private KeyObject of `curve`. */
export function okpRawPublic(curve: OkpCurve, key: KeyObject): Uint8Array {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  if (jwk.crv !== JWK_CURVE[curve] || typeof jwk.x !== 'string') throw new InputError(`the key is not an ${curve} key`);
  return Uint8Array.from(Buffer.from(jwk.x, 'base64url'));
}

/** The raw private key of a private KeyObject; the caller wipes it when done. */
export function okpRawPrivate(curve: OkpCurve, key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'pkcs8' });
  try {
    return Uint8Array.from(der.subarray(PKCS8_PREFIX[curve].length));
  } finally {
    der.fill(0);
  }
}

export function generateOkp(curve: OkpCurve): KeyObject {
  return (curve === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('ed25519')).privateKey;
}
