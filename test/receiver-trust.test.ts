import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configUnder, type SealcamConfig } from '../src/config.js';
import type { SealcamError } from '../src/errors.js';
import { sealBuffer } from '../src/formats/sealed.js';
import { DeviceSigningKey } from '../src/keys/ed25519.js';
import { LocalKeyProvider } from '../src/keys/local.js';
import { sealingFor } from '../src/keys/recipients.js';
import { DeviceRegistry } from '../src/keys/registry.js';
import { X25519Identity } from '../src/keys/x25519.js';
import type { SealedImageEvent } from '../src/notify/index.js';
import { startLocalBroker, type LocalBroker } from '../src/notify/local.js';
import { SealPool } from '../src/pool/pool.js';
import { createReceiver, type Receiver, type ReceiveResult } from '../src/receiver/index.js';
import { LocalStore } from '../src/storage/local.js';
import { outputFiles } from './helpers/output.js';

/**
 * Notifications are hints, never evidence (issue: fleet trust). The receiver judges each blob on its
 * own bytes: a camera's signature, checked against the device registry, says who sealed it; the
 * channel an event arrived on (its MQTT topic, which broker ACLs tie to one camera) must be that
 * camera's; a wrong SHA-256, a reused event id or an early lie never quarantines or drops a
 * genuine image. Real parts: an MQTT broker on loopback (aedes), a local store, v2 files sealed to
 * the fleet's x25519 recipient and signed with each camera's Ed25519 key.
 */

const fleet = X25519Identity.generate();
const cams = { 'cam-01': DeviceSigningKey.generate(), 'cam-02': DeviceSigningKey.generate(), 'cam-03': DeviceSigningKey.generate() };
type Cam = keyof typeof cams;

let root: string;
let pool: SealPool;
let broker: LocalBroker;
let registryDir: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'sealcam-trust-'));
  registryDir = join(root, 'registry');
  mkdirSync(registryDir);
  for (const [id, key] of Object.entries(cams)) writeFileSync(join(registryDir, `${id}.pub`), `${key.publicKey.text}\n`);
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

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let seq = 0;

interface Image {
  blobName: string;
  plain: Buffer;
  sealed: Uint8Array;
  event: SealedImageEvent;
}

/** A v2 image sealed to the fleet, signed by `signer` as `claims` (a camera signs as itself unless it lies), stored under `under`'s prefix. */
function makeImage(signer: Cam, claims: string = signer, under: string = claims): Image {
  const n = ++seq;
  const plain = randomBytes(5000 + n);
  const captureTime = `2026-12-07T10:00:${String(n % 60).padStart(2, '0')}.000Z`;
  const sealed = sealBuffer(plain, {
    wrap: sealingFor([fleet.recipient]),
    signer: cams[signer],
    deviceId: claims,
    segmentSize: 4096,
    metadata: { captureTime, contentType: 'image/jpeg', originalName: `img-${n}.jpg` },
  });
  const blobName = `${under}/2026/12/07/${String(n).padStart(4, '0')}-shot.sealed`;
  const event: SealedImageEvent = {
    deviceId: under,
    store: 'local',
    blobName,
    sealedSize: sealed.length,
    sha256: sha256(sealed),
    keyName: 'fleet',
    keyVersion: '1',
    format: 'sealed',
    captureTime,
    eventId: randomUUID(),
  };
  return { blobName, plain, sealed, event };
}

interface Rig {
  dir: string;
  store: LocalStore;
  config: SealcamConfig;
  rx: Receiver;
  results: ReceiveResult[];
  errors: SealcamError[];
}

async function rig(name: string): Promise<Rig> {
  const dir = mkdtempSync(join(root, `${name}-`));
  const store = new LocalStore(join(dir, 'store'));
  const config = configUnder(dir);
  config.receiver.pollSeconds = 0.2;
  const results: ReceiveResult[] = [];
  const errors: SealcamError[] = [];
  const rx = await createReceiver({
    config,
    keys: new LocalKeyProvider(join(dir, 'keys')),
    store,
    pool,
    identities: [fleet],
    trust: DeviceRegistry.directory(registryDir),
    onResult: (r) => results.push(r),
    onError: (e) => errors.push(e),
  });
  cleanups.push(() => rx.close());
  await rx.subscribe({ url: broker.url, clientId: `rx-${name}`, topic: 'sealcam/+/events', reconnectPeriodMs: 200 });
  return { dir, store, config, rx, results, errors };
}

/** Publishes `event` on `topic` as any MQTT client could (the local broker has no ACLs: the receiver must not rely on the payload). */
async function publish(topic: string, event: SealedImageEvent): Promise<void> {
  const client = await mqtt.connectAsync(broker.url, { clientId: `attacker-${randomUUID()}` });
  try {
    await client.publishAsync(topic, JSON.stringify(event), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

const topicOf = (device: string) => `sealcam/${device}/events`;

async function waitFor(check: () => boolean, what: () => string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const received = (r: Rig) => outputFiles(r.config.receiver.output);
const quarantined = (r: Rig) => outputFiles(r.config.receiver.quarantineDir);

describe('the channel an event came on is the sender, not what the event claims', () => {
  it("an event on cam-02's topic naming cam-01's blob is refused and files nothing; cam-01's own event then opens it under cam-01", async () => {
    const r = await rig('topic');
    const image = makeImage('cam-01');
    await r.store.put(image.blobName, image.sealed);
    await publish(topicOf('cam-02'), image.event);
    await waitFor(() => r.results.length + r.errors.length >= 1, () => 'the refusal');
    expect(r.results.map((x) => x.status)).toEqual(['refused']);
    expect(r.results[0]!.reason).toMatch(/^the event came on cam-02's channel but names cam-01's blob/);
    expect(received(r)).toEqual([]);
    expect(quarantined(r)).toEqual([]);

    await publish(topicOf('cam-01'), { ...image.event, eventId: randomUUID() });
    await waitFor(() => r.results.length >= 2, () => 'the genuine event');
    expect(r.results[1]).toMatchObject({ status: 'opened', deviceId: 'cam-01' });
    expect(received(r)).toEqual([join('cam-01', '2026-12-07', `${String(seq).padStart(4, '0')}-shot`)]);
    expect(Buffer.compare(readFileSync(join(r.config.receiver.output, received(r)[0]!)), image.plain)).toBe(0);
    expect(r.rx.stats()).toMatchObject({ opened: 1, refused: 1, quarantined: 0 });
  });
});

describe('a lie in a notification never quarantines or drops a genuine image', () => {
  it("a wrong SHA-256 sent before cam-03's own event opens the image (the lie is counted); cam-03's event is then a duplicate", async () => {
    const r = await rig('sha');
    const image = makeImage('cam-03');
    await r.store.put(image.blobName, image.sealed);
    await publish(topicOf('cam-03'), { ...image.event, eventId: randomUUID(), sha256: '0'.repeat(64), sealedSize: 1 });
    await waitFor(() => r.results.length >= 1, () => 'the first event');
    expect(r.results[0]).toMatchObject({ status: 'opened', notificationMismatch: ['sha256', 'sealedSize'] });
    await publish(topicOf('cam-03'), image.event);
    await waitFor(() => r.results.length >= 2, () => 'the genuine event');
    expect(r.results[1]).toMatchObject({ status: 'duplicate', outputPath: r.results[0]!.outputPath });
    expect(quarantined(r)).toEqual([]);
    expect(received(r)).toHaveLength(1);
    expect(r.rx.stats()).toMatchObject({ opened: 1, duplicates: 1, quarantined: 0, lies: 1 });
  });

  it("an event reusing another event's id for a different blob is processed, not dropped as a repeat", async () => {
    const r = await rig('eventid');
    const first = makeImage('cam-01');
    const second = makeImage('cam-01');
    for (const i of [first, second]) await r.store.put(i.blobName, i.sealed);
    await publish(topicOf('cam-01'), first.event);
    await publish(topicOf('cam-01'), { ...second.event, eventId: first.event.eventId });
    await waitFor(() => r.results.length >= 2, () => `two results (have ${r.results.length}, errors ${r.errors.map((e) => e.message).join('; ')})`);
    expect(r.results.map((x) => x.status)).toEqual(['opened', 'opened']);
    expect(received(r)).toHaveLength(2);
  });
});

describe('the signature decides who sealed a file', () => {
  it('a file cam-02 signed while naming cam-01 (stored under cam-01) is quarantined, and nothing is filed', async () => {
    const r = await rig('forged');
    const forged = makeImage('cam-02', 'cam-01');
    await r.store.put(forged.blobName, forged.sealed);
    await publish(topicOf('cam-01'), forged.event);
    await waitFor(() => r.results.length >= 1, () => 'the verdict');
    expect(r.results[0]).toMatchObject({ status: 'quarantined' });
    expect(r.results[0]!.reason).toMatch(/signing key ed25519:[0-9a-f]{32} is not registered for device cam-01/);
    expect(received(r)).toEqual([]);
  });

  it('a file genuinely signed by cam-02 but stored under cam-01 is quarantined (a camera writes only its own prefix)', async () => {
    const r = await rig('prefix');
    const misplaced = makeImage('cam-02', 'cam-02', 'cam-01');
    await r.store.put(misplaced.blobName, misplaced.sealed);
    await publish(topicOf('cam-01'), misplaced.event);
    await waitFor(() => r.results.length >= 1, () => 'the verdict');
    expect(r.results[0]).toMatchObject({ status: 'quarantined' });
    expect(r.results[0]!.reason).toMatch(/signed by device cam-02 but stored under cam-01/);
    expect(received(r)).toEqual([]);
  });

  it('an unsigned file is quarantined under a registry', async () => {
    const r = await rig('unsigned');
    const plain = randomBytes(3000);
    const sealed = sealBuffer(plain, { wrap: sealingFor([fleet.recipient]), segmentSize: 4096 });
    const blobName = 'cam-01/2026/12/07/9999-unsigned.sealed';
    await r.store.put(blobName, sealed);
    await r.rx.poll({ once: true });
    expect(r.results.map((x) => [x.blobName, x.status])).toEqual([[blobName, 'quarantined']]);
    expect(r.results[0]!.reason).toMatch(/the file is unsigned/);
  });
});
