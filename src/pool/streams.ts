import { Duplex } from 'node:stream';
import type { EngineName } from '../engine/types.js';
import { InputError, SealcamError } from '../errors.js';
import { createHeader, type CreatedHeader, type OpenOptions, type ProvenSigner, type SealedHeader, type SealOptions } from '../formats/sealed.js';
import type { BufferIO } from '../io/buffer-io.js';
import { openThrough, sealThrough, type Progress, type ProgressOptions } from './pipeline.js';
import { SealPool } from './pool.js';

/**
 * The seal and open streams: the pool's one pipeline (pipeline.ts) behind a Duplex. Input chunks
 * are copied into task buffers as the pipeline asks for them, and each output the pipeline writes
 * is copied out and yielded: the consumer owns every chunk it gets (the task buffer goes back to
 * the workers), and the readable side's own backpressure holds the pipeline, and through it the
 * input, so memory stays bounded whatever the size. Use them for pipes and sockets; files go
 * faster through SealPool.sealIO/openIO, which read into the task buffers directly.
 */

export interface StreamOptions extends ProgressOptions {
  /** Run on this pool; without one the stream starts its own and closes it when it ends. */
  pool?: SealPool;
}

function closedError(): SealcamError {
  return new SealcamError('ECLOSED', 'the stream was destroyed');
}

/**
 * A Duplex that runs `work` over itself as a BufferIO: reads take the chunks written to it (each
 * write's callback waits until its chunk was read, so input waits while the pipeline is busy),
 * writes push copies out (waiting while the reader is behind), and the writable side finishes only
 * when the work is done, as a Transform's does after its flush. `cleanup` runs once it closes,
 * whether or not the work ever ran to its end.
 */
class PipelineStream extends Duplex {
  private chunk: Uint8Array = new Uint8Array(0);
  private at = 0;
  private chunkTaken: (() => void) | undefined;
  private inputEnded = false;
  private inputWaiter: (() => void) | undefined;
  private readWaiter: (() => void) | undefined;
  private readonly abort = new AbortController();
  /** Rejects once the stream is destroyed: whatever waits races it. */
  private readonly aborted: Promise<never>;
  private readonly done: Promise<void>;

  constructor(
    work: (io: BufferIO, stream: PipelineStream) => Promise<unknown>,
    private readonly cleanup: () => void,
  ) {
    super();
    this.aborted = new Promise((_, reject) => this.abort.signal.addEventListener('abort', () => reject(closedError()), { once: true }));
    this.aborted.catch(() => undefined);
    const io: BufferIO = { read: (into) => this.readInput(into), write: (bytes) => this.pushOutput(bytes) };
    this.done = work(io, this).then(() => {
      this.push(null);
    });
    this.done.catch((err: unknown) => this.destroy(err as Error));
  }

  private async readInput(into: Uint8Array): Promise<number> {
    let n = 0;
    while (n < into.length) {
      if (this.at < this.chunk.length) {
        const length = Math.min(into.length - n, this.chunk.length - this.at);
        into.set(this.chunk.subarray(this.at, this.at + length), n);
        n += length;
        this.at += length;
        continue;
      }
      if (this.chunkTaken) {
        // The chunk is used up: let the next write in (it may arrive before this returns).
        const taken = this.chunkTaken;
        this.chunkTaken = undefined;
        taken();
        continue;
      }
      if (this.inputEnded) break;
      await Promise.race([new Promise<void>((resolve) => (this.inputWaiter = resolve)), this.aborted]);
    }
    return n;
  }

  private async pushOutput(bytes: Uint8Array): Promise<void> {
    if (this.abort.signal.aborted) throw closedError();
    if (this.push(bytes.slice())) return;
    await Promise.race([new Promise<void>((resolve) => (this.readWaiter = resolve)), this.aborted]);
  }

  private wakeInput(): void {
    const waiter = this.inputWaiter;
    this.inputWaiter = undefined;
    waiter?.();
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!(chunk instanceof Uint8Array)) return callback(new InputError('a seal or open stream takes bytes (Buffer or Uint8Array chunks)'));
    this.chunk = chunk;
    this.at = 0;
    this.chunkTaken = () => callback();
    this.wakeInput();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.inputEnded = true;
    this.wakeInput();
    this.done.then(() => callback(), callback);
  }

  override _read(): void {
    const waiter = this.readWaiter;
    this.readWaiter = undefined;
    waiter?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.abort.abort();
    this.cleanup();
    callback(error);
  }
}

/** A stream over `work`; a pool the stream started is closed once it closes. */
function pipelineStream(pool: SealPool, ownsPool: boolean, work: (io: BufferIO, stream: Duplex) => Promise<unknown>, cleanup: () => void): Duplex {
  return new PipelineStream(work, () => {
    cleanup();
    if (ownsPool) pool.close().catch(() => undefined);
  });
}

function progressTo(stream: Duplex, options: ProgressOptions): (p: Progress) => void {
  return (p) => {
    stream.emit('progress', p);
    options.onProgress?.(p);
  };
}

/**
 * A Duplex that seals its input: the header, then the segments in order. Emits 'progress'
 * ({bytes, total?}; total from metadata.originalSize when given). Bad options throw at once.
 */
export function createSealStream(options: SealOptions & StreamOptions): Duplex {
  const pool = options.pool ?? new SealPool({ engine: options.engine });
  let header: CreatedHeader;
  try {
    header = createHeader({ ...options, engine: options.engine ?? pool.engine });
  } catch (err) {
    if (options.pool === undefined) pool.close().catch(() => undefined);
    throw err;
  }
  return pipelineStream(
    pool,
    options.pool === undefined,
    (io, stream) => sealThrough(pool, io, header, { engine: options.engine, onProgress: progressTo(stream, options) }),
    () => header.payloadKey.fill(0),
  );
}

/**
 * A Duplex that verifies and opens a sealed stream. Plaintext is emitted task by task, each only
 * after its tags verified; a truncated or altered stream ends in an error, so consumers must treat
 * the output as final only when the stream finishes without one (as the CLI does by writing to a
 * temporary file). Emits 'header' (the verified SealedHeader, and who signed it when `trust` accepted
 * a signature) before any plaintext, and 'progress'.
 */
export function createOpenStream(options: OpenOptions & StreamOptions & { engine?: EngineName }): Duplex {
  const pool = options.pool ?? new SealPool({ engine: options.engine });
  return pipelineStream(
    pool,
    options.pool === undefined,
    (io, stream) =>
      openThrough(pool, io, {
        kek: options.kek,
        fileKey: options.fileKey,
        trust: options.trust,
        engine: options.engine,
        onHeader: (header: SealedHeader, signer?: ProvenSigner) => stream.emit('header', header, signer),
        onProgress: progressTo(stream, options),
      }),
    () => undefined,
  );
}
