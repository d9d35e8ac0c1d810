import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { Piscina } from 'piscina';
import { ENGINES, type EngineName } from '../engine/types.js';
import * as check from '../engine/validate.js';
import { wasmModule, wasmVariant } from '../engine/wasm.js';
import { AuthenticationError, InputError, SealcamError } from '../errors.js';
import {
  createHeader,
  openHeader,
  parseHeader,
  peekHeaderLength,
  resolveKek,
  segmentLayout,
  TAG,
  type OpenOptions,
  type SealedHeader,
  type SealOptions,
  type SegmentKeys,
} from '../formats/sealed.js';
import { packageRoot } from '../paths.js';
import type { PoolWorkerData, SegmentTask, TaskFailure, TaskResult } from './worker.js';

/**
 * Seal and open `sealed` v1 files on a pool of worker threads. Segments are independent EAX
 * messages (docs/FORMAT.md), so runs of them go to the workers as tasks of about 1 MiB (a task
 * costs ~60 µs round trip; smaller tasks waste the workers) and come back in order.
 */

/** The compiled worker, used from dist/ and from src/ under vitest alike (Node 20 cannot load .ts workers). */
export const workerPath = join(packageRoot, 'dist', 'src', 'pool', 'worker.js');

const BATCH_BYTES = 1 << 20;

/**
 * The workers' young generation (MB). They allocate small objects and, on the native engine,
 * node:crypto's short-lived output buffers; a small young generation collects those every few MB
 * rather than letting each worker's heap and garbage grow by tens of MB over a long stream.
 */
const WORKER_YOUNG_GENERATION_MB = 2;

export interface PoolOptions {
  /** Worker threads; default os.availableParallelism(). */
  jobs?: number;
  /** Engine for the segments (and the header) unless a call names one; default 'wasm'. */
  engine?: EngineName;
  /** Plaintext bytes per task, rounded down to whole segments (at least one); default 1 MiB. */
  batchBytes?: number;
}

/** Plaintext bytes sealed or opened so far, and the total when it is known. */
export interface Progress {
  bytes: number;
  total?: number;
}

export interface ProgressOptions {
  onProgress?: (progress: Progress) => void;
}

export interface StreamOptions extends ProgressOptions {
  /** Run on this pool; without one the stream starts its own and closes it when it ends. */
  pool?: SealPool;
}

/** What every task of one file shares: copied out of the header once, so tasks clone only these bytes. */
type FileContext = Pick<SegmentTask, 'engine' | 'payloadKey' | 'prefix' | 'headerMac' | 'segmentSize'>;

function fileContext(keys: SegmentKeys, engine: EngineName): FileContext {
  return {
    engine,
    payloadKey: keys.payloadKey,
    prefix: keys.header.prefix.slice(),
    headerMac: keys.header.mac.slice(),
    segmentSize: keys.header.segmentSize,
  };
}

/** Workers report failures as {code, message}; give them back their class. */
function rebuild(failure: TaskFailure): SealcamError {
  if (failure.code === 'EAUTH') return new AuthenticationError(failure.message);
  if (failure.code === 'EINPUT') return new InputError(failure.message);
  return new SealcamError(failure.code, failure.message);
}

/** The body checks a reader can make once it knows the body's size (FORMAT.md, Reading, step 3). */
function checkBody(bodyLength: number, segmentSize: number): { count: number; lastStored: number } {
  const layout = segmentLayout(bodyLength, segmentSize);
  if (layout.count > 1 && layout.lastStored === TAG) throw new SealcamError('EFORMAT', 'invalid: an empty last segment after others');
  return layout;
}

/** A task's buffer: `length` bytes of input, with room after them for the tags a seal adds in place. */
function taskBuffer(length: number, segments: number, reuse?: ArrayBuffer): Uint8Array {
  const bytes = length + segments * TAG;
  return new Uint8Array(reuse !== undefined && reuse.byteLength >= bytes ? reuse : new ArrayBuffer(bytes), 0, length);
}

function progressReporter(onProgress: ((p: Progress) => void) | undefined, total: number | undefined): (bytes: number) => void {
  let bytes = 0;
  return (n) => {
    bytes += n;
    onProgress?.(total === undefined ? { bytes } : { bytes, total });
  };
}

/**
 * Tasks in submission order with a bounded window: results are handed over in order, those
 * already finished at once, and add() waits while `limit` tasks are outstanding.
 */
class InOrder {
  private readonly queue: { task: Promise<Uint8Array>; use: (out: Uint8Array) => void; done: boolean }[] = [];
  constructor(private readonly limit: number) {}

  async add(task: Promise<Uint8Array>, use: (out: Uint8Array) => void): Promise<void> {
    const entry = { task, use, done: false };
    // Also marks a rejection as handled: it surfaces when the entry's turn comes, or never if an earlier one failed.
    task.then(
      () => (entry.done = true),
      () => (entry.done = true),
    );
    this.queue.push(entry);
    await this.settle(this.limit);
  }

  drain(): Promise<void> {
    return this.settle(1);
  }

  private async settle(limit: number): Promise<void> {
    while (this.queue.length > 0 && (this.queue[0]!.done || this.queue.length >= limit)) {
      const entry = this.queue.shift()!;
      entry.use(await entry.task);
    }
  }
}

export class SealPool {
  readonly jobs: number;
  readonly engine: EngineName;
  readonly batchBytes: number;
  private readonly piscina: Piscina<SegmentTask, TaskResult>;
  private closed = false;

  constructor(options: PoolOptions = {}) {
    this.jobs = options.jobs ?? availableParallelism();
    this.engine = options.engine ?? 'wasm';
    this.batchBytes = options.batchBytes ?? BATCH_BYTES;
    if (!Number.isInteger(this.jobs) || this.jobs < 1) throw new InputError(`jobs must be a positive integer, got ${this.jobs}`);
    if (!ENGINES.includes(this.engine)) throw new InputError(`engine must be 'wasm' or 'native', got ${String(this.engine)}`);
    if (!Number.isInteger(this.batchBytes) || this.batchBytes < 1) throw new InputError(`batchBytes must be a positive integer, got ${this.batchBytes}`);
    if (!existsSync(workerPath)) {
      throw new SealcamError('ENOWORKER', `the pool worker is not built (${workerPath} is missing): run npm run build`);
    }
    // Compile the engine once here; every worker instantiates the same module.
    const workerData: PoolWorkerData = this.engine === 'wasm' ? { module: wasmModule(), variant: wasmVariant() } : {};
    this.piscina = new Piscina({
      filename: workerPath,
      minThreads: this.jobs,
      maxThreads: this.jobs,
      workerData,
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
  }

  /** Tasks one operation keeps in flight: enough to keep every worker busy, few enough to bound memory. */
  get window(): number {
    return 2 * this.jobs;
  }

  /** Segments per task for a segment size. */
  segmentsPerTask(segmentSize: number): number {
    return Math.max(1, Math.floor(this.batchBytes / segmentSize));
  }

  /** Run one task; its input buffer is transferred (detached here). */
  async run(task: SegmentTask): Promise<Uint8Array> {
    if (this.closed) throw new InputError('this SealPool was closed');
    const result = await this.piscina.run(task, { transferList: [task.input.buffer as ArrayBuffer] });
    if (result instanceof Uint8Array) return result;
    throw rebuild(result);
  }

  /** Seal a whole buffer: the same bytes as sealBuffer() for the same header randomness. */
  async seal(plaintext: Uint8Array, options: SealOptions & ProgressOptions): Promise<Uint8Array> {
    check.bytes(plaintext, 'plaintext');
    const engine = options.engine ?? this.engine;
    const metadata = { originalSize: plaintext.length, ...options.metadata };
    const { bytes: header, keys } = createHeader({ ...options, metadata, engine });
    const size = keys.header.segmentSize;
    const count = Math.max(1, Math.ceil(plaintext.length / size));
    const out = new Uint8Array(header.length + plaintext.length + count * TAG);
    out.set(header);
    const context = fileContext(keys, engine);
    const per = this.segmentsPerTask(size);
    const tasks = new InOrder(this.window);
    const report = progressReporter(options.onProgress, plaintext.length);
    // Task buffers come back once copied out: reuse them, as fresh memory costs a page fault per 4 KiB.
    const spares: ArrayBuffer[] = [];
    try {
      for (let first = 0; first < count; first += per) {
        const n = Math.min(per, count - first);
        const plain = plaintext.subarray(first * size, (first + n) * size);
        const input = taskBuffer(plain.length, n, spares.pop());
        input.set(plain);
        const at = header.length + first * (size + TAG);
        const task = this.run({ ...context, op: 'seal', firstIndex: first, lastIndexIsFinal: first + n === count, input });
        await tasks.add(task, (sealed) => {
          out.set(sealed, at);
          spares.push(sealed.buffer as ArrayBuffer);
          report(plain.length);
        });
      }
      await tasks.drain();
    } finally {
      keys.payloadKey.fill(0);
    }
    return out;
  }

  /** Verify and open a whole sealed buffer: the same result as openBuffer(). Nothing is returned unless every segment verified. */
  async open(sealed: Uint8Array, options: OpenOptions & ProgressOptions): Promise<{ plaintext: Uint8Array; header: SealedHeader }> {
    check.bytes(sealed, 'sealed file');
    const header = parseHeader(sealed);
    const size = header.segmentSize;
    const { count, lastStored } = checkBody(sealed.length - header.headerLength, size);
    const engine = options.engine ?? this.engine;
    const keys = openHeader(header, await resolveKek(options, header), engine);
    const out = new Uint8Array((count - 1) * size + lastStored - TAG);
    const context = fileContext(keys, engine);
    const per = this.segmentsPerTask(size);
    const tasks = new InOrder(this.window);
    const report = progressReporter(options.onProgress, out.length);
    const spares: ArrayBuffer[] = [];
    try {
      for (let first = 0; first < count; first += per) {
        const n = Math.min(per, count - first);
        const final = first + n === count;
        const start = header.headerLength + first * (size + TAG);
        const stored = sealed.subarray(start, final ? sealed.length : start + n * (size + TAG));
        const input = taskBuffer(stored.length, 0, spares.pop());
        input.set(stored);
        const task = this.run({ ...context, op: 'open', firstIndex: first, lastIndexIsFinal: final, input });
        await tasks.add(task, (plain) => {
          out.set(plain, first * size);
          spares.push(plain.buffer as ArrayBuffer);
          report(plain.length);
        });
      }
      await tasks.drain();
    } catch (err) {
      out.fill(0);
      throw err;
    } finally {
      keys.payloadKey.fill(0);
    }
    return { plaintext: out, header };
  }

  /** Stop the workers once the queued tasks are done. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina.close();
  }
}

/**
 * What the seal and open streams share: body bytes are gathered into task buffers, and a full
 * buffer is dispatched only when more input shows it does not hold the file's last segment.
 * Output is pushed from within _transform/_flush only, so Transform's own backpressure applies,
 * and at most `pool.window` tasks are in flight: memory stays bounded whatever the file size.
 *
 * Task buffers go to the workers and back and are reused; what is pushed is a copy the consumer
 * owns. Pushing the buffers that came back from the workers instead left up to ~70 MB of them
 * waiting for a full collection in this thread, where fresh copies go at young collections.
 */
abstract class SegmentStream extends Transform {
  protected readonly pool: SealPool;
  private readonly ownsPool: boolean;
  private context: FileContext | undefined;
  private tasks: InOrder | undefined;
  private report: (bytes: number) => void = () => {};
  /** Input bytes per segment: S to seal, S + 16 to open. */
  private unit = 0;
  private per = 0;
  private batch: Uint8Array | undefined;
  /** Task buffers back from the workers, for the next batches. */
  private readonly spares: ArrayBuffer[] = [];
  private filled = 0;
  private nextIndex = 0;
  /** Body bytes received. */
  protected received = 0;
  protected segmentSize = 0;

  constructor(
    private readonly op: 'seal' | 'open',
    protected readonly options: StreamOptions & { engine?: EngineName },
  ) {
    super();
    this.ownsPool = options.pool === undefined;
    this.pool = options.pool ?? new SealPool({ engine: options.engine });
  }

  /** Called once the file's keys are known. */
  protected begin(keys: SegmentKeys, total: number | undefined): void {
    this.context = fileContext(keys, this.options.engine ?? this.pool.engine);
    this.segmentSize = keys.header.segmentSize;
    this.unit = this.op === 'seal' ? this.segmentSize : this.segmentSize + TAG;
    this.per = this.pool.segmentsPerTask(keys.header.segmentSize);
    this.tasks = new InOrder(this.pool.window);
    this.report = progressReporter((p) => {
      this.emit('progress', p);
      this.options.onProgress?.(p);
    }, total);
  }

  protected get started(): boolean {
    return this.context !== undefined;
  }

  protected async body(data: Uint8Array): Promise<void> {
    let at = 0;
    while (at < data.length) {
      if (this.batch !== undefined && this.filled === this.batch.length) await this.dispatch(false);
      if (this.batch === undefined) {
        this.batch = taskBuffer(this.per * this.unit, this.op === 'seal' ? this.per : 0, this.spares.pop());
        this.filled = 0;
      }
      const n = Math.min(data.length - at, this.batch.length - this.filled);
      this.batch.set(data.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      this.received += n;
    }
  }

  /** Send the gathered segments; `final` marks the last one as the file's last. */
  private async dispatch(final: boolean): Promise<void> {
    // An empty final task only happens for an empty plaintext: it seals one empty segment.
    const input = this.batch?.subarray(0, this.filled) ?? taskBuffer(0, 1, this.spares.pop());
    const segments = final ? Math.max(1, Math.ceil(input.length / this.unit)) : input.length / this.unit;
    const task = this.pool.run({ ...this.context!, op: this.op, firstIndex: this.nextIndex, lastIndexIsFinal: final, input });
    this.nextIndex += segments;
    this.batch = undefined;
    await this.tasks!.add(task, (out) => {
      if (this.destroyed) return;
      this.push(out.slice());
      this.spares.push(out.buffer as ArrayBuffer);
      this.report(this.op === 'seal' ? out.length - segments * TAG : out.length);
    });
  }

  /** Dispatch the held-back run as the file's end and emit everything still in flight. */
  protected async finishBody(): Promise<void> {
    await this.dispatch(true);
    await this.tasks!.drain();
  }

  protected abstract consume(chunk: Uint8Array): Promise<void>;
  protected abstract finish(): Promise<void>;

  override _transform(chunk: Uint8Array, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.consume(chunk).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.finish().then(() => callback(), callback);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.context?.payloadKey.fill(0);
    if (this.ownsPool) this.pool.close().catch(() => {});
    callback(err);
  }
}

class SealStream extends SegmentStream {
  constructor(options: SealOptions & StreamOptions) {
    super('seal', options);
    let header: ReturnType<typeof createHeader>;
    try {
      header = createHeader({ ...options, engine: options.engine ?? this.pool.engine });
    } catch (err) {
      this.destroy(); // closes a pool this stream started
      throw err;
    }
    const size = options.metadata?.originalSize;
    this.begin(header.keys, typeof size === 'number' ? size : undefined);
    this.push(header.bytes);
  }

  protected consume(chunk: Uint8Array): Promise<void> {
    return this.body(chunk);
  }

  protected finish(): Promise<void> {
    return this.finishBody();
  }
}

class OpenStream extends SegmentStream {
  /** First the fixed 16 bytes, then (once their checks pass) the whole header. */
  private head = new Uint8Array(16);
  private headFilled = 0;

  constructor(private readonly openOptions: OpenOptions & StreamOptions) {
    super('open', openOptions);
  }

  protected async consume(chunk: Uint8Array): Promise<void> {
    let data = chunk;
    if (!this.started) {
      data = this.takeHeader(data);
      if (this.head.length > 16 && this.headFilled === this.head.length) await this.unlock();
    }
    if (data.length > 0) await this.body(data);
  }

  /** Gather header bytes; returns what follows the header in `data`. */
  private takeHeader(data: Uint8Array): Uint8Array {
    const n = Math.min(data.length, this.head.length - this.headFilled);
    this.head.set(data.subarray(0, n), this.headFilled);
    this.headFilled += n;
    if (this.head.length === 16 && this.headFilled === 16) {
      // The header length is checked against its limits before anything is allocated for it.
      const full = new Uint8Array(peekHeaderLength(this.head));
      full.set(this.head);
      this.head = full;
      return this.takeHeader(data.subarray(n));
    }
    return data.subarray(n);
  }

  private async unlock(): Promise<void> {
    const header = parseHeader(this.head);
    const keys = openHeader(header, await resolveKek(this.openOptions, header), this.openOptions.engine ?? this.pool.engine);
    this.emit('header', header);
    const size = header.metadata.originalSize;
    this.begin(keys, typeof size === 'number' ? size : undefined);
  }

  protected async finish(): Promise<void> {
    if (!this.started) {
      // Ended inside the header: parseHeader names what is missing.
      parseHeader(this.head.subarray(0, this.headFilled));
      throw new SealcamError('EFORMAT', 'truncated header');
    }
    // Only now is the body size known: a body with no segment after the header, or ending inside
    // a tag, is truncated; otherwise the held-back run opens with its last segment as the file's
    // last, so a cut at a segment boundary fails that segment's tag.
    checkBody(this.received, this.segmentSize);
    await this.finishBody();
  }
}

/**
 * A Transform that seals its input: the header, then the segments in order. Emits 'progress'
 * ({bytes, total?}; total from metadata.originalSize when given).
 */
export function createSealStream(options: SealOptions & StreamOptions): Transform {
  return new SealStream(options);
}

/**
 * A Transform that verifies and opens a sealed stream. Plaintext is emitted segment run by
 * segment run, each only after its tags verified; a truncated or altered stream ends in an error,
 * so consumers must treat the output as final only when the stream finishes without one (as the
 * CLI does by writing to a temporary file). Emits 'header' (the verified SealedHeader) and 'progress'.
 */
export function createOpenStream(options: OpenOptions & StreamOptions): Transform {
  return new OpenStream(options);
}
