import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { refuseConfig, type SealcamConfig } from '../config.js';
import { isVerificationFailure, networkCode, SealcamError } from '../errors.js';
import { removeStaleTemps } from '../io/atomic.js';
import type { SignatureCheck } from '../formats/sealed.js';
import { KekCache } from '../keys/cache.js';
import { openingWith } from '../keys/recipients.js';
import type { Identity } from '../keys/stanza.js';
import type { KeyProvider } from '../keys/provider.js';
import { checkEvent, subscribeEvents, type SealedImageEvent, type SubscribeOptions, type Subscription } from '../notify/index.js';
import { poolFromConfig } from '../pool/index.js';
import type { SealPool } from '../pool/pool.js';
import { pause, withRetry, type BackoffPolicy } from '../retry.js';
import type { BlobInfo, BlobStore } from '../storage/store.js';
import { jobFromBlob, jobFromEvent, type Job } from './job.js';
import { openBlob, type OpenDeps, type OpenedImage } from './open.js';
import { OutputPlacer, pathExists } from './output.js';
import { quarantine } from './quarantine.js';
import { WorkQueue } from './queue.js';
import { ReceiverState, type DoneRecord, type PendingJob } from './state.js';
import { ReceiverCounters, type ReceiverStats } from './stats.js';

/**
 * The cloud side of the camera fleet: hears of sealed images (MQTT events) or finds them (listing
 * the store), downloads each as a stream, checks its SHA-256, opens it with the key version its
 * header names, and writes the image atomically to `<outputDir>/<device>/<yyyy-mm-dd>/<name>`.
 * Every step that matters is in a durable journal (state.ts), so a repeated notification or a
 * restart neither loses nor duplicates an image. Blobs that fail verification are quarantined
 * with a report; transient failures (store or key service unreachable) are retried with backoff.
 *
 * This module takes jobs in (events, listings, the journal's leftovers), recognises repeats and
 * runs each image once, retrying what may pass; open.ts fetches, verifies and writes one blob,
 * output.ts places the images, quarantine.ts keeps what fails, state.ts is the journal and
 * stats.ts the counts.
 */

/** Tries per image (and per store listing) for transient failures, and the backoff between them (retry.ts). */
export type RetryOptions = Partial<BackoffPolicy>;

export interface ReceiverOptions {
  /** receiver.outputDir, quarantineDir, stateDir, concurrency, pollSeconds; seal.jobs and seal.engine for the pool. */
  config: SealcamConfig;
  keys: KeyProvider;
  store: BlobStore;
  engine?: 'wasm' | 'native';
  /** A shared pool; without one the receiver runs its own and closes it on close(). */
  pool?: SealPool;
  /** The identities that open files sealed to the fleet's recipients (v2). */
  identities?: readonly Identity[];
  /**
   * The device registry: given one, only files signed by a registered, unrevoked key of the device
   * whose prefix they are under are opened; anything else is quarantined.
   */
  trust?: SignatureCheck;
  /** Every outcome: opened, duplicate (a repeat of something processed), quarantined, or refused (an event whose channel is not the blob's camera). */
  onResult?: (r: ReceiveResult) => void;
  /**
   * An image that could not be processed and is not the blob's fault (store refused access, disk
   * full, retries used up). It stays pending: a restart, or the next poll, tries it again.
   */
  onError?: (error: SealcamError, blobName?: string) => void;
  retry?: RetryOptions;
}

/** An outcome; `outputPath` is the image (opened, or the earlier copy of a duplicate). */
export interface ReceiveResult extends Partial<OpenedImage> {
  eventId?: string;
  blobName: string;
  deviceId: string;
  status: 'opened' | 'duplicate' | 'quarantined' | 'refused';
  /** The quarantined sealed copy; its report is `<quarantinePath>.report.json`. */
  quarantinePath?: string;
  reason?: string;
}

export type { ReceiverStats } from './stats.js';

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

const closedError = () => new SealcamError('ECLOSED', 'the receiver is closed');
const isClosed = (err: unknown) => (err as SealcamError | undefined)?.code === 'ECLOSED';

/** Any failure as one SealcamError line naming the blob. */
function describe(err: unknown, blobName: string): SealcamError {
  if (err instanceof SealcamError) return err;
  const code = networkCode(err) ?? (err as { code?: unknown } | undefined)?.code;
  const why = String((err as Error | undefined)?.message ?? err).split('\n')[0];
  return new SealcamError(typeof code === 'string' ? code : 'ERECEIVE', `cannot receive ${blobName}: ${why}`);
}

/** A quarantined blob is judged again when an event announces other content for it (an opened one never is). */
function changedSince(prior: DoneRecord, job: Job): boolean {
  return prior.status === 'quarantined' && job.sha256 !== undefined && prior.sha256 !== undefined && job.sha256 !== prior.sha256;
}

class SealcamReceiver implements Receiver {
  private readonly queue: WorkQueue;
  private readonly output: OutputPlacer;
  private readonly quarantineDir: string;
  private readonly retry: RetryOptions;
  private readonly inflight = new Map<string, Promise<ReceiveResult>>();
  /** KEKs by key id and version: Key Vault should not be asked per image. */
  private readonly keks: KekCache;
  private readonly openKeys: OpenDeps['keys'];
  private readonly subscriptions: Subscription[] = [];
  private readonly stopping = new AbortController();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly counters = new ReceiverCounters();
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
    this.output = new OutputPlacer(resolve(receiver.outputDir));
    this.quarantineDir = resolve(receiver.quarantineDir);
    this.retry = options.retry ?? {};
    this.keks = new KekCache(options.keys);
    this.openKeys = {
      kek: this.keks.lookup,
      ...(options.identities === undefined ? {} : { fileKey: openingWith(options.identities) }),
      ...(options.trust === undefined ? {} : { trust: options.trust }),
    };
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
      async (event, info) => {
        try {
          const { done } = await this.enqueue(jobFromEvent(event, info.channelDevice));
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
        if (signal.aborted) break;
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
      await pause(this.options.config.receiver.pollSeconds * 1000, signal);
    }
    if (options.once) await this.idle();
  }

  async idle(): Promise<void> {
    await this.restoring;
    while (this.inflight.size > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  stats(): ReceiverStats {
    return this.counters.snapshot(this.inflight.size);
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
      await this.keks.wipe();
      await this.state.close();
    })();
    return this.closed;
  }

  // --- Jobs --------------------------------------------------------------------------------------

  /** Resolves once the job is in the journal and the queue; `done` settles with its outcome. */
  private async enqueue(job: PendingJob, journal = true): Promise<{ done: Promise<ReceiveResult> }> {
    if (this.closing) throw closedError();
    if (job.channelDevice !== undefined && job.channelDevice !== job.deviceId) return { done: Promise.resolve(this.refuse(job)) };
    const prior = this.state.processed(job.blobName);
    if (prior && !changedSince(prior, job)) return { done: Promise.resolve(this.duplicate(job, prior)) };
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
        this.counters.count(result);
        this.emit(result);
      },
      (err: SealcamError) => {
        this.release(blobName);
        if (isClosed(err)) return; // still in the journal: the next start takes it up
        this.counters.count({ status: 'failed' });
        this.report(err, blobName);
      },
    );
  }

  /**
   * An event whose channel (its MQTT topic) names another camera than the blob it names: a hint that
   * lies. It is refused before any work and journals nothing, so the blob still opens when its own
   * camera's event (or a poll) arrives, and quarantine is never forced by someone else's event.
   */
  private refuse(job: Job): ReceiveResult {
    const reason = `the event came on ${job.channelDevice}'s channel but names ${job.deviceId}'s blob ${job.blobName}: refused`;
    const result: ReceiveResult = { eventId: job.eventId, blobName: job.blobName, deviceId: job.deviceId, status: 'refused', reason };
    this.counters.count(result);
    this.emit(result);
    return result;
  }

  private duplicate(job: Job, prior: DoneRecord | ReceiveResult): ReceiveResult {
    const result: ReceiveResult = { eventId: job.eventId, blobName: job.blobName, deviceId: job.deviceId, status: 'duplicate' };
    if (prior.outputPath !== undefined) result.outputPath = prior.outputPath;
    if (prior.status === 'quarantined') result.reason = `already quarantined: ${prior.reason ?? ''}`;
    this.counters.count(result);
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
    if (job.writing !== undefined && (await pathExists(job.writing))) {
      const bytes = (await stat(job.writing)).size;
      await this.state.finished({ blobName: job.blobName, eventId: job.eventId, status: 'opened', outputPath: job.writing });
      return { eventId: job.eventId, blobName: job.blobName, deviceId: job.deviceId, status: 'opened', outputPath: job.writing, bytes };
    }
    return this.withRetry(() => this.openOrQuarantine(job), this.stopping.signal);
  }

  /** Transient failures retried with backoff; a close ends the wait, and the job stays in the journal. */
  private async withRetry<T>(attempt: () => Promise<T>, signal: AbortSignal): Promise<T> {
    try {
      return await withRetry(attempt, { policy: this.retry, signal });
    } catch (err) {
      throw signal.aborted ? closedError() : err;
    }
  }

  private async openOrQuarantine(job: Job): Promise<ReceiveResult> {
    try {
      const { store, engine } = this.options;
      const image = await openBlob(job, { store, pool: this.pool, engine, keys: this.openKeys, output: this.output, state: this.state });
      return { eventId: job.eventId, blobName: job.blobName, deviceId: job.deviceId, status: 'opened', ...image };
    } catch (failure) {
      if (!isVerificationFailure(failure)) throw failure;
      const { path, report } = await quarantine(this.options.store, this.quarantineDir, job, failure);
      await this.state.finished({ blobName: job.blobName, eventId: job.eventId, status: 'quarantined', reason: report.reason, sha256: report.sha256 });
      return { eventId: job.eventId, blobName: job.blobName, deviceId: job.deviceId, status: 'quarantined', quarantinePath: path, reason: report.reason };
    }
  }
}

export async function createReceiver(options: ReceiverOptions): Promise<Receiver> {
  refuseConfig(options.config, ['receiver']);
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
