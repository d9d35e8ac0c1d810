import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configUnder, type SealcamConfig } from '../src/config.js';
import { createDevice, sampleImages, type Device, type Frame } from '../src/device/index.js';
import { LocalKeyProvider } from '../src/keys/local.js';
import { createNotifier, type Notifier, type SealedImageEvent } from '../src/notify/index.js';
import { startLocalBroker, type LocalBroker } from '../src/notify/local.js';
import { SealPool } from '../src/pool/pool.js';
import { createReceiver, type Receiver, type ReceiveResult } from '../src/receiver/index.js';
import { AzureBlobStore } from '../src/storage/azure.js';
import { S3Store } from '../src/storage/s3.js';
import type { BlobStore } from '../src/storage/store.js';
import { DeviceSigningKey } from '../src/keys/ed25519.js';
import { DeviceRegistry } from '../src/keys/registry.js';
import { X25519Identity } from '../src/keys/x25519.js';
import { startAzurite, startS3rver, type Azurite, type S3rverInstance } from './fixtures/servers.js';
import { outputFiles } from './helpers/output.js';

/**
 * The whole fleet flow against real parts, once per cloud store: three cameras (createDevice) seal
 * on one pool, upload to Azurite or s3rver through the real SDKs, and announce over MQTT (aedes on
 * loopback); the receiver is stopped mid-run and a second one takes over its state; the broker goes
 * down and comes back while images are still being sent; a tampered blob is announced too. At the
 * end every image exists exactly once in the output, byte for byte, and the tampered one sits in
 * quarantine.
 */

const DEVICES = 3;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let root: string;
let azurite: Azurite;
let s3rver: S3rverInstance;
let samples: Frame[];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'sealcam-e2e-'));
  [azurite, s3rver, samples] = await Promise.all([startAzurite(), startS3rver(['sealcam-e2e']), sampleImages()]);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([azurite?.stop(), s3rver?.stop()]);
  rmSync(root, { recursive: true, force: true });
});

async function until(what: string, ok: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const stores: [string, () => BlobStore][] = [
  ['Azurite', () => new AzureBlobStore({ container: 'sealcam-e2e', connectionString: azurite.connectionString })],
  [
    's3rver',
    () =>
      new S3Store({
        bucket: 'sealcam-e2e',
        region: 'us-east-1',
        endpoint: s3rver.endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      }),
  ],
];

describe.each(stores)('the fleet end to end on %s', (_name, makeStore) => {
  it('every image arrives exactly once and byte-identical across a receiver restart and a broker outage; a tampered blob is quarantined', async () => {
    const dir = mkdtempSync(join(root, 'run-'));
    const config: SealcamConfig = configUnder(dir);
    config.receiver.concurrency = 3;
    const keys = new LocalKeyProvider(join(dir, 'keys'));
    const store = makeStore();
    const pool = new SealPool({ jobs: 2 });
    const broker: LocalBroker = await startLocalBroker();
    const notifiers: Notifier[] = [];
    const devices: Device[] = [];
    const receivers: Receiver[] = [];
    const captured = new Map<string, string>(); // blob name -> SHA-256 of what the camera captured
    const results: ReceiveResult[] = [];
    const subscription = { url: broker.url, clientId: 'e2e-receiver', reconnectPeriodMs: 200 };
    // As deployed: the cameras get the fleet's recipient and a signing key each, the receiver the identity and the registry.
    const fleet = X25519Identity.generate();
    const registryDir = join(dir, 'registry');
    mkdirSync(registryDir);
    const signers = Array.from({ length: DEVICES }, (_, i) => {
      const key = DeviceSigningKey.generate();
      writeFileSync(join(registryDir, `cam-${i + 1}.pub`), `${key.publicKey.text}\n`);
      return key;
    });
    const trust = DeviceRegistry.directory(registryDir);
    const startReceiver = async () => {
      const receiver = await createReceiver({ config, keys, store, pool, identities: [fleet], trust, onResult: (r) => results.push(r) });
      receivers.push(receiver);
      await receiver.subscribe(subscription);
      return receiver;
    };
    const send = (rounds: number) =>
      Promise.all(
        devices.map(async (device) => {
          for (let i = 0; i < rounds; i++) {
            const sample = samples[i % samples.length]!;
            const r = await device.sendImage({ name: sample.name, bytes: sample.bytes, contentType: sample.contentType });
            expect(r.queued).toBe(false);
            captured.set(r.blobName, sha256(sample.bytes));
          }
        }),
      );
    const opened = () => new Set(results.filter((r) => r.status === 'opened').map((r) => r.blobName));

    try {
      for (let i = 1; i <= DEVICES; i++) {
        const notifier = await createNotifier('mqtt', { url: broker.url, clientId: `e2e-cam-${i}`, queueDir: join(dir, 'queue', String(i)), reconnectPeriodMs: 200 });
        notifiers.push(notifier);
        devices.push(await createDevice({ deviceId: `cam-${i}`, config, keys, store, notifier, pool, sealing: { recipients: [fleet.recipient], signer: signers[i - 1]! } }));
      }

      // Part 1: the first receiver takes some images, then stops while others are still coming.
      const first = await startReceiver();
      const sending = send(3);
      await until('the first receiver to open some images', () => opened().size >= 2);
      await first.close();
      await sending;

      // Part 2: the broker goes away while cameras keep sending; their notifiers hold the events.
      await broker.stop();
      await send(2);
      await broker.start();

      // A tampered blob, announced like any other: a copy of a real blob with one byte changed.
      const [victim] = captured.keys();
      const chunks: Buffer[] = [];
      for await (const chunk of await store.get(victim!)) chunks.push(chunk as Buffer);
      const tampered = new Uint8Array(Buffer.concat(chunks));
      tampered[tampered.length - 40]! ^= 0x01;
      const tamperedName = victim!.replace(/\.sealed$/, '-tampered.sealed');
      await store.put(tamperedName, tampered, { size: tampered.length });
      const original = (await store.head(victim!))!;
      const victimDevice = Number(/^cam-(\d+)\//.exec(victim!)![1]);
      const event: SealedImageEvent = {
        deviceId: `cam-${victimDevice}`,
        store: store.kind as SealedImageEvent['store'],
        blobName: tamperedName,
        sealedSize: tampered.length,
        sha256: sha256(tampered),
        keyName: config.keys.name,
        keyVersion: original.metadata.key_version ?? '1',
        format: 'sealed',
        captureTime: new Date().toISOString(),
        eventId: crypto.randomUUID(),
      };
      await notifiers[victimDevice - 1]!.notify(event);

      // Part 3: a new receiver on the same state and the same broker session finishes the job.
      const second = await startReceiver();
      await Promise.all(notifiers.map((n) => n.flush(30_000)));
      await until('every image and the tampered blob to be handled', () => {
        const done = opened();
        return [...captured.keys()].every((name) => done.has(name)) && results.some((r) => r.blobName === tamperedName);
      });
      await second.idle();

      // Exactly once: one output file per captured image, each one a captured image byte for byte.
      const outputs = outputFiles(config.receiver.output);
      expect(outputs).toHaveLength(captured.size);
      expect(captured.size).toBe(DEVICES * 5);
      const outputByBlob = new Map(results.filter((r) => r.status === 'opened').map((r) => [r.blobName, r.outputPath!]));
      expect(outputByBlob.size).toBe(captured.size);
      for (const [blobName, digest] of captured) expect(sha256(readFileSync(outputByBlob.get(blobName)!))).toBe(digest);
      expect(results.filter((r) => r.status === 'opened')).toHaveLength(captured.size);

      // The tampered blob: quarantined with a report, never opened.
      const verdict = results.find((r) => r.blobName === tamperedName)!;
      expect(verdict.status).toBe('quarantined');
      expect(verdict.reason).toMatch(/segment \d+/);
      const report = JSON.parse(readFileSync(`${verdict.quarantinePath}.report.json`, 'utf8')) as Record<string, unknown>;
      expect(report).toMatchObject({ blobName: tamperedName });
      expect(outputByBlob.has(tamperedName)).toBe(false);
    } finally {
      await Promise.allSettled(devices.map((d) => d.close()));
      await Promise.allSettled(notifiers.map((n) => n.close()));
      await Promise.allSettled(receivers.map((r) => r.close()));
      await pool.close();
      await broker.close();
    }
  }, 180_000);
});
