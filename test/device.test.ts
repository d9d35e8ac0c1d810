import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { inflateSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configUnder, type SealcamConfig } from '../src/config.js';
import { createDevice, notifierFromConfig, runFleet, sampleImages, samplesDir, syntheticFrame, watchImages, type Device, type DeviceOptions } from '../src/device/index.js';
import { InputError, SealcamError } from '../src/errors.js';
import { openBuffer } from '../src/formats/sealed.js';
import { kekFromProvider } from '../src/keys/kek.js';
import { LocalKeyProvider } from '../src/keys/local.js';
import { subscribeEvents } from '../src/notify/index.js';
import { OutboxNotifier, readOutbox, startLocalBroker } from '../src/notify/local.js';
import { MqttNotifier } from '../src/notify/mqtt.js';
import type { Notifier, SealedImageEvent, TelemetrySample } from '../src/notify/notifier.js';
import { SealPool } from '../src/pool/pool.js';
import { LocalStore } from '../src/storage/local.js';
import { listOutbox } from '../src/storage/outbox.js';
import type { BlobInfo, BlobStore, ListOptions, PutOptions } from '../src/storage/store.js';
import { startIotHubBroker } from './fixtures/iothub-broker.js';
import { cleanEnv, CLI, createdKeyLine, expectOkCreatingKey, sealcam as run, userKeyring, type Run } from './helpers/cli.js';
import { LEVELS, logLines, withoutLog } from './helpers/log.js';
import { asV1 } from './helpers/sealed.js';

/**
 * The camera side against real parts: a LocalStore and a local keyring in temp dirs, the pool's
 * worker threads, the in-process aedes broker with an MQTT subscriber, the JSONL outbox notifier,
 * the IoT Hub stand-in with the real azure-iot-device client, and the built CLI.
 */


let root: string;
let pool: SealPool;
let dirs = 0;
const fresh = (name = 'd') => {
  const dir = join(root, `${name}${++dirs}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const cleanups: (() => Promise<unknown>)[] = [];
function later<T extends { close(): Promise<unknown> }>(x: T): T {
  cleanups.push(() => x.close());
  return x;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sealcam-device-'));
  pool = new SealPool({ jobs: 1 });
});
afterEach(async () => {
  for (const close of cleanups.splice(0).reverse()) await close().catch(() => undefined);
});
afterAll(async () => {
  await pool?.close();
  rmSync(root, { recursive: true, force: true });
});

/** Configuration pointing every local path into a fresh directory. */
function localConfig(dir: string): SealcamConfig {
  const config = configUnder(dir);
  config.seal.segmentSize = 4096; // several segments per image
  return config;
}

interface Rig {
  dir: string;
  config: SealcamConfig;
  keys: LocalKeyProvider;
  store: LocalStore;
  notifier: OutboxNotifier;
}

function rig(): Rig {
  const dir = fresh();
  const config = localConfig(dir);
  return { dir, config, keys: new LocalKeyProvider(config.keys.dir), store: new LocalStore(config.store.dir), notifier: later(new OutboxNotifier(config.notify.outboxFile)) };
}

async function device(r: Pick<Rig, 'config' | 'keys'> & { store: BlobStore; notifier: Notifier }, extra: Partial<DeviceOptions> = {}): Promise<Device> {
  return later(await createDevice({ deviceId: 'cam-01', config: r.config, keys: r.keys, store: r.store, notifier: r.notifier, pool, telemetryEveryMs: 0, ...extra }));
}

const readAll = (stream: Readable): Promise<Buffer> => buffer(stream);

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const sealedEvents = async (file: string) => (await readOutbox(file)).filter((l) => l.type === 'sealed-image').map((l) => l.body as SealedImageEvent);

/** Every spelling a leaked key would take. */
function spellings(key: Uint8Array): string[] {
  const b = Buffer.from(key);
  return [b.toString('hex'), b.toString('base64'), b.toString('base64url')];
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A real LocalStore whose puts can be made to fail as an unreachable service (transient) or a refusal (permanent). */
class FaultyStore implements BlobStore {
  fault: 'none' | 'unreachable' | 'refused' = 'none';
  readonly kind: string;
  constructor(private readonly inner: LocalStore) {
    this.kind = inner.kind;
  }
  put(name: string, body: Readable | Uint8Array, options?: PutOptions): Promise<BlobInfo> {
    if (this.fault === 'unreachable') return Promise.reject(new SealcamError('EUNREACHABLE', 'cannot reach the test store'));
    if (this.fault === 'refused') return Promise.reject(new SealcamError('EACCES', 'the test store refuses this device'));
    return this.inner.put(name, body, options);
  }
  get = (name: string) => this.inner.get(name);
  head = (name: string) => this.inner.head(name);
  list = (options?: ListOptions) => this.inner.list(options);
  folders = (prefix: string) => this.inner.folders(prefix);
  delete = (name: string) => this.inner.delete(name);
  link = (name: string, seconds: number) => this.inner.link(name, seconds);
}

describe('one device, local parts', () => {
  it('an image arrives in the store, opens to the exact original bytes, and its event (over MQTT) matches and carries no key', async () => {
    const r = rig();
    // The raw publishes too, to look for key bytes in exactly what went over the wire.
    const raw: string[] = [];
    const broker = later(await startLocalBroker({ onPublish: (m) => raw.push(m.topic + m.payload.toString()) }));
    const got: SealedImageEvent[] = [];
    later(await subscribeEvents({ url: broker.url, clientId: 'test-receiver' }, (e) => void got.push(e)));
    const notifier = later(new MqttNotifier({ url: broker.url, clientId: 'cam-01-notifier', queueDir: join(r.dir, 'queue') }));
    const cam = await device({ ...r, notifier });
    const jpeg = (await sampleImages()).find((s) => s.name.endsWith('.jpg'))!;
    const captureTime = new Date(Date.UTC(2024, 4, 1, 23, 59, 58, 123));

    const result = await cam.sendImage({ ...jpeg, captureTime });
    await waitFor(() => got.length === 1, 'the event');
    const event = got[0]!;
    expect(raw.some((m) => m.includes(event.eventId))).toBe(true);

    // The blob: named by device and UTC capture date, and its bytes are what the event describes.
    expect(result.blobName).toMatch(/^cam-01\/2024\/05\/01\/235958123-000001-[0-9a-f]{6}-car-park-day\.jpg\.sealed$/);
    const stored = await readAll(await r.store.get(result.blobName));
    expect(event).toEqual({
      deviceId: 'cam-01',
      store: 'local',
      blobName: result.blobName,
      sealedSize: stored.length,
      sha256: sha256(stored),
      keyName: 'sealcam-kek',
      keyVersion: (await r.keys.list('sealcam-kek'))[0]!.version,
      format: 'sealed',
      captureTime: captureTime.toISOString(),
      eventId: event.eventId,
    });
    expect(result).toMatchObject({ sha256: event.sha256, sealedSize: stored.length, originalSize: jpeg.bytes.length, queued: false, keyVersion: '1' });

    // It opens with the key the header names, to the original bytes and metadata.
    const opened = await openBuffer(stored, { kek: kekFromProvider(r.keys) });
    expect(Buffer.compare(opened.plaintext, jpeg.bytes)).toBe(0);
    expect(opened.header.metadata).toMatchObject({
      contentType: 'image/jpeg',
      originalSize: jpeg.bytes.length,
      deviceId: 'cam-01',
      captureTime: captureTime.toISOString(),
      originalName: 'car-park-day.jpg',
    });

    // Non-secret blob metadata; no key bytes in the event, the metadata or the stats.
    const info = (await r.store.head(result.blobName))!;
    expect(info.metadata).toMatchObject({ format: 'sealed', device: 'cam-01', capture_time: captureTime.toISOString(), sha256: event.sha256 });
    const kek = (await r.keys.get('sealcam-kek', '1')).key;
    for (const secret of spellings(kek)) {
      for (const text of [...raw, JSON.stringify(info), JSON.stringify(result), JSON.stringify(cam.stats())]) expect(text).not.toContain(secret);
    }
    expect(cam.stats()).toMatchObject({ imagesSent: 1, bytesSent: stored.length, originalBytes: jpeg.bytes.length, queued: 0 });
  });

  it('gives each image its own blob name, even with the same source name and capture time', async () => {
    const r = rig();
    const cam = await device(r);
    const frame = syntheticFrame('cam-01', 7, 2048);
    const captureTime = new Date('2024-05-01T12:00:00Z');
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await cam.sendImage({ ...frame, captureTime }));
    const names = results.map((x) => x.blobName);
    expect(new Set(names).size).toBe(4);
    expect((await r.store.list()).map((b) => b.name).sort()).toEqual([...names].sort());
    // A second device instance (a restart) starts its sequence again, and still never reuses a name.
    await cam.close();
    const again = await device(r);
    const after = await again.sendImage({ ...frame, captureTime });
    expect(names).not.toContain(after.blobName);
  });

  it('sends a file path with its modification time as the capture time', async () => {
    const r = rig();
    const cam = await device(r);
    const file = join(r.dir, 'snap.png');
    writeFileSync(file, syntheticFrame('cam-01', 1, 4096).bytes);
    utimesSync(file, new Date('2023-12-31T23:00:00Z'), new Date('2023-12-31T23:00:00Z'));
    const result = await cam.sendImage(file);
    expect(result.blobName).toMatch(/^cam-01\/2023\/12\/31\/230000000-000001-[0-9a-f]{6}-snap\.png\.sealed$/);
    expect(result.captureTime).toBe('2023-12-31T23:00:00.000Z');
    const opened = await openBuffer(await readAll(await r.store.get(result.blobName)), { kek: kekFromProvider(r.keys) });
    expect(Buffer.compare(opened.plaintext, readFileSync(file))).toBe(0);
    expect(opened.header.metadata.contentType).toBe('image/png');
  });

  it('refuses bad input in one line: device id, image, missing file', async () => {
    const r = rig();
    await expect(createDevice({ deviceId: 'cam/01', config: r.config, keys: r.keys, store: r.store, notifier: r.notifier, pool })).rejects.toThrow(InputError);
    const cam = await device(r);
    await expect(cam.sendImage({ name: '', bytes: new Uint8Array(1) })).rejects.toThrow(/image name/);
    await expect(cam.sendImage({ name: 'x.jpg', bytes: 'text' as unknown as Uint8Array })).rejects.toThrow(/Uint8Array/);
    await expect(cam.sendImage(join(r.dir, 'missing.jpg'))).rejects.toThrow(/cannot read image .*missing\.jpg: no such file/);
    expect(await r.store.list()).toEqual([]);
  });

  it('a key rotation seals the next images under the new version, and the old ones still open', async () => {
    const r = rig();
    const cam = await device(r, { keyRefreshMs: 0 });
    const first = await cam.sendImage(syntheticFrame('cam-01', 1, 2048));
    await r.keys.rotate('sealcam-kek');
    const second = await cam.sendImage(syntheticFrame('cam-01', 2, 2048));
    expect([first.keyVersion, second.keyVersion]).toEqual(['1', '2']);
    for (const x of [first, second]) {
      const opened = await openBuffer(await readAll(await r.store.get(x.blobName)), { kek: kekFromProvider(r.keys) });
      expect(asV1(opened.header).keyVersion).toBe(x.keyVersion);
    }
    expect((await sealedEvents(r.config.notify.outboxFile)).map((e) => e.keyVersion)).toEqual(['1', '2']);
  });

  it('reports telemetry: periodically, and a last sample on close', async () => {
    const r = rig();
    const cam = await device(r, { telemetryEveryMs: 50 });
    const a = await cam.sendImage(syntheticFrame('cam-01', 1, 2048));
    const b = await cam.sendImage(syntheticFrame('cam-01', 2, 2048));
    await new Promise((done) => setTimeout(done, 150));
    await cam.close();
    const samples = (await readOutbox(r.config.notify.outboxFile)).filter((l) => l.type === 'telemetry').map((l) => l.body as TelemetrySample);
    expect(samples.length).toBeGreaterThanOrEqual(2);
    const last = samples.at(-1)!;
    expect(last).toMatchObject({ deviceId: 'cam-01', imagesSent: 2, bytesSent: a.sealedSize + b.sealedSize, queueLength: 0 });
    expect(samples.some((s) => s.sealMs > 0 && s.uploadMs > 0)).toBe(true);
  });
});

describe('store failures', () => {
  it('an unreachable store queues the sealed image in the outbox; the event is sent only once the upload succeeded', async () => {
    const r = rig();
    const store = new FaultyStore(r.store);
    const cam = await device({ ...r, store }, { outboxRetryMs: 60_000 });
    const png = (await sampleImages()).find((s) => s.name.endsWith('.png'))!;

    store.fault = 'unreachable';
    const result = await cam.sendImage(png);
    expect(result.queued).toBe(true);
    expect(await r.store.list()).toEqual([]);
    const queued = await listOutbox(cam.outboxDir);
    expect(queued.map((e) => e.record.name)).toEqual([result.blobName]);
    expect(sha256(readFileSync(join(queued[0]!.entry, 'blob')))).toBe(result.sha256);
    await r.notifier.flush();
    expect(await sealedEvents(r.config.notify.outboxFile)).toEqual([]);
    expect(cam.stats()).toMatchObject({ imagesSent: 0, queued: 1 });

    // Still down: a retry keeps it, and still no event.
    expect(await cam.drainOutbox()).toEqual({ sent: 0, remaining: 1 });
    expect(await sealedEvents(r.config.notify.outboxFile)).toEqual([]);

    store.fault = 'none';
    expect(await cam.drainOutbox()).toEqual({ sent: 1, remaining: 0 });
    const stored = await readAll(await r.store.get(result.blobName));
    const events = await sealedEvents(r.config.notify.outboxFile);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ blobName: result.blobName, sha256: sha256(stored), sealedSize: stored.length, keyName: 'sealcam-kek', keyVersion: '1' });
    expect(sha256(stored)).toBe(result.sha256);
    const opened = await openBuffer(stored, { kek: kekFromProvider(r.keys) });
    expect(Buffer.compare(opened.plaintext, png.bytes)).toBe(0);
    expect(await listOutbox(cam.outboxDir)).toEqual([]);
    expect(cam.stats()).toMatchObject({ imagesSent: 1, queued: 0, bytesSent: stored.length });
  });

  it('a backlog left by an earlier run is sent and announced when the device starts again', async () => {
    const r = rig();
    const store = new FaultyStore(r.store);
    store.fault = 'unreachable';
    const first = await device({ ...r, store }, { outboxRetryMs: 60_000 });
    const queued = await first.sendImage(syntheticFrame('cam-01', 1, 4096));
    await first.close();
    store.fault = 'none';
    await device({ ...r, store });
    const file = r.config.notify.outboxFile;
    await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').includes(queued.blobName), 'its event');
    expect((await sealedEvents(file)).map((e) => e.sha256)).toEqual([queued.sha256]);
    expect(sha256(await readAll(await r.store.get(queued.blobName)))).toBe(queued.sha256);
  });

  it('a store that refuses (not transient) fails the image: nothing queued, no event', async () => {
    const r = rig();
    const store = new FaultyStore(r.store);
    store.fault = 'refused';
    const cam = await device({ ...r, store });
    await expect(cam.sendImage(syntheticFrame('cam-01', 1, 2048))).rejects.toThrow(/refuses this device/);
    expect(await listOutbox(cam.outboxDir)).toEqual([]);
    expect(await sealedEvents(r.config.notify.outboxFile)).toEqual([]);
  });
});

describe('runFleet', () => {
  it('3 devices x 4 images: 12 distinct blobs, each announced with its own SHA-256, all opening', async () => {
    const r = rig();
    const report = await runFleet({ devices: 3, rate: 50, count: 4, config: r.config, keys: r.keys, store: r.store, notifier: r.notifier, pool, frameBytes: 4096 });
    expect(report.deviceIds).toEqual(['cam-01-1', 'cam-01-2', 'cam-01-3']);
    expect(report.images).toBe(12);
    expect(report.queued).toBe(0);
    const names = report.results.map((x) => x.blobName);
    expect(new Set(names).size).toBe(12);
    const blobs = await r.store.list();
    expect(blobs.map((b) => b.name).sort()).toEqual([...names].sort());
    const events = await sealedEvents(r.config.notify.outboxFile);
    expect(events.map((e) => e.blobName).sort()).toEqual([...names].sort());
    for (const e of events) {
      const stored = await readAll(await r.store.get(e.blobName));
      expect(sha256(stored)).toBe(e.sha256);
      expect(e.blobName.startsWith(`${e.deviceId}/`)).toBe(true);
      await openBuffer(stored, { kek: kekFromProvider(r.keys) });
    }
    for (const id of report.deviceIds) expect(events.filter((e) => e.deviceId === id)).toHaveLength(4);
    expect(report.bytes).toBe(blobs.reduce((n, b) => n + b.size, 0));
    expect(report.seal.p95).toBeGreaterThanOrEqual(report.seal.p50);
    expect(report.upload.p50).toBeGreaterThan(0);
  });

  it('--own-keys: each device seals under its own key', async () => {
    const r = rig();
    const report = await runFleet({ devices: 3, rate: 50, count: 1, ownKeys: true, config: r.config, keys: r.keys, store: r.store, notifier: r.notifier, pool, images: 'samples' });
    expect(report.keyNames).toEqual(['sealcam-kek-cam-01-1', 'sealcam-kek-cam-01-2', 'sealcam-kek-cam-01-3']);
    const events = await sealedEvents(r.config.notify.outboxFile);
    expect(new Set(events.map((e) => e.keyName)).size).toBe(3);
    for (const e of events) expect(e.keyName).toBe(`sealcam-kek-${e.deviceId}`);
    const keys = await Promise.all(report.keyNames.map(async (name) => Buffer.from((await r.keys.get(name, '1')).key).toString('hex')));
    expect(new Set(keys).size).toBe(3);
    for (const e of events) {
      const opened = await openBuffer(await readAll(await r.store.get(e.blobName)), { kek: kekFromProvider(r.keys) });
      expect(asV1(opened.header).keyId).toBe(e.keyName);
    }
  });

  it('stops on its abort signal, and refuses a fleet that could never stop', async () => {
    const r = rig();
    const stop = new AbortController();
    let sent = 0;
    const report = await runFleet({
      devices: 2,
      rate: 20,
      signal: stop.signal,
      config: r.config,
      keys: r.keys,
      store: r.store,
      notifier: r.notifier,
      pool,
      frameBytes: 2048,
      onImage: () => ++sent === 3 && stop.abort(),
    });
    expect(report.interrupted).toBe(true);
    expect(report.images).toBe(sent);
    expect(report.images).toBeLessThan(6);
    await expect(runFleet({ devices: 1, rate: 1, config: r.config })).rejects.toThrow(/needs a count, a duration or an abort signal/);
    await expect(runFleet({ devices: 0, rate: 1, count: 1, config: r.config })).rejects.toThrow(/devices must be/);
  });
});

// --- Images ---------------------------------------------------------------------------------------

/** CRC-32 (IEEE), written out here so the check does not share code with the writer. */
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Walks a PNG: signature, chunks with valid CRCs, IHDR first, IEND last; returns its size and the inflated scanlines. */
function checkPng(bytes: Uint8Array): { width: number; height: number; pixels: Buffer } {
  const b = Buffer.from(bytes);
  expect([...b.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const types: string[] = [];
  const idat: Buffer[] = [];
  let at = 8;
  while (at < b.length) {
    const length = b.readUInt32BE(at);
    const type = b.toString('latin1', at + 4, at + 8);
    expect(b.readUInt32BE(at + 8 + length)).toBe(crc32(b.subarray(at + 4, at + 8 + length)));
    if (type === 'IDAT') idat.push(b.subarray(at + 8, at + 8 + length));
    types.push(type);
    at += 12 + length;
  }
  expect(at).toBe(b.length);
  expect(types[0]).toBe('IHDR');
  expect(types.at(-1)).toBe('IEND');
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  expect([...b.subarray(24, 29)]).toEqual([8, 2, 0, 0, 0]);
  const pixels = inflateSync(Buffer.concat(idat));
  expect(pixels.length).toBe(height * (1 + 3 * width));
  for (let y = 0; y < height; y++) expect(pixels[y * (1 + 3 * width)]).toBeLessThanOrEqual(4); // a valid filter type per row
  return { width, height, pixels };
}

/** Walks a baseline JPEG's markers: SOI, the tables, SOF0 with its size, SOS, entropy-coded data, EOI. */
function checkJpeg(bytes: Uint8Array): { width: number; height: number } {
  const b = Buffer.from(bytes);
  expect(b.readUInt16BE(0)).toBe(0xffd8);
  expect(b.readUInt16BE(b.length - 2)).toBe(0xffd9);
  const markers: number[] = [];
  let at = 2;
  let size = { width: 0, height: 0 };
  for (;;) {
    expect(b[at]).toBe(0xff);
    const marker = b[at + 1]!;
    markers.push(marker);
    const length = b.readUInt16BE(at + 2);
    if (marker === 0xc0) size = { height: b.readUInt16BE(at + 5), width: b.readUInt16BE(at + 7) };
    at += 2 + length;
    if (marker === 0xda) break;
  }
  // In the scan, 0xFF is always stuffed (FF 00) or a restart marker, until the EOI.
  for (let i = at; i < b.length - 2; i++) if (b[i] === 0xff) expect(b[i + 1] === 0 || (b[i + 1]! >= 0xd0 && b[i + 1]! <= 0xd7)).toBe(true);
  expect(markers).toEqual(expect.arrayContaining([0xe0, 0xdb, 0xc0, 0xc4, 0xda]));
  expect(size.width * size.height).toBeGreaterThan(0);
  return size;
}

describe('images', () => {
  it('the committed samples are valid PNGs and baseline JPEGs of tens of KB', async () => {
    const samples = await sampleImages();
    expect(samples.filter((s) => s.contentType === 'image/png').length).toBeGreaterThanOrEqual(2);
    expect(samples.filter((s) => s.contentType === 'image/jpeg').length).toBeGreaterThanOrEqual(2);
    for (const s of samples) {
      expect(s.bytes.length).toBeGreaterThan(10_000);
      expect(s.bytes.length).toBeLessThan(100_000);
      const { width, height } = s.contentType === 'image/png' ? checkPng(s.bytes) : checkJpeg(s.bytes);
      expect(width).toBeGreaterThanOrEqual(100);
      expect(height).toBeGreaterThanOrEqual(100);
    }
  });

  it('make-samples.mjs regenerates the committed samples', () => {
    const out = fresh('samples');
    const run = spawnSync(process.execPath, [join(samplesDir, 'make-samples.mjs'), out], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const made = readdirSync(out).sort();
    expect(made).toEqual(readdirSync(samplesDir).filter((n) => !n.endsWith('.mjs')).sort());
    for (const name of made) {
      const [fresh, committed] = [readFileSync(join(out, name)), readFileSync(join(samplesDir, name))];
      // PNGs by their pixels (another zlib may deflate differently), JPEGs byte for byte.
      if (name.endsWith('.png')) expect(checkPng(fresh).pixels.equals(checkPng(committed).pixels), name).toBe(true);
      else expect(fresh.equals(committed), `${name} differs from the committed file: rerun make-samples.mjs`).toBe(true);
    }
  });

  it('synthetic frames are valid PNGs of about the asked size, the same for the same device and index, different otherwise', () => {
    const a = syntheticFrame('cam-01', 5, 20_000);
    checkPng(a.bytes);
    expect(a.contentType).toBe('image/png');
    expect(a.bytes.length).toBeGreaterThanOrEqual(20_000);
    expect(a.bytes.length).toBeLessThan(21_000);
    expect(Buffer.from(syntheticFrame('cam-01', 5, 20_000).bytes).equals(a.bytes)).toBe(true);
    expect(Buffer.from(syntheticFrame('cam-01', 6, 20_000).bytes).equals(a.bytes)).toBe(false);
    expect(Buffer.from(syntheticFrame('cam-02', 5, 20_000).bytes).equals(a.bytes)).toBe(false);
    expect(() => syntheticFrame('cam-01', -1)).toThrow(/index/);
    expect(() => syntheticFrame('cam-01', 0, 10)).toThrow(/frame size/);
  });
});

describe('watchImages', () => {
  it('yields renamed-in and settled image files once, ignores hidden, partial and non-image files, and waits for a growing file', async () => {
    const dir = fresh('watch');
    const stop = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const path of watchImages(dir, { signal: stop.signal, settleMs: 300, pollMs: 30 })) seen.push(path.slice(dir.length + 1));
    })();
    writeFileSync(join(dir, '.incoming.jpg'), 'x');
    writeFileSync(join(dir, 'b.jpg.part'), 'x');
    writeFileSync(join(dir, 'notes.txt'), 'x');
    writeFileSync(join(dir, 'growing.png'), 'x');
    renameSync(join(dir, '.incoming.jpg'), join(dir, 'a.jpg'));
    // Keep growing.png changing for longer than the settle time.
    for (let i = 0; i < 8; i++) {
      await new Promise((done) => setTimeout(done, 60));
      writeFileSync(join(dir, 'growing.png'), 'x'.repeat(i + 2));
    }
    expect(seen).toEqual(['a.jpg']);
    await waitFor(() => seen.length === 2, 'the settled file');
    expect(seen).toEqual(['a.jpg', 'growing.png']);
    await new Promise((done) => setTimeout(done, 400));
    stop.abort();
    await watching;
    expect(seen).toEqual(['a.jpg', 'growing.png']); // nothing twice, nothing else
  });
});

// --- IoT Hub ----------------------------------------------------------------------------------------

describe('a device notifying through IoT Hub (real azure-iot-device client, TLS, SAS checked by the stand-in)', () => {
  it('delivers its event and telemetry as device-to-cloud messages', async () => {
    const deviceKey = randomBytes(32).toString('base64');
    const hub = later(await startIotHubBroker({ 'cam-01': deviceKey }));
    const r = rig();
    r.config.notify.kind = 'iothub';
    r.config.notify.caFile = join(r.dir, 'hub-ca.pem');
    writeFileSync(r.config.notify.caFile, hub.ca);
    const env = { SEALCAM_IOTHUB_CONNECTION_STRING: hub.connectionString('cam-01') };
    const { notifier } = await notifierFromConfig(r.config, 'cam-01', env);
    later(notifier);
    const cam = await createDevice({ deviceId: 'cam-01', config: r.config, keys: r.keys, store: r.store, notifier, pool, telemetryEveryMs: 0 });
    const result = await cam.sendImage(syntheticFrame('cam-01', 1, 4096));
    await cam.close(); // sends a last telemetry sample
    await notifier.flush(30_000);

    const events = hub.messages.filter((m) => m.properties.type === 'sealed-image');
    expect(events).toHaveLength(1);
    const stored = await readAll(await r.store.get(result.blobName));
    expect(events[0]!.body).toMatchObject({ deviceId: 'cam-01', store: 'local', blobName: result.blobName, sha256: sha256(stored), keyName: 'sealcam-kek', keyVersion: '1' });
    expect(events[0]!.topic.startsWith('devices/cam-01/messages/events/')).toBe(true);
    expect(hub.messages.filter((m) => m.properties.type === 'telemetry').map((m) => m.body)).toEqual([expect.objectContaining({ deviceId: 'cam-01', imagesSent: 1 })]);
    const kek = (await r.keys.get('sealcam-kek', '1')).key;
    for (const m of hub.messages) for (const secret of [deviceKey, ...spellings(kek)]) expect(m.topic + m.raw).not.toContain(secret);
  });

  it('refuses an iothub configuration without the connection string, without echoing anything secret', async () => {
    const r = rig();
    r.config.notify.kind = 'iothub';
    await expect(notifierFromConfig(r.config, 'cam-01', {})).rejects.toThrow(/IoT Hub needs the device connection string in \$SEALCAM_IOTHUB_CONNECTION_STRING/);
  });
});

// --- The command line ------------------------------------------------------------------------------

/** Without a progress bar: the output is what the tests read. */
const NO_PROGRESS = { SEALCAM_NO_PROGRESS: '1' };
const sealcam = (cwd: string, ...args: string[]): Run => run(args, { cwd, env: NO_PROGRESS });

const sealedFiles = (dir: string): string[] =>
  (readdirSync(dir, { recursive: true }) as string[]).filter((n) => n.endsWith('.sealed') && !n.split('/').at(-1)!.startsWith('.'));

describe('sealcam device / simulate', () => {
  it('sealcam device --synthetic --count 3 with local everything: exit 0, a line per image, 3 blobs that open', async () => {
    const cwd = fresh('cli');
    const run = sealcam(cwd, 'device', '--synthetic', '--count', '3', '--rate', '50', '--jobs', '1', '--frame-size', '4096');
    expectOkCreatingKey(run, join(userKeyring(cwd), 'sealcam-kek', '1.key'));
    const lines = run.stdout.trim().split('\n');
    // The broker's URL, as the command a receiver in another terminal runs, on a line of its own.
    expect(lines[0]).toBe('local MQTT broker (events on sealcam/cam-01/events); in another terminal, in this directory:');
    expect(lines[1]).toMatch(/^ {2}sealcam receive --mqtt-url mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(lines.filter((l) => l.startsWith('sent cam-01/'))).toHaveLength(3);
    expect(lines.at(-1)).toMatch(/^cam-01: 3 images sent .* 0 queued/);
    const blobs = sealedFiles(join(cwd, '.sealcam', 'store'));
    expect(blobs).toHaveLength(3);
    const keys = new LocalKeyProvider(userKeyring(cwd));
    for (const blob of blobs) await openBuffer(readFileSync(join(cwd, '.sealcam', 'store', blob)), { kek: kekFromProvider(keys) });
    // Every notification was acknowledged by the broker before the exit: the queue is empty.
    expect(readdirSync(join(cwd, '.sealcam', 'queue', 'cam-01'))).toEqual([]);
  });

  it('sealcam simulate --devices 2 --count 2 --notify outbox: a summary, 4 blobs and 4 events', () => {
    const cwd = fresh('cli');
    const run = sealcam(cwd, 'simulate', '--devices', '2', '--rate', '50', '--count', '2', '--notify', 'outbox', '--jobs', '1', '--frame-size', '4096');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^2 devices, 4 images sent, 0 queued/m);
    expect(run.stdout).toMatch(/seal +p50 [\d.]+ ms, p95 [\d.]+ ms/);
    expect(run.stdout).toMatch(/throughput +[\d.]+ images\/s/);
    expect(sealedFiles(join(cwd, '.sealcam', 'store'))).toHaveLength(4);
    const events = readFileSync(join(cwd, '.sealcam', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(events.filter((e) => e.type === 'sealed-image').map((e) => e.body.deviceId).sort()).toEqual(['cam-01-1', 'cam-01-1', 'cam-01-2', 'cam-01-2']);
  });

  it('sealcam device stops cleanly on SIGTERM: images in progress finish, notifications are delivered, exit 0', async () => {
    const cwd = fresh('cli');
    const child = spawn(process.execPath, [CLI, 'device', '--synthetic', '--rate', '20', '--jobs', '1', '--frame-size', '4096'], { cwd, env: cleanEnv({ cwd, env: NO_PROGRESS }) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    await waitFor(() => (stdout.match(/^sent /gm) ?? []).length >= 3, 'three images');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(withoutLog(stderr)).toBe(`${createdKeyLine(join(userKeyring(cwd), 'sealcam-kek', '1.key'))}`);
    expect(logLines(stderr).map((l) => [l.level, l.device, l.msg])).toEqual([[LEVELS.info, 'cam-01', 'SIGTERM: finishing the images in progress (again to quit at once)']]);
    const sent = (stdout.match(/^sent /gm) ?? []).length;
    expect(stdout).toMatch(new RegExp(`^cam-01: ${sent} images sent .* 0 queued in the outbox$`, 'm'));
    expect(sealedFiles(join(cwd, '.sealcam', 'store'))).toHaveLength(sent);
    expect(readdirSync(join(cwd, '.sealcam', 'queue', 'cam-01'))).toEqual([]);
  });

  it('sealcam device --watch sends the images in a directory, moves them to sent/, and ignores other files', () => {
    const cwd = fresh('cli');
    const cam = join(cwd, 'cam');
    mkdirSync(cam);
    const files = { 'one.jpg': syntheticFrame('x', 1, 2048).bytes, 'two.png': syntheticFrame('x', 2, 2048).bytes };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(cam, name), bytes);
    writeFileSync(join(cam, 'notes.txt'), 'not an image');
    const run = sealcam(cwd, 'device', '--watch', cam, '--count', '2', '--settle-ms', '100', '--notify', 'outbox', '--jobs', '1');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^sent cam-01\/.*-one\.jpg\.sealed /m);
    expect(run.stdout).toMatch(/^sent cam-01\/.*-two\.png\.sealed /m);
    expect(readdirSync(cam).sort()).toEqual(['notes.txt', 'sent']);
    expect(readdirSync(join(cam, 'sent')).sort()).toEqual(['one.jpg', 'two.png']);
    expect(sealedFiles(join(cwd, '.sealcam', 'store'))).toHaveLength(2);
  });

  it('bad usage is one line and exit 1', () => {
    const cwd = fresh('cli');
    for (const [args, message] of [
      [['device'], /^sealcam: device needs one source: --watch DIR or --synthetic\n$/],
      [['device', '--watch', 'nowhere'], /^sealcam: --watch nowhere is not a directory\n$/],
      [['device', '--synthetic', '--count', '0'], /^sealcam: --count must be a positive integer, got "0"\n$/],
      [['simulate', '--devices', '2', '--rate', '1', '--count', '1', '--duration', '1'], /^sealcam: give --count or --duration, not both\n$/],
      [['device', '--synthetic', '--device', 'cam/1'], /^sealcam: device\.id 'cam\/1' must be/],
    ] as const) {
      const run = sealcam(cwd, ...args);
      expect(run.stderr).toMatch(message);
      expect(run.status).toBe(1);
    }
  });
});
