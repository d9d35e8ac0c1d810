/**
 * `sealcam upload | download | ls | link` as a user runs them (node dist/cli/main.js), against
 * a local store, Azurite and s3rver on 127.0.0.1. The CLI is spawned asynchronously: s3rver runs
 * inside this process and must keep answering while a command waits for it.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHeader, sealBuffer } from '../src/formats/sealed.js';
import { LocalKeyProvider } from '../src/keys/local.js';
import { listOutbox } from '../src/storage/outbox.js';
import { freePort, startAzurite, startRecordingProxy, startS3rver, type Azurite, type S3rverInstance } from './fixtures/servers.js';
import { createdKeyLine, expectOneLineError, sealcamAsync, userKeyring, type Run } from './helpers/cli.js';
import { asV1 } from './helpers/sealed.js';

const CONTAINER = 'sealcam-cli';
const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const EXIT_QUEUED = 75;

/** Without any SEALCAM_, Azure or AWS setting of the machine running the tests. */
const sealcam = (cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> =>
  sealcamAsync(args, { cwd, env: { SEALCAM_JOBS: '1', ...env }, drop: /^(SEALCAM_|AZURE_|AWS_)/ });


const lines = (text: string) => text.split('\n').filter(Boolean);
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

const temps: string[] = [];
function workDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `sealcam-scli-${tag}-`));
  temps.push(dir);
  return dir;
}

function writeInput(dir: string, name: string, size: number, mtime?: string): Buffer {
  const data = randomBytes(size);
  writeFileSync(join(dir, name), data);
  if (mtime) utimesSync(join(dir, name), new Date(mtime), new Date(mtime));
  return data;
}

/** A file sealed elsewhere (here with the library) under the work directory's key. */
async function presealed(dir: string, name: string, plaintext: Buffer, metadata: Record<string, unknown>): Promise<Buffer> {
  const material = await new LocalKeyProvider(userKeyring(dir)).getOrCreate('sealcam-kek');
  const sealed = Buffer.from(sealBuffer(plaintext, { kek: material.key, keyId: material.name, keyVersion: material.version, segmentSize: 4096, metadata }));
  writeFileSync(join(dir, name), sealed);
  return sealed;
}

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** A store as the tests reach it behind the CLI's back: to read, alter and inspect blobs. */
interface Target {
  kind: 'local' | 'azure' | 's3';
  env(): Record<string, string>;
  read(blob: string): Promise<Buffer>;
  write(blob: string, data: Buffer): Promise<void>;
  metadata(blob: string): Promise<Record<string, string>>;
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

function localTarget(): Target {
  const dir = workDir('store');
  const path = (blob: string) => join(dir, ...blob.split('/'));
  return {
    kind: 'local',
    env: () => ({ SEALCAM_STORE: 'local', SEALCAM_STORE_DIR: dir }),
    read: async (blob) => readFileSync(path(blob)),
    write: async (blob, data) => writeFileSync(path(blob), data),
    metadata: async (blob) => {
      const file = path(blob);
      return JSON.parse(readFileSync(join(file, '..', `.${file.split('/').at(-1)}.meta.json`), 'utf8')).metadata;
    },
  };
}

function azureTarget(): Target {
  let azurite: Azurite;
  let container: ContainerClient;
  return {
    kind: 'azure',
    start: async () => {
      azurite = await startAzurite();
      container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(CONTAINER);
    },
    stop: () => azurite?.stop(),
    env: () => ({ SEALCAM_STORE: 'azure', SEALCAM_CONTAINER: CONTAINER, AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString }),
    read: (blob) => container.getBlockBlobClient(blob).downloadToBuffer(),
    write: async (blob, data) => {
      await container.getBlockBlobClient(blob).uploadData(data);
    },
    metadata: async (blob) => (await container.getBlockBlobClient(blob).getProperties()).metadata ?? {},
  };
}

function s3Target(): Target {
  let s3rver: S3rverInstance;
  let client: S3Client;
  return {
    kind: 's3',
    start: async () => {
      s3rver = await startS3rver([CONTAINER]);
      client = new S3Client({ region: 'us-east-1', endpoint: s3rver.endpoint, forcePathStyle: true, credentials: S3_CREDENTIALS });
    },
    stop: async () => {
      client?.destroy();
      await s3rver?.stop();
    },
    env: () => s3Env(s3rver.endpoint),
    read: async (blob) => Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: CONTAINER, Key: blob }))).Body!.transformToByteArray()),
    write: async (blob, data) => {
      await client.send(new PutObjectCommand({ Bucket: CONTAINER, Key: blob, Body: data }));
    },
    metadata: async (blob) => (await client.send(new HeadObjectCommand({ Bucket: CONTAINER, Key: blob }))).Metadata ?? {},
  };
}

function s3Env(endpoint: string): Record<string, string> {
  return {
    SEALCAM_STORE: 's3',
    SEALCAM_CONTAINER: CONTAINER,
    SEALCAM_S3_ENDPOINT: endpoint,
    SEALCAM_S3_PATH_STYLE: 'true',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
  };
}

describe.each([localTarget(), azureTarget(), s3Target()])('on the $kind store', (target) => {
  let cwd: string;
  const run = (...args: string[]) => sealcam(cwd, args, target.env());
  const photo = { name: 'IMG 0001.jpg', blob: 'cam-01/2024/05/01/IMG_0001.jpg.sealed', mtime: '2024-05-01T10:00:00.000Z' };
  const chart = { name: 'chart.png', blob: 'cam-02/2024/04/30/chart.png.sealed', captureTime: '2024-04-30T08:00:00.000Z' };
  const pre = { name: 'pre.jpg.sealed', blob: 'cam-07/2024/03/04/pre.jpg.sealed', captureTime: '2024-03-04T05:06:07.000Z' };
  const data: Record<string, Buffer> = {};

  beforeAll(async () => {
    await target.start?.();
    cwd = workDir(target.kind);
  }, 30_000);
  afterAll(() => target.stop?.());

  it('uploads a plain file sealed on the way and a sealed file as it is; ls lists newest first, by device', async () => {
    // Uploaded in the reverse of name order, so a listing sorted by name would fail; a second
    // apart on Azure and S3, which list modification times in whole seconds.
    const pause = target.kind === 'local' ? 50 : 1100;
    data.pre = await presealed(cwd, pre.name, (data.prePlain = randomBytes(9000)), { deviceId: 'cam-07', captureTime: pre.captureTime, originalName: 'pre.jpg' });
    const first = await run('upload', pre.name);
    expect(first.stdout).toBe(`${pre.blob}\n`);
    expect(first.status, first.stderr).toBe(0);
    expect(await target.read(pre.blob)).toEqual(data.pre); // as it is, not sealed twice

    await sleep(pause);
    data.chart = writeInput(cwd, chart.name, 3000);
    const second = await run('upload', chart.name, '--device', 'cam-02', '--capture-time', chart.captureTime);
    expect(second.stdout).toBe(`${chart.blob}\n`);
    expect(second.status, second.stderr).toBe(0);

    await sleep(pause);
    data.photo = writeInput(cwd, photo.name, 20_000, photo.mtime);
    const third = await run('upload', photo.name, '--segment-size', '4096');
    expect(third.stdout).toBe(`${photo.blob}\n`);
    expect(third.stderr).toMatch(/^uploading: 0\.0 MB/);
    expect(third.status, third.stderr).toBe(0);

    // Sealed on the way: the header names the key and carries the public metadata; the blob's metadata has only format, device and capture time.
    const stored = await target.read(photo.blob);
    const header = parseHeader(stored);
    expect(header).toMatchObject({ keyId: 'sealcam-kek', keyVersion: '1', segmentSize: 4096 });
    expect(header.metadata).toEqual({ contentType: 'image/jpeg', originalSize: 20_000, deviceId: 'cam-01', captureTime: photo.mtime, originalName: photo.name });
    expect(stored.length).toBe(header.headerLength + 20_000 + 5 * 16);
    expect(await target.metadata(photo.blob)).toEqual({ format: 'sealed', device: 'cam-01', capture_time: photo.mtime });
    expect(await target.metadata(pre.blob)).toEqual({ format: 'sealed', device: 'cam-07', capture_time: pre.captureTime });

    const listed = await run('ls');
    expect(listed.status, listed.stderr).toBe(0);
    expect(lines(listed.stdout).map((l) => l.split(/ +/))).toEqual([
      ['NAME', 'SIZE', 'MODIFIED', 'DEVICE', 'CAPTURED'],
      [photo.blob, String(stored.length), expect.stringMatching(/^\d{4}-/), 'cam-01', photo.mtime],
      [chart.blob, expect.any(String), expect.any(String), 'cam-02', chart.captureTime],
      [pre.blob, String(data.pre.length), expect.any(String), 'cam-07', pre.captureTime],
    ]);
    const byDevice = await run('ls', '--device', 'cam-02', '--json');
    expect(JSON.parse(byDevice.stdout)).toEqual([{ name: chart.blob, size: expect.any(Number), modified: expect.any(String), device: 'cam-02', captureTime: chart.captureTime }]);
    // Prefix and limit are the stores' own (test/storage.test.ts); once through the CLI is enough.
    if (target.kind === 'local') expect(lines((await run('ls', '--prefix', 'cam-0', '--limit', '1')).stdout).slice(1).map((l) => l.split(' ')[0])).toEqual([photo.blob]);
  });

  it('downloads byte-identical files; a tampered blob is refused and nothing is written', async () => {
    const downloads: [string, Buffer][] = [
      [photo.blob, data.photo!],
      [pre.blob, data.prePlain!],
    ];
    if (target.kind === 'local') downloads.push([chart.blob, data.chart!]);
    for (const [blob, expected] of downloads) {
      const out = `out-${sha(blob).slice(0, 6)}`;
      const r = await run('download', blob, '-o', out);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`^${out}: ${expected.length} bytes verified and written \\(key sealcam-kek version 1\\)\\n$`));
      expect(sha(readFileSync(join(cwd, out)))).toBe(sha(expected));
    }

    const stored = await target.read(photo.blob);
    const altered = Buffer.from(stored);
    altered[parseHeader(stored).headerLength + 4096 + 16 + 100]! ^= 1; // a byte of segment 1
    await target.write(photo.blob, altered);
    const before = readdirSync(cwd);
    const refused = await run('download', photo.blob, '-o', 'tampered.jpg');
    expectOneLineError(refused, new RegExp(`^sealcam: ${photo.blob} rejected: segment 1 failed verification: .*; nothing was written\\n$`));
    expect(readdirSync(cwd)).toEqual(before);
  });

  it('link gives a URL that reads the blob', async () => {
    const r = await run('link', pre.blob, '--expires', '15m');
    expect(r.status, r.stderr).toBe(0);
    const url = r.stdout.trim();
    if (target.kind === 'local') {
      expect(readFileSync(fileURLToPath(url))).toEqual(data.pre);
      expect(r.stderr).toMatch(/does not expire/);
      return;
    }
    expect(url).toMatch(target.kind === 'azure' ? /[?&]se=.*sp=r/ : /X-Amz-Expires=900/);
    const fetched = await fetch(url);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer())).toEqual(data.pre);
    expect(r.stderr).toBe('');
  });
});

describe('an unreachable store', () => {
  let s3rver: S3rverInstance | undefined;
  afterAll(() => s3rver?.stop());

  it('keeps the sealed files in the outbox with one clear line; --retry-outbox delivers them once the store is up', async () => {
    const cwd = workDir('outbox');
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const env = s3Env(endpoint);
    const a = writeInput(cwd, 'a.jpg', 50_000, '2024-06-01T00:00:00Z');
    const b = writeInput(cwd, 'b.jpg', 7000, '2024-06-02T00:00:00Z');

    const down = await sealcam(cwd, ['upload', 'a.jpg', 'b.jpg'], env);
    expect(down.stdout).toBe('');
    expect(down.stderr).toBe(
      createdKeyLine(join(userKeyring(cwd), 'sealcam-kek', '1.key')) +
        `sealcam: cannot reach S3 endpoint ${endpoint} (ECONNREFUSED) after retries: check the network, store.endpoint and store.region; ` +
        '2 files (a.jpg, b.jpg) are kept in the outbox .sealcam/outbox: sealcam upload --retry-outbox sends them later\n',
    );
    expect(down.status).toBe(EXIT_QUEUED);
    const outbox = join(cwd, '.sealcam', 'outbox');
    expect((await listOutbox(outbox)).map((e) => e.record.name)).toEqual(['cam-01/2024/06/01/a.jpg.sealed', 'cam-01/2024/06/02/b.jpg.sealed']);
    expect(readdirSync(outbox).filter((n) => n.startsWith('.'))).toEqual([]); // no temp files left
    expect(readFileSync(join(cwd, 'a.jpg'))).toEqual(a); // the originals stay

    const still = await sealcam(cwd, ['upload', '--retry-outbox'], env);
    expect(still).toMatchObject({ status: EXIT_QUEUED, stdout: '' });
    expect(still.stderr).toBe(
      `sealcam: S3 at ${endpoint} (bucket ${CONTAINER}) is still unreachable or busy; 2 files stay in the outbox .sealcam/outbox: run sealcam upload --retry-outbox again later\n`,
    );

    s3rver = await startS3rver([CONTAINER], port);
    const sent = await sealcam(cwd, ['upload', '--retry-outbox'], env);
    expect(sent.stderr).toBe('');
    expect(sent.stdout).toBe('cam-01/2024/06/01/a.jpg.sealed\ncam-01/2024/06/02/b.jpg.sealed\n');
    expect(sent.status).toBe(0);
    expect(await listOutbox(outbox)).toEqual([]);
    expect((await sealcam(cwd, ['upload', '--retry-outbox'], env)).stderr).toBe('the outbox .sealcam/outbox is empty\n');

    for (const [blob, expected] of [
      ['cam-01/2024/06/01/a.jpg.sealed', a],
      ['cam-01/2024/06/02/b.jpg.sealed', b],
    ] as const) {
      const r = await sealcam(cwd, ['download', blob, '-o', `${expected.length}.out`], env);
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(join(cwd, `${expected.length}.out`))).toEqual(expected);
    }
  }, 30_000);
});

describe('missing cloud credentials', () => {
  it('S3 without any AWS credentials is an error (exit 1, one line), not an outage: nothing is queued in the outbox', async () => {
    const cwd = workDir('nocreds');
    const s3rver = await startS3rver([CONTAINER]);
    try {
      const env = s3Env(s3rver.endpoint);
      delete env.AWS_ACCESS_KEY_ID;
      delete env.AWS_SECRET_ACCESS_KEY;
      // HOME is the work directory (no ~/.aws); the instance-metadata lookup would leave 127.0.0.1.
      writeInput(cwd, 'a.jpg', 1000);
      const r = await sealcam(cwd, ['upload', 'a.jpg'], { ...env, AWS_EC2_METADATA_DISABLED: 'true' });
      expect(r.status).toBe(1);
      expect(r.stderr.split('\n').filter(Boolean).at(-1)).toBe(
        `sealcam: no AWS credentials found for S3 at ${s3rver.endpoint}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an instance or task role`,
      );
      expect(await listOutbox(join(cwd, '.sealcam', 'outbox'))).toEqual([]);
    } finally {
      await s3rver.stop();
    }
  }, 30_000);
});

describe('keys and settings', () => {
  it('after a key rotation new uploads use the new version and both blobs still download', async () => {
    const cwd = workDir('rotate');
    const run = (...args: string[]) => sealcam(cwd, args, { SEALCAM_STORE_DIR: 'store' });
    expect((await run('keys', 'create')).status).toBe(0);
    const before = writeInput(cwd, 'before.jpg', 10_000, '2024-07-01T12:00:00Z');
    expect((await run('upload', 'before.jpg')).stdout).toBe('cam-01/2024/07/01/before.jpg.sealed\n');
    expect((await run('keys', 'rotate')).status).toBe(0);
    const after = writeInput(cwd, 'after.jpg', 10_000, '2024-07-01T12:00:01Z');
    expect((await run('upload', 'after.jpg')).stdout).toBe('cam-01/2024/07/01/after.jpg.sealed\n');

    expect(asV1(parseHeader(readFileSync(join(cwd, 'store/cam-01/2024/07/01/before.jpg.sealed')))).keyVersion).toBe('1');
    expect(asV1(parseHeader(readFileSync(join(cwd, 'store/cam-01/2024/07/01/after.jpg.sealed')))).keyVersion).toBe('2');
    const old = await run('download', 'cam-01/2024/07/01/before.jpg.sealed', '-o', 'before.out');
    expect(old.stderr).toBe('before.out: 10000 bytes verified and written (key sealcam-kek version 1)\n');
    const fresh = await run('download', 'cam-01/2024/07/01/after.jpg.sealed', '-o', 'after.out');
    expect(fresh.stderr).toBe('after.out: 10000 bytes verified and written (key sealcam-kek version 2)\n');
    expect(readFileSync(join(cwd, 'before.out'))).toEqual(before);
    expect(readFileSync(join(cwd, 'after.out'))).toEqual(after);

    // A blob whose key version is gone, or whose key was replaced, is refused; nothing is written.
    const ring = join(userKeyring(cwd), 'sealcam-kek');
    writeFileSync(join(ring, '1.key'), randomBytes(16), { mode: 0o600 });
    expectOneLineError(
      await run('download', 'cam-01/2024/07/01/before.jpg.sealed', '-o', 'x.out'),
      /^sealcam: cam-01\/2024\/07\/01\/before\.jpg\.sealed rejected: wrong key: the file's key could not be unwrapped with key sealcam-kek version 1; nothing was written\n$/,
    );
    rmSync(join(ring, '2.key'));
    expectOneLineError(await run('download', 'cam-01/2024/07/01/after.jpg.sealed', '-o', 'x.out'), /^sealcam: cannot open .*: key sealcam-kek has no version 2 .*; nothing was written\n$/);
    // Cut inside the last segment's tag: truncated.
    const path = join(cwd, 'store/cam-01/2024/07/01/before.jpg.sealed');
    writeFileSync(path, readFileSync(path).subarray(0, 200));
    expectOneLineError(await run('download', 'cam-01/2024/07/01/before.jpg.sealed', '-o', 'x.out'), /rejected: .*truncated/);
    expect(existsSync(join(cwd, 'x.out'))).toBe(false);
    expect(readdirSync(cwd).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('SSE-C takes a 256-bit customer key from the key provider and sends it with every request', async () => {
    const cwd = workDir('ssec');
    const s3rver = await startS3rver([CONTAINER]);
    const proxy = await startRecordingProxy(s3rver.endpoint);
    try {
      const env = { ...s3Env(proxy.endpoint), SEALCAM_SSE: 'c' };
      const plain = writeInput(cwd, 'c.jpg', 5000, '2024-08-01T00:00:00Z');
      const up = await sealcam(cwd, ['upload', 'c.jpg'], env);
      expect(up.status, up.stderr).toBe(0);
      const key = readFileSync(join(userKeyring(cwd), 'sealcam-sse-c', '1.key'));
      expect(key).toHaveLength(32);
      const down = await sealcam(cwd, ['download', 'cam-01/2024/08/01/c.jpg.sealed', '-o', 'c.out'], env);
      expect(down.status, down.stderr).toBe(0);
      expect(readFileSync(join(cwd, 'c.out'))).toEqual(plain);
      const md5 = createHash('md5').update(key).digest('base64');
      const object = proxy.requests.filter((r) => r.url.startsWith(`/${CONTAINER}/cam-01/`));
      expect(object.map((r) => r.method)).toEqual(['PUT', 'HEAD', 'GET']);
      for (const r of object) expect(r.headers['x-amz-server-side-encryption-customer-key-md5'], r.method).toBe(md5);
      const link = await sealcam(cwd, ['link', 'cam-01/2024/08/01/c.jpg.sealed'], env);
      expect(link.stdout).not.toContain(encodeURIComponent(key.toString('base64')));
      expect(link.stderr).toMatch(/^note: the object is stored with SSE-C/);
    } finally {
      await proxy.stop();
      await s3rver.stop();
    }
  });

  it('refuses bad input and wrong credentials in one line, without secrets', async () => {
    const cwd = workDir('errors');
    const run = (...args: string[]) => sealcam(cwd, args);
    writeInput(cwd, 'p.jpg', 100, '2024-09-01T00:00:00Z');
    expect((await run('upload', 'p.jpg')).status).toBe(0);
    const blob = 'cam-01/2024/09/01/p.jpg.sealed';
    writeFileSync(join(cwd, 'taken.txt'), 'keep me');
    const cases: [string[], RegExp][] = [
      [['upload'], /^sealcam: name the files to upload/],
      [['upload', 'missing.jpg'], /^sealcam: input file missing\.jpg not found\n$/],
      [['upload', 'p.jpg', '--capture-time', 'yesterday'], /^sealcam: --capture-time "yesterday" is not a date/],
      [['download', blob, '-o', 'taken.txt'], /^sealcam: output file taken\.txt exists; use --force to overwrite\n$/],
      [['download', 'cam-01/2024/09/01/none.sealed', '-o', 'n.out'], /^sealcam: blob cam-01\/2024\/09\/01\/none\.sealed not found in local store at /],
      [['download', '../etc/passwd', '-o', 'n.out'], /^sealcam: blob name "\.\.\/etc\/passwd" is not valid/],
      [['link', blob, '--expires', '8d'], /^sealcam: --expires 8d is longer than 7 days/],
      [['link', blob, '--expires', '0m'], /^sealcam: --expires must be longer than 0, got 0m\n$/],
      [['link', blob, '--expires', '-5m'], /^sealcam: --expires must be longer than 0, got -5m\n$/],
      [['link', blob, '--expires', '15 minutes'], /^sealcam: --expires "15 minutes" is not a duration/],
      [['ls', '--limit', '0'], /^sealcam: --limit must be a positive integer/],
      [['ls', '--store', 's3', '--sse', 'kms', '--endpoint', 'http://127.0.0.1:9'], /^sealcam: store.sse is kms but store.kmsKeyId .* is missing\n$/],
    ];
    for (const [args, message] of cases) expectOneLineError(await run(...args), message);
    expect(readFileSync(join(cwd, 'taken.txt'), 'utf8')).toBe('keep me');
    expect((await run('download', blob, '-o', 'taken.txt', '--force')).status).toBe(0);
    expect(readFileSync(join(cwd, 'taken.txt'))).toHaveLength(100);

    // Azurite checks the shared-key signature: a wrong account key is refused, and named without being shown.
    const azurite = await startAzurite();
    try {
      const wrongKey = randomBytes(64).toString('base64');
      const connectionString = azurite.connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${wrongKey}`);
      const refused = await sealcam(cwd, ['upload', 'p.jpg', '--store', 'azure', '--container', CONTAINER], { AZURE_STORAGE_CONNECTION_STRING: connectionString });
      expectOneLineError(
        refused,
        new RegExp(`^sealcam: Azure Blob Storage at http://127\\.0\\.0\\.1:${azurite.port}/devstoreaccount1/${CONTAINER} refused access to container ${CONTAINER} \\(\\w+\\): check the connection string`),
      );
      expect(refused.stderr).not.toContain(wrongKey);
    } finally {
      await azurite.stop();
    }
  }, 30_000);
});
