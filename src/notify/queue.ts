import { mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SealcamError } from '../errors.js';
import { fsError, writeFileAtomic } from '../io/atomic.js';
import { withRetry, type BackoffPolicy } from '../retry.js';
import { checkEvent, checkTelemetry } from './notifier.js';
import type { MessageType, Notifier, SealedImageEvent, TelemetrySample } from './notifier.js';

/**
 * The offline queue every network notifier sends through. Each message is one file
 * `<dir>/<seq>.json`, written atomically (temp file, fsync, link), so a crash leaves whole messages
 * or none; the zero-padded sequence number makes directory order send order. A message file is
 * deleted only after the transport acknowledged it (PUBACK, or sendEvent resolved), so a broker
 * outage or a process restart loses nothing: the next instance over the same directory sends the
 * backlog first. One directory belongs to one notifier at a time.
 */

export interface QueuedMessage {
  seq: number;
  type: MessageType;
  body: SealedImageEvent | TelemetrySample;
  queuedAt: string;
}

export interface QueueOptions {
  /** Refuse new messages beyond this many waiting (default 10000). */
  maxMessages?: number;
}

/** The conventional place: `.sealcam/queue/<device>`. */
export function defaultQueueDir(deviceId: string): string {
  return join('.sealcam', 'queue', deviceId);
}

const FILE = /^(\d{16})\.json$/;
const fileName = (seq: number) => `${String(seq).padStart(16, '0')}.json`;

export class DiskQueue {
  private readonly messages: QueuedMessage[];
  private nextSeq: number;
  /** Appends run one after another, so sequence order is also the order they become visible. */
  private appending: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly maxMessages: number,
    existing: QueuedMessage[],
  ) {
    this.messages = existing;
    this.nextSeq = (existing.at(-1)?.seq ?? 0) + 1;
  }

  /** Opens (creating) `dir` and loads what an earlier instance left. */
  static async open(dir: string, options: QueueOptions = {}): Promise<DiskQueue> {
    const maxMessages = options.maxMessages ?? 10_000;
    if (!Number.isSafeInteger(maxMessages) || maxMessages < 1) throw new SealcamError('ECONFIG', 'queue maxMessages must be a positive integer');
    if (typeof dir !== 'string' || dir.length === 0) throw new SealcamError('ECONFIG', 'queueDir must name a directory');
    const path = resolve(dir);
    let names: string[];
    try {
      await mkdir(path, { recursive: true });
      names = (await readdir(path)).filter((n) => FILE.test(n)).sort();
    } catch (err) {
      throw fsError(err, 'open notification queue', path);
    }
    const existing: QueuedMessage[] = [];
    for (const name of names) {
      const file = join(path, name);
      try {
        const m = JSON.parse(await readFile(file, 'utf8')) as QueuedMessage;
        // Checked again: the directory is only a file tree, and the rules may have tightened since.
        const body = m.type === 'sealed-image' ? checkEvent(m.body) : m.type === 'telemetry' ? checkTelemetry(m.body) : undefined;
        if (!body || !Number.isSafeInteger(m.seq) || fileName(m.seq) !== name) throw new Error('not a queued message');
        existing.push({ seq: m.seq, type: m.type, body, queuedAt: String(m.queuedAt) });
      } catch {
        // Atomic writes make this unexpected (a foreign or damaged file): set it aside, keep the rest.
        await rename(file, join(path, `${name}.damaged`)).catch(() => undefined);
      }
    }
    return new DiskQueue(path, maxMessages, existing);
  }

  get length(): number {
    return this.messages.length;
  }

  /** The oldest message not yet acknowledged. */
  peek(): QueuedMessage | undefined {
    return this.messages[0];
  }

  /** Durably appends; resolves once the message file is on disk. */
  push(type: MessageType, body: SealedImageEvent | TelemetrySample): Promise<QueuedMessage> {
    const run = this.appending.then(async () => {
      if (this.messages.length >= this.maxMessages) {
        throw new SealcamError(
          'EQUEUEFULL',
          `notification queue ${this.dir} is full (${this.maxMessages} messages waiting): the broker has not acknowledged anything for a while; this ${type} message was not queued`,
        );
      }
      const message: QueuedMessage = { seq: this.nextSeq, type, body, queuedAt: new Date().toISOString() };
      await writeFileAtomic(join(this.dir, fileName(message.seq)), Buffer.from(JSON.stringify(message)));
      this.nextSeq += 1;
      this.messages.push(message);
      return message;
    });
    this.appending = run.catch(() => undefined);
    return run;
  }

  /** Forgets the oldest message once the transport has acknowledged it. */
  async remove(seq: number): Promise<void> {
    if (this.messages[0]?.seq !== seq) throw new SealcamError('EINTERNAL', `queue: message ${seq} is not the oldest`);
    const file = join(this.dir, fileName(seq));
    try {
      await unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, 'remove sent notification', file);
    }
    this.messages.shift();
  }
}

// --- Delivery ----------------------------------------------------------------------------------

export interface PumpOptions {
  /** Sends one message; resolves only when the transport acknowledged it. */
  send(message: QueuedMessage): Promise<void>;
  /** The one-line error to report for a transport failure. */
  describe(err: unknown): SealcamError;
  /** Failures that retrying will not cure by itself (refused credentials): flush() reports them at once. */
  permanent(err: unknown): boolean;
  /** The backoff between tries of one message (retry.ts; attempts are unlimited). */
  backoff?: Partial<Omit<BackoffPolicy, 'attempts'>>;
}

/**
 * Sends the queue head, waits for the acknowledgement, deletes it, repeats: one message in flight,
 * so messages arrive in queue order. Every failure is retried (retry.ts: backoff with jitter)
 * until the pump stops; resume() cuts a wait short when the transport is back.
 */
export class QueuePump {
  private running = false;
  private stopped = false;
  private lastError: SealcamError | undefined;
  private permanentError: SealcamError | undefined;
  private waiters = new Set<{ resolve(): void; reject(err: Error): void }>();
  /** Aborted (and replaced) to end the current backoff wait. */
  private wakeUp = new AbortController();

  constructor(
    readonly queue: DiskQueue,
    private readonly options: PumpOptions,
  ) {}

  /** Starts sending if idle (after a push). */
  kick(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.loop().finally(() => {
      this.running = false;
      // A push that landed while the loop was finishing found it still running: pick it up.
      if (this.queue.length > 0 && !this.stopped) this.kick();
    });
  }

  /** The transport is back: retry now instead of at the end of the back-off. */
  resume(): void {
    this.wakeUp.abort();
    this.wakeUp = new AbortController();
    this.kick();
  }

  /** Reports a failure seen outside send() (e.g. the broker refusing the connection). */
  fail(err: unknown): void {
    const error = this.options.describe(err);
    this.lastError = error;
    if (this.options.permanent(err)) this.rejectWaiters(error);
  }

  private rejectWaiters(error: SealcamError): void {
    this.permanentError = error;
    for (const w of this.waiters) w.reject(error);
    this.waiters.clear();
  }

  private async loop(): Promise<void> {
    for (let message = this.queue.peek(); message && !this.stopped; message = this.queue.peek()) {
      const head = message;
      try {
        await withRetry(
          async () => {
            await this.options.send(head);
            await this.queue.remove(head.seq);
          },
          {
            policy: { ...this.options.backoff, attempts: Infinity },
            retryable: () => !this.stopped,
            interrupt: () => this.wakeUp.signal,
            onFailure: (err) => this.stopped || this.fail(err),
            unref: true,
          },
        );
      } catch {
        return; // stopped: the message stays queued for the next instance
      }
      this.lastError = this.permanentError = undefined;
    }
    if (this.queue.length === 0) {
      for (const w of this.waiters) w.resolve();
      this.waiters.clear();
    }
  }

  /** Resolves when the queue is empty; rejects at once on a permanent failure, or after timeoutMs. */
  flush(timeoutMs = 30_000): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    if (this.permanentError) return Promise.reject(this.permanentError);
    if (this.stopped) return Promise.reject(new SealcamError('ECLOSED', 'notifier is closed'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const why = this.lastError ? `; last error: ${this.lastError.message}` : '';
        reject(new SealcamError('ETIMEDOUT', `${this.queue.length} notification(s) still queued in ${this.queue.dir} after ${timeoutMs} ms${why}`));
      }, timeoutMs);
      const done = () => clearTimeout(timer);
      const waiter = {
        resolve: () => (done(), resolve()),
        reject: (err: Error) => (done(), reject(err)),
      };
      this.waiters.add(waiter);
      this.kick();
    });
  }

  stop(): void {
    this.stopped = true;
    this.wakeUp.abort();
    for (const w of this.waiters) w.reject(new SealcamError('ECLOSED', 'notifier closed before the queue was sent'));
    this.waiters.clear();
  }
}

// --- The shared notifier shell -----------------------------------------------------------------

/** What a transport gets to steer delivery: wake the pump on reconnect, report connection failures. */
export interface PumpControl {
  resume(): void;
  fail(err: unknown): void;
}

/**
 * A network notifier: check, queue on disk, let the pump send. Subclasses only connect a transport
 * (lazily importing its SDK) and say how one message is sent and how failures read.
 */
export abstract class QueuedNotifier implements Notifier {
  abstract readonly kind: string;
  private starting: Promise<QueuePump> | undefined;
  private closed = false;

  protected constructor(
    private readonly queueDir: string,
    private readonly queueOptions: QueueOptions = {},
  ) {
    // Start after the subclass constructor has run, so a backlog left by an earlier instance goes
    // out without waiting for the next event. Failures surface from notify() and flush().
    queueMicrotask(() => {
      if (!this.closed) void this.started().catch(() => undefined);
    });
  }

  /** Connects the transport; called once, after the queue is open. */
  protected abstract connect(control: PumpControl): Promise<PumpOptions>;
  /** Closes the transport without waiting for unacknowledged messages (they stay queued). */
  protected abstract disconnect(): Promise<void>;

  private started(): Promise<QueuePump> {
    if (this.closed) return Promise.reject(new SealcamError('ECLOSED', 'notifier is closed'));
    this.starting ??= (async () => {
      const queue = await DiskQueue.open(this.queueDir, this.queueOptions);
      let pump: QueuePump | undefined;
      const control: PumpControl = { resume: () => pump?.resume(), fail: (err) => pump?.fail(err) };
      pump = new QueuePump(queue, await this.connect(control));
      pump.kick();
      return pump;
    })();
    return this.starting;
  }

  private async enqueue(type: MessageType, body: SealedImageEvent | TelemetrySample): Promise<void> {
    const pump = await this.started();
    await pump.queue.push(type, body);
    pump.kick();
  }

  async notify(event: SealedImageEvent): Promise<void> {
    return this.enqueue('sealed-image', checkEvent(event));
  }

  async telemetry(sample: TelemetrySample): Promise<void> {
    return this.enqueue('telemetry', checkTelemetry(sample));
  }

  async flush(timeoutMs?: number): Promise<void> {
    await (await this.started()).flush(timeoutMs);
  }

  /** Messages waiting for an acknowledgement. */
  async pending(): Promise<number> {
    return (await this.started()).queue.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pump = await this.starting?.catch(() => undefined);
    pump?.stop();
    if (pump) await this.disconnect();
  }
}
