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
  type SealedMetadata,
  type SealOptions,
  type SegmentKeys,
} from '../formats/sealed.js';
import { packageRoot } from '../paths.js';
import type { PoolWorkerData, SegmentTask, TaskFailure, TaskResult } from './worker.js';

/**
 * Seal and open `sealed` v1 files on a pool of worker threads. Segments are independent EAX
 * messages (docs/FORMAT.md), so runs of them go to the workers as tasks of about 1 MiB (a task
 * costs ~60 µs round trip; smaller tasks waste the workers) and come back in order.
 *
 * Three ways in, one machinery (SegmentRun): whole buffers (seal/open), Node streams
 * (createSealStream/createOpenStream), and sealIO/openIO, where the caller reads straight into the
 * pool's task buffers and writes straight from them. The last is what files use: fresh memory
 * costs a page fault per 4 KiB on first touch (about 3 ms per MiB on the 2-core VM the benchmarks
 * run on, as much as sealing it), and a stream must hand each consumer fresh memory.
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

/** The plaintext size a file's metadata declares (a progress total), if it declares one. */
function declaredSize(metadata: SealedMetadata | undefined): number | undefined {
  const size = metadata?.originalSize;
  return typeof size === 'number' ? size : undefined;
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
 * already finished at once, and add() waits while `limit` tasks are outstanding (or a result is
 * still being used: an output being written holds the next task back).
 */
class InOrder {
  private readonly queue: { task: Promise<Uint8Array>; use: (out: Uint8Array) => void | Promise<void>; done: boolean }[] = [];
  constructor(private readonly limit: number) {}

  async add(task: Promise<Uint8Array>, use: (out: Uint8Array) => void | Promise<void>): Promise<void> {
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
      await entry.use(await entry.task);
    }
  }
}

/**
 * A source and a sink that work on the caller's buffers: read() fills the pool's own task buffer
 * and write() takes it back, so nothing is copied or allocated per chunk.
 */
export interface BufferIO {
  /** Fill `into` from where the last read stopped; resolves to the bytes read, fewer than `into.length` only at the end. */
  read(into: Uint8Array): Promise<number>;
  /** Write `bytes` after the last write. The buffer is reused once this resolves. */
  write(bytes: Uint8Array): Promise<void>;
}

/**
 * One file's segments on the pool. The caller fills task buffers from buffer() and submit()s
 * them; `use` receives the outputs in file order, and a task buffer is reused once `use` is done
 * with it (for a file: once it is written), so a long file cycles through a few buffers.
 */
class SegmentRun {
  /** Input bytes per segment: S to seal, S + 16 to open. */
  private readonly unit: number;
  private readonly per: number;
  private readonly tasks: InOrder;
  private readonly spares: ArrayBuffer[] = [];
  private nextIndex = 0;

  constructor(
    private readonly pool: SealPool,
    private readonly op: 'seal' | 'open',
    private readonly context: FileContext,
    private readonly use: (out: Uint8Array, firstIndex: number) => void | Promise<void>,
    private readonly report: (plaintextBytes: number) => void,
  ) {
    this.unit = op === 'seal' ? context.segmentSize : context.segmentSize + TAG;
    this.per = pool.segmentsPerTask(context.segmentSize);
    this.tasks = new InOrder(pool.window);
  }

  /** An empty task buffer for one task's input (with room after it for the tags a seal adds). */
  buffer(): Uint8Array {
    return taskBuffer(this.per * this.unit, this.op === 'seal' ? this.per : 0, this.spares.pop());
  }

  /** Give back a buffer from buffer() that was not submitted. */
  release(buffer: Uint8Array): void {
    this.spares.push(buffer.buffer as ArrayBuffer);
  }

  /**
   * Send whole segments; `final` marks the run's last segment as the file's last (it may be
   * short, and an empty final run is one empty segment). Waits while the window is full.
   */
  async submit(input: Uint8Array, final: boolean): Promise<void> {
    const firstIndex = this.nextIndex;
    const segments = final ? Math.max(1, Math.ceil(input.length / this.unit)) : input.length / this.unit;
    this.nextIndex += segments;
    const task = this.pool.run({ ...this.context, op: this.op, firstIndex, lastIndexIsFinal: final, input });
    await this.tasks.add(task, async (out) => {
      await this.use(out, firstIndex);
      this.spares.push(out.buffer as ArrayBuffer);
      this.report(this.op === 'seal' ? out.length - segments * TAG : out.length);
    });
  }

  /** Wait for every submitted task to be used. */
  finish(): Promise<void> {
    return this.tasks.drain();
  }

  /** Submit all of `input` (copied into task buffers), the end of it as the file's end. */
  async submitAll(input: Uint8Array): Promise<void> {
    for (let at = 0; ; ) {
      const batch = this.buffer();
      const n = Math.min(batch.length, input.length - at);
      batch.set(input.subarray(at, at + n));
      at += n;
      const final = at === input.length;
      await this.submit(batch.subarray(0, n), final);
      if (final) return this.finish();
    }
  }

  /**
   * Read task buffers straight from `io` and submit them. A full buffer is held back until the
   * next read shows whether the file goes on; `atEnd` sees the body's length before the last run goes.
   */
  async submitFrom(io: BufferIO, atEnd: (bodyLength: number) => void = () => {}): Promise<void> {
    let current = this.buffer();
    let filled = await io.read(current);
    let total = filled;
    for (;;) {
      const next = filled === current.length ? this.buffer() : undefined;
      const more = next === undefined ? 0 : await io.read(next);
      total += more;
      if (more === 0) {
        if (next !== undefined) this.release(next);
        atEnd(total);
        await this.submit(current.subarray(0, filled), true);
        return this.finish();
      }
      await this.submit(current, false);
      current = next!;
      filled = more;
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
    const place = (sealed: Uint8Array, first: number) => out.set(sealed, header.length + first * (size + TAG));
    try {
      await new SegmentRun(this, 'seal', fileContext(keys, engine), place, progressReporter(options.onProgress, plaintext.length)).submitAll(plaintext);
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
    const place = (plain: Uint8Array, first: number) => out.set(plain, first * size);
    try {
      const run = new SegmentRun(this, 'open', fileContext(keys, engine), place, progressReporter(options.onProgress, out.length));
      await run.submitAll(sealed.subarray(header.headerLength));
    } catch (err) {
      out.fill(0);
      throw err;
    } finally {
      keys.payloadKey.fill(0);
    }
    return { plaintext: out, header };
  }

  /**
   * Seal everything `io` reads into what it writes: the header, then the segments in order.
   * Progress totals come from metadata.originalSize when given.
   */
  async sealIO(io: BufferIO, options: SealOptions & ProgressOptions): Promise<void> {
    const engine = options.engine ?? this.engine;
    const { bytes: header, keys } = createHeader({ ...options, engine });
    try {
      await io.write(header);
      const report = progressReporter(options.onProgress, declaredSize(options.metadata));
      await new SegmentRun(this, 'seal', fileContext(keys, engine), (sealed) => io.write(sealed), report).submitFrom(io);
    } finally {
      keys.payloadKey.fill(0);
    }
  }

  /**
   * Verify and open a sealed file from `io` into what it writes, and return its header. Like
   * createOpenStream, plaintext is written run by run, each only after its tags verified; a
   * truncated or altered file ends in an error after some runs were written, so the sink must be
   * a temporary file that the failure removes (as the CLI's writeAtomic does).
   */
  async openIO(io: BufferIO, options: OpenOptions & ProgressOptions): Promise<SealedHeader> {
    const head = new Uint8Array(16);
    const got = await io.read(head);
    // The header length is checked against its limits before anything is allocated for it.
    const bytes = new Uint8Array(peekHeaderLength(head.subarray(0, got)));
    bytes.set(head);
    const rest = await io.read(bytes.subarray(16));
    const header = parseHeader(bytes.subarray(0, 16 + rest));
    const engine = options.engine ?? this.engine;
    const keys = openHeader(header, await resolveKek(options, header), engine);
    try {
      const report = progressReporter(options.onProgress, declaredSize(header.metadata));
      const run = new SegmentRun(this, 'open', fileContext(keys, engine), (plain) => io.write(plain), report);
      await run.submitFrom(io, (bodyLength) => checkBody(bodyLength, header.segmentSize));
    } finally {
      keys.payloadKey.fill(0);
    }
    return header;
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
  private payloadKey: Uint8Array | undefined;
  private run: SegmentRun | undefined;
  private batch: Uint8Array | undefined;
  private filled = 0;
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
    this.payloadKey = keys.payloadKey;
    this.segmentSize = keys.header.segmentSize;
    const report = progressReporter((p) => {
      this.emit('progress', p);
      this.options.onProgress?.(p);
    }, total);
    const context = fileContext(keys, this.options.engine ?? this.pool.engine);
    this.run = new SegmentRun(this.pool, this.op, context, (out) => {
      if (!this.destroyed) this.push(out.slice());
    }, report);
  }

  protected get started(): boolean {
    return this.run !== undefined;
  }

  protected async body(data: Uint8Array): Promise<void> {
    const run = this.run!;
    let at = 0;
    while (at < data.length) {
      // A full batch goes only now that more input shows it does not hold the file's last segment.
      if (this.batch !== undefined && this.filled === this.batch.length) {
        await run.submit(this.batch, false);
        this.batch = undefined;
      }
      if (this.batch === undefined) {
        this.batch = run.buffer();
        this.filled = 0;
      }
      const n = Math.min(data.length - at, this.batch.length - this.filled);
      this.batch.set(data.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      this.received += n;
    }
  }

  /** Submit the held-back run as the file's end and emit everything still in flight. */
  protected async finishBody(): Promise<void> {
    const run = this.run!;
    const last = this.batch?.subarray(0, this.filled) ?? run.buffer().subarray(0, 0);
    this.batch = undefined;
    await run.submit(last, true);
    await run.finish();
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
    this.payloadKey?.fill(0);
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
    this.begin(header.keys, declaredSize(options.metadata));
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
    this.begin(keys, declaredSize(header.metadata));
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
