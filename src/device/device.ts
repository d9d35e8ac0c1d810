import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { contentTypeOf, SEALED_CONTENT_TYPE } from '../storage/index.js';
import type { SealcamConfig } from '../config.js';
import { InputError, isTransient, SealcamError } from '../errors.js';
import { fsError } from '../io/atomic.js';
import { KekCache } from '../keys/cache.js';
import { sealOptionsFor, type FleetSealing } from '../keys/fleet.js';
import { toHex } from '../keys/keytext.js';
import type { KeyProvider } from '../keys/provider.js';
import { checkEvent, DEVICE_ID, looksLikeKey, newEventId, type Notifier, type SealedImageEvent, type StoreKind } from '../notify/notifier.js';
import type { SealPool } from '../pool/pool.js';
import { backoffDelay, pause } from '../retry.js';
import { listOutbox, queueSealed, retryOutbox } from '../storage/outbox.js';
import type { BlobStore } from '../storage/store.js';
import { blobMetadata, blobNameFor, eventFromOutbox } from './blob.js';

/**
 * One camera: each image is sealed on the shared pool under the newest version of its key,
 * uploaded as `<device>/<yyyy>/<mm>/<dd>/<time>-<seq>-<random>-<name>.sealed`, and announced with
 * a small event once, and only once, the store has it. A store that is unreachable or busy does
 * not lose the image: the sealed blob waits in the device's outbox (with everything its event
 * needs in the blob metadata) and is sent, then announced, when the store is back. Key material
 * stays in memory: never in events, blob metadata, errors or logs.
 */

export interface DeviceOptions {
  deviceId: string;
  config: SealcamConfig;
  keys: KeyProvider;
  store: BlobStore;
  notifier: Notifier;
  /** Shared by all devices in a process; the device never closes it. */
  pool: SealPool;
  /**
   * Seal to the fleet's recipients (v2), signed with this camera's key: the camera then holds nothing
   * that opens an image. Without it, images are sealed under the key provider's KEK (v1). The event's
   * keyName and keyVersion become the first recipient's type and fingerprint (hints only).
   */
  sealing?: Omit<FleetSealing, 'deviceId'>;
  /** Default config.keys.name. */
  keyName?: string;
  /** Default 10000; 0 sends telemetry only when the device closes. */
  telemetryEveryMs?: number;
  /** Called for each image once it is stored (or queued), and for each queued image once it is sent. */
  onImage?: (r: ImageResult) => void;
  /** Failures in the background (telemetry, outbox retries); default: ignored. */
  onError?: (err: SealcamError) => void;
  /** How long the KEK is reused before asking the key provider again (rotation shows within this); default 60000. */
  keyRefreshMs?: number;
  /** Default <store.outboxDir>/<deviceId>: one outbox per device, as retries must not overlap. */
  outboxDir?: string;
  /** How often an empty outbox is looked at, and the first retry's ceiling while the store is down (then doubling, jittered, up to 5 minutes); default 5000. */
  outboxRetryMs?: number;
}

export interface ImageResult {
  deviceId: string;
  /** The source's name (file name, or the name given). */
  source: string;
  blobName: string;
  sealedSize: number;
  /** SHA-256 of the sealed bytes (hex), as in the event. */
  sha256: string;
  originalSize: number;
  sealMs: number;
  /** Put time; for a queued image, the failed attempt plus queueing. */
  uploadMs: number;
  /** Time for the notifier to accept the event durably; 0 while queued. */
  notifyMs: number;
  captureTime: string;
  keyName: string;
  keyVersion: string;
  /** True when the store was unreachable and the blob waits in the outbox (no event yet). */
  queued: boolean;
}

export interface ImageSource {
  name: string;
  bytes: Uint8Array;
  /** Default: now (for a file path: its modification time). */
  captureTime?: Date;
  /** Default: from the name's extension. */
  contentType?: string;
}

export interface DeviceStats {
  /** Images stored and announced (including queued ones sent later). */
  imagesSent: number;
  /** Sealed bytes stored. */
  bytesSent: number;
  /** Original image bytes of the images sent. */
  originalBytes: number;
  /** Sealed images waiting in the outbox. */
  queued: number;
  /** Sum of seal and upload times of the images sent from this device, for means. */
  sealMsTotal: number;
  uploadMsTotal: number;
}

export interface Device {
  readonly deviceId: string;
  readonly keyName: string;
  readonly outboxDir: string;
  sendImage(source: ImageSource | string): Promise<ImageResult>;
  /** Sends what waits in the outbox (and announces each blob sent); runs one retry at a time. */
  drainOutbox(): Promise<{ sent: number; remaining: number }>;
  stats(): DeviceStats;
  /** Waits for images in progress, tries the outbox once more, sends a last telemetry sample. */
  close(): Promise<void>;
}

async function readSource(source: ImageSource | string): Promise<Required<ImageSource>> {
  if (typeof source === 'string') {
    try {
      const [bytes, info] = await Promise.all([readFile(source), stat(source)]);
      return { name: basename(source), bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), captureTime: info.mtime, contentType: contentTypeOf(source) };
    } catch (err) {
      throw fsError(err, 'read image', source);
    }
  }
  if (typeof source !== 'object' || source === null) throw new InputError('sendImage takes a file path or { name, bytes }');
  const { name, bytes, captureTime = new Date(), contentType = contentTypeOf(String(name)) } = source;
  if (typeof name !== 'string' || name.length === 0 || name.length > 255) throw new InputError('image name must be 1-255 characters');
  if (!(bytes instanceof Uint8Array)) throw new InputError('image bytes must be a Uint8Array');
  if (!(captureTime instanceof Date) || Number.isNaN(captureTime.getTime())) throw new InputError('captureTime must be a valid Date');
  if (typeof contentType !== 'string' || !/^[\x21-\x7e]{1,127}$/.test(contentType)) throw new InputError('contentType must be a MIME type such as image/jpeg');
  return { name, bytes, captureTime, contentType };
}

/** The longest wait between outbox retries while the store stays down. */
const OUTBOX_MAX_WAIT_MS = 5 * 60_000;

class CameraDevice implements Device {
  readonly deviceId: string;
  readonly keyName: string;
  readonly outboxDir: string;
  private readonly stagingDir: string;
  private readonly counters: DeviceStats = { imagesSent: 0, bytesSent: 0, originalBytes: 0, queued: 0, sealMsTotal: 0, uploadMsTotal: 0 };
  /** Seal and upload times since the last telemetry sample. */
  private interval = { images: 0, sealMs: 0, uploadMs: 0 };
  private sequence = 0;
  private readonly keks: KekCache;
  private readonly inFlight = new Set<Promise<unknown>>();
  private draining: Promise<unknown> = Promise.resolve();
  /** Outbox entries refused for good, reported once rather than on every retry. */
  private readonly refused = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly stopping = new AbortController();
  private closed = false;

  constructor(private readonly options: DeviceOptions) {
    this.deviceId = options.deviceId;
    this.keyName = options.keyName ?? options.config.keys.name;
    this.outboxDir = options.outboxDir ?? join(options.config.store.outboxDir, options.deviceId);
    this.stagingDir = join(this.outboxDir, '.staging');
    this.keks = new KekCache(options.keys, { refreshMs: options.keyRefreshMs ?? 60_000 });
  }

  async start(): Promise<void> {
    try {
      await mkdir(this.stagingDir, { recursive: true });
    } catch (err) {
      throw fsError(err, 'create outbox', this.outboxDir);
    }
    this.counters.queued = (await listOutbox(this.outboxDir)).length;
    const every = this.options.telemetryEveryMs ?? 10_000;
    if (every > 0) this.timers.push(setInterval(() => void this.sendTelemetry(), every).unref());
    void this.retryOutboxInBackground();
  }

  /**
   * Sends what the outbox holds: at once (a backlog left by an earlier run goes out first), then,
   * while entries stay because the store is still down, after waits drawn with full jitter from a
   * doubling ceiling (retry.ts), so cameras that lost the store together do not return together;
   * with an empty outbox, it looks again every outboxRetryMs.
   */
  private async retryOutboxInBackground(): Promise<void> {
    const every = this.options.outboxRetryMs ?? 5_000;
    const policy = { baseMs: every, maxMs: Math.max(every, OUTBOX_MAX_WAIT_MS), attempts: Infinity };
    let failures = 0;
    while (!this.closed) {
      if (this.counters.queued > 0) {
        const { remaining } = await this.drainOutbox().catch((err) => {
          this.report(err);
          return { remaining: this.counters.queued };
        });
        failures = remaining > 0 ? failures + 1 : 0;
      }
      await pause(failures > 0 ? backoffDelay(failures, policy) : every, this.stopping.signal, true);
    }
  }

  stats(): DeviceStats {
    return { ...this.counters };
  }

  private report(err: unknown): void {
    const error = err instanceof SealcamError ? err : new SealcamError('EDEVICE', `${this.deviceId}: ${(err as Error)?.message ?? String(err)}`);
    this.options.onError?.(error);
  }

  sendImage(source: ImageSource | string): Promise<ImageResult> {
    if (this.closed) return Promise.reject(new SealcamError('ECLOSED', `device ${this.deviceId} is closed`));
    const work = this.send(source);
    this.inFlight.add(work);
    const forget = () => this.inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }

  private async send(source: ImageSource | string): Promise<ImageResult> {
    const image = await readSource(source);
    const seq = ++this.sequence;
    const { config, pool, store, notifier } = this.options;
    const captureTime = image.captureTime.toISOString();

    const sealStart = performance.now();
    const metadata = { contentType: image.contentType, originalSize: image.bytes.length, captureTime, originalName: image.name };
    const { sealing } = this.options;
    let keyName: string;
    let keyVersion: string;
    let sealed: Uint8Array;
    if (sealing !== undefined) {
      // To the fleet's recipients, signed as this device: the camera holds nothing that opens it.
      const first = sealing.recipients[0]!;
      [keyName, keyVersion] = [first.type, toHex(first.fingerprint)];
      sealed = await pool.seal(image.bytes, { ...sealOptionsFor({ ...sealing, deviceId: this.deviceId }), segmentSize: config.seal.segmentSize, metadata });
    } else {
      const kek = await this.keks.current(this.keyName);
      [keyName, keyVersion] = [kek.keyId, kek.keyVersion];
      // pool.seal reads the KEK before its first await, so a refresh that wipes it later cannot race.
      sealed = await pool.seal(image.bytes, {
        kek: kek.kek,
        keyId: kek.keyId,
        keyVersion: kek.keyVersion,
        segmentSize: config.seal.segmentSize,
        metadata: { ...metadata, deviceId: this.deviceId },
      });
    }
    const sealMs = performance.now() - sealStart;

    // The event is built and checked before the upload: nothing is stored that could not be announced.
    const event = checkEvent({
      deviceId: this.deviceId,
      store: store.kind as StoreKind,
      blobName: blobNameFor(this.deviceId, image.name, image.captureTime, seq),
      sealedSize: sealed.length,
      sha256: createHash('sha256').update(sealed).digest('hex'),
      keyName,
      keyVersion,
      format: 'sealed',
      captureTime,
      eventId: newEventId(),
    });

    const uploadStart = performance.now();
    const queued = await this.upload(event, sealed);
    const uploadMs = performance.now() - uploadStart;

    const result: ImageResult = {
      deviceId: this.deviceId,
      source: image.name,
      blobName: event.blobName,
      sealedSize: sealed.length,
      sha256: event.sha256,
      originalSize: image.bytes.length,
      sealMs,
      uploadMs,
      notifyMs: 0,
      captureTime,
      keyName: event.keyName,
      keyVersion: event.keyVersion,
      queued,
    };
    if (!queued) {
      const notifyStart = performance.now();
      await notifier.notify(event);
      result.notifyMs = performance.now() - notifyStart;
      this.count(result);
    }
    this.options.onImage?.(result);
    return result;
  }

  /** Puts the blob; on a transient failure queues it in the outbox and returns true. */
  private async upload(event: SealedImageEvent, sealed: Uint8Array): Promise<boolean> {
    const metadata = blobMetadata(event);
    try {
      await this.options.store.put(event.blobName, sealed, { metadata, contentType: SEALED_CONTENT_TYPE, size: sealed.length });
      return false;
    } catch (err) {
      if (!isTransient(err)) throw err;
      // Only sealed bytes reach the disk here.
      const staged = join(this.stagingDir, basename(event.blobName));
      try {
        await writeFile(staged, sealed);
        await queueSealed(this.outboxDir, event.blobName, staged, (err as SealcamError).message, { metadata, contentType: SEALED_CONTENT_TYPE, move: true });
      } catch (queueErr) {
        await unlink(staged).catch(() => undefined);
        throw fsError(queueErr, 'queue sealed image in outbox', this.outboxDir);
      }
      this.counters.queued += 1;
      return true;
    }
  }

  /** Counts a stored and announced image; its latencies only when measured here (not for one sent from the outbox). */
  private count(r: Pick<ImageResult, 'sealedSize' | 'originalSize' | 'sealMs' | 'uploadMs'>, timed = true): void {
    this.counters.imagesSent += 1;
    this.counters.bytesSent += r.sealedSize;
    this.counters.originalBytes += r.originalSize;
    if (!timed) return;
    this.counters.sealMsTotal += r.sealMs;
    this.counters.uploadMsTotal += r.uploadMs;
    this.interval.images += 1;
    this.interval.sealMs += r.sealMs;
    this.interval.uploadMs += r.uploadMs;
  }

  drainOutbox(): Promise<{ sent: number; remaining: number }> {
    const run = this.draining.then(() => this.drainOnce());
    this.draining = run.catch(() => undefined);
    return run;
  }

  private async drainOnce(): Promise<{ sent: number; remaining: number }> {
    const entries = new Map((await listOutbox(this.outboxDir)).map((e) => [e.record.name, e]));
    if (entries.size === 0) {
      this.counters.queued = 0;
      return { sent: 0, remaining: 0 };
    }
    const started = performance.now();
    const result = await retryOutbox(this.options.store, this.outboxDir);
    this.counters.queued = result.remaining;
    for (const failure of result.failed) {
      if (this.refused.has(failure.name)) continue;
      this.refused.add(failure.name);
      this.report(new SealcamError('EOUTBOX', `${failure.name} stays in the outbox: ${failure.message}`));
    }
    for (const name of result.sent) {
      const entry = entries.get(name)!;
      const event = eventFromOutbox(entry, this.options.store.kind as StoreKind);
      const notifyStart = performance.now();
      await this.options.notifier.notify(event);
      const r: ImageResult = {
        deviceId: this.deviceId,
        source: name,
        blobName: name,
        sealedSize: entry.record.size,
        sha256: event.sha256,
        originalSize: 0,
        sealMs: 0,
        uploadMs: (performance.now() - started) / result.sent.length,
        notifyMs: performance.now() - notifyStart,
        captureTime: event.captureTime,
        keyName: event.keyName,
        keyVersion: event.keyVersion,
        queued: false,
      };
      this.count(r, false);
      this.options.onImage?.(r);
    }
    return { sent: result.sent.length, remaining: result.remaining };
  }

  private async sendTelemetry(): Promise<void> {
    const { images, sealMs, uploadMs } = this.interval;
    this.interval = { images: 0, sealMs: 0, uploadMs: 0 };
    try {
      await this.options.notifier.telemetry({
        deviceId: this.deviceId,
        time: new Date().toISOString(),
        imagesSent: this.counters.imagesSent,
        bytesSent: this.counters.bytesSent,
        // Means over the images since the last sample.
        sealMs: images > 0 ? sealMs / images : 0,
        uploadMs: images > 0 ? uploadMs / images : 0,
        queueLength: this.counters.queued,
      });
    } catch (err) {
      this.report(err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopping.abort();
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.inFlight]);
    if (this.counters.queued > 0) await this.drainOutbox().catch((err) => this.report(err));
    await this.sendTelemetry();
    await this.keks.wipe();
  }
}

export async function createDevice(options: DeviceOptions): Promise<Device> {
  const { deviceId } = options;
  if (typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId) || looksLikeKey(deviceId)) {
    // Not echoed: a key-shaped id may be a key pasted into the wrong setting.
    throw new InputError("device id must be 1-64 letters, digits, '.', '_' or '-', and not shaped like key material");
  }
  for (const [name, value] of Object.entries({ telemetryEveryMs: options.telemetryEveryMs, keyRefreshMs: options.keyRefreshMs, outboxRetryMs: options.outboxRetryMs })) {
    if (value !== undefined && (!Number.isFinite(value) || value < 0)) throw new InputError(`${name} must be a non-negative number of milliseconds`);
  }
  if (options.outboxRetryMs === 0) throw new InputError('outboxRetryMs must be positive');
  const device = new CameraDevice(options);
  await device.start();
  return device;
}
