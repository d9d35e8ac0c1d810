import { SealcamError } from '../errors.js';
import { ED25519_PUBLIC_PREFIX, ED25519_SECRET_PREFIX } from './ed25519.js';
import { readKeyText, readPrivateFile } from './keyfile.js';
import type { KeyVaultKeysOptions } from './keyvault-keys.js';
import { consumeSecret, contentLines, MAX_KEY_TEXT, utf8 } from './keytext.js';
import type { KmsOptions } from './kms.js';
import { AWS_KMS_PREFIX, AZURE_KV_PREFIX, LocalRsaIdentity, RSA_LOCAL_PREFIX, RsaRecipient } from './rsa-oaep.js';
import type { Identity, Recipient } from './stanza.js';
import { X25519_IDENTITY_PREFIX, X25519_RECIPIENT_PREFIX, X25519Identity, X25519Recipient } from './x25519.js';

/**
 * Where recipients and identities come from (text, files, vaults); the two operations a sealed
 * header needs (wrap a file key for every recipient, unwrap it with whichever identity a stanza
 * names) are stanza.ts's and re-exported here.
 *
 * A recipient is given as its one-line text or as a file of such lines (`.pub`; `#` comments). An
 * identity is a key file (mode 0600: an x25519 identity, an RSA PEM key, or the recipient line of
 * a vault key) or, for a vault key, its recipient text itself: the private half is in the vault,
 * and the text names it. Nothing here prints key material; a secret pasted where a recipient
 * belongs is refused without being echoed.
 */

export { openingWith, sealingFor, unwrapFileKey, wrapFileKey } from './stanza.js';

const SECRET_PREFIXES = [X25519_IDENTITY_PREFIX, ED25519_SECRET_PREFIX];
const RECIPIENT_FORMS = `${X25519_RECIPIENT_PREFIX}..., ${AZURE_KV_PREFIX}..., ${AWS_KMS_PREFIX}... or ${RSA_LOCAL_PREFIX}...`;

function isSecretText(text: string): boolean {
  return SECRET_PREFIXES.some((p) => text.startsWith(p)) || text.includes('PRIVATE KEY-----');
}

/** One recipient from its text form (see docs/RECIPIENTS.md). */
export function parseRecipient(text: string): Recipient {
  const line = String(text).trim();
  if (isSecretText(line)) throw new SealcamError('ERECIPIENT', 'this is a secret key, not a recipient: give its public half (the .pub file)');
  if (line.startsWith(X25519_RECIPIENT_PREFIX)) return X25519Recipient.parse(line);
  if ([RSA_LOCAL_PREFIX, AZURE_KV_PREFIX, AWS_KMS_PREFIX].some((p) => line.startsWith(p))) return RsaRecipient.parse(line);
  if (line.startsWith(ED25519_PUBLIC_PREFIX)) throw new SealcamError('ERECIPIENT', 'this is a device signing key, not a recipient: files are sealed to an x25519 or RSA recipient');
  throw new SealcamError('ERECIPIENT', `not a recipient: expected ${RECIPIENT_FORMS}`);
}

const PUBLIC_PREFIXES = [X25519_RECIPIENT_PREFIX, RSA_LOCAL_PREFIX, AZURE_KV_PREFIX, AWS_KMS_PREFIX, ED25519_PUBLIC_PREFIX];

/** Whether `arg` is key text rather than a file name (a file may well be called sealcam-fleet.pub). */
function isKeyText(arg: string): boolean {
  return PUBLIC_PREFIXES.some((p) => arg.startsWith(p)) || isSecretText(arg);
}

/**
 * The recipients `pathOrText` names: the one its text gives, or every content line of the file it
 * names (several recipients in one file serve a rotation: old and new fleet keys side by side).
 */
export async function loadRecipients(pathOrText: string): Promise<Recipient[]> {
  if (typeof pathOrText !== 'string' || pathOrText.trim() === '') throw new SealcamError('EINPUT', 'a recipient must be a key string or a .pub file');
  if (isKeyText(pathOrText.trim())) return [parseRecipient(pathOrText)];
  const text = await readKeyText(pathOrText, 'recipient file');
  const lines = contentLines(text);
  if (lines.length === 0) throw new SealcamError('ERECIPIENT', `recipient file ${pathOrText} holds no recipient`);
  return lines.map(({ text: line, line: n }) => {
    try {
      return parseRecipient(line);
    } catch (err) {
      throw new SealcamError('ERECIPIENT', `recipient file ${pathOrText} line ${n}: ${(err as Error).message}`);
    }
  });
}

export interface IdentityOptions {
  /** For Key Vault identities: credential and client options. */
  azure?: KeyVaultKeysOptions;
  /** For KMS identities: client configuration. */
  aws?: KmsOptions;
}

/** A vault identity from its recipient line, or undefined when the line is no vault recipient. */
async function vaultIdentity(line: string, options: IdentityOptions): Promise<Identity | undefined> {
  if (line.startsWith(AZURE_KV_PREFIX)) {
    const { KeyVaultIdentity } = await import('./keyvault-keys.js');
    return new KeyVaultIdentity(RsaRecipient.parse(line), options.azure);
  }
  if (line.startsWith(AWS_KMS_PREFIX)) {
    const { KmsIdentity } = await import('./kms.js');
    return new KmsIdentity(RsaRecipient.parse(line), options.aws);
  }
  return undefined;
}

/**
 * The identity `pathOrText` names: a vault recipient text, or a key file (mode 0600) holding an
 * x25519 identity, an RSA private key in PEM, or a vault recipient line.
 */
export async function loadIdentity(pathOrText: string, options: IdentityOptions = {}): Promise<Identity> {
  if (typeof pathOrText !== 'string' || pathOrText.trim() === '') throw new SealcamError('EINPUT', 'an identity must be a key file or a vault recipient string');
  const arg = pathOrText.trim();
  if (isKeyText(arg)) {
    const vault = await vaultIdentity(arg, options);
    if (vault) return vault;
    if (isSecretText(arg)) throw new SealcamError('EIDENTITY', 'give the identity as a key file (mode 0600), not as text on the command line');
    throw new SealcamError('EIDENTITY', 'this is a recipient (a public key); the identity is its private key file, or a vault key\'s recipient text');
  }
  const data = await readPrivateFile(pathOrText, MAX_KEY_TEXT, 'an identity: an x25519 identity, an RSA PEM private key or a vault recipient line');
  return consumeSecret(data, () => identityFromFile(utf8(data), pathOrText, options));
}

async function identityFromFile(text: string, path: string, options: IdentityOptions): Promise<Identity> {
  if (text.includes('-----BEGIN')) return LocalRsaIdentity.fromPem(text, path);
  const lines = contentLines(text);
  const first = lines[0]?.text ?? '';
  if (first.startsWith(X25519_IDENTITY_PREFIX)) return X25519Identity.fromText(text, path);
  const vault = lines.length === 1 ? await vaultIdentity(first, options) : undefined;
  if (vault) return vault;
  if (first.startsWith(ED25519_SECRET_PREFIX)) throw new SealcamError('EIDENTITY', `key file ${path} is a device signing key, not an identity`);
  throw new SealcamError('EIDENTITY', `key file ${path} holds no identity: expected ${X25519_IDENTITY_PREFIX}..., an RSA PEM private key, or one ${AZURE_KV_PREFIX}/${AWS_KMS_PREFIX} line`);
}
