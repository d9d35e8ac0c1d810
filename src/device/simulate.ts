import { loadConfig, type SealcamConfig } from '../config.js';
import { InputError, SealcamError } from '../errors.js';
import { createKeyProvider } from '../keys/index.js';
import type { KeyProvider } from '../keys/provider.js';
import type { Notifier } from '../notify/notifier.js';
import type { SealPool } from '../pool/pool.js';
import { createStore } from '../storage/index.js';
import type { BlobStore } from '../storage/store.js';
import { poolFromConfig } from '../pool/index.js';
import { summarize, type LatencySummary } from '../stats.js';
import { notifierFromConfig } from './connect.js';
import { createDevice, type Device, type DeviceOptions, type ImageResult } from './device.js';
import { DEFAULT_FRAME_BYTES, sampleImages, syntheticFrame, type Frame } from './frames.js';
import { pause } from '../retry.js';

/**
 * A fleet of cameras in one process, to load the store, the notifier and the receiver: N devices
 * `<device.id>-1..N`, each sending `rate` images a second on a fixed schedule (a device that falls
 * behind sends as fast as it can until it catches up), all sealing on one shared pool.
 */

export interface FleetOptions {
  devices: number;
  /** Images per second per device. */
  rate: number;
  /** Images per device; without it the fleet runs for durationMs, or until `signal` aborts. */
  count?: number;
  durationMs?: number;
  signal?: AbortSignal;
  /** Default loadConfig() (embedded defaults, sealcam.config.json, SEALCAM_* variables). */
  config?: SealcamConfig;
  env?: NodeJS.ProcessEnv;
  /** Each device seals under its own key `<keys.name>-<deviceId>` instead of the shared keys.name. */
  ownKeys?: boolean;
  /** What the cameras send: synthetic frames (default), the committed samples, or these frames (cycled). */
  images?: 'synthetic' | 'samples' | Frame[];
  /** Synthetic frame size in bytes (default 64 KiB). */
  frameBytes?: number;
  /**
   * Parts to borrow (e.g. the demo's, shared with its receiver); those not given are made from the
   * config, and closed at the end. An S3 store with SSE-C must be given (it needs its customer key).
   */
  keys?: KeyProvider;
  store?: BlobStore;
  notifier?: Notifier;
  pool?: SealPool;
  telemetryEveryMs?: number;
  /** How each camera seals (to the fleet's recipients, signed with its own key); default: under the key provider's KEK. */
  sealing?: (deviceId: string) => Promise<DeviceOptions['sealing']>;
  /** Once the parts are up, before the first image (e.g. to print where the local broker listens). */
  onReady?: (info: { deviceIds: string[]; brokerUrl?: string }) => void;
  onImage?: (r: ImageResult) => void;
  /** Background failures (telemetry, outbox retries). */
  onError?: (err: SealcamError) => void;
  /** How long to wait for the notifier to deliver what is queued before closing it (default 10000 ms). */
  flushTimeoutMs?: number;
}

export interface FleetReport {
  devices: number;
  deviceIds: string[];
  keyNames: string[];
  /** Images stored and announced. */
  images: number;
  /** Images waiting in outboxes at the end (the store was unreachable). */
  queued: number;
  /** Sealed bytes stored, and the original image bytes. */
  bytes: number;
  originalBytes: number;
  durationMs: number;
  imagesPerSecond: number;
  /** Sealed MB (10^6 bytes) per second. */
  mbPerSecond: number;
  seal: LatencySummary;
  upload: LatencySummary;
  notify: LatencySummary;
  results: ImageResult[];
  /** notify.kind local, when the fleet started its own broker. */
  brokerUrl?: string;
  /** Set when notifications were still undelivered when the fleet closed its notifier (they stay queued on disk). */
  undelivered?: string;
  /** True when `signal` stopped the fleet before count or durationMs was reached. */
  interrupted: boolean;
}

function checkOptions(o: FleetOptions): void {
  if (!Number.isSafeInteger(o.devices) || o.devices < 1 || o.devices > 10_000) throw new InputError(`devices must be an integer from 1 to 10000, got ${String(o.devices)}`);
  if (typeof o.rate !== 'number' || !(o.rate > 0) || !Number.isFinite(o.rate)) throw new InputError(`rate must be a positive number of images per second, got ${String(o.rate)}`);
  if (o.count !== undefined && (!Number.isSafeInteger(o.count) || o.count < 1)) throw new InputError(`count must be a positive integer, got ${String(o.count)}`);
  if (o.durationMs !== undefined && (!Number.isFinite(o.durationMs) || o.durationMs <= 0)) throw new InputError(`duration must be positive, got ${String(o.durationMs)}`);
  if (o.count === undefined && o.durationMs === undefined && o.signal === undefined) throw new InputError('a fleet needs a count, a duration or an abort signal to stop');
}

export async function runFleet(options: FleetOptions): Promise<FleetReport> {
  checkOptions(options);
  const config = options.config ?? loadConfig({ env: options.env });
  const env = options.env ?? process.env;
  const deviceIds = Array.from({ length: options.devices }, (_, i) => `${config.device.id}-${i + 1}`);
  const keyNames = deviceIds.map((id) => (options.ownKeys ? `${config.keys.name}-${id}` : config.keys.name));
  const frames = options.images === 'samples' ? await sampleImages() : Array.isArray(options.images) ? options.images : undefined;
  if (frames !== undefined && frames.length === 0) throw new InputError('images must hold at least one frame');
  const frameBytes = options.frameBytes ?? DEFAULT_FRAME_BYTES;
  if (frames === undefined) syntheticFrame('check', 0, frameBytes); // refuses a bad size before anything starts

  const owned: { close(): Promise<unknown> }[] = [];
  const devices: Device[] = [];
  const results: ImageResult[] = [];
  // One camera failing for good (credentials, a full disk) stops the fleet.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let failure: unknown;
  let brokerUrl: string | undefined;
  let undelivered: string | undefined;
  let started = performance.now();
  try {
    const keys = options.keys ?? (await createKeyProvider(config));
    const store = options.store ?? (await createStore(config, { env }));
    const pool = options.pool ?? poolFromConfig(config);
    if (!options.pool) owned.push(pool);
    let notifier = options.notifier;
    if (!notifier) {
      const made = await notifierFromConfig(config, `fleet-${config.device.id}`, env);
      notifier = made.notifier;
      brokerUrl = made.brokerUrl;
      owned.push({
        close: async () => {
          await notifier!.flush(options.flushTimeoutMs ?? 10_000).catch((err: Error) => (undelivered = err.message));
          await notifier!.close();
        },
      });
    }
    for (const [i, deviceId] of deviceIds.entries()) {
      const onImage = (r: ImageResult) => {
        results.push(r);
        options.onImage?.(r);
      };
      devices.push(
        await createDevice({
          deviceId,
          config,
          keys,
          store,
          notifier,
          pool,
          keyName: keyNames[i],
          sealing: await options.sealing?.(deviceId),
          telemetryEveryMs: options.telemetryEveryMs,
          onImage,
          onError: options.onError,
        }),
      );
    }
    options.onReady?.({ deviceIds, brokerUrl });

    started = performance.now();
    const deadline = options.durationMs === undefined ? Infinity : started + options.durationMs;
    const period = 1000 / options.rate;
    const camera = async (device: Device, d: number) => {
      // Devices start spread over one period, as real cameras are not in step.
      const offset = (d / options.devices) * period;
      for (let i = 0; options.count === undefined || i < options.count; i++) {
        const due = started + offset + i * period;
        if (due >= deadline) return;
        await pause(due - performance.now(), stop.signal);
        if (stop.signal.aborted) return;
        const frame = frames ? frames[(i + d) % frames.length]! : syntheticFrame(device.deviceId, i, frameBytes);
        await device.sendImage({ ...frame, captureTime: new Date() });
      }
    };
    await Promise.all(
      devices.map((device, d) =>
        camera(device, d).catch((err) => {
          failure ??= err;
          stop.abort();
        }),
      ),
    );
  } catch (err) {
    failure ??= err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    for (const device of devices) await device.close();
    for (const part of owned.reverse()) await part.close().catch((err) => (failure ??= err));
  }
  if (failure !== undefined) throw failure;

  const durationMs = performance.now() - started;
  const sent = results.filter((r) => !r.queued);
  const stats = devices.map((d) => d.stats());
  const bytes = stats.reduce((n, s) => n + s.bytesSent, 0);
  const images = stats.reduce((n, s) => n + s.imagesSent, 0);
  const seconds = Math.max(durationMs, 1) / 1000;
  return {
    devices: options.devices,
    deviceIds,
    keyNames,
    images,
    queued: stats.reduce((n, s) => n + s.queued, 0),
    bytes,
    originalBytes: stats.reduce((n, s) => n + s.originalBytes, 0),
    durationMs,
    imagesPerSecond: images / seconds,
    mbPerSecond: bytes / 1e6 / seconds,
    seal: summarize(results.filter((r) => r.sealMs > 0).map((r) => r.sealMs)),
    upload: summarize(sent.map((r) => r.uploadMs)),
    notify: summarize(sent.map((r) => r.notifyMs)),
    results,
    brokerUrl,
    undelivered,
    interrupted: options.signal?.aborted === true,
  };
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const mb = (v: number) => `${(v / 1e6).toFixed(2)} MB`;

/** The report as plain lines, for the CLI and the demo. */
export function formatFleetReport(r: FleetReport): string[] {
  const lines = [
    `${r.devices} device${r.devices === 1 ? '' : 's'}, ${r.images} image${r.images === 1 ? '' : 's'} sent, ${r.queued} queued, in ${(r.durationMs / 1000).toFixed(2)} s${r.interrupted ? ' (interrupted)' : ''}`,
    `  bytes       ${mb(r.bytes)} sealed from ${mb(r.originalBytes)} of images`,
    `  throughput  ${r.imagesPerSecond.toFixed(1)} images/s, ${r.mbPerSecond.toFixed(2)} MB/s`,
    `  seal        p50 ${ms(r.seal.p50)}, p95 ${ms(r.seal.p95)}, max ${ms(r.seal.max)}`,
    `  upload      p50 ${ms(r.upload.p50)}, p95 ${ms(r.upload.p95)}, max ${ms(r.upload.max)}`,
    `  notify      p50 ${ms(r.notify.p50)}, p95 ${ms(r.notify.p95)}, max ${ms(r.notify.max)}`,
  ];
  if (r.queued > 0) lines.push(`  ${r.queued} sealed image(s) wait in the outbox and are sent when a device next starts`);
  if (r.undelivered) lines.push(`  notifications not yet delivered (kept on disk): ${r.undelivered}`);
  return lines;
}
