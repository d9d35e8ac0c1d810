import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configUnder, type SealcamConfig } from '../src/config.js';
import { SealcamError } from '../src/errors.js';
import { parseRecord } from '../src/fleet/records.js';
import { sealBuffer } from '../src/formats/sealed.js';
import { currentKek } from '../src/keys/kek.js';
import { LocalKeyProvider } from '../src/keys/local.js';
import { createNotifier, type Notifier, type SealedImageEvent } from '../src/notify/index.js';
import { startLocalBroker, type LocalBroker } from '../src/notify/local.js';
import { SealPool } from '../src/pool/pool.js';
import { createReceiver, type Receiver, type ReceiveResult, type ReceiverOptions } from '../src/receiver/index.js';
import { AzureBlobStore } from '../src/storage/azure.js';
import { LocalStore } from '../src/storage/local.js';
import type { BlobStore, ListOptions, PutOptions } from '../src/storage/store.js';
import { startAzurite, type Azurite } from './fixtures/servers.js';
import { CLI } from './helpers/cli.js';
import { outputFiles } from './helpers/output.js';
import { LEVELS, logLines, withoutLog } from './helpers/log.js';

/**
 * The receiver against real parts: a LocalStore (and Azurite) holding blobs sealed here with the
 * local keyring, events published by a real MqttNotifier through an aedes broker on loopback, and
 * the built command line.
 */

const KEY = 'sealcam-kek';

let root: string;
let keys: LocalKeyProvider;
let pool: SealPool;
let broker: LocalBroker;
const cleanups: (() => Promise<unknown>)[] = [];
/** Closes `x` after the test even if an assertion fails. */
function later<T extends { close(): Promise<unknown> }>(x: T): T {
  cleanups.push(() => x.close());
  return x;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'sealcam-receiver-'));
  keys = new LocalKeyProvider(join(root, 'keys'));
  pool = new SealPool({ jobs: 2 });
  broker = await startLocalBroker();
});
afterEach(async () => {
  for (const close of cleanups.splice(0).reverse()) await close().catch(() => undefined);
});
afterAll(async () => {
  await broker?.close();
  await pool?.close();
  rmSync(root, { recursive: true, force: true });
});

const fresh = (name: string) => mkdtempSync(join(root, `${name}-`));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function configFor(dir: string, receiver: Partial<SealcamConfig['receiver']> = {}): SealcamConfig {
  const config = configUnder(dir);
  config.receiver = { output: join(dir, 'out'), quarantineDir: join(dir, 'quarantine'), concurrency: 2, pollSeconds: 0.2, ...receiver };
  config.seal.jobs = 2;
  return config;
}

interface Collected {
  results: ReceiveResult[];
  errors: SealcamError[];
}

async function receiverFor(store: BlobStore, config: SealcamConfig, extra: Partial<ReceiverOptions> = {}): Promise<Receiver & Collected> {
  const results: ReceiveResult[] = [];
  const errors: SealcamError[] = [];
  const receiver = await createReceiver({ config, keys, store, pool, statusIntervalMs: 0, onResult: (r) => results.push(r), onError: (e) => errors.push(e), ...extra });
  later(receiver);
  return Object.assign(receiver, { results, errors });
}

interface Image {
  device: string;
  /** The image's name in the output: the blob's base name without `.sealed`. */
  name: string;
  day: string;
  plain: Buffer;
  sealed: Uint8Array;
  blobName: string;
  event: SealedImageEvent;
}

let seq = 0;

/** A random "image" sealed under the current key (or a given version), with its event. */
async function makeImage(options: { device?: string; name?: string | null; size?: number; day?: string; keyVersion?: string; headerDevice?: string } = {}): Promise<Image> {
  const n = ++seq;
  const device = options.device ?? 'cam-01';
  const day = options.day ?? '2024-05-01';
  const name = options.name === undefined ? `img-${n}.jpg` : options.name;
  const plain = randomBytes(options.size ?? 3000 + ((n * 7919) % 20_000));
  const captureTime = `${day}T12:00:${String(n % 60).padStart(2, '0')}.000Z`;
  const kek = await currentKek(keys, KEY);
  const keyVersion = options.keyVersion ?? kek.keyVersion;
  const metadata = { deviceId: options.headerDevice ?? device, captureTime, contentType: 'image/jpeg', ...(name === null ? {} : { originalName: name }) };
  const sealed = sealBuffer(plain, { kek: kek.kek, keyId: kek.keyId, keyVersion, segmentSize: 4096, metadata });
  const base = `${String(n).padStart(4, '0')}-shot`;
  const blobName = `${device}/${day.replaceAll('-', '/')}/${base}.sealed`;
  const event: SealedImageEvent = {
    deviceId: device,
    store: 'local',
    blobName,
    sealedSize: sealed.length,
    sha256: sha256(sealed),
    keyName: kek.keyId,
    keyVersion,
    format: 'sealed',
    captureTime,
    eventId: randomUUID(),
  };
  // The output name comes from the blob's name alone, so every receiver picks the same one.
  return { device, name: base, day, plain, sealed, blobName, event };
}

async function upload(store: BlobStore, images: Image[]): Promise<void> {
  for (const image of images) await store.put(image.blobName, image.sealed, { metadata: { format: 'sealed', device_id: image.device } });
}

async function notifier(url = broker.url): Promise<Notifier> {
  return later(await createNotifier('mqtt', { url, clientId: `cam-${randomUUID()}`, queueDir: fresh('queue'), reconnectPeriodMs: 200 }));
}

async function waitFor(check: () => boolean, what: string | (() => string), timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const files = (dir: string) => outputFiles(dir);

/** Each image exactly once, byte-identical, under <device>/<day>/<name>; nothing else, no staging left over. */
function expectReceived(outDir: string, images: Image[]): void {
  expect(files(outDir)).toEqual(images.map((i) => join(i.device, i.day, i.name)).sort());
  for (const image of images) expect(Buffer.compare(readFileSync(join(outDir, image.device, image.day, image.name)), image.plain), image.name).toBe(0);
}

const subscription = (clientId: string, url = broker.url) => ({ url, clientId, reconnectPeriodMs: 200 });

describe('receiving over MQTT', () => {
  it('opens every image byte-identical into <device>/<yyyy-mm-dd>/<blob name>, whatever name its header gives', async () => {
    const dir = fresh('basic');
    const store = new LocalStore(join(dir, 'store'));
    const images = [
      await makeImage(),
      await makeImage({ size: 200_000 }), // many segments
      await makeImage({ device: 'cam-02' }),
      await makeImage({ device: 'cam-02', day: '2024-05-02' }),
      await makeImage({ name: 'same.jpg' }),
      await makeImage({ name: 'same.jpg' }), // another image with the same original name: its own blob, its own name
      await makeImage({ name: '../../etc/My Photo (1).jpg' }), // a header cannot steer where the image goes
      await makeImage({ name: null }),
    ];
    await upload(store, images);
    const rx = await receiverFor(store, configFor(dir));
    await rx.subscribe(subscription('rx-basic'));
    const cam = await notifier();
    for (const image of images) await cam.notify(image.event);
    await cam.flush();
    await waitFor(() => rx.results.length === images.length, () => `${images.length} results (have ${rx.results.length})`);

    expect(rx.errors).toEqual([]);
    expect(rx.results.map((r) => r.status)).toEqual(images.map(() => 'opened'));
    const out = join(dir, 'out');
    expectReceived(out, images);
    for (const r of rx.results) {
      const image = images.find((i) => i.blobName === r.blobName)!;
      expect(r).toMatchObject({ eventId: image.event.eventId, deviceId: image.device, outputPath: join(out, image.device, image.day, image.name), bytes: image.plain.length });
      for (const ms of [r.downloadMs, r.openMs, r.latencyMs]) expect(ms).toBeGreaterThanOrEqual(0);
    }
    expect(rx.stats()).toMatchObject({ opened: images.length, duplicates: 0, quarantined: 0, failed: 0, bytes: images.reduce((n, i) => n + i.plain.length, 0) });
  });

  it('an event naming a blob outside the <device>/<yyyy>/<mm>/<dd>/<name>.sealed layout is refused before any work', async () => {
    const dir = fresh('layout');
    const store = new LocalStore(join(dir, 'store'));
    const image = await makeImage();
    const odd = { ...image.event, blobName: 'cam-01/loose.sealed' };
    await store.put(odd.blobName, image.sealed);
    const rx = await receiverFor(store, configFor(dir));
    expect(await rx.handle(odd)).toMatchObject({ status: 'refused', reason: expect.stringMatching(/not a name sealcam writes/) });
    expect(files(join(dir, 'out'))).toEqual([]);
  });

  it('a repeated event is processed once, also when repeats arrive together, over MQTT, or to a new receiver (the image is the state)', async () => {
    const dir = fresh('repeat');
    const store = new LocalStore(join(dir, 'store'));
    const image = await makeImage();
    await upload(store, [image]);
    const config = configFor(dir);
    const rx = await receiverFor(store, config);

    const together = await Promise.all([rx.handle(image.event), rx.handle(image.event), rx.handle({ ...image.event, eventId: randomUUID() })]);
    expect(together.map((r) => r.status).sort()).toEqual(['duplicate', 'duplicate', 'opened']);
    await rx.subscribe(subscription('rx-repeat'));
    const cam = await notifier();
    await cam.notify({ ...image.event, eventId: randomUUID() }); // the device sent it again
    await cam.flush();
    await waitFor(() => rx.results.length === 4, 'the MQTT repeat');
    expect(rx.results[3]).toMatchObject({ status: 'duplicate', outputPath: together.find((r) => r.status === 'opened')!.outputPath });
    await rx.close();

    const again = await receiverFor(store, config);
    expect(await again.handle(image.event)).toMatchObject({ status: 'duplicate', blobName: image.blobName });
    expect(again.stats()).toMatchObject({ opened: 0, duplicates: 1 });
    expectReceived(join(dir, 'out'), [image]);
  });

  it('a receiver closed mid-run and restarted under its client id ends with every image exactly once', async () => {
    const dir = fresh('restart');
    const store = new LocalStore(join(dir, 'store'));
    const images: Image[] = [];
    for (let i = 0; i < 12; i++) images.push(await makeImage({ device: i % 2 ? 'cam-01' : 'cam-02', size: 300_000 }));
    await upload(store, images);
    const config = configFor(dir, { concurrency: 1 });
    const first = await receiverFor(store, config);
    await first.subscribe(subscription('rx-restart'));
    const cam = await notifier();
    for (const image of images) await cam.notify(image.event);
    await cam.flush();
    await waitFor(() => first.results.length >= 2, 'the first images');
    await first.close();
    const before = first.stats().opened;
    expect(before).toBeLessThan(images.length); // it really stopped mid-run

    const second = await receiverFor(store, config);
    await second.subscribe(subscription('rx-restart')); // the same session: the broker kept what was not acknowledged
    await waitFor(() => second.stats().opened === images.length - before, () => `the rest (opened ${before} + ${second.stats().opened})`);
    expectReceived(join(dir, 'out'), images);
    expect([...first.results, ...second.results].filter((r) => r.status === 'opened').map((r) => r.blobName).sort()).toEqual(images.map((i) => i.blobName).sort());
  });

  it('a broker outage delays but loses nothing (persistent session, QoS 1)', async () => {
    const dir = fresh('outage');
    const store = new LocalStore(join(dir, 'store'));
    const own = later(await startLocalBroker());
    const images = [await makeImage(), await makeImage(), await makeImage(), await makeImage(), await makeImage()];
    await upload(store, images);
    const rx = await receiverFor(store, configFor(dir));
    await rx.subscribe(subscription('rx-outage', own.url));
    const cam = await notifier(own.url);
    await cam.notify(images[0]!.event);
    await waitFor(() => rx.results.length === 1, 'the image before the outage');

    await own.stop();
    for (const image of images.slice(1)) await cam.notify(image.event);
    await new Promise((r) => setTimeout(r, 400));
    expect(rx.results).toHaveLength(1);
    await own.start();
    await cam.flush(15_000);
    await waitFor(() => rx.stats().opened === images.length, () => `the backlog (have ${rx.stats().opened})`);
    // What the broker delivered again (it may resend what was in flight at the outage) is a duplicate, counted.
    expect(rx.results.filter((r) => r.status !== 'opened').every((r) => r.status === 'duplicate')).toBe(true);
    expectReceived(join(dir, 'out'), images);
  });
});

describe('records for the dashboard', () => {
  it('each opened image, each quarantined blob and the receiver status are recorded beside the output, once', async () => {
    const dir = fresh('records');
    const store = new LocalStore(join(dir, 'store'));
    const good = await makeImage();
    const tampered = await makeImage();
    tampered.sealed[200]! ^= 0x10;
    tampered.event.sha256 = sha256(tampered.sealed);
    await upload(store, [good, tampered]);
    const config = configFor(dir);
    const rx = await receiverFor(store, config, { id: 'rx-records' });
    await rx.handle(good.event);
    await rx.handle(tampered.event);
    await rx.handle(good.event); // a duplicate: no second record
    await rx.close();

    const out = join(dir, 'out');
    const records = outputFiles(out, { records: true }).filter((f) => f.startsWith('.sealcam'));
    expect(records).toEqual([
      join('.sealcam', 'receivers', 'rx-records.json'),
      join('.sealcam', 'records', good.device, good.day, `${good.name}.json`),
      expect.stringMatching(/^\.sealcam\/records\/quarantine\/\d{4}-\d\d-\d\d\/.+\.json$/),
    ].sort());
    const read = (f: string) => parseRecord(readFileSync(join(out, f)));
    expect(read(records.find((f) => f.includes(good.name))!)).toMatchObject({
      kind: 'image',
      deviceId: good.device,
      blobName: good.blobName,
      outputPath: `${good.device}/${good.day}/${good.name}`,
      bytes: good.plain.length,
      sha256: sha256(good.plain),
      receiver: 'rx-records',
      signature: 'n/a',
      // Random bytes claiming to be a JPEG: the image is kept (it verified), the check's finding recorded.
      warnings: [expect.stringMatching(/not a PNG or JPEG|JPEG/)],
    });
    expect(read(records.find((f) => f.includes('quarantine'))!)).toMatchObject({ kind: 'quarantine', blobName: tampered.blobName, code: 'EAUTH', receiver: 'rx-records' });
    expect(read(join('.sealcam', 'receivers', 'rx-records.json'))).toMatchObject({ kind: 'receiver', opened: 1, duplicates: 1, quarantined: 1, bytes: good.plain.length, inFlight: 0 });
  });
});

describe('quarantine', () => {
  it('a tampered blob, an unknown key version, a foreign device and a non-sealed blob are quarantined with a report; a SHA-256 the event got wrong is not', async () => {
    const dir = fresh('quarantine');
    const store = new LocalStore(join(dir, 'store'));
    const good = await makeImage();
    const tampered = await makeImage({ size: 50_000 });
    tampered.sealed[Math.floor(tampered.sealed.length / 2)]! ^= 0x01;
    tampered.event.sha256 = sha256(tampered.sealed); // the device sealed it, something changed it before upload
    const mismatch = await makeImage();
    mismatch.event.sha256 = sha256(Buffer.from('some other blob'));
    const unknownKey = await makeImage({ keyVersion: '99' });
    const foreign = await makeImage({ headerDevice: 'cam-99' });
    const garbage = await makeImage();
    garbage.sealed = randomBytes(5000);
    garbage.event.sha256 = sha256(garbage.sealed);
    const bad = [tampered, unknownKey, foreign, garbage];
    await upload(store, [good, mismatch, ...bad]);

    const config = configFor(dir);
    const rx = await receiverFor(store, config);
    const [goodResult, mismatchResult, ...badResults] = await Promise.all([good, mismatch, ...bad].map((i) => rx.handle(i.event)));
    // The event is a hint: the blob is judged on its own bytes, and the wrong SHA-256 is counted.
    expect(mismatchResult).toMatchObject({ status: 'opened', notificationMismatch: ['sha256'] });
    const results = [goodResult!, ...badResults];
    expect(results.map((r) => r.status)).toEqual(['opened', 'quarantined', 'quarantined', 'quarantined', 'quarantined']);
    expect(results.slice(1).map((r) => r.reason)).toEqual([
      expect.stringMatching(/^a tag or the header MAC does not verify: segment \d+ failed verification/),
      expect.stringMatching(/^the key version is unknown: key sealcam-kek has no version 99/),
      expect.stringMatching(/^the header names another device: .*cam-99/),
      expect.stringMatching(/^not a well-formed sealed file: not a sealed file/),
    ]);
    expectReceived(join(dir, 'out'), [good, mismatch]); // nothing else, not even an empty directory's worth of files
    expect(rx.stats()).toMatchObject({ opened: 2, quarantined: 4, lies: 1 });

    const current = await currentKek(keys, KEY);
    const keySpellings = [Buffer.from(current.kek).toString('hex'), Buffer.from(current.kek).toString('base64')];
    for (const [i, image] of bad.entries()) {
      // Named by blob and content: the same bytes are kept once however many receivers judge them.
      const copy = join(config.receiver.quarantineDir, ...`${image.blobName}.${sha256(image.sealed).slice(0, 16)}`.split('/'));
      expect(results[i + 1]!.quarantinePath).toBe(copy);
      expect(Buffer.compare(readFileSync(copy), image.sealed)).toBe(0); // the sealed bytes, never plaintext
      const text = readFileSync(`${copy}.report.json`, 'utf8');
      for (const spelling of keySpellings) expect(text).not.toContain(spelling);
      expect(JSON.parse(text)).toMatchObject({
        blobName: image.blobName,
        deviceId: image.device,
        eventId: image.event.eventId,
        reason: results[i + 1]!.reason,
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        expectedSha256: image.event.sha256,
        sha256: sha256(image.sealed),
        size: image.sealed.length,
      });
    }
    // Judged already: not fetched again, also not by a new receiver.
    expect((await rx.handle(tampered.event)).status).toBe('duplicate');
    await rx.close();
    const again = await receiverFor(store, config);
    expect(await again.handle(unknownKey.event)).toMatchObject({ status: 'duplicate', reason: 'already quarantined: this content failed verification before' });
    await again.poll({ once: true });
    expect(again.stats()).toMatchObject({ opened: 0, quarantined: 0, duplicates: 1 });
  });

  it('transient store failures are retried with backoff, not quarantined', async () => {
    const dir = fresh('transient');
    const local = new LocalStore(join(dir, 'store'));
    const image = await makeImage();
    await upload(local, [image]);
    let gets = 0;
    const flaky = wrap(local, {
      get: async (name) => {
        if (++gets <= 2) throw new SealcamError('EUNREACHABLE', 'cannot reach the store (ECONNREFUSED) after retries');
        return local.get(name);
      },
    });
    const rx = await receiverFor(flaky, configFor(dir), { retry: { baseMs: 10 } });
    expect(await rx.handle(image.event)).toMatchObject({ status: 'opened' });
    expect(gets).toBe(3);
    expect(rx.stats()).toMatchObject({ opened: 1, quarantined: 0, failed: 0 });
    expect(files(join(dir, 'quarantine'))).toEqual([]);
  });
});

/** A store that delegates to `inner` except for the methods given. */
function wrap(inner: BlobStore, own: Partial<Pick<BlobStore, 'get' | 'list'>>): BlobStore {
  return {
    kind: inner.kind,
    put: (name: string, body: Parameters<BlobStore['put']>[1], options?: PutOptions) => inner.put(name, body, options),
    get: own.get ?? ((name: string) => inner.get(name)),
    head: (name: string) => inner.head(name),
    list: own.list ?? ((options?: ListOptions) => inner.list(options)),
    folders: (prefix: string) => inner.folders(prefix),
    delete: (name: string) => inner.delete(name),
    link: (name: string, seconds: number) => inner.link(name, seconds),
  };
}

describe('polling, keys, concurrency and crashes', () => {
  it('poll mode finds blobs without events, once or every pollSeconds, and skips what it processed', async () => {
    const dir = fresh('poll');
    const store = new LocalStore(join(dir, 'store'));
    const first = [await makeImage(), await makeImage({ device: 'cam-02' }), await makeImage()];
    await upload(store, first);
    await store.put('cam-01/2024/05/01/meta.json', Buffer.from('{}'), { metadata: { format: 'sidecar' } }); // not a sealed image
    const rx = await receiverFor(store, configFor(dir));
    await rx.poll({ once: true });
    expect(rx.results.map((r) => [r.status, r.eventId])).toEqual(first.map(() => ['opened', undefined]));

    const stop = new AbortController();
    const polling = rx.poll({ signal: stop.signal });
    const more = [await makeImage(), await makeImage({ device: 'cam-03' })];
    await upload(store, more);
    await waitFor(() => rx.results.length === 5, 'the blobs added while polling');
    await new Promise((r) => setTimeout(r, 500)); // a few more listings: nothing new, nothing repeated
    stop.abort();
    await polling;
    expect(rx.stats()).toMatchObject({ opened: 5, duplicates: 0, quarantined: 0 });
    expectReceived(join(dir, 'out'), [...first, ...more]);
  });

  it('after a key rotation blobs sealed under the old and the new version both open', async () => {
    const dir = fresh('rotation');
    const store = new LocalStore(join(dir, 'store'));
    const old = [await makeImage(), await makeImage()];
    const rotated = await keys.rotate(KEY);
    rotated.key.fill(0);
    const fresher = [await makeImage(), await makeImage()];
    expect(fresher[0]!.event.keyVersion).toBe(rotated.version);
    expect(old[0]!.event.keyVersion).not.toBe(rotated.version);
    await upload(store, [...old, ...fresher]);
    const rx = await receiverFor(store, configFor(dir));
    const results = await Promise.all([...old, ...fresher].map((i) => rx.handle(i.event)));
    expect(results.map((r) => r.status)).toEqual(['opened', 'opened', 'opened', 'opened']);
    expectReceived(join(dir, 'out'), [...old, ...fresher]);
  });

  it('with concurrency 3, three images are in flight at once, and never more', async () => {
    const dir = fresh('concurrency');
    const local = new LocalStore(join(dir, 'store'));
    const images: Image[] = [];
    for (let i = 0; i < 7; i++) images.push(await makeImage());
    await upload(local, images);
    let active = 0;
    let most = 0;
    const counting = wrap(local, {
      get: async (name) => {
        active++;
        most = Math.max(most, active);
        // Hold the first downloads until three are open together: a receiver running one at a time never gets there.
        await waitFor(() => most >= 3, () => `three downloads at once (at most ${most})`, 10_000);
        const stream = await local.get(name);
        stream.once('close', () => active--);
        return stream;
      },
    });
    const rx = await receiverFor(counting, configFor(dir, { concurrency: 3 }));
    await rx.poll({ once: true });
    expect(rx.stats().opened).toBe(7);
    expect(most).toBe(3);
    expectReceived(join(dir, 'out'), images);
  });

  it('after a crash, an image already published is not written twice, and staging a dead receiver left is swept', async () => {
    const dir = fresh('crash');
    const store = new LocalStore(join(dir, 'store'));
    const [published, pending] = [await makeImage(), await makeImage()];
    await upload(store, [published, pending]);
    const config = configFor(dir);
    // What a receiver that died leaves: one image in place, and a staged file it never published.
    mkdirSync(join(config.receiver.output, published.device, published.day), { recursive: true });
    writeFileSync(join(config.receiver.output, published.device, published.day, published.name), published.plain);
    const incoming = join(config.receiver.output, '.sealcam', 'incoming');
    mkdirSync(incoming, { recursive: true });
    writeFileSync(join(incoming, 'deadbeefdeadbeef.12345'), 'unpublished');
    const hoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(join(incoming, 'deadbeefdeadbeef.12345'), hoursAgo, hoursAgo);

    const rx = await receiverFor(store, config);
    await rx.poll({ once: true });
    expect(rx.results.map((r) => [r.blobName, r.status])).toEqual([[pending.blobName, 'opened']]);
    expectReceived(config.receiver.output, [published, pending]);
    expect((await rx.handle(published.event)).status).toBe('duplicate');
  });

  it('two receivers sharing an output racing for one blob: one opens it, the other counts a duplicate, one file', async () => {
    const dir = fresh('race');
    const store = new LocalStore(join(dir, 'store'));
    const images: Image[] = [];
    for (let i = 0; i < 6; i++) images.push(await makeImage({ size: 100_000 }));
    await upload(store, images);
    const config = configFor(dir);
    const [a, b] = [await receiverFor(store, config, { id: 'rx-a' }), await receiverFor(store, config, { id: 'rx-b' })];
    const outcomes = await Promise.all(images.flatMap((i) => [a.handle(i.event), b.handle(i.event)]));
    for (const [n, image] of images.entries()) {
      expect([outcomes[2 * n]!.status, outcomes[2 * n + 1]!.status].sort(), image.blobName).toEqual(['duplicate', 'opened']);
    }
    expectReceived(config.receiver.output, images);
  });
});

describe('Azure Blob Storage (Azurite)', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(() => azurite?.stop());

  it('the same flow through AzureBlobStore: images open, a tampered blob is quarantined, a new receiver repeats nothing', async () => {
    const dir = fresh('azure');
    const store = new AzureBlobStore({ container: 'sealcam-rx', connectionString: azurite.connectionString });
    const images = [await makeImage(), await makeImage({ size: 150_000 }), await makeImage({ device: 'cam-02' }), await makeImage({ device: 'cam-03' })];
    const tampered = await makeImage();
    tampered.sealed[tampered.sealed.length - 1]! ^= 0x80; // the last tag
    tampered.event.sha256 = sha256(tampered.sealed);
    await upload(store, [...images, tampered]);
    const config = configFor(dir);
    const rx = await receiverFor(store, config);
    await rx.subscribe(subscription('rx-azure'));
    const cam = await notifier();
    for (const image of [...images, tampered]) await cam.notify({ ...image.event, store: 'azure' });
    await cam.flush();
    await waitFor(() => rx.results.length === 5, () => `five results (have ${rx.results.length})`);
    expect(rx.errors).toEqual([]);
    expect(rx.results.find((r) => r.blobName === tampered.blobName)).toMatchObject({ status: 'quarantined', reason: expect.stringMatching(/last\) failed verification/) });
    expectReceived(join(dir, 'out'), images);
    expect(Buffer.compare(readFileSync(join(config.receiver.quarantineDir, ...`${tampered.blobName}.${sha256(tampered.sealed).slice(0, 16)}`.split('/'))), tampered.sealed)).toBe(0);
    await rx.close();

    const again = await receiverFor(store, config);
    await again.poll({ once: true });
    expect(again.stats()).toMatchObject({ opened: 0, quarantined: 0, duplicates: 0 });
    expectReceived(join(dir, 'out'), images);
  });
});

describe('sealcam receive', () => {
  const flags = (dir: string) => ['--store', 'local', '--store-dir', join(dir, 'store'), '--keys-dir', join(root, 'keys'), '--output-dir', join(dir, 'out')];
  const env = () => {
    const e: NodeJS.ProcessEnv = { ...process.env, SEALCAM_NO_PROGRESS: '1' };
    delete e.SEALCAM_DEBUG;
    return e;
  };

  it('--poll --once writes every image and exits 0; a quarantined blob makes it exit 1 with one line', async () => {
    const dir = fresh('cli');
    const store = new LocalStore(join(dir, 'store'));
    const images = [await makeImage(), await makeImage({ device: 'cam-02' })];
    await upload(store, images);
    const run = () => spawnSync(process.execPath, [CLI, 'receive', '--poll', '--once', ...flags(dir)], { cwd: dir, encoding: 'utf8', env: env() });

    const ok = run();
    // The test's images are random bytes labelled JPEG: the log warns, and the images still open (they verified).
    expect(withoutLog(ok.stderr)).toBe('');
    expect(logLines(ok.stderr).map((l) => [l.level, l.blob, l.msg.split(':')[0]])).toEqual(
      expect.arrayContaining(images.map((i) => [LEVELS.warn, i.blobName, 'image check'])),
    );
    expect(ok.status).toBe(0);
    const lines = ok.stdout.trim().split('\n');
    expect(lines.slice(0, 2).sort()).toEqual(images.map((i) => `opened ${i.blobName} -> ${join(dir, 'out', i.device, i.day, i.name)} (${i.plain.length} bytes)`).sort());
    expect(lines[2]).toMatch(/^received 2 images \(.* MB\), 0 duplicate, 0 quarantined, 0 failed$/);
    expectReceived(join(dir, 'out'), images);

    const tampered = await makeImage();
    tampered.sealed[100]! ^= 0x04;
    await upload(store, [tampered]);
    const bad = run();
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(new RegExp(`^quarantined ${tampered.blobName}: `, 'm'));
    expect(withoutLog(bad.stderr)).toBe('sealcam: 1 quarantined (reports in .sealcam/quarantine)\n');
    expect(logLines(bad.stderr).find((l) => l.blob === tampered.blobName)).toMatchObject({ level: LEVELS.warn, device: tampered.device, receiver: expect.any(String) });
    expectReceived(join(dir, 'out'), images);
  });

  it('refuses --once without --poll, and a notify kind it cannot subscribe to, in one line', () => {
    const dir = fresh('cli-usage');
    const once = spawnSync(process.execPath, [CLI, 'receive', '--once', ...flags(dir)], { cwd: dir, encoding: 'utf8', env: env() });
    expect(once.status).toBe(1);
    expect(once.stderr).toBe('sealcam: --once needs --poll: it lists the store, processes what is there and exits (or use --reconcile)\n');
    const hub = spawnSync(process.execPath, [CLI, 'receive', '--notify', 'iothub', ...flags(dir)], { cwd: dir, encoding: 'utf8', env: env() });
    expect(hub.status).toBe(1);
    expect(hub.stderr).toMatch(/^sealcam: notify.kind is iothub: the receiver subscribes to mqtt or local brokers; use --poll to list the store instead\n$/);
  });

  it('a receiver killed mid-run (SIGKILL) loses and duplicates nothing once another takes over; SIGTERM stops cleanly', async () => {
    const dir = fresh('cli-kill');
    const store = new LocalStore(join(dir, 'store'));
    const images: Image[] = [];
    for (let i = 0; i < 12; i++) images.push(await makeImage({ size: 400_000 }));
    await upload(store, images);
    const args = [CLI, 'receive', '--notify', 'mqtt', '--mqtt-url', broker.url, '--client-id', 'rx-kill', '--concurrency', '1', ...flags(dir)];
    const child = spawn(process.execPath, args, { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await waitFor(() => stderr.includes('receiving sealcam/+/events'), () => `the receiver to subscribe: ${stderr}`);
    const cam = await notifier();
    for (const image of images) await cam.notify(image.event);
    await cam.flush();
    await waitFor(() => stdout.includes('opened '), 'the first image');
    child.kill('SIGKILL');
    await exited;
    const openedBefore = stdout.split('\n').filter((l) => l.startsWith('opened ')).length;
    expect(openedBefore).toBeLessThan(images.length);

    const config = configFor(dir);
    config.receiver.quarantineDir = join(dir, '.sealcam', 'quarantine');
    const next = await receiverFor(store, config);
    await next.subscribe(subscription('rx-kill')); // the dead receiver's session: what it had not acknowledged comes again
    await waitFor(() => files(join(dir, 'out')).length === images.length && next.stats().pending === 0, () => `every image (${files(join(dir, 'out')).length})`);
    await next.close();
    expectReceived(join(dir, 'out'), images);

    const calm = spawn(process.execPath, args, { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let calmErr = '';
    calm.stderr.on('data', (d) => (calmErr += d));
    const calmExit = new Promise<number | null>((r) => calm.once('exit', (code) => r(code)));
    await waitFor(() => calmErr.includes('receiving '), 'the second receiver to subscribe');
    calm.kill('SIGTERM');
    expect(await calmExit).toBe(0);
  });
});
