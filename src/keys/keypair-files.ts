import { DeviceSigningKey, ED25519_SECRET_PREFIX } from './ed25519.js';
import { readSecretKeyFile, writeKeyPairFiles } from './keyfile.js';
import { consumeSecret } from './keytext.js';
import { X25519_IDENTITY_PREFIX, X25519Identity } from './x25519.js';

/**
 * The key pairs' files on disk (docs/RECIPIENTS.md, Key files): an x25519 identity or a device
 * signing key (mode 0600, comment lines and one secret line) beside its `.pub` file. Kept apart
 * from the key classes (x25519.ts, ed25519.ts), which the browser build shares and which know
 * nothing of files.
 */

/** Reads an identity file written by writeIdentityFile (mode 0600 required). */
export async function readIdentityFile(path: string): Promise<X25519Identity> {
  return consumeSecret(await readSecretKeyFile(path, X25519_IDENTITY_PREFIX, 'x25519 identity'), X25519Identity.fromPrivateKey);
}

/** Writes the identity to `path` (mode 0600) and its recipient to `path.pub`. */
export async function writeIdentityFile(identity: X25519Identity, path: string, options: { force?: boolean } = {}): Promise<void> {
  await consumeSecret(identity.privateKeyBytes(), (secret) =>
    writeKeyPairFiles(
      path,
      {
        kind: 'x25519 identity',
        warning: 'Keep it private: it opens every file sealed to the recipient below.',
        secretPrefix: X25519_IDENTITY_PREFIX,
        secret,
        publicLabel: 'recipient',
        publicLine: identity.recipient.text,
      },
      options,
    ),
  );
}

/** Reads a signing key file written by writeSigningKeyFile (mode 0600 required). */
export async function readSigningKeyFile(path: string): Promise<DeviceSigningKey> {
  return consumeSecret(await readSecretKeyFile(path, ED25519_SECRET_PREFIX, 'ed25519 signing key'), DeviceSigningKey.fromPrivateKey);
}

/** Writes the key to `path` (mode 0600) and its public key to `path.pub`, the line a registry entry lists. */
export async function writeSigningKeyFile(key: DeviceSigningKey, path: string, options: { force?: boolean } = {}): Promise<void> {
  await consumeSecret(key.privateKeyBytes(), (secret) =>
    writeKeyPairFiles(
      path,
      {
        kind: 'ed25519 device signing key',
        warning: 'Keep it private: whoever holds it can sign as this device.',
        secretPrefix: ED25519_SECRET_PREFIX,
        secret,
        publicLabel: 'public key',
        publicLine: key.publicKey.text,
      },
      options,
    ),
  );
}
