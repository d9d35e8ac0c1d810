import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { configUnder } from '../config.js';
import { createDevice, sampleImages, summarize, type Device, type ImageResult, type LatencySummary } from '../device/index.js';
import type { EngineName } from '../engine/types.js';
import { SealcamError } from '../errors.js';
import { DeviceSigningKey } from '../keys/ed25519.js';
import { LocalKeyProvider } from '../keys/local.js';
import { writeIdentityFile } from '../keys/keypair-files.js';
import { registryDirectory } from '../keys/registry-sources.js';
import { X25519Identity } from '../keys/x25519.js';
import { createNotifier, type Notifier } from '../notify/index.js';
import { startLocalBroker } from '../notify/local.js';
import { poolFromConfig } from '../pool/index.js';
import { createReceiver, type ReceiveResult } from '../receiver/index.js';
import { LocalStore } from '../storage/local.js';

/**
 * `sealcam demo`: the whole camera-to-cloud flow on embedded defaults, in one process. A local
 * keyring, a local store and an in-process MQTT broker stand in for Key Vault, Blob Storage and
 * IoT Hub; the cameras and the receiver are the real ones, talking through real sockets on
 * 127.0.0.1, with the fleet's trust as deployed: each camera seals to the fleet's x25519 recipient
 * and signs with its own key, and the receiver opens with the identity after checking each
 * signature against the device registry. The demo passes only if every image the cameras captured
 * comes out of the receiver byte for byte.
 */

export interface DemoOptions {
  /** Simulated cameras (default 3). */
  devices?: number;
  /** Times each camera sends the sample set (default 2). */
  rounds?: number;
  /** Working directory, kept afterwards; default a temporary one, removed at the end. */
  dir?: string;
  engine?: EngineName;
  /** Worker threads; 0 (default) = one per core. */
  jobs?: number;
  /** Called per image on each side, for a progress display. */
  onProgress?: (p: { sent: number; received: number; total: number }) => void;
  /** How long to wait for the receiver after the last upload (default 60 s). */
  timeoutMs?: number;
  /**
   * Called once the receiver is listening, before the cameras start, with the directory it writes
   * images and fleet records (.sealcam/) to: what the dashboard reads (sealcam demo --dashboard).
   */
  onReceiverReady?: (outputDir: string) => void | Promise<void>;
  /**
   * Awaited with the report before runDemo removes its temporary directory and returns, so what
   * reads that directory (the dashboard, kept open) can go on reading it until this settles.
   */
  afterReport?: (report: DemoReport) => Promise<void>;
}

export interface DemoReport {
  dir: string;
  kept: boolean;
  devices: number;
  images: number;
  /** Bytes captured (plaintext) and bytes stored (sealed). */
  bytes: number;
  sealedBytes: number;
  /** Milliseconds from the first capture to the last image written by the receiver. */
  elapsedMs: number;
  /** Plaintext MB/s (10^6) through the whole flow. */
  throughputMBps: number;
  stages: Record<'seal' | 'upload' | 'notify' | 'download' | 'open' | 'endToEnd', LatencySummary>;
  identical: number;
  /** The fleet's recipient the cameras sealed to (they held nothing that opens). */
  recipient: string;
  /** Images the receiver opened after their camera's signature verified against the registry. */
  signed: number;
  problems: string[];
}

/** Stage timings the receiver did not report (a duplicate, a quarantined blob) are left out. */
const latency = (values: number[]): LatencySummary => summarize(values.filter(Number.isFinite));

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const deviceCount = options.devices ?? 3;
  const rounds = options.rounds ?? 2;
  if (!Number.isInteger(deviceCount) || deviceCount < 1 || deviceCount > 100) throw new SealcamError('EUSAGE', '--devices must be an integer from 1 to 100');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 1000) throw new SealcamError('EUSAGE', '--rounds must be an integer from 1 to 1000');
  const kept = options.dir !== undefined;
  const dir = kept ? resolve(options.dir!) : await mkdtemp(join(tmpdir(), 'sealcam-demo-'));
  const config = configUnder(dir);
  const samples = await sampleImages();
  const total = deviceCount * rounds * samples.length;

  const keys = new LocalKeyProvider(config.keys.dir);
  const store = new LocalStore(config.store.dir);
  // The fleet's trust as it is deployed: the cameras get the recipient and a signing key each, the
  // receiver the identity and the registry of device keys. No camera can open what it sends.
  const fleet = X25519Identity.generate();
  // On disk too (0600), like the registry: with --dir it opens what the store holds, e.g. in the dashboard's /open page.
  await mkdir(dir, { recursive: true });
  await writeIdentityFile(fleet, join(dir, 'fleet.key'), { force: true });
  const registryDir = join(dir, 'registry');
  await mkdir(registryDir, { recursive: true });
  const deviceIds = Array.from({ length: deviceCount }, (_, i) => `${config.device.id}-${i + 1}`);
  const signers = new Map<string, DeviceSigningKey>();
  for (const deviceId of deviceIds) {
    const key = DeviceSigningKey.generate();
    signers.set(deviceId, key);
    await writeFile(join(registryDir, `${deviceId}.pub`), `${key.publicKey.text}\n`);
  }
  const broker = await startLocalBroker();
  if (options.jobs !== undefined) config.seal.jobs = options.jobs;
  if (options.engine !== undefined) config.seal.engine = options.engine;
  const pool = poolFromConfig(config);
  const notifiers: Notifier[] = [];
  const devices: Device[] = [];
  const sent = new Map<string, { result: ImageResult; sha256: string }>();
  const received = new Map<string, ReceiveResult>();
  const problems: string[] = [];
  let allReceived!: () => void;
  const done = new Promise<void>((r) => (allReceived = r));
  const progress = () => options.onProgress?.({ sent: sent.size, received: received.size, total });

  const receiver = await createReceiver({
    config,
    keys,
    store,
    pool,
    identities: [fleet],
    trust: registryDirectory(registryDir),
    onResult: (r) => {
      if (r.status === 'quarantined') problems.push(`${r.blobName} was quarantined: ${r.reason ?? 'no reason given'}`);
      if (r.status !== 'duplicate') received.set(r.blobName, r);
      progress();
      if (received.size === total) allReceived();
    },
  });
  const started = performance.now();
  try {
    await options.onReceiverReady?.(resolve(config.receiver.output));
    await receiver.subscribe({ url: broker.url, topic: 'sealcam/+/events', clientId: 'sealcam-demo-receiver' });
    for (const deviceId of deviceIds) {
      const notifier = await createNotifier('mqtt', {
        url: broker.url,
        clientId: `sealcam-demo-${deviceId}`,
        queueDir: join(config.notify.queueDir, deviceId),
        topicTemplate: config.notify.topic,
      });
      notifiers.push(notifier);
      devices.push(await createDevice({ deviceId, config, keys, store, notifier, pool, sealing: { recipients: [fleet.recipient], signer: signers.get(deviceId)! } }));
    }
    // The cameras run side by side; each sends its frames in order, as a camera would.
    await Promise.all(
      devices.map(async (device) => {
        for (let round = 0; round < rounds; round++) {
          for (const sample of samples) {
            const result = await device.sendImage({ name: sample.name, bytes: sample.bytes, contentType: sample.contentType });
            sent.set(result.blobName, { result, sha256: sha256(sample.bytes) });
            progress();
          }
        }
      }),
    );
    await Promise.all(notifiers.map((n) => n.flush()));
    const timeoutMs = options.timeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    await receiver.idle();
  } finally {
    await Promise.allSettled(devices.map((d) => d.close()));
    await Promise.allSettled(notifiers.map((n) => n.close()));
    await receiver.close();
    await pool.close();
    await broker.close();
  }
  const elapsedMs = performance.now() - started;

  // The check that makes this a demo and not a slideshow: every captured image, byte for byte.
  let identical = 0;
  for (const [blobName, { sha256: captured }] of sent) {
    const r = received.get(blobName);
    if (!r) problems.push(`${blobName} was sent but never received`);
    else if (r.status === 'opened' && r.outputPath) {
      if (sha256(await readFile(r.outputPath)) === captured) identical++;
      else problems.push(`${blobName} came out different from what the camera captured`);
    }
  }
  for (const blobName of received.keys()) if (!sent.has(blobName)) problems.push(`${blobName} was received but never sent`);

  const results = [...sent.values()].map((s) => s.result);
  const opened = [...received.values()];
  const bytes = results.reduce((n, r) => n + r.originalSize, 0);
  const report: DemoReport = {
    dir,
    kept,
    devices: deviceCount,
    images: results.length,
    bytes,
    sealedBytes: results.reduce((n, r) => n + r.sealedSize, 0),
    elapsedMs,
    throughputMBps: bytes / 1e6 / (elapsedMs / 1000),
    stages: {
      seal: latency(results.map((r) => r.sealMs)),
      upload: latency(results.map((r) => r.uploadMs)),
      notify: latency(results.map((r) => r.notifyMs)),
      download: latency(opened.map((r) => r.downloadMs ?? NaN)),
      open: latency(opened.map((r) => r.openMs ?? NaN)),
      endToEnd: latency(opened.map((r) => r.latencyMs ?? NaN)),
    },
    identical,
    recipient: fleet.recipient.text,
    signed: opened.filter((r) => r.status === 'opened').length,
    problems,
  };
  try {
    await options.afterReport?.(report);
  } finally {
    if (!kept) await rm(dir, { recursive: true, force: true });
  }
  return report;
}

/** The report as plain lines. */
export function formatReport(r: DemoReport): string[] {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  const lines = [
    `sealcam demo: ${r.devices} cameras, ${r.images} images, ${(r.bytes / 1e6).toFixed(2)} MB captured, ${(r.sealedBytes / 1e6).toFixed(2)} MB sealed`,
    `  whole flow   ${(r.elapsedMs / 1000).toFixed(2)} s, ${r.throughputMBps.toFixed(1)} MB/s`,
    '  stage          p50        p95        max',
  ];
  for (const [stage, l] of Object.entries(r.stages)) {
    lines.push(`  ${stage.padEnd(12)} ${ms(l.p50).padStart(9)}  ${ms(l.p95).padStart(9)}  ${ms(l.max).padStart(9)}`);
  }
  lines.push(`  sealed to    ${r.recipient.slice(0, 31)}... (the cameras hold no key that opens)`);
  lines.push(`  signatures   ${r.signed} of ${r.images} images signed by their camera and checked against the registry`);
  lines.push(`  identical    ${r.identical} of ${r.images} images byte for byte`);
  for (const p of r.problems) lines.push(`  PROBLEM: ${p}`);
  lines.push(r.problems.length === 0 && r.identical === r.images ? '  result       OK' : '  result       FAILED');
  if (r.kept) lines.push(`  files        ${r.dir}`);
  return lines;
}
