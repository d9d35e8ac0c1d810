import { platform } from '#platform';
import { AuthenticationError, SealcamError } from '../errors.js';
import type { PrivateKey } from '../platform/platform.js';
import { AEAD, setupBaseR, setupBaseS, x25519 } from './hpke.js';
import { consumeSecret, decodeBase64url, encodeBase64url, secretKeyFromText } from './keytext.js';
import { addressedTo, checkFileKey, describeFingerprint, keyFingerprint, type Identity, type Recipient, type Stanza } from './stanza.js';

/**
 * x25519 recipients: a file key is wrapped with HPKE (RFC 9180) base mode, DHKEM(X25519,
 * HKDF-SHA256), HKDF-SHA256 and ChaCha20-Poly1305. ChaCha20-Poly1305 because camera CPUs often
 * lack AES instructions, where it is constant-time in plain software and AES-GCM in software is
 * not (age wraps its file keys with ChaCha20-Poly1305 for the same reason). The recipient public
 * key is bound by HPKE itself (the KEM context is enc || pkR), so the AAD is empty and the info
 * string only separates this use from any other.
 *
 *   recipient  sealcam-x25519:<base64url of the 32-byte public key>
 *   identity   SEALCAM-X25519-SECRET-KEY:<base64url of the 32-byte private key>
 *   stanza     type "x25519", body = enc (32) || ChaCha20-Poly1305(file key) || tag (16)
 *
 * Identity files are read and written by keypair-files.ts (Node); this module is shared with the
 * browser build.
 */

export const X25519_TYPE = 'x25519';
export const X25519_RECIPIENT_PREFIX = 'sealcam-x25519:';
export const X25519_IDENTITY_PREFIX = 'SEALCAM-X25519-SECRET-KEY:';
/** HPKE info for file-key wrapping. */
export const X25519_WRAP_INFO: Uint8Array = new TextEncoder().encode('sealcam v2 file key');
/** HPKE aad for file-key wrapping: empty (see the module comment). */
export const X25519_WRAP_AAD: Uint8Array = new Uint8Array(0);
export const X25519_WRAP_AEAD = AEAD.CHACHA20_POLY1305;

const ENC_LENGTH = 32;
const TAG_LENGTH = 16;

/** Whether the little-endian u-coordinate is below p = 2^255 - 19 with the top bit clear. */
function isCanonicalU(u: Uint8Array): boolean {
  if (u[31]! > 0x7f) return false;
  if (u[31]! < 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (u[i]! !== 0xff) return true;
  return u[0]! < 0xed;
}

/** Any scalar tells a low-order point: clamped scalars are multiples of 8, so its product is zero. */
let probe: PrivateKey<'x25519'> | undefined;

export class X25519Recipient implements Recipient {
  readonly type = X25519_TYPE;
  readonly fingerprint: Uint8Array;
  readonly text: string;
  readonly publicKey: Uint8Array;

  /**
   * Refuses a key of the wrong length, a non-canonical one (RFC 7748 ignores the top bit and
   * reduces u mod p, so such a text would be a second spelling of another key, with another
   * fingerprint), and one of low order (every wrap to it would have a zero secret).
   */
  constructor(publicKey: Uint8Array) {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
      throw new SealcamError('ERECIPIENT', 'an x25519 recipient key must be 32 bytes');
    }
    if (!isCanonicalU(publicKey)) throw new SealcamError('ERECIPIENT', 'x25519 recipient refused: the key is not canonically encoded (top bit set, or u >= 2^255 - 19)');
    try {
      x25519((probe ??= platform.crypto.x25519.generate()), publicKey);
    } catch (err) {
      if (err instanceof SealcamError && err.code === 'ELOWORDER') throw new SealcamError('ERECIPIENT', `x25519 recipient refused: ${err.message}`);
      throw err;
    }
    this.publicKey = Uint8Array.from(publicKey);
    this.fingerprint = keyFingerprint(X25519_TYPE, this.publicKey);
    this.text = X25519_RECIPIENT_PREFIX + encodeBase64url(this.publicKey);
  }

  /** `sealcam-x25519:<base64url>`; the caller has matched the prefix, the rest is checked here. */
  static parse(text: string): X25519Recipient {
    const key = text.startsWith(X25519_RECIPIENT_PREFIX) ? decodeBase64url(text.slice(X25519_RECIPIENT_PREFIX.length)) : undefined;
    if (key === undefined || key.length !== 32) {
      throw new SealcamError('ERECIPIENT', `not an x25519 recipient: expected ${X25519_RECIPIENT_PREFIX} and 43 base64url characters`);
    }
    return new X25519Recipient(key);
  }

  wrap(fileKey: Uint8Array): Stanza {
    checkFileKey(fileKey);
    const { enc, context } = setupBaseS(X25519_WRAP_AEAD, this.publicKey, X25519_WRAP_INFO);
    const sealed = context.seal(X25519_WRAP_AAD, fileKey);
    const body = new Uint8Array(enc.length + sealed.length);
    body.set(enc);
    body.set(sealed, enc.length);
    return { type: X25519_TYPE, fingerprint: this.fingerprint, body };
  }
}

export class X25519Identity implements Identity {
  readonly type = X25519_TYPE;
  readonly recipient: X25519Recipient;
  readonly description: string;

  private constructor(private readonly privateKey: PrivateKey<'x25519'>) {
    this.recipient = new X25519Recipient(platform.crypto.x25519.publicKey(privateKey));
    this.description = `x25519 identity for recipient ${describeFingerprint(X25519_TYPE, this.recipient.fingerprint)}`;
  }

  get fingerprint(): Uint8Array {
    return this.recipient.fingerprint;
  }

  static generate(): X25519Identity {
    return new X25519Identity(platform.crypto.x25519.generate());
  }

  /** From the 32 raw private-key bytes (the caller wipes them). */
  static fromPrivateKey(raw: Uint8Array): X25519Identity {
    return new X25519Identity(platform.crypto.x25519.fromBytes(raw));
  }

  /** From the text of an identity file (comments allowed, one secret line); `path` is for messages only. */
  static fromText(text: string, path: string): X25519Identity {
    return consumeSecret(secretKeyFromText(text, X25519_IDENTITY_PREFIX, path, 'x25519 identity'), X25519Identity.fromPrivateKey);
  }

  /** The 32 private-key bytes, for the identity file (keypair-files.ts); the caller wipes them. */
  privateKeyBytes(): Uint8Array {
    return platform.crypto.x25519.toBytes(this.privateKey);
  }

  async unwrap(stanza: Stanza): Promise<Uint8Array | undefined> {
    if (!addressedTo(stanza, this)) return undefined;
    const sealedLength = stanza.body.length - ENC_LENGTH;
    const keyLength = sealedLength - TAG_LENGTH;
    if (keyLength !== 16 && keyLength !== 24 && keyLength !== 32) {
      throw new AuthenticationError(`x25519 stanza refused: its body is ${stanza.body.length} bytes, not 32 + a 16-, 24- or 32-byte key + 16`);
    }
    const enc = stanza.body.subarray(0, ENC_LENGTH);
    const context = setupBaseR(X25519_WRAP_AEAD, enc, this.privateKey, X25519_WRAP_INFO);
    try {
      return context.open(X25519_WRAP_AAD, stanza.body.subarray(ENC_LENGTH));
    } catch (err) {
      if (err instanceof AuthenticationError) throw new AuthenticationError(`x25519 stanza for ${this.description} does not open (altered, or not wrapped for this key)`);
      throw err;
    }
  }
}
