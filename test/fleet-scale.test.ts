import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configUnder, type SealcamConfig } from '../src/config.js';
import type { SealcamError } from '../src/errors.js';
import { sealBuffer } from '../src/formats/sealed.js';
import { LocalKeyProvider } from '../src/keys/local.js';
import { sealingFor } from '../src/keys/recipients.js';
import { X25519Identity } from '../src/keys/x25519.js';
import type { SealedImageEvent } from '../src/notify/index.js';
import { SealPool } from '../src/pool/pool.js';
import { createReceiver, type Receiver, type ReceiveResult } from '../src/receiver/index.js';
import { storeOutput } from '../src/receiver/output.js';
import { AzureBlobStore } from '../src/storage/azure.js';
import { LocalStore } from '../src/storage/local.js';
import type { BlobStore } from '../src/storage/store.js';
import { startAzurite, startMosquitto, type Azurite, type Mosquitto } from './fixtures/servers.js';

/**
 * Several receivers on one broker and one output (issue: fleet scale), against real parts:
 * Debian's Mosquitto (MQTT 5 shared subscriptions; aedes delivers nothing to `$share`), Azurite
 * for the output (it enforces If-None-Match: *, so "exactly once" is the store's verdict, not
 * ours), a local store for the sealed blobs.
 */

const fleet = X25519Identity.generate();
let root: string;
let pool: SealPool;
let mosquitto: Mosquitto;
let azurite: Azurite;
const cleanups: (() => Promise<unknown>)[] = [];
const later = <T extends { close(): Promise<unknown> }>(x: T): T => (cleanups.push(() => x.close()), x);

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'sealcam-scale-'));
  pool = new SealPool({ jobs: 2 });
  [mosquitto, azurite] = await Promise.all([startMosquitto({ receiver: 'right-password' }), startAzurite()]);
});
afterEach(async () => {
  for (const close of cleanups.splice(0).reverse()) await close().catch(() => undefined);
});
afterAll(async () => {
  await Promise.allSettled([mosquitto?.stop(), azurite?.stop(), pool?.close()]);
  rmSync(root, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let seq = 0;

interface Image {
  blobName: string;
  outputName: string;
  plain: Buffer;
  event: SealedImageEvent;
}

/** `count` images of `device`, sealed to the fleet and put in `store`. */
async function images(store: BlobStore, device: string, count: number): Promise<Image[]> {
  const made: Image[] = [];
  for (let i = 0; i < count; i++) {
    const n = ++seq;
    const plain = randomBytes(2000 + n);
    const captureTime = `2026-12-07T10:00:00.${String(n % 1000).padStart(3, '0')}Z`;
    const sealed = sealBuffer(plain, { wrap: sealingFor([fleet.recipient]), deviceId: device, segmentSize: 4096, metadata: { captureTime, contentType: 'image/png' } });
    const base = `${String(n).padStart(5, '0')}-frame.png`;
    const blobName = `${device}/2026/12/07/${base}.sealed`;
    await store.put(blobName, sealed, { metadata: { format: 'sealed' } });
    const event: SealedImageEvent = {
      deviceId: device,
      store: 'local',
      blobName,
      sealedSize: sealed.length,
      sha256: sha256(sealed),
      keyName: 'x25519',
      keyVersion: '1',
      format: 'sealed',
      captureTime,
      eventId: randomUUID(),
    };
    made.push({ blobName, outputName: `${device}/2026-12-07/${base}`, plain, event });
  }
  return made;
}

async function publishAll(url: string, events: SealedImageEvent[]): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `cam-${randomUUID()}`, protocolVersion: 5 });
  try {
    for (const e of events) await client.publishAsync(`sealcam/${e.deviceId}/events`, JSON.stringify(e), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

function configFor(dir: string): SealcamConfig {
  const config = configUnder(dir);
  config.receiver.concurrency = 2;
  return config;
}

async function receiver(store: BlobStore, output: BlobStore, id: string): Promise<Receiver & { results: ReceiveResult[]; errors: SealcamError[] }> {
  const results: ReceiveResult[] = [];
  const errors: SealcamError[] = [];
  const dir = mkdtempSync(join(root, `${id}-`));
  const rx = later(
    await createReceiver({
      config: configFor(dir),
      keys: new LocalKeyProvider(join(dir, 'keys')),
      store,
      pool,
      id,
      identities: [fleet],
      output: storeOutput(output, 'received/', 'azure://scale/received'),
      statusIntervalMs: 0,
      onResult: (r) => results.push(r),
      onError: (e) => errors.push(e),
    }),
  );
  return Object.assign(rx, { results, errors });
}

async function waitFor(check: () => boolean, what: () => string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('a share group of receivers (MQTT 5 $share on Mosquitto)', () => {
  it('splits the events between its members; each image lands once in the Azure output, repeats counted as duplicates', async () => {
    const dir = mkdtempSync(join(root, 'share-'));
    const store = new LocalStore(join(dir, 'store'));
    const output = new AzureBlobStore({ container: 'scale-share', connectionString: azurite.connectionString });
    const sent = [...(await images(store, 'cam-01', 12)), ...(await images(store, 'cam-02', 12))];
    const [a, b] = [await receiver(store, output, 'rx-a'), await receiver(store, output, 'rx-b')];
    for (const [rx, id] of [[a, 'rx-a'], [b, 'rx-b']] as const) await rx.subscribe({ url: mosquitto.url, clientId: id, share: 'sealcam', connections: 2, reconnectPeriodMs: 200 });
    // Six events sent twice, as a camera whose acknowledgement was lost would.
    await publishAll(mosquitto.url, [...sent.map((i) => i.event), ...sent.slice(0, 6).map((i) => ({ ...i.event, eventId: randomUUID() }))]);

    const opened = () => a.stats().opened + b.stats().opened;
    const handled = () => a.results.length + b.results.length;
    await waitFor(() => handled() === sent.length + 6, () => `${sent.length + 6} outcomes (have ${handled()}: ${opened()} opened)`);
    expect([...a.errors, ...b.errors]).toEqual([]);
    expect(opened()).toBe(sent.length);
    expect(a.stats().duplicates + b.stats().duplicates).toBe(6);
    // The broker shared the work out.
    expect(a.stats().opened).toBeGreaterThan(0);
    expect(b.stats().opened).toBeGreaterThan(0);

    const listed = (await output.list({ prefix: 'received/cam-' })).map((blob) => blob.name).sort();
    expect(listed).toEqual(sent.map((i) => `received/${i.outputName}`).sort());
    for (const image of sent) expect(sha256(await readAll(await output.get(`received/${image.outputName}`)))).toBe(sha256(image.plain));
  });

  it('two receivers handed the same event at once: the output store lets one write, the other counts a duplicate', async () => {
    const dir = mkdtempSync(join(root, 'race-'));
    const store = new LocalStore(join(dir, 'store'));
    const output = new AzureBlobStore({ container: 'scale-race', connectionString: azurite.connectionString });
    const sent = await images(store, 'cam-03', 8);
    const [a, b] = [await receiver(store, output, 'rx-c'), await receiver(store, output, 'rx-d')];
    const outcomes = await Promise.all(sent.flatMap((i) => [a.handle(i.event), b.handle(i.event)]));
    for (let n = 0; n < sent.length; n++) expect([outcomes[2 * n]!.status, outcomes[2 * n + 1]!.status].sort()).toEqual(['duplicate', 'opened']);
    expect((await output.list({ prefix: 'received/cam-03/' })).length).toBe(sent.length);
  });
});

describe('broker restarts', () => {
  it('a broker that forgot every session gets the subscription again on reconnect, and events flow', async () => {
    const dir = mkdtempSync(join(root, 'forget-'));
    const store = new LocalStore(join(dir, 'store'));
    const output = new AzureBlobStore({ container: 'scale-forget', connectionString: azurite.connectionString });
    const rx = await receiver(store, output, 'rx-forget');
    await rx.subscribe({ url: mosquitto.url, clientId: 'rx-forget', share: 'forget', reconnectPeriodMs: 100 });
    const [before, after] = [await images(store, 'cam-05', 1), await images(store, 'cam-05', 1)];
    await publishAll(mosquitto.url, [before![0]!.event]);
    await waitFor(() => rx.stats().opened === 1, () => 'the image before the restart');
    await mosquitto.restart({ forget: true });
    // Published until one arrives: events published before the receiver is back are the reconcile pass's.
    const deadline = Date.now() + 20_000;
    while (rx.stats().opened < 2 && Date.now() < deadline) {
      await publishAll(mosquitto.url, [after![0]!.event]);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(rx.stats().opened).toBe(2);
  });
});

describe('MQTT user name and password', () => {
  it('a receiver with the right password subscribes; a wrong one is refused in one line that shows no password', async () => {
    const dir = mkdtempSync(join(root, 'auth-'));
    const store = new LocalStore(join(dir, 'store'));
    const output = new AzureBlobStore({ container: 'scale-auth', connectionString: azurite.connectionString });
    const rx = await receiver(store, output, 'rx-auth');
    await expect(rx.subscribe({ url: mosquitto.authUrl, clientId: 'rx-auth', username: 'receiver', password: 'wrong-password' })).rejects.toMatchObject({
      code: 'EREFUSED',
      message: expect.not.stringContaining('wrong-password'),
    });
    await rx.subscribe({ url: mosquitto.authUrl, clientId: 'rx-auth', username: 'receiver', password: 'right-password', share: 'auth' });
    const [image] = await images(store, 'cam-04', 1);
    const client = await mqtt.connectAsync(mosquitto.authUrl, { clientId: 'cam-04', username: 'receiver', password: 'right-password', protocolVersion: 5 });
    await client.publishAsync('sealcam/cam-04/events', JSON.stringify(image!.event), { qos: 1 });
    await client.endAsync();
    await waitFor(() => rx.stats().opened === 1, () => 'the image through the password listener');
  });
});
