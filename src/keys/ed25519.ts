import { sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { SealcamError } from '../errors.js';
import { consumeSecret } from './keyfile.js';
import { decodeBase64url, encodeBase64url, readSecretKeyFile, writeKeyPairFiles } from './keytext.js';
import { generateOkp, okpPrivateKey, okpPublicKey, okpRawPrivate, okpRawPublic } from './okp.js';
import { describeFingerprint, keyFingerprint } from './stanza.js';

/**
 * Device signing keys: Ed25519 (RFC 8032) from node:crypto. Each camera holds its own key and
 * signs what identifies a file it sealed; a receiver verifies against the device registry.
 * Verification is strict: a signature is exactly 64 bytes, a public key exactly 32, and S must be
 * below the group order L (so no second encoding of a signature verifies: no malleability).
 * OpenSSL 3, which node:crypto uses, checks S < L too; we check it ourselves so that strictness
 * does not depend on the OpenSSL a Node build links.
 *
 *   public key  sealcam-ed25519:<base64url of the 32-byte public key>
 *   secret key  SEALCAM-ED25519-SECRET-KEY:<base64url of the 32-byte private key (RFC 8032 seed)>
 */

export const ED25519_TYPE = 'ed25519';
export const ED25519_PUBLIC_PREFIX = 'sealcam-ed25519:';
export const ED25519_SECRET_PREFIX = 'SEALCAM-ED25519-SECRET-KEY:';
export const SIGNATURE_LENGTH = 64;

/** L = 2^252 + 27742317777372353535851937790883648493, little-endian, as RFC 8032 encodes scalars. */
const ORDER_LE = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');

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
  let key: KeyObject;
  try {
    key = okpPublicKey('ed25519', publicKey);
  } catch {
    return false;
  }
  return nodeVerify(null, message, key, signature);
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

  private constructor(private readonly privateKey: KeyObject) {
    this.publicKey = new DevicePublicKey(okpRawPublic('ed25519', privateKey));
  }

  static generate(): DeviceSigningKey {
    return new DeviceSigningKey(generateOkp('ed25519'));
  }

  /** From the 32-byte RFC 8032 private key (the caller wipes it). */
  static fromPrivateKey(raw: Uint8Array): DeviceSigningKey {
    return new DeviceSigningKey(okpPrivateKey('ed25519', raw));
  }

  /** Reads a signing key file written by write() (mode 0600 required). */
  static async read(path: string): Promise<DeviceSigningKey> {
    return consumeSecret(await readSecretKeyFile(path, ED25519_SECRET_PREFIX, 'ed25519 signing key'), DeviceSigningKey.fromPrivateKey);
  }

  /** Writes the key to `path` (mode 0600) and its public key to `path.pub`, the line a registry entry lists. */
  async write(path: string, options: { force?: boolean } = {}): Promise<void> {
    await consumeSecret(okpRawPrivate('ed25519', this.privateKey), (secret) =>
      writeKeyPairFiles(
        path,
        {
          kind: 'ed25519 device signing key',
          warning: 'Keep it private: whoever holds it can sign as this device.',
          secretPrefix: ED25519_SECRET_PREFIX,
          secret,
          publicLabel: 'public key',
          publicLine: this.publicKey.text,
        },
        options,
      ),
    );
  }

  /** The 64-byte Ed25519 signature of `message`. */
  sign(message: Uint8Array): Uint8Array {
    return Uint8Array.from(nodeSign(null, message, this.privateKey));
  }
}
