import type { TokenCredential } from '@azure/identity';
import type { KeyVaultSecret, SecretClient, SecretClientOptions } from '@azure/keyvault-secrets';
import { SealcamError } from '../errors.js';
import { azureFailure } from './azure-errors.js';
import { generateKey, keyLength, type KeyBits } from './index.js';
import type { KeyMaterial, KeyProvider, KeyVersion } from './provider.js';

/**
 * Keys in Azure Key Vault, stored as the reference scripts store them: each key version is a
 * secret version whose value is the key in base64. Versions are Key Vault's version ids. The SDK
 * is imported on first use (type imports above are erased), so `sealcam` starts without it.
 */

export interface AzureKeyVaultOptions {
  /** https://<vault>.vault.azure.net */
  vaultUrl: string;
  /** Default: DefaultAzureCredential (az login, managed identity, AZURE_* variables). */
  credential?: TokenCredential;
  /** Passed to SecretClient (tests: tlsOptions, disableChallengeResourceVerification, retryOptions). */
  clientOptions?: SecretClientOptions;
}

const CONTENT_TYPE = 'application/octet-stream; sealcam-kek';
/** Key Vault's own rule for secret names. */
const NAME = /^[0-9A-Za-z-]{1,127}$/;
/** Version ids are 32 hex digits; anything else could change the request path. */
const VERSION = /^[0-9A-Za-z]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export class AzureKeyVaultProvider implements KeyProvider {
  readonly kind = 'azure-keyvault';
  readonly vaultUrl: string;
  private client?: Promise<SecretClient>;

  constructor(private readonly options: AzureKeyVaultOptions) {
    let url: URL | undefined;
    try {
      url = new URL(options.vaultUrl);
    } catch {
      /* reported below */
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new SealcamError('ECONFIG', `keys.vaultUrl ${JSON.stringify(options.vaultUrl)} is not a URL: use https://<your-vault>.vault.azure.net`);
    }
    // A trailing slash would give the SDK's request paths a double slash.
    this.vaultUrl = options.vaultUrl.replace(/\/+$/, '');
  }

  private secrets(): Promise<SecretClient> {
    this.client ??= (async () => {
      const { SecretClient } = await import('@azure/keyvault-secrets');
      const credential = this.options.credential ?? new (await import('@azure/identity')).DefaultAzureCredential();
      return new SecretClient(this.vaultUrl, credential, this.options.clientOptions);
    })();
    return this.client;
  }

  private checkName(name: unknown): string {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new SealcamError('EINPUT', `key name ${JSON.stringify(name)} is not a valid Key Vault secret name: use 1-127 letters, digits or '-'`);
    }
    return name;
  }

  /** One line naming the vault and what to check. */
  private failure(err: unknown, name: string, version?: string): SealcamError {
    const where = `Azure Key Vault ${this.vaultUrl}`;
    return azureFailure(err, {
      where,
      access: 'check az login / managed identity and that it has the Key Vault Secrets Officer role, or Get/Set/List secret permissions',
      disabledCode: 'SecretDisabled',
      disabled: `key ${name}${version ? ` version ${version}` : ''} is disabled in ${where}`,
      notFound: version ? `key ${name} has no version ${version} in ${where}` : `key ${name} does not exist in ${where}`,
    });
  }

  /** The key inside a secret; another secret is refused without quoting its value. */
  private material(secret: KeyVaultSecret, name: string): KeyMaterial {
    const version = secret.properties.version ?? '';
    const value = secret.value ?? '';
    // Tags are not required: keys stored by the reference scripts carry none.
    const bytes = BASE64.test(value) ? Buffer.from(value, 'base64') : Buffer.alloc(0);
    const key = Uint8Array.from(bytes);
    bytes.fill(0);
    if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
      key.fill(0);
      throw new SealcamError(
        'EKEYSIZE',
        `secret ${name} version ${version} in Azure Key Vault ${this.vaultUrl} is not a sealcam key (expected base64 of 16, 24 or 32 bytes)`,
      );
    }
    return { name, version, createdOn: secret.properties.createdOn, enabled: secret.properties.enabled, key };
  }

  async get(name: string, version: string): Promise<KeyMaterial> {
    this.checkName(name);
    // An empty version would silently fetch the newest one instead of the one a file was sealed with.
    if (typeof version !== 'string' || !VERSION.test(version)) {
      throw new SealcamError('ENOKEY', `key ${name} has no version ${JSON.stringify(version)} in Azure Key Vault ${this.vaultUrl}`);
    }
    const client = await this.secrets();
    try {
      return this.material(await client.getSecret(name, { version }), name);
    } catch (err) {
      throw this.failure(err, name, version);
    }
  }

  async rotate(name: string, options: { bits?: KeyBits } = {}): Promise<KeyMaterial> {
    this.checkName(name);
    const bits = (keyLength(options.bits) * 8) as KeyBits;
    const client = await this.secrets();
    const key = generateKey(bits);
    try {
      const secret = await client.setSecret(name, Buffer.from(key).toString('base64'), {
        contentType: CONTENT_TYPE,
        tags: { sealcam: 'kek', bits: String(bits) },
      });
      const { version = '', createdOn, enabled } = secret.properties;
      return { name, version, createdOn, enabled, key };
    } catch (err) {
      key.fill(0);
      throw this.failure(err, name);
    }
  }

  async getOrCreate(name: string, options: { bits?: KeyBits } = {}): Promise<KeyMaterial> {
    this.checkName(name);
    keyLength(options.bits);
    const client = await this.secrets();
    try {
      // One request in the usual case: the current version, enabled.
      const current = await client.getSecret(name);
      if (current.properties.enabled !== false) return this.material(current, name);
    } catch (err) {
      const e = this.failure(err, name);
      // Two devices creating the same new key at once each add a version; both stay usable.
      if (e.code === 'ENOKEY') return this.rotate(name, options);
      if (e.code !== 'EKEYDISABLED') throw e;
    }
    // The current version is disabled (say, after a compromise): use the newest enabled one.
    const enabled = (await this.list(name)).find((v) => v.enabled !== false);
    if (!enabled) {
      throw new SealcamError('ENOKEY', `key ${name} has no enabled version in Azure Key Vault ${this.vaultUrl}; sealcam keys rotate ${name} adds one`);
    }
    return this.get(name, enabled.version);
  }

  async list(name: string): Promise<KeyVersion[]> {
    this.checkName(name);
    const client = await this.secrets();
    const versions: KeyVersion[] = [];
    try {
      for await (const p of client.listPropertiesOfSecretVersions(name)) {
        if (p.version) versions.push({ name, version: p.version, createdOn: p.createdOn, enabled: p.enabled });
      }
    } catch (err) {
      const e = this.failure(err, name);
      if (e.code === 'ENOKEY') return [];
      throw e;
    }
    // Key Vault lists versions in no particular order.
    return versions.sort((a, b) => (b.createdOn?.getTime() ?? 0) - (a.createdOn?.getTime() ?? 0));
  }
}
