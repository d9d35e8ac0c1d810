import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard } from '../src/dashboard/server.js';
import { samplesDir } from '../src/device/index.js';
import type { FleetSnapshot } from '../src/fleet/snapshot.js';
import { outputName, storeOutput } from '../src/receiver/output.js';
import { AzureBlobStore } from '../src/storage/azure.js';
import { S3Store } from '../src/storage/s3.js';
import type { BlobStore } from '../src/storage/store.js';
import { freePort, startAzurite, startS3rver, type Azurite, type S3rverInstance } from './fixtures/servers.js';
import { cleanEnv, CLI, sealcamAsync } from './helpers/cli.js';
import { dirMaker } from './helpers/temp-dir.js';

/**
 * The dashboard over a store output (azure:// in Azurite, s3:// in s3rver), as a fleet of
 * receivers on several machines leaves it: the real receiver (`sealcam receive --poll --once
 * --output <location>`) opens camera images sealed by `sealcam upload` and writes the images and
 * their records to the store; `sealcam dashboard --output <location>` reads them there with the
 * same store settings, shows the camera, and makes its thumbnail from the image in the store.
 * s3rver serves reading well (it ignores If-None-Match, which only writers racing would need).
 */

const TOKEN = 'store-test-token-0123456789';
const S3_KEYS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const nextDir = dirMaker('sealcam-dashstore-');
let azurite: Azurite;
let s3: S3rverInstance;

beforeAll(async () => {
  [azurite, s3] = await Promise.all([startAzurite(), startS3rver(['dash-out'])]);
}, 60_000);
afterAll(async () => {
  await Promise.allSettled([azurite?.stop(), s3?.stop()]);
});

interface Place {
  location: string;
  env: () => Record<string, string>;
  /** The same store, for the test to look into. */
  store: () => BlobStore;
  /** What must never be printed. */
  secret: () => string;
}

const PLACES: [string, Place][] = [
  [
    'azure:// (Azurite)',
    {
      location: 'azure://dash-out/fleet/images',
      env: () => ({ AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString }),
      store: () => new AzureBlobStore({ container: 'dash-out', connectionString: azurite.connectionString }),
      secret: () => /AccountKey=([^;]+)/.exec(azurite.connectionString)![1]!,
    },
  ],
  [
    's3:// (s3rver)',
    {
      location: 's3://dash-out/fleet/images',
      env: () => s3Env(s3.endpoint),
      store: () => new S3Store({ bucket: 'dash-out', region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: S3_KEYS }),
      secret: () => S3_KEYS.secretAccessKey,
    },
  ],
];

const s3Env = (endpoint: string): Record<string, string> => ({
  SEALCAM_S3_ENDPOINT: endpoint,
  SEALCAM_S3_PATH_STYLE: 'true',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: S3_KEYS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3_KEYS.secretAccessKey,
});

/**
 * A camera's image through the real CLI: sealed to a fleet identity made here and uploaded to the
 * local store of `dir` (`sealcam upload`), then opened by the receiver into `location`. Returns
 * the image's name in the output. Not blocking: s3rver answers from this process.
 */
async function receiveInto(dir: string, location: string, env: Record<string, string>, device: string, sample: string): Promise<string> {
  const run = async (...args: string[]) => {
    const r = await sealcamAsync(args, { cwd: dir, env: { ...env, SEALCAM_NO_PROGRESS: '1' } });
    expect(r.status, r.stderr).toBe(0);
    return r;
  };
  await run('keygen', '--type', 'x25519', '-o', join(dir, 'fleet.key'));
  await run('upload', join(samplesDir, sample), '-r', join(dir, 'fleet.key.pub'), '--device', device);
  const received = await run('receive', '--poll', '--once', '--json', '-i', join(dir, 'fleet.key'), '--output', location);
  const opened = received.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; blob: string })
    .filter((r) => r.event === 'opened');
  expect(opened).toHaveLength(1);
  return outputName(opened[0]!.blob)!;
}

interface Served {
  origin: string;
  stdout: () => string;
  stderr: () => string;
  stop(): Promise<number | null>;
}

/** `sealcam dashboard --output <location>` on a free port, once it printed its URL. */
async function serve(dir: string, location: string, env: Record<string, string>, token: string | undefined = TOKEN): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'dashboard', '--listen', '127.0.0.1:0', '--output', location], {
    cwd: dir,
    env: cleanEnv({ cwd: dir, env: { ...env, ...(token ? { SEALCAM_DASHBOARD_TOKEN: token } : {}) } }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((done) => child.once('close', done));
  const end = Date.now() + 60_000;
  while (!/dashboard at (http:\/\/127\.0\.0\.1:\d+)/.test(stdout)) {
    if (child.exitCode !== null || Date.now() > end) throw new Error(`the dashboard did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    origin: /dashboard at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)![1]!,
    stdout: () => stdout,
    stderr: () => stderr,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const bearer = { authorization: `Bearer ${TOKEN}` };

describe.each(PLACES)('sealcam dashboard over a store output, %s', (_name, place) => {
  let dir: string;
  let image: string;
  let dashboard: Served;
  let cookie: string;
  let day: string;

  beforeAll(async () => {
    dir = nextDir();
    const env = place.env();
    image = await receiveInto(dir, place.location, env, 'cam-7', 'street-dusk.jpg');
    day = image.split('/')[1]!;
    const store = place.store();
    // An image outside the output, and a record whose image path climbs out to it.
    await store.put('secret.jpg', readFileSync(join(samplesDir, 'car-park-day.jpg')));
    const forged = JSON.parse(Buffer.from(await readAll(await store.get(`fleet/images/.sealcam/records/${image}.json`))).toString()) as Record<string, unknown>;
    Object.assign(forged, { deviceId: 'cam-evil', outputPath: `cam-evil/${day}/../../../../secret.jpg` });
    await store.put(`fleet/images/.sealcam/records/cam-evil/${day}/secret.jpg.json`, Buffer.from(JSON.stringify(forged)));
    dashboard = await serve(dir, place.location, env);
    cookie = (await fetch(`${dashboard.origin}/?token=${TOKEN}`, { redirect: 'manual' })).headers.getSetCookie()[0]!.split(';')[0]!;
  }, 120_000);
  afterAll(async () => {
    expect(await dashboard?.stop()).toBe(0);
  });

  const snapshot = async () => (await (await fetch(`${dashboard.origin}/api/fleet`, { headers: { cookie } })).json()) as FleetSnapshot;

  it('says where it reads, as the location the receivers were given, and never prints a credential', () => {
    expect(dashboard.stderr()).toContain(`sealcam dashboard: fleet records from ${place.location}/`);
    expect(`${dashboard.stdout()}${dashboard.stderr()}`).not.toContain(place.secret());
    expect(`${dashboard.stdout()}${dashboard.stderr()}`).not.toContain(TOKEN);
  });

  it('shows the camera the receiver recorded in the store', async () => {
    const card = (await snapshot()).devices.find((d) => d.id === 'cam-7');
    expect(card?.imagesToday).toBe(1);
    expect(card?.latest?.name).toBe(image.split('/')[2]);
    expect(card?.latest?.bytes).toBe(readFileSync(join(samplesDir, 'street-dusk.jpg')).length);
  });

  it("serves a thumbnail made from the image in the store, that sharp decodes", async () => {
    const res = await fetch(`${dashboard.origin}/thumb/cam-7`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect([meta.format, meta.width! <= 320, meta.height! <= 240, meta.width! > 0]).toEqual(['jpeg', true, true, true]);
  });

  it('answers 401 without the cookie, data and thumbnails included', async () => {
    for (const path of ['/', '/api/fleet', '/thumb/cam-7']) expect((await fetch(`${dashboard.origin}${path}`)).status).toBe(401);
  });

  it('refuses a record whose image path climbs out of the output: skipped, counted, no card and no thumbnail', async () => {
    const snap = await snapshot();
    expect(snap.devices.map((d) => d.id)).not.toContain('cam-evil');
    expect(snap.skipped.recent.join('\n')).toContain(`records/cam-evil/${day}/secret.jpg.json`);
    expect((await fetch(`${dashboard.origin}/thumb/cam-evil`, { headers: bearer })).status).toBe(404);
  });

  it("reads back only names inside the output's prefix", async () => {
    const output = storeOutput(place.store(), 'fleet/images/', place.location);
    expect(await output.read(image, 1 << 20)).toBeDefined();
    for (const name of ['../../secret.jpg', `cam-7/${day}/../../../../secret.jpg`, '/secret.jpg', '', 'cam-7//x.jpg', 'cam-7\\x.jpg']) expect(await output.read(name, 1 << 20)).toBeUndefined();
    await expect(output.read(image, 1000)).rejects.toMatchObject({ code: 'ETOOLARGE' });
  });
});

describe('a store that cannot be reached yet', () => {
  it('starts anyway, says so once, retries, and shows the camera once the store answers', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const warnings: [string, string][] = [];
    const store = new S3Store({ bucket: 'dash-late', region: 'us-east-1', endpoint, forcePathStyle: true, credentials: S3_KEYS, maxAttempts: 1 });
    const dash = await startDashboard({
      listen: '127.0.0.1:0',
      output: storeOutput(store, 'images/', 's3://dash-late/images/'),
      token: TOKEN,
      pollMs: 50,
      fullScanMs: 200, // a new camera is found by a full listing
      retryMaxMs: 400,
      onWarning: (message, about) => warnings.push([about, message]),
    });
    let late: S3rverInstance | undefined;
    try {
      const fleet = async () => (await (await fetch(`${dash.origin}/api/fleet`, { headers: bearer })).json()) as FleetSnapshot;
      expect((await fleet()).devices).toEqual([]);
      await new Promise((r) => setTimeout(r, 1000)); // several retries
      expect(warnings).toEqual([['source', expect.stringMatching(/^fleet records cannot be read \(retrying until they can\): /)]]);

      late = await startS3rver(['dash-late'], port);
      await receiveInto(nextDir(), 's3://dash-late/images', s3Env(endpoint), 'cam-late', 'test-card.png');
      const card = await until('the camera', async () => (await fleet()).devices.find((d) => d.id === 'cam-late'), 90_000);
      expect(card.imagesToday).toBe(1);
      expect(warnings.filter(([about]) => about === 'source').map(([, m]) => m.split(':')[0])).toEqual(['fleet records cannot be read (retrying until they can)', 'fleet records can be read again']);
      expect(warnings.join('\n')).not.toContain(S3_KEYS.secretAccessKey);
    } finally {
      await dash.close();
      await late?.stop();
    }
  }, 120_000);
});

async function readAll(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
