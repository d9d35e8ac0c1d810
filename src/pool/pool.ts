import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Piscina } from 'piscina';
import { ENGINES, type EngineName } from '../engine/types.js';
import * as check from '../engine/validate.js';
import { wasmModule, wasmVariant } from '../engine/wasm.js';
import { errorFromCode, InputError, SealcamError } from '../errors.js';
import { createHeader, sealedBodyLength, segmentLayout, type OpenOptions, type SealedHeader, type SealOptions } from '../formats/sealed.js';
import { memoryIO, type BufferIO } from '../io/buffer-io.js';
import { packageRoot } from '../paths.js';
import { openThrough, sealThrough, type PipelineOptions, type ProgressOptions, type TaskRunner } from './pipeline.js';
import { tooManyJobs } from './limits.js';
import type { MessageTask, SealedSidecar } from './messages.js';
import { isTaskFailure, runTask, type SegmentTask, type TaskFailure, type TaskOutput } from './segments.js';
import type { PoolWorkerData } from './worker.js';

/**
 * Seal and open `sealed` files on a pool of worker threads. Segments are independent EAX messages
 * (docs/FORMAT.md), so runs of them go to the workers as tasks and come back in order
 * (pipeline.ts). Whole buffers, files and streams all go through sealIO/openIO; between two files
 * the workers read and write their segments themselves, and a buffer's reads land straight in the
 * pool's task buffers, since fresh memory costs a page fault per 4 KiB on first touch (bench/
 * measures what that costs on the machine at hand).
 *
 * The workers start on the first task that needs them, not with the pool: a pool that only ever
 * sees small work (`inlineBytes`) never loads piscina or starts a thread. Work whose input is of a
 * known size up to `inlineBytes` runs the same tasks on the calling thread. It is off by default (a
 * long-lived pool keeps its event loop free and spreads concurrent files over the cores).
 */

/** The compiled worker, used from dist/ and from src/ under vitest alike (Node 20 cannot load .ts workers). */
export const workerPath = join(packageRoot, 'dist', 'src', 'pool', 'worker-entry.cjs');

const BATCH_BYTES = 1 << 20;

/**
 * One invocation whose inputs total at most this much runs on its calling thread: a cold pool
 * costs more than it saves below it. A cold pool is t0 = 150-200 ms before its first result on the
 * 2-core development VM (a worker's Node environment, its modules, the WASM instance and kernel
 * calibration; bench/inline.ts), and N workers save at most (1 - 1/N) of the single-thread time B/r,
 * so they pay only past B = t0 * r / (1 - 1/N): about 80 MB for WASM (r = 200 MB/s) on 2 cores and
 * 40 MB on many. Measured with `node dist/bench/inline.js` (bench/README.md, "Small inputs"): the
 * calling thread won at every size up to 128 MiB on that VM under load, 1.5x at 32 MiB. 32 MiB keeps
 * the calling thread below the break-even on any core count.
 */
export const INLINE_BYTES = 32 << 20;

/** The pool's inlineBytes for one invocation whose inputs total `totalBytes`: all of it on the calling thread, or none. */
export function inlineBytesFor(totalBytes: number): number {
  return totalBytes <= INLINE_BYTES ? INLINE_BYTES : 0;
}

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
  /** Buffers and files whose input (plaintext, or sealed file) is at most this many bytes run on the calling thread; default 0 (none). */
  inlineBytes?: number;
}

/** A task's answer, or its failure thrown as the error it stands for. */
function failed<T>(result: T | TaskFailure): T {
  if (isTaskFailure(result)) throw errorFromCode(result.code, result.message);
  return result;
}

export class SealPool implements TaskRunner {
  readonly jobs: number;
  readonly engine: EngineName;
  readonly batchBytes: number;
  readonly inlineBytes: number;
  private piscina: Promise<Piscina<SegmentTask | MessageTask, TaskOutput | SealedSidecar | TaskFailure>> | undefined;
  private closed = false;
  /** The same tasks on the calling thread, for work up to inlineBytes. */
  private readonly inline: TaskRunner;

  constructor(options: PoolOptions = {}) {
    this.jobs = options.jobs ?? availableParallelism();
    this.engine = options.engine ?? 'wasm';
    this.batchBytes = options.batchBytes ?? BATCH_BYTES;
    this.inlineBytes = options.inlineBytes ?? 0;
    if (!Number.isInteger(this.jobs) || this.jobs < 1) throw new InputError(`jobs must be a positive integer, got ${this.jobs}`);
    const tooMany = tooManyJobs(this.jobs);
    if (tooMany !== undefined) throw new InputError(`jobs: ${tooMany}`);
    if (!ENGINES.includes(this.engine)) throw new InputError(`engine must be 'wasm' or 'native', got ${String(this.engine)}`);
    if (!Number.isInteger(this.batchBytes) || this.batchBytes < 1) throw new InputError(`batchBytes must be a positive integer, got ${this.batchBytes}`);
    if (!Number.isSafeInteger(this.inlineBytes) || this.inlineBytes < 0) throw new InputError(`inlineBytes must be a non-negative integer, got ${this.inlineBytes}`);
    if (!existsSync(workerPath)) {
      throw new SealcamError('ENOWORKER', `the pool worker is not built (${workerPath} is missing): run npm run build`);
    }
    this.inline = {
      engine: this.engine,
      window: 1,
      segmentsPerTask: (size) => this.segmentsPerTask(size),
      // A task's key is its own copy, as a worker's is (runTask wipes it).
      run: async (task) => failed(runTask({ ...task, payloadKey: task.payloadKey.slice() })),
    };
  }

  /** Tasks one operation keeps in flight: enough to keep every worker busy, few enough to bound memory. */
  get window(): number {
    return 2 * this.jobs;
  }

  /** Segments per task for a segment size. */
  segmentsPerTask(segmentSize: number): number {
    return Math.max(1, Math.floor(this.batchBytes / segmentSize));
  }

  /** The workers, started on first use (piscina itself is loaded only then). */
  private workers(): Promise<Piscina<SegmentTask | MessageTask, TaskOutput | SealedSidecar | TaskFailure>> {
    return (this.piscina ??= import('piscina').then(({ Piscina }) => {
      // Compile the engine once here; every worker instantiates the same module.
      const workerData: PoolWorkerData = this.engine === 'wasm' ? { module: wasmModule(), variant: wasmVariant() } : {};
      return new Piscina<SegmentTask | MessageTask, TaskOutput | SealedSidecar | TaskFailure>({
        filename: workerPath,
        minThreads: this.jobs,
        maxThreads: this.jobs,
        // The next task already waits in a worker's port when it finishes one, instead of being
        // posted only once the main thread has seen the result: no idle round trip per task.
        concurrentTasksPerWorker: 2,
        workerData,
        resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      });
    }));
  }

  /** Whether the workers were ever started. */
  get started(): boolean {
    return this.piscina !== undefined;
  }

  /** Run one task on a worker; a buffered task's input buffer is transferred (detached here). */
  async run(task: SegmentTask): Promise<TaskOutput> {
    if (this.closed) throw new InputError('this SealPool was closed');
    const piscina = await this.workers();
    const transferList = task.input ? [task.input.buffer as ArrayBuffer] : [];
    // A segment task's answer is its output or a failure, never a message task's.
    return failed((await piscina.run(task, { transferList })) as TaskOutput | TaskFailure);
  }

  /** Whether work on `bytes` runs on the calling thread (inlineBytes), not on the workers. */
  runsInline(bytes: number): boolean {
    return bytes <= this.inlineBytes;
  }

  /**
   * Seal or open one whole raw or sidecar file on a worker (messages.ts): its input buffer is
   * transferred (detached here), the output comes back whole, an opened one only once it verified.
   */
  async runMessage(task: MessageTask): Promise<Uint8Array | SealedSidecar> {
    if (this.closed) throw new InputError('this SealPool was closed');
    const piscina = await this.workers();
    // Only a buffer of its own can move; a view into a larger one (a pooled Buffer) is copied.
    const input = task.input.byteOffset === 0 && task.input.byteLength === task.input.buffer.byteLength ? task.input : task.input.slice();
    const result = await piscina.run({ ...task, key: task.key.slice(), input }, { transferList: [input.buffer as ArrayBuffer] });
    return failed(result) as Uint8Array | SealedSidecar;
  }

  /** Who runs a body of `bytes` (unknown for a stream): the calling thread up to inlineBytes, else the workers. */
  private runnerFor(bytes: number | undefined): TaskRunner {
    if (this.closed) throw new InputError('this SealPool was closed');
    return bytes !== undefined && this.runsInline(bytes) ? this.inline : this;
  }

  /** Seal a whole buffer: the same bytes as sealBuffer() for the same header randomness. */
  async seal(plaintext: Uint8Array, options: SealOptions & ProgressOptions): Promise<Uint8Array> {
    check.bytes(plaintext, 'plaintext');
    let out: Uint8Array | undefined;
    await this.sealMemory(plaintext, (length) => (out = new Uint8Array(length)), options);
    return out!;
  }

  /**
   * seal() into the caller's `out` instead of a fresh array (reuse one across calls: fresh memory
   * costs a page fault per 4 KiB). Returns the sealed file, the start of `out`; `out` must have room
   * for it (plaintext length + header + 16 bytes per segment: the error says how much).
   */
  async sealInto(plaintext: Uint8Array, out: Uint8Array, options: SealOptions & ProgressOptions): Promise<Uint8Array> {
    check.bytes(plaintext, 'plaintext');
    check.bytes(out, 'output');
    let sealed: Uint8Array | undefined;
    await this.sealMemory(plaintext, (length) => (sealed = roomIn(out, length, 'sealed file')), options);
    return sealed!;
  }

  private sealMemory(plaintext: Uint8Array, output: (sealedLength: number) => Uint8Array, options: SealOptions & ProgressOptions): Promise<void> {
    let out: Uint8Array | undefined;
    const created = createHeader({ ...options, metadata: { originalSize: plaintext.length, ...options.metadata }, engine: options.engine ?? this.engine });
    return sealThrough(this.runnerFor(plaintext.length), memoryIO(plaintext, () => out!), created, {
      ...options,
      onHeader: (header) => (out = output(header.headerLength + sealedBodyLength(plaintext.length, header.segmentSize))),
    });
  }

  /** Verify and open a whole sealed buffer: the same result as openBuffer(). Nothing is returned unless every segment verified. */
  open(sealed: Uint8Array, options: OpenOptions & ProgressOptions): Promise<{ plaintext: Uint8Array; header: SealedHeader }> {
    check.bytes(sealed, 'sealed file');
    return this.openMemory(sealed, (length) => new Uint8Array(length), options);
  }

  /**
   * open() into the caller's `out` (at least as long as the plaintext); returns the plaintext, the
   * start of `out`. If any segment fails, everything written to `out` is wiped.
   */
  openInto(sealed: Uint8Array, out: Uint8Array, options: OpenOptions & ProgressOptions): Promise<{ plaintext: Uint8Array; header: SealedHeader }> {
    check.bytes(sealed, 'sealed file');
    check.bytes(out, 'output');
    return this.openMemory(sealed, (length) => roomIn(out, length, 'plaintext'), options);
  }

  private async openMemory(sealed: Uint8Array, output: (plaintextLength: number) => Uint8Array, options: OpenOptions & ProgressOptions): Promise<{ plaintext: Uint8Array; header: SealedHeader }> {
    let out: Uint8Array | undefined;
    try {
      const header = await openThrough(this.runnerFor(sealed.length), memoryIO(sealed, () => out!), {
        ...options,
        onHeader: (h) => (out = output(segmentLayout(sealed.length - h.headerLength, h.segmentSize).plaintextLength)),
      });
      return { plaintext: out!, header };
    } catch (err) {
      out?.fill(0);
      throw err;
    }
  }

  /**
   * Seal everything `io` reads into what it writes: the header, then the segments in order.
   * Progress totals come from metadata.originalSize when given; `onHeader` sees the header first.
   */
  sealIO(io: BufferIO, options: SealOptions & PipelineOptions): Promise<void> {
    const created = createHeader({ ...options, engine: options.engine ?? this.engine });
    return sealThrough(this.runnerFor(io.files && io.files.size - io.files.readAt()), io, created, options);
  }

  /**
   * Verify and open a sealed file from `io` into what it writes, and return its header. Plaintext
   * is written task by task, each only after its tags verified; a truncated or altered file ends in
   * an error after some were written, so the sink must be a temporary file that the failure
   * removes (as the CLI's writeAtomic does).
   */
  openIO(io: BufferIO, options: OpenOptions & PipelineOptions): Promise<SealedHeader> {
    return openThrough(this.runnerFor(io.files && io.files.size - io.files.readAt()), io, options);
  }

  /** Stop the workers once the queued tasks are done. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.piscina) await (await this.piscina).close();
  }
}

/** The first `length` bytes of a caller's output, or a one-line error saying how many are needed. */
function roomIn(out: Uint8Array, length: number, what: string): Uint8Array {
  if (out.length < length) throw new InputError(`the ${what} needs ${length} bytes; the output holds ${out.length}`);
  return out.subarray(0, length);
}
