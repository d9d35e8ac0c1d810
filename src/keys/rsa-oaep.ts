import { constants, createPrivateKey, createPublicKey, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import { AuthenticationError, SealcamError } from '../errors.js';
import { decodeBase64url, encodeBase64url } from './keytext.js';
import { addressedTo, checkFileKey, describeFingerprint, keyFingerprint, unwrappedFileKey, type Identity, type Recipient, type Stanza } from './stanza.js';

/**
 * RSA-OAEP-256 recipients: RSAES-OAEP (RFC 8017) with SHA-256 and MGF1-SHA-256 and an empty label,
 * the padding Azure Key Vault and Managed HSM call RSA-OAEP-256 and AWS KMS calls
 * RSAES_OAEP_SHA_256. The camera wraps with the public key alone (node:crypto publicEncrypt); the
 * private half stays in the vault, which a receiver asks to unwrap (keyvault-keys.ts, kms.ts), or,
 * for tests and single-host use, in a local PEM file (LocalRsaIdentity).
 *
 * One stanza type whatever holds the private key: the body is the RSA ciphertext (the modulus
 * length), and the fingerprint covers the key's DER SubjectPublicKeyInfo, so the same key pair has
 * the same fingerprint wherever its private half lives. Where it lives is in the recipient text,
 * for the receiver's sake: the camera ignores it.
 *
 *   sealcam-rsa-oaep-256:<base64url SPKI>                   private key in a local PEM file
 *   sealcam-azure-kv:<key id URL with version>,<base64url SPKI>
 *   sealcam-aws-kms:<key ARN>,<base64url SPKI>
 */

export const RSA_OAEP_TYPE = 'rsa-oaep-256';
export const RSA_LOCAL_PREFIX = 'sealcam-rsa-oaep-256:';
export const AZURE_KV_PREFIX = 'sealcam-azure-kv:';
export const AWS_KMS_PREFIX = 'sealcam-aws-kms:';

/** Key Vault and KMS offer 2048, 3072 and 4096 bits; less is too weak, more is no key they hold. */
const MIN_BITS = 2048;
const MAX_BITS = 4096;

/** Key Vault key names and version ids (Key Vault's own rules: 1-127 of [0-9A-Za-z-]; versions are 32 hex digits). */
const KEY_VAULT_PATH = /^\/keys\/([0-9A-Za-z-]{1,127})\/([0-9A-Za-z]{1,64})$/;
/** A KMS key ARN (not an alias: an alias can move to another key, whose public key the camera does not have). */
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]{1,32}:[0-9]{12}:key\/(?:mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export type RsaKeyLocation = { kind: 'local' } | { kind: 'azure-kv'; keyId: string } | { kind: 'aws-kms'; keyArn: string };

const OAEP = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' } as const;

function modulusBytes(key: KeyObject): number {
  return Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
}

/** RSAES-OAEP-ENCRYPT with SHA-256/MGF1-SHA-256; `label` is empty for sealcam (neither vault supports one). */
export function rsaOaepEncrypt(publicKey: KeyObject, message: Uint8Array, label?: Uint8Array): Uint8Array {
  return Uint8Array.from(publicEncrypt({ key: publicKey, ...OAEP, ...(label ? { oaepLabel: label } : {}) }, message));
}

/**
 * RSAES-OAEP-DECRYPT with SHA-256/MGF1-SHA-256. Every failure (a ciphertext of the wrong length, out
 * of range, or with bad padding) is the same AuthenticationError, so a caller cannot tell them apart
 * (Manger's attack feeds on exactly that difference).
 */
export function rsaOaepDecrypt(privateKey: KeyObject, ciphertext: Uint8Array, label?: Uint8Array): Uint8Array {
  const refused = () => new AuthenticationError('RSA-OAEP-256 decryption failed (wrong key, or the ciphertext was altered)');
  // RFC 8017 section 7.1.2 step 1b (OpenSSL refuses these too; the rule is ours either way).
  if (ciphertext.length !== modulusBytes(privateKey)) throw refused();
  let plaintext: Buffer;
  try {
    plaintext = privateDecrypt({ key: privateKey, ...OAEP, ...(label ? { oaepLabel: label } : {}) }, ciphertext);
  } catch {
    throw refused();
  }
  const out = Uint8Array.from(plaintext);
  plaintext.fill(0);
  return out;
}

/** An RSA public key of 2048-4096 bits from DER SubjectPublicKeyInfo, with its canonical DER re-encoding. */
export function rsaPublicKeyFromSpki(der: Uint8Array): { key: KeyObject; spki: Uint8Array } {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch {
    throw new SealcamError('ERECIPIENT', 'the RSA public key is not a DER SubjectPublicKeyInfo');
  }
  checkRsaKey(key);
  return { key, spki: Uint8Array.from(key.export({ format: 'der', type: 'spki' })) };
}

function checkRsaKey(key: KeyObject): void {
  if (key.asymmetricKeyType !== 'rsa') throw new SealcamError('ERECIPIENT', `the key is ${key.asymmetricKeyType ?? 'not asymmetric'}, not RSA`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_BITS || bits > MAX_BITS) throw new SealcamError('ERECIPIENT', `the RSA key has ${bits} bits; sealcam takes ${MIN_BITS} to ${MAX_BITS}`);
}

/** A Key Vault key id with its version, normalised to https://<host>/keys/<name>/<version>; anything else is refused. */
export function checkKeyVaultKeyId(keyId: string): string {
  let url: URL | undefined;
  try {
    url = new URL(keyId);
  } catch {
    /* below */
  }
  if (!url || url.protocol !== 'https:' || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || !KEY_VAULT_PATH.test(url.pathname)) {
    throw new SealcamError(
      'ERECIPIENT',
      `Key Vault key id ${JSON.stringify(keyId.slice(0, 200))} is not of the form https://<vault>.vault.azure.net/keys/<name>/<version>`,
    );
  }
  return `${url.origin}${url.pathname}`;
}

export function checkKmsKeyArn(keyArn: string): string {
  if (!KMS_KEY_ARN.test(keyArn)) {
    throw new SealcamError('ERECIPIENT', `KMS key ${JSON.stringify(keyArn.slice(0, 200))} is not a key ARN (arn:aws:kms:<region>:<account>:key/<key id>; not an alias)`);
  }
  return keyArn;
}

export class RsaRecipient implements Recipient {
  readonly type = RSA_OAEP_TYPE;
  readonly fingerprint: Uint8Array;
  readonly text: string;
  readonly publicKey: KeyObject;
  /** Canonical DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  readonly location: RsaKeyLocation;

  constructor(location: RsaKeyLocation, spki: Uint8Array) {
    const parsed = rsaPublicKeyFromSpki(spki);
    this.publicKey = parsed.key;
    this.spki = parsed.spki;
    this.fingerprint = keyFingerprint(RSA_OAEP_TYPE, this.spki);
    const key = encodeBase64url(this.spki);
    if (location.kind === 'azure-kv') {
      this.location = { kind: 'azure-kv', keyId: checkKeyVaultKeyId(location.keyId) };
      this.text = `${AZURE_KV_PREFIX}${this.location.keyId},${key}`;
    } else if (location.kind === 'aws-kms') {
      this.location = { kind: 'aws-kms', keyArn: checkKmsKeyArn(location.keyArn) };
      this.text = `${AWS_KMS_PREFIX}${this.location.keyArn},${key}`;
    } else {
      this.location = { kind: 'local' };
      this.text = RSA_LOCAL_PREFIX + key;
    }
  }

  /** Any of the three text forms above. */
  static parse(text: string): RsaRecipient {
    const spkiOf = (b64: string) => {
      const der = decodeBase64url(b64);
      if (der === undefined || der.length === 0) throw new SealcamError('ERECIPIENT', 'the RSA recipient\'s public key is not base64url');
      return der;
    };
    if (text.startsWith(RSA_LOCAL_PREFIX)) return new RsaRecipient({ kind: 'local' }, spkiOf(text.slice(RSA_LOCAL_PREFIX.length)));
    const prefix = [AZURE_KV_PREFIX, AWS_KMS_PREFIX].find((p) => text.startsWith(p));
    const rest = prefix === undefined ? '' : text.slice(prefix.length);
    const comma = rest.lastIndexOf(',');
    if (prefix === undefined || comma < 0) {
      throw new SealcamError('ERECIPIENT', `not an RSA recipient: expected ${RSA_LOCAL_PREFIX}<key>, ${AZURE_KV_PREFIX}<key id>,<key> or ${AWS_KMS_PREFIX}<key ARN>,<key>`);
    }
    const where = rest.slice(0, comma);
    const spki = spkiOf(rest.slice(comma + 1));
    return new RsaRecipient(prefix === AZURE_KV_PREFIX ? { kind: 'azure-kv', keyId: where } : { kind: 'aws-kms', keyArn: where }, spki);
  }

  /** Where the private half is, for messages: the Key Vault key id, the KMS ARN, or "a local RSA key". */
  get where(): string {
    if (this.location.kind === 'azure-kv') return `Azure Key Vault key ${this.location.keyId}`;
    if (this.location.kind === 'aws-kms') return `AWS KMS key ${this.location.keyArn}`;
    return 'a local RSA key';
  }

  get description(): string {
    return `${describeFingerprint(RSA_OAEP_TYPE, this.fingerprint)} (${this.where})`;
  }

  wrap(fileKey: Uint8Array): Stanza {
    return { type: RSA_OAEP_TYPE, fingerprint: this.fingerprint, body: rsaOaepEncrypt(this.publicKey, checkFileKey(fileKey)) };
  }
}

/** An RSA private key in a local PEM file: for tests and single-host use (a vault keeps it better). */
export class LocalRsaIdentity implements Identity {
  readonly type = RSA_OAEP_TYPE;
  readonly recipient: RsaRecipient;
  readonly description: string;

  private constructor(private readonly privateKey: KeyObject) {
    this.recipient = new RsaRecipient({ kind: 'local' }, createPublicKey(privateKey).export({ format: 'der', type: 'spki' }));
    this.description = `local RSA identity for recipient ${describeFingerprint(RSA_OAEP_TYPE, this.recipient.fingerprint)}`;
  }

  get fingerprint(): Uint8Array {
    return this.recipient.fingerprint;
  }

  static fromPrivateKey(privateKey: KeyObject): LocalRsaIdentity {
    checkRsaKey(privateKey);
    return new LocalRsaIdentity(privateKey);
  }

  /** An unencrypted PKCS #8 or PKCS #1 PEM private key; `path` is for messages only. */
  static fromPem(pem: string, path: string): LocalRsaIdentity {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: pem, format: 'pem' });
    } catch {
      throw new SealcamError('EKEYFILE', `key file ${path} is not an unencrypted RSA private key in PEM (PKCS #8 or PKCS #1)`);
    }
    try {
      return LocalRsaIdentity.fromPrivateKey(key);
    } catch (err) {
      throw new SealcamError('EKEYFILE', `key file ${path}: ${(err as Error).message}`);
    }
  }

  async unwrap(stanza: Stanza): Promise<Uint8Array | undefined> {
    if (!addressedTo(stanza, this)) return undefined;
    return unwrappedFileKey(rsaOaepDecrypt(this.privateKey, stanza.body), this.description);
  }
}

/**
 * The private half of a vault-held recipient (Key Vault, KMS): what both share. A stanza for
 * another key is answered locally (no vault call); the vault's answer is copied, wiped and checked
 * to be a file key. Subclasses make the one remote call.
 */
export abstract class VaultRsaIdentity implements Identity {
  readonly type = RSA_OAEP_TYPE;
  readonly description: string;
  /** The vault's name for the key: the Key Vault key id or the KMS key ARN. */
  protected readonly keyRef: string;

  constructor(
    readonly recipient: RsaRecipient,
    kind: 'azure-kv' | 'aws-kms',
  ) {
    const { location } = recipient;
    if (location.kind === 'azure-kv' && kind === 'azure-kv') this.keyRef = location.keyId;
    else if (location.kind === 'aws-kms' && kind === 'aws-kms') this.keyRef = location.keyArn;
    else throw new SealcamError('EINPUT', `this identity needs a ${kind === 'azure-kv' ? AZURE_KV_PREFIX : AWS_KMS_PREFIX} recipient, not ${recipient.where}`);
    this.description = `${recipient.where} (recipient ${describeFingerprint(RSA_OAEP_TYPE, recipient.fingerprint)})`;
  }

  get fingerprint(): Uint8Array {
    return this.recipient.fingerprint;
  }

  /** The vault's RSA-OAEP-256 decryption of `body`; AuthenticationError when it does not decrypt. */
  protected abstract decryptInVault(body: Uint8Array): Promise<Uint8Array>;

  async unwrap(stanza: Stanza): Promise<Uint8Array | undefined> {
    if (!addressedTo(stanza, this)) return undefined;
    const answer = await this.decryptInVault(stanza.body);
    const key = Uint8Array.from(answer);
    answer.fill(0);
    return unwrappedFileKey(key, this.description);
  }
}
