/**
 * The receiver benchmark's camera side and its judge. A fleet is provisioned as the demo does it
 * (one x25519 identity for the receivers, an ed25519 signing key per camera, a registry of the
 * cameras' public keys), and the library's own cameras (createDevice) seal every image to the
 * fleet's recipient, sign it and upload it into Azurite; their events are kept, not sent, so the
 * benchmark can publish them when the clock starts. Only each image's SHA-256 is kept, never its
 * bytes. The judge reads the output back and holds it against those digests.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configUnder } from '../../src/config.js';
import { createDevice, syntheticFrame } from '../../src/device/index.js';
import { DeviceSigningKey } from '../../src/keys/ed25519.js';
import { writeIdentityFile } from '../../src/keys/keypair-files.js';
import { LocalKeyProvider } from '../../src/keys/local.js';
import { X25519Identity } from '../../src/keys/x25519.js';
import type { Notifier, SealedImageEvent } from '../../src/notify/index.js';
import type { SealPool } from '../../src/pool/pool.js';
import { outputName } from '../../src/receiver/output.js';
import type { BlobStore } from '../../src/storage/store.js';

export interface Fleet {
  /** The receivers' x25519 identity (0600) and the registry directory of `<device>.pub` files. */
  identityFile: string;
  registryDir: string;
  recipient: X25519Identity['recipient'];
  cameras: { deviceId: string; signer: DeviceSigningKey }[];
}

export async function provisionFleet(dir: string, cameras: number): Promise<Fleet> {
  const identity = X25519Identity.generate();
  const identityFile = join(dir, 'fleet.identity');
  await writeIdentityFile(identity, identityFile);
  const registryDir = join(dir, 'registry');
  await mkdir(registryDir, { recursive: true });
  const made: Fleet['cameras'] = [];
  for (let i = 1; i <= cameras; i++) {
    const deviceId = `cam-${String(i).padStart(2, '0')}`;
    const signer = DeviceSigningKey.generate();
    await writeFile(join(registryDir, `${deviceId}.pub`), `${signer.publicKey.text}\n`);
    made.push({ deviceId, signer });
  }
  return { identityFile, registryDir, recipient: identity.recipient, cameras: made };
}

/** An image in the store, what its camera announced, and what the receivers must make of it. */
export interface SealedImage {
  event: SealedImageEvent;
  /** Where the image must appear in the output (under the output prefix), and its plaintext. */
  outputName: string;
  bytes: number;
  sha256: string;
}

/** A notifier that keeps the events the cameras hand it (checked by the device as they are built). */
function keepingNotifier(events: SealedImageEvent[]): Notifier {
  return {
    kind: 'bench',
    notify: async (event) => void events.push(event),
    telemetry: async () => undefined,
    flush: async () => undefined,
    close: async () => undefined,
  };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * `count` synthetic PNG frames of about `size` bytes (the simulator's frames: every one differs),
 * named `<label>-<n>.png`, sent by the fleet's cameras in turn, each camera one image at a time.
 */
export async function sealImages(options: { fleet: Fleet; store: BlobStore; pool: SealPool; dir: string; label: string; size: number; count: number }): Promise<SealedImage[]> {
  const { fleet, store, pool, label, size, count } = options;
  const config = configUnder(join(options.dir, label));
  const events: SealedImageEvent[] = [];
  const digests = new Map<string, { bytes: number; sha256: string }>();
  const devices = await Promise.all(
    fleet.cameras.map(({ deviceId, signer }) =>
      createDevice({ deviceId, config, keys: new LocalKeyProvider(config.keys.dir), store, notifier: keepingNotifier(events), pool, sealing: { recipients: [fleet.recipient], signer }, telemetryEveryMs: 0 }),
    ),
  );
  try {
    await Promise.all(
      devices.map(async (device, d) => {
        for (let n = d; n < count; n += devices.length) {
          const frame = syntheticFrame(device.deviceId, n, size);
          const sent = await device.sendImage({ ...frame, name: `${label}-${String(n).padStart(6, '0')}.png` });
          if (sent.queued) throw new Error(`${sent.blobName} could not be stored (it went to the outbox)`);
          digests.set(sent.blobName, { bytes: frame.bytes.length, sha256: sha256(frame.bytes) });
        }
      }),
    );
  } finally {
    await Promise.all(devices.map((d) => d.close()));
  }
  return events.map((event) => ({ event, outputName: outputName(event.blobName)!, ...digests.get(event.blobName)! }));
}

/**
 * What is wrong with the images under `prefix` (the receivers' own records under `.sealcam/` are
 * not images): every expected image exactly once, byte for byte by SHA-256, and nothing else.
 * Empty when all is well.
 */
export async function checkOutput(store: BlobStore, prefix: string, expected: readonly Omit<SealedImage, 'event'>[]): Promise<string[]> {
  const problems: string[] = [];
  const listed = (await store.list({ prefix })).map((b) => b.name.slice(prefix.length)).filter((name) => !name.startsWith('.sealcam/'));
  const wanted = new Map(expected.map((image) => [image.outputName, image]));
  // Names in a store are unique: a second copy could only be another name (a `-1` suffix, say).
  const seen = new Set(listed);
  for (const name of listed) if (!wanted.has(name)) problems.push(`${name} is in the output but no camera sent it`);
  const missing = expected.filter((image) => !seen.has(image.outputName));
  for (const image of missing) problems.push(`${image.outputName} is missing from the output`);
  const present = expected.filter((image) => seen.has(image.outputName));
  // A few downloads at a time: enough to keep Azurite busy, few enough to keep memory flat.
  for (let i = 0; i < present.length; i += 8) {
    await Promise.all(
      present.slice(i, i + 8).map(async (image) => {
        const hash = createHash('sha256');
        let bytes = 0;
        for await (const chunk of await store.get(`${prefix}${image.outputName}`)) {
          hash.update(chunk as Uint8Array);
          bytes += (chunk as Uint8Array).length;
        }
        if (bytes !== image.bytes || hash.digest('hex') !== image.sha256) problems.push(`${image.outputName} differs from what its camera captured (${bytes} bytes, ${image.bytes} sent)`);
      }),
    );
  }
  return problems;
}
