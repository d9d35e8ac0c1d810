import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { SseMode } from '../config.js';
import { networkCode, SealcamError } from '../errors.js';
import { alreadyExists, checkExpiry, checkFolder, checkMetadata, checkName, listPrefix, MAX_SINGLE_PUT, measure, newestFirst, sourceFailed } from './index.js';
import type { BlobInfo, BlobStore, ListOptions, PutOptions } from './store.js';

/**
 * Amazon S3 and S3-compatible stores. Every upload goes through lib-storage's Upload: a body up to
 * `partSize` is one PutObject, a larger one a multipart upload with at most `queueSize` parts of
 * `partSize` in memory, aborted on any failure so no partial object becomes visible (S3 shows an
 * object only once CompleteMultipartUpload succeeds). Parts are buffers, so the SDK's retries
 * (`maxAttempts`, with backoff) can resend them. The SDK is imported on first use.
 *
 * Server-side encryption adds to sealcam's own (the data is already sealed): 's3' asks for
 * SSE-S3, 'kms' for SSE-KMS with `kmsKeyId` (or the account's default key), 'c' for SSE-C, whose
 * key and its MD5 go with EVERY put, get and head, and are signed into links.
 */

export interface S3StoreOptions {
  bucket: string;
  region?: string;
  /** For S3-compatible stores, e.g. http://127.0.0.1:7480. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Default: the SDK's chain (AWS_* variables, profiles, instance roles). */
  credentials?: S3ClientConfig['credentials'];
  sse?: SseMode;
  kmsKeyId?: string;
  /** SSE-C: exactly 32 bytes. */
  sseCustomerKey?: Uint8Array;
  /** Multipart part size in bytes (default and minimum 5 MiB, S3's smallest part). */
  partSize?: number;
  /** Parts uploaded in parallel (default 4). */
  queueSize?: number;
  /** Tries per request, including the first (the SDK's default is 3). */
  maxAttempts?: number;
  /** Anything else for the S3Client (request handler timeouts, logger); overrides the above. */
  clientConfig?: S3ClientConfig;
}

interface S3Error {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const MiB = 1024 * 1024;
const ACCESS_ERRORS = ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AllAccessDisabled', 'InvalidToken', 'ExpiredToken', 'Forbidden'];

/** Request fields for the SSE mode; the SSE-C ones are the same for writes and reads. */
interface SseFields {
  ServerSideEncryption?: 'AES256' | 'aws:kms';
  SSEKMSKeyId?: string;
  SSECustomerAlgorithm?: string;
  SSECustomerKey?: string;
  SSECustomerKeyMD5?: string;
}

export class S3Store implements BlobStore {
  readonly kind = 's3';
  readonly bucket: string;
  private readonly partSize: number;
  private readonly write: SseFields;
  private readonly read: SseFields;
  private s3?: Promise<S3Client>;

  constructor(private readonly options: S3StoreOptions) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket ?? '')) {
      throw new SealcamError('ECONFIG', `bucket ${JSON.stringify(options.bucket)} is not a valid S3 bucket name (3-63 lower-case letters, digits, '.', '-')`);
    }
    this.bucket = options.bucket;
    this.partSize = options.partSize ?? 5 * MiB;
    if (!Number.isInteger(this.partSize) || this.partSize < 5 * MiB) throw new SealcamError('ECONFIG', `S3 part size ${this.partSize} is below S3's minimum of 5 MiB`);
    const sse = options.sse ?? 'none';
    this.read = {};
    if (sse === 's3') this.write = { ServerSideEncryption: 'AES256' };
    else if (sse === 'kms') this.write = { ServerSideEncryption: 'aws:kms', ...(options.kmsKeyId ? { SSEKMSKeyId: options.kmsKeyId } : {}) };
    else if (sse === 'c') {
      const key = options.sseCustomerKey;
      if (!(key instanceof Uint8Array) || key.length !== 32) throw new SealcamError('ECONFIG', 'SSE-C needs a 32-byte customer key');
      // The SDK would compute the MD5 too; setting it here keeps presigned links and requests identical.
      this.read = {
        SSECustomerAlgorithm: 'AES256',
        SSECustomerKey: Buffer.from(key).toString('base64'),
        SSECustomerKeyMD5: createHash('md5').update(key).digest('base64'),
      };
      this.write = this.read;
    } else if (sse === 'none') this.write = {};
    else throw new SealcamError('ECONFIG', `store.sse '${String(sse)}' is not one of none, s3, kms, c`);
  }

  private client(): Promise<S3Client> {
    this.s3 ??= (async () => {
      const { S3Client } = await import('@aws-sdk/client-s3');
      const o = this.options;
      return new S3Client({
        region: o.region,
        endpoint: o.endpoint,
        forcePathStyle: o.forcePathStyle,
        credentials: o.credentials,
        maxAttempts: o.maxAttempts,
        // Checksums only where S3 requires them: S3-compatible stores mishandle the aws-chunked framing.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        // Without a connect timeout an unreachable endpoint that drops packets hangs each try.
        requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
        ...o.clientConfig,
      });
    })();
    return this.s3;
  }

  private where(): string {
    return this.options.endpoint ?? `https://s3.${this.options.region ?? 'us-east-1'}.amazonaws.com`;
  }

  /** One line naming the service and what to check; built from status and error names only. */
  private failure(err: unknown, what: string): SealcamError {
    if (err instanceof SealcamError) return err;
    const e = (err ?? {}) as S3Error;
    const status = e.$metadata?.httpStatusCode;
    const code = e.name && e.name !== 'Error' && e.name !== 'Unknown' ? e.name : undefined;
    // The SDK found no credentials anywhere (variables, profile, instance role): a setup problem to fix, not an outage to wait out.
    if (code === 'CredentialsProviderError') {
      return new SealcamError(
        'ENOCREDENTIALS',
        `no AWS credentials found for S3 at ${this.where()}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an instance or task role`,
      );
    }
    if ((code && ACCESS_ERRORS.includes(code)) || status === 403) {
      return new SealcamError('EACCESS', `S3 at ${this.where()} refused access to bucket ${this.bucket} (${code ?? status}): check AWS credentials and s3:PutObject/GetObject permissions`);
    }
    if (code === 'NoSuchBucket') return new SealcamError('ENOENT', `S3 bucket ${this.bucket} does not exist at ${this.where()}: create it, or fix store.container`);
    if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) return new SealcamError('ENOENT', `${what}: not found in S3 bucket ${this.bucket}`);
    // S3 answers a read of an SSE-C object with 400 when the key is missing or wrong (HEAD has no body to say more).
    if (status === 400 && (what.startsWith('get') || what.startsWith('head'))) {
      const hint = this.read.SSECustomerKey !== undefined ? 'the SSE-C customer key does not match the one the object was stored with' : 'if the object was stored with SSE-C, set store.sse to c and load its key';
      return new SealcamError('ESSEC', `S3 refused ${what} (${code ?? 400}): ${hint}`);
    }
    if (status === 429 || code === 'SlowDown' || (status !== undefined && status >= 500)) {
      return new SealcamError('EUNAVAILABLE', `S3 endpoint ${this.where()} is busy or failing (${status}${code ? ` ${code}` : ''}) after retries: try again later`);
    }
    if (status === undefined) {
      const why = networkCode(err) ?? code ?? 'no answer';
      return new SealcamError('EUNREACHABLE', `cannot reach S3 endpoint ${this.where()} (${why}) after retries: check the network, store.endpoint and store.region`);
    }
    return new SealcamError('ESTORE', `S3 bucket ${this.bucket} answered ${status}${code ? ` (${code})` : ''} to ${what}`);
  }

  async put(name: string, body: Readable | Uint8Array, options: PutOptions = {}): Promise<BlobInfo> {
    if (options.ifAbsent) return this.create(name, body, options);
    const source = measure(body, options.size);
    try {
      checkName(name);
      const metadata = checkMetadata(options.metadata);
      const client = await this.client();
      const { Upload } = await import('@aws-sdk/lib-storage');
      const upload = new Upload({
        client,
        partSize: this.partSize,
        queueSize: this.options.queueSize ?? 4,
        leavePartsOnError: false,
        params: {
          Bucket: this.bucket,
          Key: name,
          Body: body instanceof Uint8Array ? body : source.stream,
          Metadata: metadata,
          ContentType: options.contentType,
          ...this.write,
        },
      });
      if (options.onProgress) upload.on('httpUploadProgress', (p) => p.loaded !== undefined && options.onProgress!(p.loaded));
      await upload.done();
      return { name, size: source.bytes(), lastModified: new Date(), metadata, contentType: options.contentType };
    } catch (err) {
      const failure = source.failure();
      if (failure) throw sourceFailed(name, `S3 bucket ${this.bucket}`, failure);
      throw this.failure(err, `upload ${name}`);
    } finally {
      source.close();
    }
  }

  /**
   * A create-only put: one PutObject with If-None-Match: *, which S3 (and Ceph RGW) check in the
   * same step as the write; CompleteMultipartUpload is not checked by every S3-compatible store,
   * so the body goes in one request. 412 means another writer was first; 409 is S3 asking for a
   * retry while a racing write is in progress.
   */
  private async create(name: string, body: Readable | Uint8Array, options: PutOptions): Promise<BlobInfo> {
    checkName(name);
    if (!(body instanceof Uint8Array)) throw new SealcamError('EINPUT', `a create-only put to S3 takes the whole body as bytes (${name})`);
    if (body.length > MAX_SINGLE_PUT) throw new SealcamError('EINPUT', `${name} is ${body.length} bytes: a create-only put to S3 takes at most 5 GiB in one request`);
    const metadata = checkMetadata(options.metadata);
    try {
      const { PutObjectCommand } = await import('@aws-sdk/client-s3');
      const input = { Bucket: this.bucket, Key: name, Body: body, ContentLength: body.length, Metadata: metadata, ContentType: options.contentType, IfNoneMatch: '*', ...this.write };
      await (await this.client()).send(new PutObjectCommand(input));
      options.onProgress?.(body.length);
      return { name, size: body.length, lastModified: new Date(), metadata, contentType: options.contentType };
    } catch (err) {
      const e = err as S3Error;
      const status = e.$metadata?.httpStatusCode;
      if (status === 412) throw alreadyExists(name, `S3 bucket ${this.bucket}`);
      if (status === 409) throw new SealcamError('EUNAVAILABLE', `S3 bucket ${this.bucket} asks to retry the create of ${name} (409 ${e.name ?? 'ConditionalRequestConflict'}): a racing write is in progress`);
      throw this.failure(err, `upload ${name}`);
    }
  }

  async get(name: string): Promise<Readable> {
    checkName(name);
    try {
      const { GetObjectCommand } = await import('@aws-sdk/client-s3');
      const out = await (await this.client()).send(new GetObjectCommand({ Bucket: this.bucket, Key: name, ...this.read }));
      return out.Body as Readable;
    } catch (err) {
      throw this.failure(err, `get ${name}`);
    }
  }

  async head(name: string): Promise<BlobInfo | undefined> {
    checkName(name);
    try {
      const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
      const out = await (await this.client()).send(new HeadObjectCommand({ Bucket: this.bucket, Key: name, ...this.read }));
      return { name, size: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0), metadata: out.Metadata ?? {}, contentType: out.ContentType };
    } catch (err) {
      const e = err as S3Error;
      if (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket') return undefined;
      throw this.failure(err, `head ${name}`);
    }
  }

  /**
   * Newest first. S3 listings carry no user metadata, so `metadata` is empty here: call head()
   * for it (one request per blob, which a listing of thousands should not pay for).
   */
  async list(options: ListOptions = {}): Promise<BlobInfo[]> {
    const prefix = listPrefix(options);
    if (prefix === undefined) return [];
    const found: BlobInfo[] = [];
    try {
      const { paginateListObjectsV2 } = await import('@aws-sdk/client-s3');
      for await (const page of paginateListObjectsV2({ client: await this.client() }, { Bucket: this.bucket, Prefix: prefix || undefined })) {
        for (const o of page.Contents ?? []) {
          if (o.Key !== undefined) found.push({ name: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0), metadata: {} });
        }
      }
    } catch (err) {
      throw this.failure(err, `list ${prefix || 'all objects'}`);
    }
    return newestFirst(found, options.limit);
  }

  async folders(prefix: string): Promise<string[]> {
    checkFolder(prefix);
    const found: string[] = [];
    try {
      const { paginateListObjectsV2 } = await import('@aws-sdk/client-s3');
      const pages = paginateListObjectsV2({ client: await this.client() }, { Bucket: this.bucket, Prefix: prefix || undefined, Delimiter: '/' });
      for await (const page of pages) for (const p of page.CommonPrefixes ?? []) if (p.Prefix !== undefined) found.push(p.Prefix);
    } catch (err) {
      throw this.failure(err, `list folders under ${prefix || 'the bucket'}`);
    }
    return found.sort();
  }

  async delete(name: string): Promise<void> {
    checkName(name);
    try {
      const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
      await (await this.client()).send(new DeleteObjectCommand({ Bucket: this.bucket, Key: name }));
    } catch (err) {
      throw this.failure(err, `delete ${name}`);
    }
  }

  /**
   * A presigned GET URL valid for `expiresInSeconds`. With SSE-C the key headers are signed into
   * the URL but not carried in it (the key must never sit in a URL, where logs and proxies keep
   * it): whoever fetches the link must send linkHeaders() with the request.
   */
  async link(name: string, expiresInSeconds: number): Promise<string> {
    checkName(name);
    const expiresIn = checkExpiry(expiresInSeconds);
    try {
      const [{ GetObjectCommand }, { getSignedUrl }] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/s3-request-presigner')]);
      return await getSignedUrl(await this.client(), new GetObjectCommand({ Bucket: this.bucket, Key: name, ...this.read }), { expiresIn });
    } catch (err) {
      throw this.failure(err, `link ${name}`);
    }
  }

  /** Headers a fetch of link() must send: the SSE-C key, algorithm and key MD5; none otherwise. */
  linkHeaders(): Record<string, string> {
    const { SSECustomerAlgorithm, SSECustomerKey, SSECustomerKeyMD5 } = this.read;
    if (!SSECustomerKey) return {};
    return {
      'x-amz-server-side-encryption-customer-algorithm': SSECustomerAlgorithm!,
      'x-amz-server-side-encryption-customer-key': SSECustomerKey,
      'x-amz-server-side-encryption-customer-key-md5': SSECustomerKeyMD5!,
    };
  }
}
