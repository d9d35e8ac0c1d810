import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { configUnder } from '../src/config.js';
import { createDevice, syntheticFrame, type Device } from '../src/device/index.js';
import { LocalKeyProvider } from '../src/keys/local.js';
import { createNotifier, type Notifier } from '../src/notify/index.js';
import { SealPool } from '../src/pool/pool.js';
import { AzureBlobStore } from '../src/storage/azure.js';
import { S3Store } from '../src/storage/s3.js';
import type { BlobStore } from '../src/storage/store.js';
import { CEPH_CREDENTIALS, startAzurite, startCeph, startMosquitto, type Azurite, type Ceph, type Mosquitto } from './fixtures/servers.js';
import { cleanEnv, CLI } from './helpers/cli.js';
import { LEVELS, logLines } from './helpers/log.js';

/**
 * Issue 14's scenario, as a fleet runs it: three `sealcam receive --share` processes in one group
 * on Mosquitto, five cameras sending 40 images each into Azurite, some notifications published a
 * second time on purpose, one receiver killed with SIGKILL mid-run and started again under its
 * client id, the broker restarted once, and then a `--reconcile` pass that finds the blobs whose
 * events never reached a receiver: those never sent, and those the broker dropped (Mosquitto 2.0
 * restores sessions without their shared subscriptions, so what cameras publish after a restart
 * and before the receivers subscribe again matches no one). The output is an object store that
 * enforces If-None-Match: * (Azurite, then Ceph RGW): every image is there exactly once, byte for
 * byte, and nothing is left pending.
 */

const CAMERAS = 5;
const IMAGES = 40;
const REPUBLISHED = 15;
const UNANNOUNCED = 3;
const SOURCE = 'cams';
const OUTPUT_BUCKET = 'fleet-out';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let root: string;
let azurite: Azurite;
let mosquitto: Mosquitto;
let cephStart: Promise<Ceph>;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'sealcam-scenario-'));
  cephStart = startCeph(); // ~13 s: in the background while the Azurite run goes
  [azurite, mosquitto] = await Promise.all([startAzurite(), startMosquitto()]);
}, 60_000);

afterAll(async () => {
  const ceph = await cephStart;
  await Promise.allSettled([azurite?.stop(), mosquitto?.stop(), 'stop' in ceph ? ceph.stop() : undefined]);
  rmSync(root, { recursive: true, force: true });
}, 120_000);

async function until(what: string | (() => Promise<string> | string), ok: () => boolean | Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : await what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface ReceiverProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** The JSON records a receiver printed (--json): one per image, then the summary. */
const records = (rx: ReceiverProcess) =>
  rx
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; blob?: string; duplicates?: number; pending?: number; failed?: number; redeliveries?: number; opened?: number });

function startReceiver(args: string[], env: NodeJS.ProcessEnv, cwd: string): ReceiverProcess {
  const child = spawn(process.execPath, [CLI, 'receive', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

interface OutputPlace {
  /** receiver.output */
  location: string;
  /** The variables the receivers need to reach it (besides the source store's). */
  env: NodeJS.ProcessEnv;
  /** The same place, for the test to read. */
  store: BlobStore;
  prefix: string;
}

async function cephOutput(ctx: TestContext): Promise<OutputPlace> {
  const ceph = await cephStart;
  if ('skip' in ceph) ctx.skip(ceph.skip);
  const { endpoint } = ceph as Exclude<Ceph, { skip: string }>;
  const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: CEPH_CREDENTIALS });
  await client.send(new CreateBucketCommand({ Bucket: OUTPUT_BUCKET }));
  client.destroy();
  return {
    location: `s3://${OUTPUT_BUCKET}/images`,
    env: {
      SEALCAM_S3_ENDPOINT: endpoint,
      SEALCAM_S3_PATH_STYLE: 'true',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: CEPH_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CEPH_CREDENTIALS.secretAccessKey,
    },
    store: new S3Store({ bucket: OUTPUT_BUCKET, region: 'us-east-1', endpoint, forcePathStyle: true, credentials: CEPH_CREDENTIALS }),
    prefix: 'images/',
  };
}

async function azuriteOutput(): Promise<OutputPlace> {
  return {
    location: 'azure://fleet-out/images',
    env: {},
    store: new AzureBlobStore({ container: 'fleet-out', connectionString: azurite.connectionString }),
    prefix: 'images/',
  };
}

const places: [string, (ctx: TestContext) => Promise<OutputPlace>][] = [
  ['Azurite', azuriteOutput],
  ['Ceph RGW', cephOutput],
];

describe.each(places)('three receivers in one share group, output in %s', (name, placeFor) => {
  it('every image exactly once, byte for byte, through duplicates, a SIGKILL, a broker restart and a reconcile pass', async (ctx) => {
    const place = await placeFor(ctx);
    const dir = mkdtempSync(join(root, `${name.replace(/\W/g, '')}-`));
    const source = `${SOURCE}-${name.replace(/\W/g, '').toLowerCase()}`;
    const config = configUnder(dir);
    const keys = new LocalKeyProvider(config.keys.dir);
    await keys.getOrCreate(config.keys.name); // made once, before five cameras ask for it at once
    const store = new AzureBlobStore({ container: source, connectionString: azurite.connectionString });
    const pool = new SealPool({ jobs: 1 });
    const env = cleanEnv({
      cwd: dir,
      env: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString, SEALCAM_KEYS_DIR: config.keys.dir, SEALCAM_JOBS: '1', SEALCAM_NO_PROGRESS: '1', ...place.env },
    });
    const args = (clientId: string) => [
      '--share', 'fleet', '--client-id', clientId, '--concurrency', '2', '--json',
      '--notify', 'mqtt', '--mqtt-url', mosquitto.url,
      '--store', 'azure', '--container', source, '--output', place.location,
    ];
    const receivers = new Map<string, ReceiverProcess>();
    const start = async (id: string) => {
      const rx = startReceiver(args(id), env, dir);
      receivers.set(id, rx);
      await until(`${id} to subscribe`, () => logLines(rx.stderr()).some((l) => l.msg.startsWith('receiving ')), 30_000);
      return rx;
    };
    const captured = new Map<string, string>(); // output name -> SHA-256 of the frame the camera captured
    const notifiers: Notifier[] = [];
    const devices: Device[] = [];
    let tap: MqttClient | undefined;

    try {
      for (const id of ['rx-1', 'rx-2', 'rx-3']) await start(id);
      // Hears every event as the broker delivers it, to publish some of them again.
      tap = await connectAsync(mosquitto.url, { clientId: `tap-${name.replace(/\W/g, '')}`, clean: true, reconnectPeriod: 200 });
      const heard: { topic: string; payload: Buffer }[] = [];
      tap.on('message', (topic, payload) => heard.push({ topic, payload }));
      await tap.subscribeAsync('sealcam/+/events', { qos: 1 });

      for (let i = 1; i <= CAMERAS; i++) {
        const notifier = await createNotifier('mqtt', { url: mosquitto.url, clientId: `cam-${i}-${name.replace(/\W/g, '')}`, queueDir: join(dir, 'queue', String(i)), reconnectPeriodMs: 200 });
        notifiers.push(notifier);
        devices.push(await createDevice({ deviceId: `cam-${i}`, config, keys, store, notifier, pool }));
      }
      const send = (from: number, to: number) =>
        Promise.all(
          devices.map(async (device) => {
            for (let n = from; n < to; n++) {
              const frame = syntheticFrame(device.deviceId, n, 3000 + n * 37);
              const r = await device.sendImage({ name: frame.name, bytes: frame.bytes, contentType: frame.contentType });
              captured.set(r.blobName, sha256(frame.bytes));
            }
          }),
        );
      const openedBy = (id: string) => records(receivers.get(id)!).filter((r) => r.event === 'opened').length;

      // Half the images; rx-2 is killed while it works, and comes back under its client id.
      const first = send(0, IMAGES / 2);
      await until('rx-2 to open some images', () => openedBy('rx-2') >= 3);
      receivers.get('rx-2')!.child.kill('SIGKILL');
      await receivers.get('rx-2')!.exited;
      await first;
      await start('rx-2');

      // The other half, across a broker restart: cameras hold their events, receivers reconnect.
      const second = send(IMAGES / 2, IMAGES);
      await mosquitto.restart();
      await second;
      for (const n of notifiers) await n.flush();

      const live = () => [...receivers.values()];
      const images = async () => (await place.store.list({ prefix: place.prefix })).filter((b) => !b.name.startsWith(`${place.prefix}.sealcam/`));
      const outcomes = (event: string) => live().reduce((n, rx) => n + records(rx).filter((r) => r.event === event).length, 0);
      /** Until the receivers' outcomes stop changing for a while: what was delivered is done. */
      const settled = async (what: string) => {
        let last = -1;
        let stableSince = Date.now();
        await until(what, () => {
          const now = outcomes('opened') + outcomes('duplicate');
          if (now !== last) [last, stableSince] = [now, Date.now()];
          return Date.now() - stableSince > 3000;
        });
      };
      await settled('the receivers to finish what the broker delivered');

      // Some notifications a second time, as a camera that retried or a broker that redelivered would send them.
      await until('the tap to hear the first events', () => heard.length >= REPUBLISHED);
      const duplicatesBefore = outcomes('duplicate');
      for (const { topic, payload } of heard.slice(0, REPUBLISHED)) await tap.publishAsync(topic, payload, { qos: 1 });
      await until('the republished events to be seen as duplicates', () => outcomes('duplicate') >= duplicatesBefore + REPUBLISHED);

      // Blobs whose events never went out (a camera's notifier gave up): only reconcile finds them.
      const silent = await createDevice({ deviceId: 'cam-6', config, keys, store, notifier: await createNotifier('outbox', { file: join(dir, 'silent.jsonl') }), pool });
      devices.push(silent);
      const unannounced: string[] = [];
      for (let n = 0; n < UNANNOUNCED; n++) {
        const frame = syntheticFrame('cam-6', n, 2048);
        const r = await silent.sendImage({ name: frame.name, bytes: frame.bytes, contentType: frame.contentType });
        captured.set(r.blobName, sha256(frame.bytes));
        unannounced.push(r.blobName);
      }


      // Scaling in: SIGTERM finishes what is in flight and exits 0 with nothing pending.
      for (const rx of live()) rx.child.kill('SIGTERM');
      for (const [id, rx] of receivers) {
        expect(await rx.exited, `${id}: ${rx.stderr()}`).toBe(0);
        const summary = records(rx).find((r) => r.event === 'summary')!;
        expect(summary).toMatchObject({ pending: 0, failed: 0 });
        expect(logLines(rx.stderr()).filter((l) => l.level >= LEVELS.error && !/MQTT broker/.test(l.msg))).toEqual([]);
      }

      // The reconcile pass opens what no receiver heard of: the unannounced blobs, and any the broker dropped.
      const before = new Set((await images()).map((b) => b.name));
      const reconcile = startReceiver(['--reconcile', '--since', '1d', '--json', '--store', 'azure', '--container', source, '--output', place.location], env, dir);
      expect(await reconcile.exited, reconcile.stderr()).toBe(0);
      const reconciled = records(reconcile).filter((r) => r.event === 'opened').map((r) => r.blob!);
      expect(reconciled).toEqual(expect.arrayContaining(unannounced));
      expect(reconciled.length).toBe(captured.size - before.size);
      expect(records(reconcile).find((r) => r.event === 'summary')).toMatchObject({ duplicates: 0, failed: 0, pending: 0 });

      // Exactly once, byte for byte: the output holds one object per blob and nothing else.
      const listed = await images();
      const expected = [...captured.keys()].map((blob) => {
        const [device, yyyy, mm, dd, file] = blob.split('/');
        return `${place.prefix}${device}/${yyyy}-${mm}-${dd}/${file!.replace(/\.sealed$/, '')}`;
      });
      expect(listed.map((b) => b.name).sort()).toEqual(expected.sort());
      for (const [blob, hash] of captured) {
        const [device, yyyy, mm, dd, file] = blob.split('/');
        const chunks: Buffer[] = [];
        for await (const chunk of await place.store.get(`${place.prefix}${device}/${yyyy}-${mm}-${dd}/${file!.replace(/\.sealed$/, '')}`)) chunks.push(chunk as Buffer);
        expect(sha256(Buffer.concat(chunks)), blob).toBe(hash);
      }
      const duplicates = live().reduce((n, rx) => n + (records(rx).find((r) => r.event === 'summary')?.duplicates ?? 0), 0);
      expect(duplicates).toBeGreaterThanOrEqual(REPUBLISHED);
      // A second pass finds nothing left to do.
      const again = startReceiver(['--reconcile', '--since', '1d', '--json', '--store', 'azure', '--container', source, '--output', place.location], env, dir);
      expect(await again.exited).toBe(0);
      expect(records(again).find((r) => r.event === 'summary')).toMatchObject({ opened: 0, duplicates: 0, failed: 0, pending: 0 });
    } finally {
      for (const rx of receivers.values()) rx.child.kill('SIGKILL');
      await tap?.endAsync(true);
      await Promise.allSettled(devices.map((d) => d.close()));
      await Promise.allSettled(notifiers.map((n) => n.close()));
      await pool.close();
    }
  }, 240_000);
});
