import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, rmdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkConfig, type SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';
import type { SealedHeader } from '../formats/sealed.js';
import { assertWritable, fsError, removeStaleTemps, writeStreamAtomic } from '../io/atomic.js';
import { kekFromProvider } from '../keys/kek.js';
import type { KeyProvider } from '../keys/provider.js';
import { checkEvent, subscribeEvents, type SealedImageEvent, type SubscribeOptions, type Subscription } from '../notify/index.js';
import { poolFromConfig } from '../pool/index.js';
import { createOpenStream, type SealPool } from '../pool/pool.js';
import { networkCode, TRANSIENT_CODES } from '../storage/index.js';
import type { BlobInfo, BlobStore } from '../storage/store.js';
import { hashing, jobFromBlob, jobFromEvent, type Job } from './job.js';
import { captureDay, imageName, sinceCapture, withSuffix } from './output.js';
import { quarantine, verificationFailure } from './quarantine.js';
import { WorkQueue } from './queue.js';
import { ReceiverState, type DoneRecord, type PendingJob } from './state.js';

/**
 * The cloud side of the camera fleet: hears of sealed images (MQTT events) or finds them (listing
 * the store), downloads each as a stream, checks its SHA-256, opens it with the key version its
 * header names, and writes the image atomically to `<outputDir>/<device>/<yyyy-mm-dd>/<name>`.
 * Every step that matters is in a durable journal (state.ts), so a repeated notification or a
 * restart neither loses nor duplicates an image. Blobs that fail verification are quarantined
 * with a report; transient failures (store or key service unreachable) are retried with backoff.
 */

export interface RetryOptions {
  /** Tries per image (and per store listing) for transient failures; default unlimited. */
  attempts?: number;
  /** First backoff, doubled each try up to maxMs (defaults 250 ms and 30 s). */
  baseMs?: number;
  maxMs?: number;
}

export interface ReceiverOptions {
  /** receiver.outputDir, quarantineDir, stateDir, concurrency, pollSeconds; seal.jobs and seal.engine for the pool. */
  config: SealcamConfig;
  keys: KeyProvider;
  store: BlobStore;
  engine?: 'wasm' | 'native';
  /** A shared pool; without one the receiver runs its own and closes it on close(). */
  pool?: SealPool;
  /** Every outcome: opened, duplicate (a repeat of something processed) or quarantined. */
  onResult?: (r: ReceiveResult) => void;
  /**
   * An image that could not be processed and is not the blob's fault (store refused access, disk
   * full, retries used up). It stays pending: a restart, or the next poll, tries it again.
   */
  onError?: (error: SealcamError, blobName?: string) => void;
  retry?: RetryOptions;
}

export interface ReceiveResult {
  eventId?: string;
  blobName: string;
  deviceId: string;
  status: 'opened' | 'duplicate' | 'quarantined';
  /** The image (opened, or the earlier copy of a duplicate). */
  outputPath?: string;
  /** The quarantined sealed copy; its report is `<quarantinePath>.report.json`. */
  quarantinePath?: string;
  reason?: string;
  /** Image bytes written. */
  bytes?: number;
  /** Request to last sealed byte received. */
  downloadMs?: number;
  /** Verified header to image in place (opening overlaps the download). */
  openMs?: number;
  /** Capture (from the verified header, else the event) to image written. */
  latencyMs?: number;
}

export interface ReceiverStats {
  opened: number;
  duplicates: number;
  quarantined: number;
  /** Image bytes written. */
  bytes: number;
  /** Images that failed and stay pending. */
  failed: number;
  /** Accepted and not finished yet. */
  pending: number;
}

export interface Receiver {
  /** Processes one event; a repeat (same blob or event id) resolves as 'duplicate'. */
  handle(event: SealedImageEvent): Promise<ReceiveResult>;
  /** Subscribes (QoS 1, persistent session): an event is acknowledged once it is in the journal. */
  subscribe(options: SubscribeOptions): Promise<void>;
  /** Lists the store and processes what is new; every receiver.pollSeconds until the signal or close(), or once. */
  poll(options?: { once?: boolean; signal?: AbortSignal }): Promise<void>;
  /** Resolves when nothing is in flight. */
  idle(): Promise<void>;
  stats(): ReceiverStats;
  /** Stops listening, lets in-flight images finish; what was still waiting stays in the journal for the next start. */
  close(): Promise<void>;
}

/** Failures that may pass: the store, the key service or the network. */
const TRANSIENT = new Set([
  ...TRANSIENT_CODES,
  'EKEYNET',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

function isTransientFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return (typeof code === 'string' && TRANSIENT.has(code)) || TRANSIENT.has(networkCode(err) ?? '');
}

/** Opened images are plaintext: owner and group only (the umask may narrow it further). */
const IMAGE_MODE = 0o640;

const closedError = () => new SealcamError('ECLOSED', 'the receiver is closed');
const isClosed = (err: unknown) => (err as SealcamError | undefined)?.code === 'ECLOSED';

/** Any failure as one SealcamError line naming the blob. */
function describe(err: unknown, blobName: string): SealcamError {
  if (err instanceof SealcamError) return err;
  const code = networkCode(err) ?? (err as { code?: unknown } | undefined)?.code;
  const why = String((err as Error | undefined)?.message ?? err).split('\n')[0];
  return new SealcamError(typeof code === 'string' ? code : 'ERECEIVE', `cannot receive ${blobName}: ${why}`);
}

async function exists(path: string): Promise<boolean> {
  return assertWritable(path).then(
    () => false,
    (err: SealcamError) => {
      if (err.code === 'EEXIST') return true;
      throw err;
    },
  );
}

class SealcamReceiver implements Receiver {
  private readonly queue: WorkQueue;
  private readonly outputDir: string;
  private readonly quarantineDir: string;
  private readonly retry: Required<RetryOptions>;
  private readonly inflight = new Map<string, Promise<ReceiveResult>>();
  /** Output paths chosen by jobs in flight, so two images never pick the same free name. */
  private readonly reserved = new Set<string>();
  /** Jobs writing under each device directory (an empty one is removed only when none is), and its pending changes. */
  private readonly writers = new Map<string, number>();
  private readonly deviceOps = new Map<string, Promise<void>>();
  /** KEKs by key id and version: versions never change, and Key Vault should not be asked per image. */
  private readonly keks = new Map<string, Promise<Uint8Array>>();
  private readonly lookup: (keyId: string, keyVersion: string) => Promise<Uint8Array>;
  private readonly subscriptions: Subscription[] = [];
  private readonly stopping = new AbortController();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly counts = { opened: 0, duplicates: 0, quarantined: 0, bytes: 0, failed: 0 };
  private restoring: Promise<void> = Promise.resolve();
  private stopped = false;
  private closing = false;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly options: ReceiverOptions,
    private readonly state: ReceiverState,
    private readonly pool: SealPool,
    private readonly ownsPool: boolean,
  ) {
    const { receiver } = options.config;
    this.queue = new WorkQueue(receiver.concurrency, receiver.concurrency);
    this.outputDir = resolve(receiver.outputDir);
    this.quarantineDir = resolve(receiver.quarantineDir);
    this.retry = { attempts: Infinity, baseMs: 250, maxMs: 30_000, ...options.retry };
    this.lookup = kekFromProvider(options.keys) as (keyId: string, keyVersion: string) => Promise<Uint8Array>;
  }

  /** Jobs an earlier run accepted but did not finish: processed again, in the background. */
  restore(pending: PendingJob[]): void {
    this.restoring = (async () => {
      for (const job of pending) {
        try {
          const { done } = await this.enqueue(job, false);
          done.catch(() => undefined); // reported through onError
        } catch (err) {
          if (isClosed(err)) return;
          this.report(describe(err, job.blobName), job.blobName);
        }
      }
    })();
  }

  async handle(event: SealedImageEvent): Promise<ReceiveResult> {
    const { done } = await this.enqueue(jobFromEvent(checkEvent(event)));
    return done;
  }

  async subscribe(options: SubscribeOptions): Promise<void> {
    if (this.stopped) throw closedError();
    const subscription = await subscribeEvents(
      options,
      async (event) => {
        try {
          const { done } = await this.enqueue(jobFromEvent(event));
          done.catch(() => undefined); // reported through onError
        } catch (err) {
          // Only while closing, when the subscription is gone: the event goes unacknowledged and comes again.
          if (!isClosed(err)) throw err;
        }
      },
      (err) => this.report(err),
    );
    if (this.stopped) {
      await subscription.close();
      throw closedError();
    }
    this.subscriptions.push(subscription);
  }

  async poll(options: { once?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    if (this.stopped) throw closedError();
    const signal = options.signal ? AbortSignal.any([this.stopping.signal, options.signal]) : this.stopping.signal;
    while (!signal.aborted) {
      let blobs: BlobInfo[];
      try {
        blobs = await this.withRetry(() => this.options.store.list(), signal);
      } catch (err) {
        if (isClosed(err)) break;
        throw err;
      }
      // Oldest first, as they were captured.
      for (const blob of blobs.reverse()) {
        const job = jobFromBlob(blob);
        if (signal.aborted) break;
        if (!job || this.state.processed(job.blobName) || this.inflight.has(job.blobName)) continue;
        try {
          const { done } = await this.enqueue(job);
          done.catch(() => undefined); // reported through onError
        } catch (err) {
          if (isClosed(err)) break;
          throw err;
        }
      }
      if (options.once) break;
      await sleep(this.options.config.receiver.pollSeconds * 1000, undefined, { signal }).catch(() => undefined);
    }
    if (options.once) await this.idle();
  }

  async idle(): Promise<void> {
    await this.restoring;
    while (this.inflight.size > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  stats(): ReceiverStats {
    return { ...this.counts, pending: this.inflight.size };
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.stopped = true;
      this.stopping.abort(); // ends poll loops and retry backoffs
      // Subscriptions first: an event not yet in the journal must not be acknowledged.
      await Promise.all(this.subscriptions.splice(0).map((s) => s.close().catch(() => undefined)));
      this.closing = true;
      await this.idle();
      if (this.ownsPool) await this.pool.close();
      for (const kek of this.keks.values()) void kek.then((k) => k.fill(0), () => undefined);
      this.keks.clear();
      await this.state.close();
    })();
    return this.closed;
  }

  // --- Jobs --------------------------------------------------------------------------------------

  /** Resolves once the job is in the journal and the queue; `done` settles with its outcome. */
  private async enqueue(job: PendingJob, journal = true): Promise<{ done: Promise<ReceiveResult> }> {
    if (this.closing) throw closedError();
    const prior = this.state.processed(job.blobName, job.eventId);
    if (prior) return { done: Promise.resolve(this.duplicate(job, prior)) };
    const running = this.inflight.get(job.blobName);
    if (running) return { done: running.then((first) => this.duplicate(job, first)) };

    // In flight from here on, before any await, so a repeat arriving meanwhile is recognised.
    let settle!: (outcome: Promise<ReceiveResult>) => void;
    const done = new Promise<ReceiveResult>((r) => (settle = r));
    this.inflight.set(job.blobName, done);
    try {
      if (journal) await this.state.queued(job);
      settle((await this.queue.accept(() => this.run(job))).done);
    } catch (err) {
      this.release(job.blobName);
      settle(Promise.reject(err));
      done.catch(() => undefined); // the caller hears of it from the throw
      throw err;
    }
    this.track(job.blobName, done);
    return { done };
  }

  private release(blobName: string): void {
    this.inflight.delete(blobName);
    if (this.inflight.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Counted and reported once settled and out of the in-flight set, so stats() no longer counts it as pending. */
  private track(blobName: string, done: Promise<ReceiveResult>): void {
    done.then(
      (result) => {
        this.release(blobName);
        if (result.status === 'opened') {
          this.counts.opened++;
          this.counts.bytes += result.bytes ?? 0;
        } else this.counts.quarantined++;
        this.emit(result);
      },
      (err: SealcamError) => {
        this.release(blobName);
        if (isClosed(err)) return; // still in the journal: the next start takes it up
        this.counts.failed++;
        this.report(err, blobName);
      },
    );
  }

  private duplicate(job: Job, prior: DoneRecord | ReceiveResult): ReceiveResult {
    const result: ReceiveResult = { eventId: job.eventId, blobName: job.blobName, deviceId: job.deviceId, status: 'duplicate' };
    if (prior.outputPath !== undefined) result.outputPath = prior.outputPath;
    if (prior.status === 'quarantined') result.reason = `already quarantined: ${prior.reason ?? ''}`;
    this.counts.duplicates++;
    this.emit(result);
    return result;
  }

  private emit(result: ReceiveResult): void {
    try {
      this.options.onResult?.(result);
    } catch {
      /* a listener's failure is not the image's */
    }
  }

  private report(error: SealcamError, blobName?: string): void {
    try {
      this.options.onError?.(error, blobName);
    } catch {
      /* as in emit() */
    }
  }

  /** The queued task. */
  private async run(job: PendingJob): Promise<ReceiveResult> {
    if (this.closing) throw closedError();
    try {
      return await this.process(job);
    } catch (err) {
      throw describe(err, job.blobName);
    }
  }

  private async process(job: PendingJob): Promise<ReceiveResult> {
    // A job an earlier run was writing when it died: its temp file goes (unverified plaintext), and a
    // file at the recorded path is complete, since only a finished atomic write publishes one.
    if (job.writing !== undefined) await removeStaleTemps(job.writing);
    if (job.writing !== undefined && (await exists(job.writing))) {
      const bytes = (await stat(job.writing)).size;
      await this.state.finished({ blobName: job.blobName, eventId: job.eventId, status: 'opened', outputPath: job.writing });
      return { eventId: job.eventId, blobName: job.blobName, deviceId: job.deviceId, status: 'opened', outputPath: job.writing, bytes };
    }
    return this.withRetry(() => this.openOrQuarantine(job), this.stopping.signal);
  }

  private async withRetry<T>(attempt: () => Promise<T>, signal: AbortSignal): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        if (!isTransientFailure(err) || n >= this.retry.attempts || signal.aborted) throw err;
      }
      const delay = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** (n - 1));
      await sleep(delay, undefined, { signal }).catch(() => {
        throw closedError();
      });
    }
  }

  private async openOrQuarantine(job: Job): Promise<ReceiveResult> {
    try {
      if (job.format !== undefined && job.format !== 'sealed') {
        throw new SealcamError('EUNSUPPORTED', `format ${job.format}: only sealed blobs carry the key version and metadata the receiver needs`);
      }
      return await this.open(job);
    } catch (err) {
      const failure = verificationFailure(err);
      if (!failure) throw err;
      const { path, report } = await quarantine(this.options.store, this.quarantineDir, job, failure);
      await this.state.finished({ blobName: job.blobName, eventId: job.eventId, status: 'quarantined', reason: report.reason });
      return { eventId: job.eventId, blobName: job.blobName, deviceId: job.deviceId, status: 'quarantined', quarantinePath: path, reason: report.reason };
    }
  }

  /** The KEK a header names, from the cache or the key provider; a name the provider cannot hold is an unknown key. */
  private readonly kek = (keyId: string, keyVersion: string): Promise<Uint8Array> => {
    const id = `${keyId}\0${keyVersion}`;
    let kek = this.keks.get(id);
    if (kek === undefined) {
      kek = this.lookup(keyId, keyVersion).catch((err: unknown) => {
        this.keks.delete(id);
        if ((err as SealcamError).code !== 'EINPUT') throw err;
        throw new SealcamError('ENOKEY', `the header names key ${JSON.stringify(keyId.slice(0, 64))}, which the key provider cannot hold`);
      });
      this.keks.set(id, kek);
    }
    return kek;
  };

  private async open(job: Job): Promise<ReceiveResult> {
    const started = performance.now();
    const source = await this.options.store.get(job.blobName);
    let downloadMs: number | undefined;
    const sha = createHash('sha256');
    const checked = hashing(sha, () => {
      downloadMs = performance.now() - started;
      const actual = sha.digest('hex');
      if (job.sha256 !== undefined && actual !== job.sha256) {
        throw new SealcamError('ESHA256', `the blob's SHA-256 is ${actual}, the event announced ${job.sha256}`);
      }
    });
    const opener = createOpenStream({ kek: this.kek, pool: this.pool, engine: this.options.engine });
    const feeding = pipeline(source, checked, opener);
    feeding.catch(() => undefined); // read below

    // The header is verified (MAC, key) before any plaintext: its metadata names and dates the image.
    const header = await Promise.race([
      once(opener, 'header').then(([h]) => h as SealedHeader),
      feeding.then((): never => {
        throw new SealcamError('EFORMAT', 'the blob ended before its header');
      }),
    ]);
    const { metadata } = header;
    if (metadata.deviceId !== undefined && metadata.deviceId !== job.deviceId) {
      const err = new SealcamError('EDEVICE', `the verified header names device ${JSON.stringify(String(metadata.deviceId).slice(0, 64))}, the blob is under ${job.deviceId}`);
      opener.destroy(err);
      throw err;
    }
    const times = [metadata.captureTime, job.captureTime];
    const deviceDir = join(this.outputDir, job.deviceId);
    const dir = join(deviceDir, captureDay(times, job.blobName));
    let path: string | undefined;
    let written = false;
    try {
      await this.inDevice(deviceDir, async () => {
        this.writers.set(deviceDir, (this.writers.get(deviceDir) ?? 0) + 1);
        await mkdir(dir, { recursive: true }).catch((err) => {
          throw fsError(err, 'create output directory', dir);
        });
      });
      path = await this.claim(dir, imageName(metadata, job.blobName));
      await this.state.writing(job.blobName, path);
      const opening = performance.now();
      const writing = writeStreamAtomic(path, opener, { mode: IMAGE_MODE }).catch((err) => {
        opener.destroy(err); // stops the download too
        throw err;
      });
      const [fed, wrote] = await Promise.allSettled([feeding, writing]);
      // The download side's own errors (verification, network) say more than the write's echo of them.
      if (fed.status === 'rejected' && (fed.reason instanceof SealcamError || wrote.status === 'fulfilled')) throw fed.reason;
      if (wrote.status === 'rejected') throw wrote.reason;
      if (fed.status === 'rejected') throw fed.reason;
      written = true;
      const bytes = (await stat(path)).size;
      await this.state.finished({ blobName: job.blobName, eventId: job.eventId, status: 'opened', outputPath: path });
      return {
        eventId: job.eventId,
        blobName: job.blobName,
        deviceId: job.deviceId,
        status: 'opened',
        outputPath: path,
        bytes,
        downloadMs,
        openMs: performance.now() - opening,
        latencyMs: sinceCapture(times),
      };
    } finally {
      opener.destroy(); // a no-op once it ended; otherwise releases the download
      if (path !== undefined) this.reserved.delete(path);
      await this.inDevice(deviceDir, async () => {
        const left = (this.writers.get(deviceDir) ?? 1) - 1;
        if (left > 0) return void this.writers.set(deviceDir, left);
        this.writers.delete(deviceDir);
        // Nothing is left in the output directory for an image that did not open.
        if (!written) for (const d of [dir, deviceDir]) await rmdir(d).catch(() => undefined);
      });
    }
  }

  /** Runs `change` after the earlier ones for this device directory: creating and removing its directories never interleave. */
  private inDevice(deviceDir: string, change: () => Promise<void>): Promise<void> {
    const next = (this.deviceOps.get(deviceDir) ?? Promise.resolve()).then(change);
    const settled = next.catch(() => undefined);
    this.deviceOps.set(deviceDir, settled);
    void settled.then(() => this.deviceOps.get(deviceDir) === settled && this.deviceOps.delete(deviceDir));
    return next;
  }

  /** The first free name among name, name-1, name-2, ... that no other job in flight has chosen. */
  private async claim(dir: string, name: string): Promise<string> {
    for (let n = 0; ; n++) {
      const candidate = join(dir, withSuffix(name, n));
      if (this.reserved.has(candidate)) continue;
      this.reserved.add(candidate);
      const taken = await exists(candidate).catch((err) => {
        this.reserved.delete(candidate);
        throw err;
      });
      if (!taken) return candidate;
      this.reserved.delete(candidate);
    }
  }
}

export async function createReceiver(options: ReceiverOptions): Promise<Receiver> {
  const problem = checkConfig(options.config).find((p) => p.startsWith('receiver.'));
  if (problem !== undefined) throw new SealcamError('ECONFIG', problem);
  const state = await ReceiverState.open(options.config.receiver.stateDir);
  let pool = options.pool;
  try {
    const seal = { ...options.config.seal, engine: options.engine ?? options.config.seal.engine };
    pool ??= poolFromConfig({ ...options.config, seal });
  } catch (err) {
    await state.close();
    throw err;
  }
  const receiver = new SealcamReceiver(options, state, pool, options.pool === undefined);
  receiver.restore(state.pending());
  return receiver;
}
