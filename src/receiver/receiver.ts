import { hostname } from 'node:os';
import { refuseConfig, type SealcamConfig } from '../config.js';
import { isVerificationFailure, networkCode, SealcamError } from '../errors.js';
import type { SignatureCheck } from '../formats/sealed.js';
import { RecentThroughput, writeImageRecord, writeQuarantineRecord, writeReceiverStatus } from '../fleet/records.js';
import { KekCache } from '../keys/cache.js';
import { openingWith } from '../keys/recipients.js';
import { describeFingerprint, type Identity } from '../keys/stanza.js';
import type { KeyProvider } from '../keys/provider.js';
import { checkEvent, subscribeEvents, type SealedImageEvent, type SubscribeOptions, type Subscription } from '../notify/index.js';
import { poolFromConfig } from '../pool/index.js';
import type { SealPool } from '../pool/pool.js';
import { pause, withRetry, type BackoffPolicy } from '../retry.js';
import type { BlobInfo, BlobStore } from '../storage/store.js';
import { jobFromBlob, jobFromEvent, type Job } from './job.js';
import { openBlob, type OpenDeps, type OpenedImage } from './open.js';
import { parseOutputLocation } from './location.js';
import { directoryOutput, openOutput, type Output } from './output.js';
import { quarantine, quarantineName } from './quarantine.js';
import { WorkQueue } from './queue.js';
import { ReceiverCounters, type ReceiverStats } from './stats.js';

/**
 * The cloud side of the camera fleet: hears of sealed images (MQTT events, shared among receivers
 * with `share`) or finds them (listing the store), downloads each as a stream, opens it with the
 * key its header names, checks who signed it, and publishes the image under a name that only the
 * blob's name decides (output.ts), with a create-only write. That name is the whole state: a
 * repeated notification, a restart, a second receiver or a reconcile pass finds the image there
 * and counts a duplicate; a race between two receivers is decided by the output store itself, and
 * the loser counts a duplicate too. Nothing is kept per receiver, so nothing grows with the
 * fleet's history. An event is acknowledged only once its image is published or quarantined, so
 * a receiver that dies mid-job leaves the event to be delivered again.
 *
 * Blobs that fail verification are quarantined with a report (quarantine.ts); transient failures
 * (store or key service unreachable) are retried with backoff (retry.ts). Each outcome is also
 * recorded for the dashboard (fleet/records.ts), and the receiver's counters every few seconds.
 */

/** Tries per image (and per store listing) for transient failures, and the backoff between them (retry.ts). */
export type RetryOptions = Partial<BackoffPolicy>;

export interface ReceiverOptions {
  /** receiver.output, quarantineDir, concurrency, pollSeconds; seal.jobs and seal.engine for the pool. */
  config: SealcamConfig;
  keys: KeyProvider;
  store: BlobStore;
  engine?: 'wasm' | 'native';
  /** A shared pool; without one the receiver runs its own and closes it on close(). */
  pool?: SealPool;
  /** Where images go (output.ts); default: receiver.output (a directory or a store location, location.ts). */
  output?: Output;
  /** Where blobs that fail go; default: the directory receiver.quarantineDir for a directory output, else `.sealcam/quarantine/` in the output. */
  quarantine?: Output;
  /** This receiver's name in records (default: `<host>-<pid>`); give each receiver sharing an output its own. */
  id?: string;
  /** The identities that open files sealed to the fleet's recipients (v2). */
  identities?: readonly Identity[];
  /**
   * The device registry: given one, only files signed by a registered, unrevoked key of the device
   * whose prefix they are under are opened; anything else is quarantined.
   */
  trust?: SignatureCheck;
  /** Every outcome: opened, duplicate (published already, here or by another receiver), quarantined, or refused (an event that cannot be right). */
  onResult?: (r: ReceiveResult) => void;
  /**
   * An image that could not be processed and is not the blob's fault (store refused access, disk
   * full, retries used up): the blob stays in the store, where the next poll or reconcile pass finds it.
   */
  onError?: (error: SealcamError, blobName?: string) => void;
  retry?: RetryOptions;
  /** How often the receiver's status record is replaced (default 5000 ms; 0: only at close). */
  statusIntervalMs?: number;
}

/** An outcome; `outputPath` is the image (opened, or the copy that was there first for a duplicate). */
export interface ReceiveResult extends Partial<Omit<OpenedImage, 'header' | 'signer' | 'check' | 'published'>> {
  eventId?: string;
  blobName: string;
  deviceId: string;
  status: 'opened' | 'duplicate' | 'quarantined' | 'refused';
  /** The quarantined sealed copy; its report is `<quarantinePath>.report.json`. */
  quarantinePath?: string;
  reason?: string;
  /** The image checks' warnings for an opened image (the image is kept: it verified). */
  warnings?: string[];
  /** Capture (from the verified header, else the event) to image published. */
  latencyMs?: number;
}

export type { ReceiverStats } from './stats.js';

export interface PollOptions {
  /** One pass over the store, then resolve once it is processed (a reconcile pass). */
  once?: boolean;
  /** Only blobs captured on the days of the last `sinceMs` (UTC): lists `<device>/<yyyy>/<mm>/<dd>/` folders instead of the whole store. */
  sinceMs?: number;
  signal?: AbortSignal;
}

export interface Receiver {
  /** Processes one event; one whose image is published already resolves as 'duplicate'. */
  handle(event: SealedImageEvent): Promise<ReceiveResult>;
  /** Subscribes (QoS 1, persistent session; `share` for a group): each event is acknowledged once its outcome is committed. */
  subscribe(options: SubscribeOptions): Promise<void>;
  /** Lists the store and processes every blob without an image or a quarantined copy; every receiver.pollSeconds until the signal or close(), or once. */
  poll(options?: PollOptions): Promise<void>;
  /** Resolves when nothing is in flight. */
  idle(): Promise<void>;
  stats(): ReceiverStats;
  /** Unsubscribes, lets in-flight images finish and be acknowledged, records the status, and releases the pool. */
  close(): Promise<void>;
}

const closedError = () => new SealcamError('ECLOSED', 'the receiver is closed');
const isClosed = (err: unknown) => (err as SealcamError | undefined)?.code === 'ECLOSED';
const DAY_MS = 86_400_000;

/** Any failure as one SealcamError line naming the blob. */
function describe(err: unknown, blobName: string): SealcamError {
  if (err instanceof SealcamError) return err;
  const code = networkCode(err) ?? (err as { code?: unknown } | undefined)?.code;
  const why = String((err as Error | undefined)?.message ?? err).split('\n')[0];
  return new SealcamError(typeof code === 'string' ? code : 'ERECEIVE', `cannot receive ${blobName}: ${why}`);
}

/** The dated folders (`yyyy/mm/dd/`) of the days from `sinceMs` ago to today, UTC. */
function recentDays(sinceMs: number, now = Date.now()): string[] {
  const days: string[] = [];
  for (let t = Math.floor((now - sinceMs) / DAY_MS) * DAY_MS; t <= now; t += DAY_MS) {
    const iso = new Date(t).toISOString();
    days.push(`${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/`);
  }
  return days;
}

class SealcamReceiver implements Receiver {
  private readonly queue: WorkQueue;
  private readonly output: Output;
  private readonly quarantineOutput: Output;
  private readonly id: string;
  private readonly retry: RetryOptions;
  private readonly inflight = new Map<string, Promise<ReceiveResult>>();
  /** KEKs by key id and version: Key Vault should not be asked per image. */
  private readonly keks: KekCache;
  private readonly openKeys: OpenDeps['keys'];
  private readonly subscriptions: Subscription[] = [];
  private readonly stopping = new AbortController();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly counters = new ReceiverCounters();
  private readonly throughput = new RecentThroughput();
  private readonly startedAt = new Date().toISOString();
  private readonly statusTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Until close(): then only what is running finishes. */
  private accepting = true;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly options: ReceiverOptions,
    places: { output: Output; quarantine: Output },
    private readonly pool: SealPool,
    private readonly ownsPool: boolean,
  ) {
    const { receiver } = options.config;
    this.queue = new WorkQueue(receiver.concurrency, receiver.concurrency);
    this.output = places.output;
    this.quarantineOutput = places.quarantine;
    this.id = options.id ?? `${hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40) || 'receiver'}-${process.pid}`;
    this.retry = options.retry ?? {};
    this.keks = new KekCache(options.keys);
    this.openKeys = {
      kek: this.keks.lookup,
      ...(options.identities === undefined ? {} : { fileKey: openingWith(options.identities) }),
      ...(options.trust === undefined ? {} : { trust: options.trust }),
    };
    const every = options.statusIntervalMs ?? 5000;
    if (every > 0) {
      this.statusTimer = setInterval(() => void this.recordStatus(), every);
      this.statusTimer.unref();
    }
  }

  async handle(event: SealedImageEvent): Promise<ReceiveResult> {
    return this.enqueue(jobFromEvent(checkEvent(event))).done;
  }

  async subscribe(options: SubscribeOptions): Promise<void> {
    if (this.stopped) throw closedError();
    const subscription = await subscribeEvents(
      options,
      // Awaited to the outcome: the event is acknowledged only once its image is committed.
      async (event, info) => {
        await this.enqueue(jobFromEvent(event, info)).done;
      },
      (err) => this.report(err),
    );
    if (this.stopped) {
      await subscription.close();
      throw closedError();
    }
    this.subscriptions.push(subscription);
  }

  async poll(options: PollOptions = {}): Promise<void> {
    if (this.stopped) throw closedError();
    const signal = options.signal ? AbortSignal.any([this.stopping.signal, options.signal]) : this.stopping.signal;
    while (!signal.aborted) {
      let jobs: Job[];
      try {
        jobs = await this.withRetry(() => this.unpublished(options.sinceMs), signal);
      } catch (err) {
        if (signal.aborted) break;
        throw err;
      }
      const running: Promise<unknown>[] = [];
      for (const job of jobs) {
        if (signal.aborted) break;
        const { queued, done } = this.enqueue(job);
        running.push(done.catch(() => undefined)); // failures reach onError
        // The queue holds the listing back: at most concurrency + capacity are accepted at once.
        await queued;
      }
      if (options.once) {
        await Promise.all(running);
        break;
      }
      await pause(this.options.config.receiver.pollSeconds * 1000, signal);
    }
  }

  /**
   * The blobs of the store (or of its recent day folders) that have neither an image in the output
   * nor a quarantined copy, oldest first. One listing of the output per day folder, not a request
   * per blob.
   */
  private async unpublished(sinceMs: number | undefined): Promise<Job[]> {
    const { store } = this.options;
    let blobs: BlobInfo[];
    if (sinceMs === undefined) blobs = await store.list();
    else {
      const days = recentDays(sinceMs);
      const devices = await store.folders('');
      blobs = (await Promise.all(devices.flatMap((device) => days.map((day) => store.list({ prefix: `${device}${day}` }))))).flat();
    }
    const byFolder = new Map<string, Job[]>();
    for (const blob of blobs) {
      const job = jobFromBlob(blob);
      if (!job || this.inflight.has(job.blobName)) continue;
      const folder = job.blobName.slice(0, job.blobName.lastIndexOf('/') + 1);
      byFolder.set(folder, [...(byFolder.get(folder) ?? []), job]);
    }
    const fresh: { job: Job; modified: number }[] = [];
    const modified = new Map(blobs.map((b) => [b.name, b.lastModified.getTime()]));
    for (const [folder, jobs] of byFolder) {
      const imageFolder = jobs[0]!.outputName!.slice(0, jobs[0]!.outputName!.lastIndexOf('/') + 1);
      const [images, kept] = await Promise.all([this.output.names(imageFolder), this.quarantineOutput.names(folder)]);
      // A copy or a report (a blob too large to copy has only its report) says it was judged.
      const quarantined = (job: Job) => {
        const base = `${job.blobName.slice(folder.length)}.`;
        for (const name of kept) if (name.startsWith(base)) return true;
        return false;
      };
      for (const job of jobs) {
        const image = job.outputName!.slice(imageFolder.length);
        if (!images.has(image) && !quarantined(job)) fresh.push({ job, modified: modified.get(job.blobName) ?? 0 });
      }
    }
    return fresh.sort((a, b) => a.modified - b.modified || (a.job.blobName < b.job.blobName ? -1 : 1)).map((f) => f.job);
  }

  /** Removes what receivers that died left staged (output.ts). */
  async sweep(): Promise<void> {
    await Promise.all([this.output.sweep(), this.quarantineOutput.sweep()]);
  }

  async idle(): Promise<void> {
    while (this.inflight.size > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  stats(): ReceiverStats {
    return this.counters.snapshot(this.inflight.size);
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.stopped = true;
      // Nothing new is taken on: events handed over from now on go unacknowledged, so the broker
      // delivers them again (to this session when it returns, or to the rest of the group).
      this.accepting = false;
      this.stopping.abort(); // ends poll loops and retry backoffs
      // The images being opened finish, their events are acknowledged, then the connections end.
      await Promise.all(this.subscriptions.splice(0).map((s) => s.close().catch(() => undefined)));
      await this.idle();
      if (this.statusTimer) clearInterval(this.statusTimer);
      await this.recordStatus();
      if (this.ownsPool) await this.pool.close();
      await this.keks.wipe();
    })();
    return this.closed;
  }

  // --- Jobs --------------------------------------------------------------------------------------

  /**
   * Runs `job` once however many times it is asked for at once: `queued` once it holds a place in
   * the queue (a producer waits for that), `done` with its outcome.
   */
  private enqueue(job: Job): { queued: Promise<unknown>; done: Promise<ReceiveResult> } {
    const now = (result: ReceiveResult | Promise<ReceiveResult>) => ({ queued: Promise.resolve(), done: Promise.resolve(result) });
    if (!this.accepting) return { queued: Promise.resolve(), done: Promise.reject(closedError()) };
    if (job.redelivered) this.counters.redelivery();
    const refusal = this.refusal(job);
    if (refusal !== undefined) return now(this.refuse(job, refusal));
    const running = this.inflight.get(job.blobName);
    if (running) {
      return now(running.then((first) => this.counted(this.duplicate(job, first.outputPath, first.status === 'quarantined' ? first.reason : undefined))));
    }

    // In flight from here on, so a repeat arriving meanwhile is recognised.
    const accepted = this.queue.accept(() => this.run(job as Job & { outputName: string }));
    const done = accepted.then(({ done: outcome }) => outcome);
    this.inflight.set(job.blobName, done);
    done.then(
      (result) => {
        this.release(job.blobName);
        this.counted(result);
      },
      (err: SealcamError) => {
        this.release(job.blobName);
        if (isClosed(err)) return; // the blob stays in the store (and an event unacknowledged): the next pass takes it
        this.counters.count({ status: 'failed' });
        this.report(err, job.blobName);
      },
    );
    return { queued: accepted, done };
  }

  /** Counts and reports an outcome. */
  private counted(result: ReceiveResult): ReceiveResult {
    this.counters.count(result);
    this.emit(result);
    return result;
  }

  /** Why an event cannot be right before any work, or undefined. */
  private refusal(job: Job): string | undefined {
    if (job.outputName === undefined) return `${job.blobName} is not a name sealcam writes (<device>/<yyyy>/<mm>/<dd>/<name>.sealed): refused`;
    if (job.channelDevice !== undefined && job.channelDevice !== job.deviceId) {
      return `the event came on ${job.channelDevice}'s channel but names ${job.deviceId}'s blob ${job.blobName}: refused`;
    }
    return undefined;
  }

  private release(blobName: string): void {
    this.inflight.delete(blobName);
    if (this.inflight.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /**
   * An event that lies about whose blob it names, or names what no sealcam writer makes: refused
   * before any work, so the blob still opens when its own camera's event (or a poll) arrives, and
   * quarantine is never forced by someone else's event.
   */
  private refuse(job: Job, reason: string): ReceiveResult {
    return this.counted({ eventId: job.eventId, blobName: job.blobName, deviceId: job.deviceId, status: 'refused', reason });
  }

  private duplicate(job: Job, outputPath?: string, quarantinedFor?: string): ReceiveResult {
    return {
      eventId: job.eventId,
      blobName: job.blobName,
      deviceId: job.deviceId,
      status: 'duplicate',
      ...(outputPath === undefined ? {} : { outputPath }),
      ...(quarantinedFor === undefined ? {} : { reason: `already quarantined: ${quarantinedFor}` }),
    };
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
  private async run(job: Job & { outputName: string }): Promise<ReceiveResult> {
    if (!this.accepting) throw closedError(); // waited in the queue past close(): the next pass takes it
    try {
      if (await this.output.has(job.outputName)) return this.duplicate(job, this.output.locate(job.outputName));
      // The content an event announces, quarantined before: judged already (a lie only costs a download).
      if (job.sha256 !== undefined && (await this.quarantineOutput.has(quarantineName(job.blobName, job.sha256)))) {
        return this.duplicate(job, undefined, 'this content failed verification before');
      }
      return await this.withRetry(() => this.openOrQuarantine(job), this.stopping.signal);
    } catch (err) {
      throw describe(err, job.blobName);
    }
  }

  /** Transient failures retried with backoff; a close ends the wait (the blob stays in the store for the next pass). */
  private async withRetry<T>(attempt: () => Promise<T>, signal: AbortSignal): Promise<T> {
    try {
      return await withRetry(attempt, { policy: this.retry, signal });
    } catch (err) {
      throw signal.aborted ? closedError() : err;
    }
  }

  private async openOrQuarantine(job: Job & { outputName: string }): Promise<ReceiveResult> {
    const base = { eventId: job.eventId, blobName: job.blobName, deviceId: job.deviceId };
    let image: OpenedImage;
    try {
      const { store, engine } = this.options;
      image = await openBlob(job, { store, pool: this.pool, engine, keys: this.openKeys, output: this.output });
    } catch (failure) {
      if (!isVerificationFailure(failure)) throw failure;
      const kept = await quarantine(this.options.store, this.quarantineOutput, job, failure);
      if (kept.published === 'exists') return this.duplicate(job, undefined, kept.report.reason);
      await this.recordQuarantine(job, failure, kept.report.reason, kept.report.time);
      return { ...base, status: 'quarantined', quarantinePath: kept.path, reason: kept.report.reason };
    }
    const { header, signer, check, published, ...opened } = image;
    if (published === 'exists') return this.duplicate(job, image.outputPath);
    this.throughput.add(image.bytes);
    const captureTime = await this.recordImage(job, image);
    return {
      ...base,
      status: 'opened',
      ...opened,
      latencyMs: Date.now() - Date.parse(captureTime),
      ...(check.warnings.length > 0 ? { warnings: check.warnings } : {}),
    };
  }

  // --- Records for the dashboard -------------------------------------------------------------------

  /** A record that cannot be written is reported, never held against the image (which is published). */
  private async record(what: string, write: () => Promise<unknown>): Promise<void> {
    try {
      await withRetry(write, { policy: this.retry, signal: this.stopping.signal });
    } catch (err) {
      this.report(new SealcamError((err as SealcamError).code ?? 'ERECORD', `could not record ${what} for the dashboard: ${(err as Error).message}`));
    }
  }

  /** Records an opened image; resolves with its capture time (the verified header's, else the event's, else now). */
  private async recordImage(job: Job & { outputName: string }, image: OpenedImage): Promise<string> {
    const { metadata } = image.header;
    const receivedAt = new Date();
    const captured = [metadata.captureTime, job.captureTime].find((t) => typeof t === 'string' && !Number.isNaN(Date.parse(t))) as string | undefined;
    const captureTime = captured ? new Date(captured).toISOString() : receivedAt.toISOString();
    const signed = image.header.version === 2 && image.header.signature !== undefined;
    await this.record(job.blobName, () =>
      writeImageRecord(this.output.records, {
        deviceId: job.deviceId,
        blobName: job.blobName,
        outputPath: job.outputName,
        contentType: typeof metadata.contentType === 'string' ? metadata.contentType : 'application/octet-stream',
        bytes: image.bytes,
        sha256: image.imageSha256,
        captureTime,
        receivedAt: receivedAt.toISOString(),
        sealToReceiveMs: receivedAt.getTime() - Date.parse(captureTime),
        receiver: this.id,
        signature: image.signer !== undefined ? 'verified' : signed || image.header.version === 2 ? 'unsigned' : 'n/a',
        ...(image.signer !== undefined ? { keyId: describeFingerprint('ed25519', image.signer.signer) } : image.header.version === 1 ? { keyId: `${image.header.keyId}#${image.header.keyVersion}` } : {}),
        warnings: image.check.warnings,
      }),
    );
    return captureTime;
  }

  private recordQuarantine(job: Job, failure: SealcamError, reason: string, time: string): Promise<void> {
    return this.record(job.blobName, () =>
      writeQuarantineRecord(this.output.records, { deviceId: job.deviceId, blobName: job.blobName, code: failure.code, reason: reason.split('\n')[0]!.slice(0, 500), time, receiver: this.id }),
    );
  }

  private async recordStatus(): Promise<void> {
    const s = this.stats();
    await this.record('the receiver status', () =>
      writeReceiverStatus(this.output.records, {
        receiver: this.id,
        startedAt: this.startedAt,
        updatedAt: new Date().toISOString(),
        opened: s.opened,
        duplicates: s.duplicates,
        redeliveries: s.redeliveries,
        quarantined: s.quarantined,
        bytes: s.bytes,
        inFlight: s.pending,
        recent: this.throughput.recent(),
      }),
    );
  }
}

export async function createReceiver(options: ReceiverOptions): Promise<Receiver> {
  const { config } = options;
  refuseConfig(config, ['receiver']);
  const output = options.output ?? (await openOutput(config));
  // A directory output keeps quarantine in receiver.quarantineDir; a store output beside its images.
  const inDirectory = options.output === undefined && parseOutputLocation(config.receiver.output).kind === 'directory';
  const quarantine = options.quarantine ?? (inDirectory ? directoryOutput(config.receiver.quarantineDir) : output.under('.sealcam/quarantine'));
  const seal = { ...config.seal, engine: options.engine ?? config.seal.engine };
  const pool = options.pool ?? poolFromConfig({ ...config, seal });
  const receiver = new SealcamReceiver(options, { output, quarantine }, pool, options.pool === undefined);
  try {
    await receiver.sweep();
  } catch (err) {
    await receiver.close();
    throw err;
  }
  return receiver;
}
