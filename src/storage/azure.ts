import type { TokenCredential } from '@azure/identity';
import type { BlobServiceClient, ContainerClient, StoragePipelineOptions, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { Readable } from 'node:stream';
import { networkCode, SealcamError } from '../errors.js';
import { alreadyExists, checkExpiry, checkFolder, checkMetadata, checkName, listPrefix, measure, newestFirst, sourceFailed } from './index.js';
import type { BlobInfo, BlobStore, ListOptions, PutOptions } from './store.js';

/**
 * Azure Blob Storage (block blobs). Streams go up with uploadStream: fixed-size blocks staged in
 * parallel, with at most `concurrency` blocks of `blockSize` in memory, then one commit. Until the
 * commit nothing is visible under the name (staged blocks that are never committed are discarded
 * by the service after a week), so a failed upload leaves the old blob, or none. The SDK is
 * imported on first use (the type imports above are erased).
 */

export interface AzureBlobStoreOptions {
  container: string;
  /** From the account's access keys; gives shared-key SAS links. */
  connectionString?: string;
  /** https://<account>.blob.core.windows.net, with `credential` (default DefaultAzureCredential). */
  accountUrl?: string;
  credential?: TokenCredential | StorageSharedKeyCredential;
  /** Passed to the client: retryOptions (tries, backoff, per-try timeout), proxy, keep-alive. */
  clientOptions?: StoragePipelineOptions;
  /** Block size for streamed uploads (default 4 MiB). */
  blockSize?: number;
  /** Blocks in flight for streamed uploads (default 4). */
  concurrency?: number;
}

interface AzureError {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
}

const CREDENTIAL_ERRORS = ['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError'];
const MiB = 1024 * 1024;

export class AzureBlobStore implements BlobStore {
  readonly kind = 'azure';
  readonly container: string;
  private service?: Promise<BlobServiceClient>;
  private created?: Promise<void>;

  constructor(private readonly options: AzureBlobStoreOptions) {
    // Azure's own container naming rule, checked here so a typo is not reported as a 400 later.
    if (!/^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(options.container ?? '')) {
      throw new SealcamError('ECONFIG', `container ${JSON.stringify(options.container)} is not a valid Azure container name (3-63 lower-case letters, digits, single '-')`);
    }
    if (!options.connectionString && !options.accountUrl) {
      throw new SealcamError('ECONFIG', 'Azure Blob needs a connection string or an account URL (https://<account>.blob.core.windows.net)');
    }
    this.container = options.container;
  }

  private client(): Promise<BlobServiceClient> {
    this.service ??= (async () => {
      const sdk = await import('@azure/storage-blob');
      const { connectionString, accountUrl, clientOptions } = this.options;
      try {
        if (connectionString) return sdk.BlobServiceClient.fromConnectionString(connectionString, clientOptions);
      } catch {
        // The SDK's message can quote the string, and with it the account key.
        throw new SealcamError('ECONFIG', 'the Azure Storage connection string is not valid (copy it from the account\'s Access keys)');
      }
      const credential = this.options.credential ?? new (await import('@azure/identity')).DefaultAzureCredential();
      return new sdk.BlobServiceClient(accountUrl!, credential, clientOptions);
    })();
    return this.service;
  }

  private async containerClient(): Promise<ContainerClient> {
    return (await this.client()).getContainerClient(this.container);
  }

  /** Creates the container on first put; forgotten on failure so a later put tries again. */
  private ensureContainer(container: ContainerClient): Promise<void> {
    this.created ??= container.createIfNotExists().then(
      () => undefined,
      (err: unknown) => {
        this.created = undefined;
        throw err;
      },
    );
    return this.created;
  }

  /** The account URL without any query (a SAS in a connection string must not reach a message). */
  private where(container?: ContainerClient): string {
    const url = container?.url ?? this.options.accountUrl ?? '';
    return `Azure Blob Storage at ${url.split('?')[0]}`;
  }

  /** One line naming the service and what to check; built from status and codes, never request data. */
  private failure(err: unknown, container: ContainerClient | undefined, what: string): SealcamError {
    if (err instanceof SealcamError) return err;
    const e = (err ?? {}) as AzureError;
    const where = this.where(container);
    if (e.name && CREDENTIAL_ERRORS.includes(e.name)) {
      return new SealcamError('EACCESS', `no Azure credential for ${where} (sign in with az login, or run with a managed identity or AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET)`);
    }
    if (e.statusCode === 401 || e.statusCode === 403) {
      return new SealcamError(
        'EACCESS',
        `${where} refused access to container ${this.container} (${e.code ?? e.statusCode}): check the connection string, or az login and that the identity has the 'Storage Blob Data Contributor' role`,
      );
    }
    if (e.statusCode === 404) return new SealcamError('ENOENT', `${what}: not found in container ${this.container} of ${where}`);
    if (e.statusCode === 429 || (e.statusCode !== undefined && e.statusCode >= 500)) {
      return new SealcamError('EUNAVAILABLE', `${where} is busy or failing (${e.statusCode}${e.code ? ` ${e.code}` : ''}) after retries: try again later`);
    }
    if (e.statusCode === undefined) {
      const why = networkCode(err) ?? e.code ?? 'no answer';
      return new SealcamError('EUNREACHABLE', `cannot reach ${where} (${why}) after retries: check the network and the account URL`);
    }
    return new SealcamError('ESTORE', `${where} answered ${e.statusCode}${e.code ? ` (${e.code})` : ''} to ${what}`);
  }

  async put(name: string, body: Readable | Uint8Array, options: PutOptions = {}): Promise<BlobInfo> {
    const source = measure(body, options.size);
    let container: ContainerClient | undefined;
    try {
      checkName(name);
      const metadata = checkMetadata(options.metadata);
      container = await this.containerClient();
      await this.ensureContainer(container);
      const blob = container.getBlockBlobClient(name);
      const common = {
        metadata,
        blobHTTPHeaders: options.contentType ? { blobContentType: options.contentType } : undefined,
        onProgress: options.onProgress && ((p: { loadedBytes: number }) => options.onProgress!(p.loadedBytes)),
      };
      const blockSize = this.options.blockSize ?? 4 * MiB;
      // Create-only: the service checks on Put Blob, or on the block list's commit, so one racer wins.
      if (options.ifAbsent) Object.assign(common, { conditions: { ifNoneMatch: '*' } });
      const result =
        body instanceof Uint8Array
          ? await blob.uploadData(body, { ...common, blockSize, concurrency: this.options.concurrency ?? 4 })
          : await blob.uploadStream(source.stream, blockSize, this.options.concurrency ?? 4, common);
      return { name, size: source.bytes(), lastModified: result.lastModified ?? new Date(), metadata, contentType: options.contentType };
    } catch (err) {
      const failure = source.failure();
      if (failure) throw sourceFailed(name, this.where(container), failure);
      const e = err as AzureError;
      if (options.ifAbsent && (e.statusCode === 409 || e.statusCode === 412)) throw alreadyExists(name, `container ${this.container} of ${this.where(container)}`);
      throw this.failure(err, container, `upload ${name}`);
    } finally {
      source.close();
    }
  }

  async get(name: string): Promise<Readable> {
    checkName(name);
    let container: ContainerClient | undefined;
    try {
      container = await this.containerClient();
      // maxRetryRequests: a broken download resumes where it stopped instead of failing the read.
      const response = await container.getBlobClient(name).download(0, undefined, { maxRetryRequests: 3 });
      return response.readableStreamBody as Readable;
    } catch (err) {
      throw this.failure(err, container, `blob ${name}`);
    }
  }

  async head(name: string): Promise<BlobInfo | undefined> {
    checkName(name);
    let container: ContainerClient | undefined;
    try {
      container = await this.containerClient();
      const p = await container.getBlobClient(name).getProperties();
      return { name, size: p.contentLength ?? 0, lastModified: p.lastModified ?? new Date(0), metadata: p.metadata ?? {}, contentType: p.contentType };
    } catch (err) {
      if ((err as AzureError).statusCode === 404) return undefined;
      throw this.failure(err, container, `blob ${name}`);
    }
  }

  async list(options: ListOptions = {}): Promise<BlobInfo[]> {
    const prefix = listPrefix(options);
    if (prefix === undefined) return [];
    let container: ContainerClient | undefined;
    const found: BlobInfo[] = [];
    try {
      container = await this.containerClient();
      for await (const b of container.listBlobsFlat({ prefix, includeMetadata: true })) {
        const info: BlobInfo = { name: b.name, size: b.properties.contentLength ?? 0, lastModified: b.properties.lastModified, metadata: b.metadata ?? {} };
        if (b.properties.contentType) info.contentType = b.properties.contentType;
        found.push(info);
      }
    } catch (err) {
      // No container yet: nothing was ever put.
      if ((err as AzureError).code === 'ContainerNotFound') return [];
      throw this.failure(err, container, `list ${prefix || 'all blobs'}`);
    }
    return newestFirst(found, options.limit);
  }

  async folders(prefix: string): Promise<string[]> {
    checkFolder(prefix);
    let container: ContainerClient | undefined;
    const found: string[] = [];
    try {
      container = await this.containerClient();
      for await (const item of container.listBlobsByHierarchy('/', { prefix })) if (item.kind === 'prefix') found.push(item.name);
    } catch (err) {
      if ((err as AzureError).code === 'ContainerNotFound') return [];
      throw this.failure(err, container, `list folders under ${prefix || 'the container'}`);
    }
    return found.sort();
  }

  async delete(name: string): Promise<void> {
    checkName(name);
    let container: ContainerClient | undefined;
    try {
      container = await this.containerClient();
      await container.getBlobClient(name).deleteIfExists({ deleteSnapshots: 'include' });
    } catch (err) {
      if ((err as AzureError).code === 'ContainerNotFound') return;
      throw this.failure(err, container, `delete ${name}`);
    }
  }

  /**
   * A read-only SAS URL valid for `expiresInSeconds`. Signed with the account key when the store
   * was made from a connection string (or a shared key credential); with a token credential
   * (az login, managed identity) signed with a user delegation key, which needs the
   * 'Storage Blob Delegator' permission that 'Storage Blob Data Contributor' includes.
   */
  async link(name: string, expiresInSeconds: number): Promise<string> {
    checkName(name);
    const seconds = checkExpiry(expiresInSeconds);
    let container: ContainerClient | undefined;
    try {
      const sdk = await import('@azure/storage-blob');
      const service = await this.client();
      container = service.getContainerClient(this.container);
      const blob = container.getBlobClient(name);
      const now = Date.now();
      const sas = {
        permissions: sdk.BlobSASPermissions.parse('r'),
        // Started a little in the past: the service's clock may be ahead of the device's.
        startsOn: new Date(now - 5 * 60_000),
        expiresOn: new Date(now + seconds * 1000),
        protocol: blob.url.startsWith('https:') ? sdk.SASProtocol.Https : sdk.SASProtocol.HttpsAndHttp,
      };
      if (service.credential instanceof sdk.StorageSharedKeyCredential) return await blob.generateSasUrl(sas);
      const key = await service.getUserDelegationKey(sas.startsOn, sas.expiresOn);
      return await blob.generateUserDelegationSasUrl(sas, key);
    } catch (err) {
      throw this.failure(err, container, `link ${name}`);
    }
  }
}
