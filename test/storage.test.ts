/**
 * The blob stores against real servers on 127.0.0.1: a directory, Azurite, s3rver (the S3
 * protocol; it ignores SSE, so SSE is checked on the wire through a recording proxy) and Ceph's
 * RADOS Gateway (a real S3 that enforces SSE-C and SSE-KMS). Ceph starts once, in the background,
 * while the other suites run.
 */
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { DEFAULTS, type SealcamConfig } from '../src/config.js';
import { AzureBlobStore } from '../src/storage/azure.js';
import { createStore } from '../src/storage/index.js';
import { LocalStore } from '../src/storage/local.js';
import { listOutbox, retryOutbox, sendOrQueue } from '../src/storage/outbox.js';
import { S3Store, type S3StoreOptions } from '../src/storage/s3.js';
import type { BlobStore } from '../src/storage/store.js';
import {
  CEPH_CREDENTIALS,
  freePort,
  startAzurite,
  startCeph,
  startRecordingProxy,
  startS3rver,
  type Azurite,
  type Ceph,
  type RecordingProxy,
  type S3rverInstance,
} from './fixtures/servers.js';

const MiB = 1024 * 1024;
const BUCKET = 'sealcam-test';
const TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const temps: string[] = [];

function tempDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `sealcam-${tag}-`));
  temps.push(dir);
  return dir;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `data` as a stream of 1 MiB chunks, as a sealer would produce it. */
function streamOf(data: Buffer): Readable {
  return Readable.from((function* () {
    for (let i = 0; i < data.length; i += MiB) yield data.subarray(i, i + MiB);
  })(), { objectMode: false });
}

/** Gives `bytes` bytes, then fails: a camera or sealer dying mid-upload. */
function failingStream(bytes: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) return this.destroy(new Error('sensor read failed'));
      const n = Math.min(MiB, bytes - sent);
      sent += n;
      this.push(randomBytes(n));
    },
  });
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Every file under `dir`, hidden ones included. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as { isFile(): boolean; name: string; parentPath: string }[])
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

// Ceph takes ~13 s: start it now and let the other suites run meanwhile.
let cephStart: Promise<Ceph>;
beforeAll(() => {
  cephStart = startCeph();
});

afterAll(async () => {
  const ceph = await cephStart;
  if ('stop' in ceph) {
    const began = Date.now();
    await ceph.stop();
    console.info(`Ceph RGW stopped in ${((Date.now() - began) / 1000).toFixed(1)} s`);
  }
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** The behaviour every store shares. */
async function roundTrip(store: BlobStore): Promise<void> {
  const big = randomBytes(3 * MiB + 17);
  const a = await store.put('cam-01/2024/05/01/a.sealed', streamOf(big), { metadata: { format: 'sealed-v1', device: 'cam-01' }, contentType: 'application/octet-stream', size: big.length });
  expect(a.size).toBe(big.length);
  await sleep(20);
  await store.put('cam-01/2024/05/02/b.sealed', Buffer.from('bee'), { metadata: { format: 'sealed-v1' } });
  await sleep(20);
  await store.put('cam-02/2024/05/02/c.sealed', new Uint8Array([1, 2, 3]));

  expect(sha(await readAll(await store.get('cam-01/2024/05/01/a.sealed')))).toBe(sha(big));
  const head = await store.head('cam-01/2024/05/01/a.sealed');
  expect(head).toMatchObject({ size: big.length, metadata: { format: 'sealed-v1', device: 'cam-01' }, contentType: 'application/octet-stream' });
  expect(await store.head('cam-01/2024/05/01/missing.sealed')).toBeUndefined();

  const names = (list: { name: string }[]) => list.map((b) => b.name);
  expect(names(await store.list())).toEqual(['cam-02/2024/05/02/c.sealed', 'cam-01/2024/05/02/b.sealed', 'cam-01/2024/05/01/a.sealed']);
  expect(names(await store.list({ device: 'cam-01' }))).toEqual(['cam-01/2024/05/02/b.sealed', 'cam-01/2024/05/01/a.sealed']);
  expect(names(await store.list({ prefix: 'cam-01/2024/05/0' }))).toEqual(['cam-01/2024/05/02/b.sealed', 'cam-01/2024/05/01/a.sealed']);
  expect(names(await store.list({ device: 'cam-01', prefix: 'cam-01/2024/05/01' }))).toEqual(['cam-01/2024/05/01/a.sealed']);
  expect(names(await store.list({ device: 'cam-02', prefix: 'cam-01/' }))).toEqual([]);
  expect(names(await store.list({ limit: 1 }))).toEqual(['cam-02/2024/05/02/c.sealed']);

  await store.delete('cam-02/2024/05/02/c.sealed');
  await store.delete('cam-02/2024/05/02/c.sealed'); // deleting what is gone succeeds
  expect(await store.head('cam-02/2024/05/02/c.sealed')).toBeUndefined();
  await expect(store.get('cam-02/2024/05/02/c.sealed')).rejects.toMatchObject({ code: 'ENOENT' });
  await expect(store.put('../escape', Buffer.from('x'))).rejects.toMatchObject({ code: 'EINPUT' });
  await expect(store.put('cam-01/.hidden', Buffer.from('x'))).rejects.toMatchObject({ code: 'EINPUT' });
}

/**
 * Folder listings (S3's delimiter, Azure's hierarchy). Not run on s3rver: its delimiter listing
 * prunes every directory below the first level, so nested keys never show up as common prefixes.
 */
async function folderListing(store: BlobStore): Promise<void> {
  for (const name of ['cam-05/2024/05/01/a.sealed', 'cam-05/2024/05/02/b.sealed', 'cam-06/2024/05/02/c.sealed']) await store.put(name, Buffer.from(name));
  const devices = await store.folders('');
  expect(devices).toEqual(expect.arrayContaining(['cam-05/', 'cam-06/']));
  expect(devices.every((d) => /^[^/]+\/$/.test(d))).toBe(true);
  expect(await store.folders('cam-05/2024/05/')).toEqual(['cam-05/2024/05/01/', 'cam-05/2024/05/02/']);
  expect(await store.folders('cam-09/')).toEqual([]);
  await expect(store.folders('cam-05')).rejects.toMatchObject({ code: 'EINPUT' });
}

/**
 * Create-only puts on a store that enforces them: of writers racing for one name exactly one
 * wins, the rest get EEXIST, and the name holds the winner's bytes; an existing name is never
 * replaced. A stream body goes to Azure as staged blocks and a commit, which is where it checks.
 */
async function createOnly(store: BlobStore, name: string, options: { size?: number; stream?: boolean } = {}): Promise<void> {
  const size = options.size ?? 4096;
  const bodies = Array.from({ length: 6 }, () => randomBytes(size));
  const outcomes = await Promise.allSettled(bodies.map((body) => store.put(name, options.stream ? streamOf(body) : body, { ifAbsent: true, size })));
  const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
  expect(won).toHaveLength(1);
  for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'EEXIST', message: expect.stringContaining(`${name} exists in`) });
  expect(sha(await readAll(await store.get(name)))).toBe(sha(bodies[won[0]!]!));
  await expect(store.put(name, randomBytes(10), { ifAbsent: true })).rejects.toMatchObject({ code: 'EEXIST' });
  expect(sha(await readAll(await store.get(name)))).toBe(sha(bodies[won[0]!]!));
}

describe('createStore', () => {
  const config = (store: Partial<SealcamConfig['store']>): SealcamConfig => ({ ...DEFAULTS, store: { ...DEFAULTS.store, ...store } });

  it('builds the configured store and refuses incomplete settings in one line', async () => {
    expect((await createStore(config({ dir: tempDir('create') }))).kind).toBe('local');
    expect((await createStore(config({ kind: 's3', container: BUCKET, endpoint: 'http://127.0.0.1:9' }), { env: {} })).kind).toBe('s3');
    expect((await createStore(config({ kind: 'azure' }), { env: { AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' } })).kind).toBe('azure');
    await expect(createStore(config({ kind: 'azure' }), { env: {} })).rejects.toMatchObject({ code: 'ECONFIG', message: /^Azure Blob needs store.accountUrl/ });
    await expect(createStore(config({ kind: 's3', region: 'eu-west-1', sse: 'c' }), { env: {} })).rejects.toMatchObject({ code: 'ECONFIG', message: /no SSE-C key was loaded/ });
    await expect(createStore(config({ kind: 's3', region: 'eu-west-1', sse: 'c' }), { env: {}, sseCustomerKey: new Uint8Array(16) })).rejects.toMatchObject({ code: 'ECONFIG', message: /32-byte/ });
  });
});

describe('LocalStore', () => {
  let dir: string;
  let store: LocalStore;
  beforeAll(() => {
    dir = tempDir('local');
    store = new LocalStore(dir);
  });

  it('puts streams and buffers, gets, heads, lists newest first by device and prefix, deletes', async () => {
    await roundTrip(store);
  });

  it('an aborted or short stream leaves nothing behind, not even a temp file', async () => {
    const before = filesUnder(dir);
    await expect(store.put('cam-03/2024/05/01/x.sealed', failingStream(2 * MiB))).rejects.toMatchObject({ code: 'EABORTED', message: /sensor read failed/ });
    await expect(store.put('cam-03/2024/05/01/y.sealed', streamOf(Buffer.alloc(1000)), { size: 2000 })).rejects.toMatchObject({ code: 'EABORTED', message: /1000 of 2000/ });
    expect(filesUnder(dir)).toEqual(before);
    expect(await store.list({ device: 'cam-03' })).toEqual([]);
  });

  it('a create-only put has one winner among racing writers and never replaces (link(2))', async () => {
    await createOnly(store, 'cam-04/2024/05/01/once.jpg');
  });

  it('lists the folders under a prefix', async () => {
    await folderListing(store);
  });

  it('links to a file:// URL (not time-limited)', async () => {
    const url = await store.link('cam-01/2024/05/02/b.sealed', 60);
    expect(url).toMatch(/^file:\/\//);
    expect(fileURLToPath(url)).toBe(join(dir, 'cam-01', '2024', '05', '02', 'b.sealed'));
    await expect(store.link('cam-01/none', 60)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('AzureBlobStore on Azurite', () => {
  let azurite: Azurite;
  let proxy: RecordingProxy;
  let store: AzureBlobStore;
  beforeAll(async () => {
    azurite = await startAzurite();
    proxy = await startRecordingProxy(`http://127.0.0.1:${azurite.port}`);
    // 1 MiB blocks so the 3 MiB stream really goes up as staged blocks plus a commit.
    store = new AzureBlobStore({
      container: 'sealcam',
      connectionString: azurite.connectionString.replace(`http://127.0.0.1:${azurite.port}`, proxy.endpoint),
      blockSize: MiB,
      clientOptions: { retryOptions: { maxTries: 2, retryDelayInMs: 50, maxRetryDelayInMs: 100 } },
    });
  });
  afterAll(async () => {
    await proxy?.stop();
    await azurite?.stop();
  });

  it('creates the container, uploads in blocks, lists with metadata, downloads, deletes', async () => {
    await roundTrip(store);
    expect((await store.list({ device: 'cam-01' }))[0]!.metadata).toEqual({ format: 'sealed-v1' });
    const a = proxy.requests.filter((r) => r.method === 'PUT' && r.url.startsWith('/devstoreaccount1/sealcam/cam-01/2024/05/01/a.sealed?'));
    expect(a.filter((r) => /comp=block(&|$)/.test(r.url))).toHaveLength(4);
    expect(a.filter((r) => r.url.includes('comp=blocklist'))).toHaveLength(1);
  });

  it('a create-only put has one winner among racing writers, in one request and as a block-list commit (If-None-Match: *)', async () => {
    await createOnly(store, 'cam-04/2024/05/01/once.jpg');
    await createOnly(store, 'cam-04/2024/05/01/blocks.jpg', { size: 2 * MiB + 5, stream: true }); // 1 MiB blocks: three staged, one commit
  });

  it('lists the folders under a prefix (blob hierarchy)', async () => {
    await folderListing(store);
  });

  it('an aborted stream commits nothing', async () => {
    await expect(store.put('cam-03/2024/05/01/x.sealed', failingStream(3 * MiB))).rejects.toMatchObject({ code: 'EABORTED' });
    expect(await store.head('cam-03/2024/05/01/x.sealed')).toBeUndefined();
  });

  it('SAS links read, refuse writes, and expire', async () => {
    const name = 'cam-01/2024/05/02/b.sealed';
    const url = await store.link(name, 3600);
    expect(url).toContain('sp=r');
    const read = await fetch(url);
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('bee');
    const write = await fetch(url, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'evil' });
    expect(write.status).toBe(403);
    expect(await readAll(await store.get(name))).toEqual(Buffer.from('bee'));

    const short = await store.link(name, 1);
    await sleep(2100);
    expect((await fetch(short)).status).toBe(403);
  });
});

describe('S3Store on s3rver (protocol; SSE checked on the wire)', () => {
  let s3rver: S3rverInstance;
  let proxy: RecordingProxy;
  const storeWith = (options: Partial<S3StoreOptions> = {}) =>
    new S3Store({ bucket: BUCKET, region: 'us-east-1', endpoint: proxy.endpoint, forcePathStyle: true, credentials: TEST_CREDENTIALS, ...options });
  const sent = (method: string, key: string) => proxy.requests.filter((r) => r.method === method && r.url.split('?')[0] === `/${BUCKET}/${key}`);

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    proxy = await startRecordingProxy(s3rver.endpoint);
  });
  afterAll(async () => {
    await proxy?.stop();
    await s3rver?.stop();
  });

  it('puts, gets, heads, lists newest first, deletes', async () => {
    await roundTrip(storeWith());
  });

  it('uploads 12 MiB as three 5 MiB-part multipart upload', async () => {
    const store = storeWith({ partSize: 5 * MiB });
    const body = randomBytes(12 * MiB);
    let progress = 0;
    await store.put('cam-01/2024/05/03/big.sealed', streamOf(body), { onProgress: (n) => (progress = n) });
    const parts = sent('PUT', 'cam-01/2024/05/03/big.sealed').filter((r) => r.url.includes('partNumber='));
    expect(parts.map((r) => Number(r.headers['content-length']))).toEqual([5 * MiB, 5 * MiB, 2 * MiB]);
    expect(sent('POST', 'cam-01/2024/05/03/big.sealed').map((r) => r.url.split('?')[1]!.split('=')[0])).toEqual(['uploads', 'uploadId']);
    expect(progress).toBe(12 * MiB);
    expect(sha(await readAll(await store.get('cam-01/2024/05/03/big.sealed')))).toBe(sha(body));
  });

  it('a multipart upload whose source fails is aborted and leaves no object', async () => {
    const store = storeWith();
    await expect(store.put('cam-01/2024/05/03/broken.sealed', failingStream(7 * MiB))).rejects.toMatchObject({ code: 'EABORTED' });
    expect(sent('DELETE', 'cam-01/2024/05/03/broken.sealed').some((r) => r.url.includes('uploadId='))).toBe(true);
    expect(await store.head('cam-01/2024/05/03/broken.sealed')).toBeUndefined();
  });

  it('presigned GET links work', async () => {
    const store = storeWith();
    await store.put('cam-01/2024/05/04/l.sealed', Buffer.from('linked'));
    const url = await store.link('cam-01/2024/05/04/l.sealed', 300);
    expect(url).toContain('X-Amz-Expires=300');
    expect(await (await fetch(url)).text()).toBe('linked');
  });

  it('sends the SSE headers of each mode: s3, kms, c (key and MD5 on put, get and head)', async () => {
    await storeWith({ sse: 's3' }).put('sse/s3', Buffer.from('x'));
    expect(sent('PUT', 'sse/s3')[0]!.headers['x-amz-server-side-encryption']).toBe('AES256');

    await storeWith({ sse: 'kms', kmsKeyId: 'testkey-1' }).put('sse/kms', Buffer.from('x'));
    expect(sent('PUT', 'sse/kms')[0]!.headers).toMatchObject({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': 'testkey-1' });

    const key = randomBytes(32);
    const c = storeWith({ sse: 'c', sseCustomerKey: key });
    const expected = {
      'x-amz-server-side-encryption-customer-algorithm': 'AES256',
      'x-amz-server-side-encryption-customer-key': key.toString('base64'),
      'x-amz-server-side-encryption-customer-key-md5': createHash('md5').update(key).digest('base64'),
    };
    await c.put('sse/c', Buffer.from('x'));
    await readAll(await c.get('sse/c'));
    await c.head('sse/c');
    for (const method of ['PUT', 'GET', 'HEAD']) {
      const [request] = sent(method, 'sse/c');
      expect(request?.headers, method).toMatchObject(expected);
      expect(request?.headers['x-amz-server-side-encryption'], method).toBeUndefined();
    }
    // Links sign the key headers but never carry the key.
    const url = await c.link('sse/c', 60);
    expect(decodeURIComponent(url)).toMatch(/X-Amz-SignedHeaders=[^&]*x-amz-server-side-encryption-customer-key/);
    expect(url).not.toContain(encodeURIComponent(expected['x-amz-server-side-encryption-customer-key']));
    expect(c.linkHeaders()).toEqual(expected);
  });
});

describe('S3Store on Ceph RGW (SSE really enforced)', () => {
  let ceph: Ceph;
  const storeWith = (options: Partial<S3StoreOptions> = {}) =>
    new S3Store({ bucket: BUCKET, region: 'us-east-1', endpoint: (ceph as { endpoint: string }).endpoint, forcePathStyle: true, credentials: CEPH_CREDENTIALS, maxAttempts: 2, ...options });
  const needCeph = (ctx: TestContext) => {
    if ('skip' in ceph) ctx.skip(ceph.skip);
  };

  beforeAll(async () => {
    ceph = await cephStart;
    if ('skip' in ceph) return;
    console.info(`Ceph RGW ready at ${ceph.endpoint} after ${(ceph.startMs / 1000).toFixed(1)} s`);
    const client = new S3Client({ region: 'us-east-1', endpoint: ceph.endpoint, forcePathStyle: true, credentials: CEPH_CREDENTIALS });
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    client.destroy();
  }, 300_000);

  it('SSE-C: without the key or with a wrong one the object cannot be read; with the right one it round-trips', async (ctx) => {
    needCeph(ctx);
    const key = randomBytes(32);
    const right = storeWith({ sse: 'c', sseCustomerKey: key });
    const body = randomBytes(64 * 1024);
    await right.put('cam-01/2024/05/05/c.sealed', body, { metadata: { format: 'sealed-v1' } });

    await expect(storeWith().get('cam-01/2024/05/05/c.sealed')).rejects.toMatchObject({ code: 'ESSEC', message: /set store.sse to c/ });
    const wrong = storeWith({ sse: 'c', sseCustomerKey: randomBytes(32) });
    await expect(wrong.get('cam-01/2024/05/05/c.sealed')).rejects.toMatchObject({ code: 'ESSEC', message: /SSE-C customer key does not match/ });
    await expect(wrong.head('cam-01/2024/05/05/c.sealed')).rejects.toMatchObject({ code: 'ESSEC' });

    expect(await readAll(await right.get('cam-01/2024/05/05/c.sealed'))).toEqual(body);
    expect(await right.head('cam-01/2024/05/05/c.sealed')).toMatchObject({ size: body.length, metadata: { format: 'sealed-v1' } });

    // The link is useless without the key headers, and works with them.
    const url = await right.link('cam-01/2024/05/05/c.sealed', 60);
    expect((await fetch(url)).status).toBe(403); // the signed key headers are missing
    const linked = await fetch(url, { headers: right.linkHeaders() });
    expect(linked.status).toBe(200);
    expect(Buffer.from(await linked.arrayBuffer())).toEqual(body);
  });

  it('SSE-C multipart: every part carries the key', async (ctx) => {
    needCeph(ctx);
    const key = randomBytes(32);
    const store = storeWith({ sse: 'c', sseCustomerKey: key });
    const body = randomBytes(11 * MiB);
    await store.put('cam-01/2024/05/05/big-c.sealed', streamOf(body));
    expect(sha(await readAll(await store.get('cam-01/2024/05/05/big-c.sealed')))).toBe(sha(body));
    await expect(storeWith({ sse: 'c', sseCustomerKey: randomBytes(32) }).get('cam-01/2024/05/05/big-c.sealed')).rejects.toMatchObject({ code: 'ESSEC' });
  });

  it('a create-only put has one winner among racing writers (If-None-Match: * on PutObject)', async (ctx) => {
    needCeph(ctx);
    await createOnly(storeWith(), 'cam-04/2024/05/01/once.jpg');
  });

  it('lists the folders under a prefix (delimiter)', async (ctx) => {
    needCeph(ctx);
    await folderListing(storeWith());
  });

  it('SSE-KMS with testkey-1 round-trips and is echoed', async (ctx) => {
    needCeph(ctx);
    const store = storeWith({ sse: 'kms', kmsKeyId: 'testkey-1' });
    await store.put('cam-01/2024/05/05/k.sealed', Buffer.from('kms body'));
    expect(await readAll(await store.get('cam-01/2024/05/05/k.sealed'))).toEqual(Buffer.from('kms body'));
    const client = new S3Client({ region: 'us-east-1', endpoint: (ceph as { endpoint: string }).endpoint, forcePathStyle: true, credentials: CEPH_CREDENTIALS });
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'cam-01/2024/05/05/k.sealed' }));
    client.destroy();
    expect(head.ServerSideEncryption).toBe('aws:kms');
    expect(head.SSEKMSKeyId).toBe('testkey-1');
  });

  it('wrong credentials give the one-line access message, and the outbox does not swallow a refusal', async (ctx) => {
    needCeph(ctx);
    const store = storeWith({ credentials: { accessKeyId: 'TESTKEY', secretAccessKey: 'WRONG' } });
    const refusal = {
      code: 'EACCESS',
      message: `S3 at ${(ceph as { endpoint: string }).endpoint} refused access to bucket ${BUCKET} (SignatureDoesNotMatch): check AWS credentials and s3:PutObject/GetObject permissions`,
    };
    await expect(store.put('cam-01/x', Buffer.from('x'))).rejects.toMatchObject(refusal);
    const work = tempDir('refused');
    writeFileSync(join(work, 'x.sealed'), 'x');
    await expect(sendOrQueue(store, join(work, 'outbox'), 'cam-01/x', join(work, 'x.sealed'), { move: true })).rejects.toMatchObject(refusal);
    expect(readdirSync(work)).toEqual(['x.sealed']); // kept where it was, not queued
  });
});

describe('faults: unreachable stores and the outbox', () => {
  let s3rver: S3rverInstance | undefined;
  afterAll(() => s3rver?.stop());

  it('an Azure store on a closed port fails quickly with one clear line', async () => {
    const port = await freePort();
    const store = new AzureBlobStore({
      container: 'sealcam',
      connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${Buffer.alloc(64).toString('base64')};BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
      clientOptions: { retryOptions: { maxTries: 2, retryDelayInMs: 50, maxRetryDelayInMs: 100 } },
    });
    const began = Date.now();
    const err = await store.put('cam-01/x', Buffer.from('x')).catch((e: Error) => e);
    expect(Date.now() - began).toBeLessThan(5000);
    expect(err).toMatchObject({ code: 'EUNREACHABLE' });
    expect((err as Error).message).toMatch(new RegExp(`^cannot reach Azure Blob Storage at http://127\\.0\\.0\\.1:${port}/devstoreaccount1/sealcam \\(ECONNREFUSED\\)`));
    expect((err as Error).message).not.toContain('\n');
  });

  it('an S3 store on a closed port fails quickly; the outbox keeps the file and sends it once the server is up', async () => {
    const port = await freePort();
    const store = new S3Store({ bucket: BUCKET, region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: TEST_CREDENTIALS, maxAttempts: 2 });
    const began = Date.now();
    const err = await store.put('cam-01/x', Buffer.from('x')).catch((e: Error) => e);
    expect(Date.now() - began).toBeLessThan(5000);
    expect(err).toMatchObject({ code: 'EUNREACHABLE', message: `cannot reach S3 endpoint http://127.0.0.1:${port} (ECONNREFUSED) after retries: check the network, store.endpoint and store.region` });

    const work = tempDir('outbox');
    const outbox = join(work, 'outbox');
    const file = join(work, 'img-0001.jpg.sealed');
    const body = randomBytes(100_000);
    writeFileSync(file, body);
    const name = 'cam-01/2024/05/06/img-0001.jpg.sealed';
    const queued = await sendOrQueue(store, outbox, name, file, { metadata: { format: 'sealed-v1' }, move: true });
    expect(queued).toMatchObject({ queued: true, reason: expect.stringMatching(/^cannot reach S3 endpoint/) });
    expect(readdirSync(work)).toEqual(['outbox']); // moved: the original is gone, the outbox has it
    expect((await listOutbox(outbox)).map((e) => e.record.name)).toEqual([name]);

    // Still down: nothing sent, nothing lost.
    expect(await retryOutbox(store, outbox)).toEqual({ sent: [], failed: [], remaining: 1 });

    s3rver = await startS3rver([BUCKET], port);
    expect(await retryOutbox(store, outbox)).toEqual({ sent: [name], failed: [], remaining: 0 });
    expect(await listOutbox(outbox)).toEqual([]);
    expect(readdirSync(outbox)).toEqual([]);
    expect(await readAll(await store.get(name))).toEqual(body);
    expect((await store.head(name))?.metadata).toEqual({ format: 'sealed-v1' });
  });
});
