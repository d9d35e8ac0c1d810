import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { InputError } from '../errors.js';

/**
 * Raw 32-byte X25519 and Ed25519 keys as node:crypto KeyObjects and back. node:crypto takes such
 * keys only wrapped in DER, and for these curves the DER is a fixed prefix followed by the raw key
 * (RFC 8410: PKCS #8 for private keys, SubjectPublicKeyInfo for public ones), so the prefixes
 * below are the whole encoding. A private KeyObject derives its own public key; nothing here
 * trusts a public half supplied beside a private one.
 */

export type OkpCurve = 'x25519' | 'ed25519';

const PKCS8_PREFIX: Record<OkpCurve, Buffer> = {
  x25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
};
const SPKI_PREFIX: Record<OkpCurve, Buffer> = {
  x25519: Buffer.from('302a300506032b656e032100', 'hex'),
  ed25519: Buffer.from('302a300506032b6570032100', 'hex'),
};

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
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX[curve], checkRaw(curve, raw, 'public key')]), format: 'der', type: 'spki' });
}

/** The raw public key of a public or private KeyObject of `curve`. */
export function okpRawPublic(curve: OkpCurve, key: KeyObject): Uint8Array {
  const der = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
  return Uint8Array.from(der.subarray(SPKI_PREFIX[curve].length));
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
