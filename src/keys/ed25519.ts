import { platform } from '#platform';
import { fromHex } from '../bytes.js';
import { SealcamError } from '../errors.js';
import type { PrivateKey } from '../platform/platform.js';
import { decodeBase64url, encodeBase64url } from './keytext.js';
import { describeFingerprint, keyFingerprint } from './stanza.js';

/**
 * Device signing keys: Ed25519 (RFC 8032) from the platform (node:crypto, or noble in the browser
 * build; key files are keypair-files.ts's, on Node). Each camera holds its own key and
 * signs what identifies a file it sealed; a receiver verifies against the device registry.
 * Verification is strict: a signature is exactly 64 bytes, a public key exactly 32, and S must be
 * below the group order L (so no second encoding of a signature verifies: no malleability).
 * OpenSSL 3 (node:crypto) and noble (with zip215 off) check S < L too; we check it ourselves so
 * that strictness does not depend on either.
 *
 *   public key  sealcam-ed25519:<base64url of the 32-byte public key>
 *   secret key  SEALCAM-ED25519-SECRET-KEY:<base64url of the 32-byte private key (RFC 8032 seed)>
 */

export const ED25519_TYPE = 'ed25519';
export const ED25519_PUBLIC_PREFIX = 'sealcam-ed25519:';
export const ED25519_SECRET_PREFIX = 'SEALCAM-ED25519-SECRET-KEY:';
export const SIGNATURE_LENGTH = 64;

/** L = 2^252 + 27742317777372353535851937790883648493, little-endian, as RFC 8032 encodes scalars. */
const ORDER_LE = fromHex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010')!;

/** Whether the 32-byte little-endian scalar `s` is below L (compared from the most significant byte). */
export function scalarBelowOrder(s: Uint8Array): boolean {
  if (s.length !== 32) return false;
  for (let i = 31; i >= 0; i--) {
    if (s[i]! !== ORDER_LE[i]!) return s[i]! < ORDER_LE[i]!;
  }
  return false; // s == L
}

/** Strict Ed25519 verification (see the module comment); false for any malformed input, never a throw. */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) return false;
  if (!(message instanceof Uint8Array)) return false;
  if (!scalarBelowOrder(signature.subarray(32))) return false;
  return platform.crypto.ed25519.verify(publicKey, message, signature);
}

/** A device's public signing key, as the registry lists it. */
export class DevicePublicKey {
  readonly type = ED25519_TYPE;
  readonly publicKey: Uint8Array;
  readonly fingerprint: Uint8Array;
  readonly text: string;

  constructor(publicKey: Uint8Array) {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new SealcamError('ESIGNKEY', 'an ed25519 public key must be 32 bytes');
    this.publicKey = Uint8Array.from(publicKey);
    this.fingerprint = keyFingerprint(ED25519_TYPE, this.publicKey);
    this.text = ED25519_PUBLIC_PREFIX + encodeBase64url(this.publicKey);
  }

  /** `sealcam-ed25519:<base64url>`. */
  static parse(text: string): DevicePublicKey {
    const key = text.startsWith(ED25519_PUBLIC_PREFIX) ? decodeBase64url(text.slice(ED25519_PUBLIC_PREFIX.length)) : undefined;
    if (key === undefined || key.length !== 32) {
      throw new SealcamError('ESIGNKEY', `not a device public key: expected ${ED25519_PUBLIC_PREFIX} and 43 base64url characters`);
    }
    return new DevicePublicKey(key);
  }

  get description(): string {
    return describeFingerprint(ED25519_TYPE, this.fingerprint);
  }

  verify(message: Uint8Array, signature: Uint8Array): boolean {
    return verifyEd25519(this.publicKey, message, signature);
  }
}

/** A device's private signing key. */
export class DeviceSigningKey {
  readonly publicKey: DevicePublicKey;

  /** The public key's fingerprint: what a signed sealed header names its signer by. */
  get fingerprint(): Uint8Array {
    return this.publicKey.fingerprint;
  }

  private constructor(private readonly privateKey: PrivateKey<'ed25519'>) {
    this.publicKey = new DevicePublicKey(platform.crypto.ed25519.publicKey(privateKey));
  }

  static generate(): DeviceSigningKey {
    return new DeviceSigningKey(platform.crypto.ed25519.generate());
  }

  /** From the 32-byte RFC 8032 private key (the caller wipes it). */
  static fromPrivateKey(raw: Uint8Array): DeviceSigningKey {
    return new DeviceSigningKey(platform.crypto.ed25519.fromBytes(raw));
  }

  /** The 32 private-key bytes, for the key file (keypair-files.ts); the caller wipes them. */
  privateKeyBytes(): Uint8Array {
    return platform.crypto.ed25519.toBytes(this.privateKey);
  }

  /** The 64-byte Ed25519 signature of `message`. */
  sign(message: Uint8Array): Uint8Array {
    return platform.crypto.ed25519.sign(this.privateKey, message);
  }
}
