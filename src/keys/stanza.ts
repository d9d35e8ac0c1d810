import { platform } from '#platform';
import { AuthenticationError, InputError, SealcamError } from '../errors.js';
import type { Stanza } from '../formats/sealed-header.js';
import { toHex } from './keytext.js';

/**
 * Recipients and identities, as age has them: a file's key is wrapped once per *recipient* (a
 * public key) into a *stanza*, and only an *identity* (the private half, on a receiver or in a
 * vault) unwraps it. Wrapping is local and synchronous, so a camera needs the public key only.
 * Each stanza names its recipient by a fingerprint, so a receiver picks the stanza meant for it
 * without asking a vault to try each one.
 */

/** One wrapped copy of a file key, as the sealed v2 header carries it: its `type` is `x25519` (HPKE) or `rsa-oaep-256`, its body's layout depends on the type (docs/FORMAT.md). */
export type { Stanza };

export interface Recipient {
  /** The stanza type this recipient produces. */
  readonly type: string;
  readonly fingerprint: Uint8Array;
  /** The one-line public string a user pastes or keeps in a `.pub` file. */
  readonly text: string;
  /** Wraps a 16-, 24- or 32-byte file key with the public key alone. */
  wrap(fileKey: Uint8Array): Stanza;
}

export interface Identity {
  readonly type: string;
  /** The fingerprint of the recipient this identity is the private half of. */
  readonly fingerprint: Uint8Array;
  /** What to show a user: kind, fingerprint and, for vault keys, the key id. Never secret bytes. */
  readonly description: string;
  /**
   * The file key, or undefined when the stanza is not for this identity (other type or
   * fingerprint: decided locally, without a vault call). Throws AuthenticationError when the
   * stanza is for this identity but does not open.
   */
  unwrap(stanza: Stanza): Promise<Uint8Array | undefined>;
}

export const FINGERPRINT_LENGTH = 16;
const FINGERPRINT_DOMAIN = 'sealcam key fingerprint v1';

/**
 * The first 16 bytes of SHA-256("sealcam key fingerprint v1" || 00 || type || 00 || publicKey):
 * `type` is the key's ASCII type name (`x25519`, `rsa-oaep-256`, `ed25519`), `publicKey` its
 * canonical public bytes (the 32-byte X25519 or Ed25519 key, the DER SubjectPublicKeyInfo of an
 * RSA key). The NUL bytes keep the fields apart (a type name has none); the type keeps an RSA key
 * used for wrapping apart from any other use of the same bytes.
 */
export function keyFingerprint(type: string, publicKey: Uint8Array): Uint8Array {
  if (!/^[a-z0-9-]{1,32}$/.test(type)) throw new InputError(`key type ${JSON.stringify(type)} is not a sealcam key type`);
  const ascii = (text: string) => new TextEncoder().encode(text);
  const hash = platform.crypto.sha256().update(ascii(FINGERPRINT_DOMAIN)).update(new Uint8Array([0])).update(ascii(type)).update(new Uint8Array([0])).update(publicKey).digest();
  return hash.slice(0, FINGERPRINT_LENGTH);
}

/** How a fingerprint is shown: `<type>:<32 hex digits>`. */
export function describeFingerprint(type: string, fingerprint: Uint8Array): string {
  return `${type}:${toHex(fingerprint)}`;
}

export function sameFingerprint(a: Uint8Array, b: Uint8Array): boolean {
  // Fingerprints are public: an ordinary comparison is fine.
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** Whether `stanza` is addressed to `key` (same type and fingerprint). */
export function addressedTo(stanza: Stanza, key: { type: string; fingerprint: Uint8Array }): boolean {
  return stanza.type === key.type && sameFingerprint(stanza.fingerprint, key.fingerprint);
}

/** Refuses anything but a 16-, 24- or 32-byte file key (AES-128, -192, -256). */
export function checkFileKey(fileKey: unknown): Uint8Array {
  if (!(fileKey instanceof Uint8Array) || (fileKey.length !== 16 && fileKey.length !== 24 && fileKey.length !== 32)) {
    const got = fileKey instanceof Uint8Array ? `${fileKey.length} bytes` : typeof fileKey;
    throw new InputError(`a file key must be a Uint8Array of 16, 24 or 32 bytes, got ${got}`);
  }
  return fileKey;
}

/** A key a vault or private key unwrapped, refused (and wiped) unless it has a file key's size. */
export function unwrappedFileKey(key: Uint8Array, description: string): Uint8Array {
  if (key.length === 16 || key.length === 24 || key.length === 32) return key;
  const n = key.length;
  key.fill(0);
  throw new AuthenticationError(`the stanza for ${description} holds ${n} bytes, not a 16-, 24- or 32-byte file key`);
}

// --- Wrapping for recipients, unwrapping with identities -------------------------------------------

/** One stanza per recipient; refuses an empty list and a recipient listed twice. */
export function wrapFileKey(fileKey: Uint8Array, recipients: readonly Recipient[]): Stanza[] {
  checkFileKey(fileKey);
  if (recipients.length === 0) throw new SealcamError('ERECIPIENT', 'a file needs at least one recipient');
  recipients.forEach((r, i) => {
    if (recipients.slice(0, i).some((q) => q.type === r.type && sameFingerprint(q.fingerprint, r.fingerprint))) {
      throw new SealcamError('ERECIPIENT', `recipient ${describeFingerprint(r.type, r.fingerprint)} is listed twice`);
    }
  });
  return recipients.map((r) => r.wrap(fileKey));
}

/** What a sealed v2 header takes to wrap a new file's key for `recipients` (SealOptions.wrap). */
export function sealingFor(recipients: readonly Recipient[]): (fileKey: Uint8Array) => Stanza[] {
  return (fileKey) => wrapFileKey(fileKey, recipients);
}

/** What opening a sealed v2 file takes to find its key among `identities` (OpenOptions.fileKey). */
export function openingWith(identities: readonly Identity[]): (stanzas: readonly Stanza[]) => Promise<Uint8Array> {
  return (stanzas) => unwrapFileKey(stanzas, identities);
}

/**
 * The file key from the first stanza one of `identities` opens. Only identities a stanza names are
 * asked (a vault is never called for another recipient's stanza). A stanza that is addressed to an
 * identity but does not open is remembered and the search goes on (a forged stanza may carry a
 * real fingerprint); if nothing opens, the first such failure is thrown; if no identity is named
 * at all, a one-line ENOIDENTITY error lists the recipients the file was sealed to.
 */
export async function unwrapFileKey(stanzas: readonly Stanza[], identities: readonly Identity[]): Promise<Uint8Array> {
  let firstFailure: unknown;
  for (const identity of identities) {
    for (const stanza of stanzas) {
      if (!addressedTo(stanza, identity)) continue;
      try {
        const key = await identity.unwrap(stanza);
        if (key !== undefined) return key;
      } catch (err) {
        firstFailure ??= err;
      }
    }
  }
  if (firstFailure !== undefined) throw firstFailure;
  const names = stanzas.map((s) => describeFingerprint(s.type, s.fingerprint)).join(', ') || 'none';
  if (identities.length === 0) throw new SealcamError('ENOIDENTITY', `this device holds no identity, so it cannot open files (sealed to recipient ${names})`);
  throw new SealcamError('ENOIDENTITY', `this device holds no identity for recipient ${names}`);
}
