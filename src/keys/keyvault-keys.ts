import { createPublicKey } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import type { CryptographyClient, CryptographyClientOptions } from '@azure/keyvault-keys';
import { AuthenticationError, SealcamError } from '../errors.js';
import { azureFailure, firstLine, type AzureError } from './azure-errors.js';
import { encodeBase64url } from './keytext.js';
import { RsaRecipient, VaultRsaIdentity } from './rsa-oaep.js';

/**
 * RSA keys held by Azure Key Vault or Managed HSM. The camera never talks to the vault: it wraps
 * with the public key in its recipient text. The receiver's identity is that same recipient text
 * plus a credential: it asks the vault to unwrapKey with RSA-OAEP-256, so the private key never
 * leaves the vault. keyVaultRecipient() is the admin's side: it fetches a key's public half once
 * and makes the recipient text to hand to cameras. The SDK is imported on first use.
 */

export interface KeyVaultKeysOptions {
  /** Default: DefaultAzureCredential (az login, managed identity, AZURE_* variables). */
  credential?: TokenCredential;
  /** Passed to KeyClient and CryptographyClient (tests: tlsOptions, disableChallengeResourceVerification, retryOptions). */
  clientOptions?: CryptographyClientOptions;
}

const KEY_PATH = /^\/keys\/([0-9A-Za-z-]{1,127})(?:\/([0-9A-Za-z]{1,64}))?\/?$/;

async function credentialOf(options: KeyVaultKeysOptions): Promise<TokenCredential> {
  return options.credential ?? new (await import('@azure/identity')).DefaultAzureCredential();
}

/** One line for a failed Key Vault keys call on `keyId`. */
function failure(err: unknown, keyId: string, operation: string): SealcamError {
  const e = (err ?? {}) as AzureError;
  const where = `Azure Key Vault key ${keyId}`;
  // The SDK refuses some calls itself (an expired key, an operation the key's key_ops exclude) with a plain Error.
  if (e.name === 'Error' && e.statusCode === undefined && e.code === undefined) {
    return new SealcamError('EKEYVAULT', `${where}: ${firstLine(e.message) ?? 'refused by the Key Vault client'}`);
  }
  return azureFailure(err, {
    where,
    access: `check az login / managed identity and that it has the Key Vault Crypto User role, or the ${operation} key permission`,
    disabledCode: 'KeyDisabled',
    disabled: `${where} is disabled`,
    notFound: `${where} does not exist (check the key name and version)`,
  });
}

/**
 * The recipient for a Key Vault RSA key: `keyId` is https://<vault>/keys/<name>[/<version>] (without
 * a version, the current one); the text names the full versioned id and carries the public key.
 */
export async function keyVaultRecipient(keyId: string, options: KeyVaultKeysOptions = {}): Promise<RsaRecipient> {
  let url: URL | undefined;
  try {
    url = new URL(keyId);
  } catch {
    /* below */
  }
  const path = url && url.protocol === 'https:' && url.search === '' && url.hash === '' ? KEY_PATH.exec(url.pathname) : null;
  if (!url || !path) {
    throw new SealcamError('EINPUT', `Key Vault key id ${JSON.stringify(keyId.slice(0, 200))} is not of the form https://<vault>.vault.azure.net/keys/<name>[/<version>]`);
  }
  const { KeyClient } = await import('@azure/keyvault-keys');
  const client = new KeyClient(url.origin, await credentialOf(options), options.clientOptions);
  let key;
  try {
    key = await client.getKey(path[1]!, path[2] ? { version: path[2] } : {});
  } catch (err) {
    throw failure(err, keyId, 'get');
  }
  const jwk = key.key;
  if ((jwk?.kty !== 'RSA' && jwk?.kty !== 'RSA-HSM') || !jwk.n || !jwk.e || !key.id) {
    throw new SealcamError('ERECIPIENT', `Azure Key Vault key ${keyId} is ${jwk?.kty ?? 'not a key'}, not an RSA key`);
  }
  if (key.properties.enabled === false) throw new SealcamError('EKEYDISABLED', `Azure Key Vault key ${key.id} is disabled`);
  if (jwk.keyOps && !jwk.keyOps.includes('unwrapKey')) {
    throw new SealcamError('ERECIPIENT', `Azure Key Vault key ${key.id} does not allow unwrapKey, so nothing wrapped for it could be opened`);
  }
  const spki = createPublicKey({ key: { kty: 'RSA', n: encodeBase64url(jwk.n), e: encodeBase64url(jwk.e) }, format: 'jwk' }).export({ format: 'der', type: 'spki' });
  return new RsaRecipient({ kind: 'azure-kv', keyId: key.id }, spki);
}

/** The private half of a Key Vault recipient: unwraps through the vault. */
export class KeyVaultIdentity extends VaultRsaIdentity {
  private client?: Promise<CryptographyClient>;

  constructor(
    recipient: RsaRecipient,
    private readonly options: KeyVaultKeysOptions = {},
  ) {
    super(recipient, 'azure-kv');
  }

  get keyId(): string {
    return this.keyRef;
  }

  /** One client for the identity's life: the SDK reads the key once, then unwraps remotely. */
  private crypto(): Promise<CryptographyClient> {
    this.client ??= (async () => {
      const { CryptographyClient } = await import('@azure/keyvault-keys');
      return new CryptographyClient(this.keyId, await credentialOf(this.options), this.options.clientOptions);
    })();
    return this.client;
  }

  protected async decryptInVault(body: Uint8Array): Promise<Uint8Array> {
    const client = await this.crypto();
    try {
      return (await client.unwrapKey('RSA-OAEP-256', body)).result;
    } catch (err) {
      // Key Vault answers 400 BadParameter to a ciphertext that does not decrypt under the key.
      if ((err as AzureError).statusCode === 400) throw new AuthenticationError(`${this.description} did not unwrap the stanza (wrong key version, or the stanza was altered)`);
      throw failure(err, this.keyId, 'unwrapKey');
    }
  }
}
