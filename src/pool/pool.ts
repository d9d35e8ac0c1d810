import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { ENGINES, type EngineName } from '../engine/types.js';
import * as check from '../engine/validate.js';
import { wasmModule, wasmVariant } from '../engine/wasm.js';
import { errorFromCode, InputError, SealcamError } from '../errors.js';
import { createHeader, sealedBodyLength, segmentLayout, type OpenOptions, type SealedHeader, type SealOptions } from '../formats/sealed.js';
import { memoryIO, type BufferIO } from '../io/buffer-io.js';
import { packageRoot } from '../paths.js';
import { openThrough, sealThrough, type PipelineOptions, type ProgressOptions, type TaskRunner } from './pipeline.js';
import { tooManyJobs } from './limits.js';
import type { PoolWorkerData, SegmentTask, TaskResult } from './worker.js';

/**
 * Seal and open `sealed` files on a pool of worker threads. Segments are independent EAX messages
 * (docs/FORMAT.md), so runs of them go to the workers as tasks and come back in order
 * (pipeline.ts). Whole buffers, files and streams all go through sealIO/openIO; a file's reads land
 * straight in the pool's task buffers, since fresh memory costs a page fault per 4 KiB on first
 * touch (bench/ measures what that costs on the machine at hand).
 */

/** The compiled worker, used from dist/ and from src/ under vitest alike (Node 20 cannot load .ts workers). */
export const workerPath = join(packageRoot, 'dist', 'src', 'pool', 'worker-entry.cjs');

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

export class SealPool implements TaskRunner {
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
    const tooMany = tooManyJobs(this.jobs);
    if (tooMany !== undefined) throw new InputError(`jobs: ${tooMany}`);
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
    throw errorFromCode(result.code, result.message);
  }

  /** Seal a whole buffer: the same bytes as sealBuffer() for the same header randomness. */
  async seal(plaintext: Uint8Array, options: SealOptions & ProgressOptions): Promise<Uint8Array> {
    check.bytes(plaintext, 'plaintext');
    let out: Uint8Array | undefined;
    await this.sealIO(memoryIO(plaintext, () => out!), {
      ...options,
      metadata: { originalSize: plaintext.length, ...options.metadata },
      onHeader: (header) => (out = new Uint8Array(header.headerLength + sealedBodyLength(plaintext.length, header.segmentSize))),
    });
    return out!;
  }

  /** Verify and open a whole sealed buffer: the same result as openBuffer(). Nothing is returned unless every segment verified. */
  async open(sealed: Uint8Array, options: OpenOptions & ProgressOptions): Promise<{ plaintext: Uint8Array; header: SealedHeader }> {
    check.bytes(sealed, 'sealed file');
    let out: Uint8Array | undefined;
    try {
      const header = await this.openIO(memoryIO(sealed, () => out!), {
        ...options,
        onHeader: (h) => (out = new Uint8Array(segmentLayout(sealed.length - h.headerLength, h.segmentSize).plaintextLength)),
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
    return sealThrough(this, io, created, options);
  }

  /**
   * Verify and open a sealed file from `io` into what it writes, and return its header. Plaintext
   * is written task by task, each only after its tags verified; a truncated or altered file ends in
   * an error after some were written, so the sink must be a temporary file that the failure
   * removes (as the CLI's writeAtomic does).
   */
  openIO(io: BufferIO, options: OpenOptions & PipelineOptions): Promise<SealedHeader> {
    return openThrough(this, io, options);
  }

  /** Stop the workers once the queued tasks are done. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina.close();
  }
}

