import type { EngineName } from '../engine/types.js';
import type { BufferIO, FilePair } from '../io/buffer-io.js';
import {
  parseHeader,
  peekHeaderLength,
  segmentContext,
  unlockHeader,
  segmentLayout,
  TAG,
  type CreatedHeader,
  type OpenOptions,
  type ProvenSigner,
  type SealedHeader,
  type SealedMetadata,
  type SegmentContext,
} from '../formats/sealed.js';
import type { SegmentRun, SegmentTask, TaskOutput } from './segments.js';

/**
 * One sealed file through the pool, whatever it comes from: the header, then the body cut into
 * tasks of whole segments (about 1 MiB each, so a task's round trip is small beside its work),
 * run on the workers in a bounded window, finished in file order. Buffers (SealPool.seal/open),
 * files (fileIO) and streams (streams.ts) all come through here as a BufferIO, so there is one
 * batching loop and one header reader; what differs is where a task's bytes come from:
 * - a BufferIO is read here straight into reused task buffers, and each output is written back
 *   from the same buffer (streams, pipes, memory);
 * - when both ends are files (`io.files`), the format says where every segment lives (H + i*(S+16)
 *   sealed, i*S opened), so a task carries only its ranges and the worker reads and writes them
 *   itself: the main thread copies nothing and only writes or reads the header.
 */

/** What the pipeline needs of a pool. */
export interface TaskRunner {
  readonly engine: EngineName;
  /** Tasks one file keeps in flight. */
  readonly window: number;
  segmentsPerTask(segmentSize: number): number;
  /** Runs one task; a buffered task's input buffer is transferred and its output comes back in it. */
  run(task: SegmentTask): Promise<TaskOutput>;
}

/** Plaintext bytes sealed or opened so far, and the total when it is known. */
export interface Progress {
  bytes: number;
  total?: number;
}

export interface ProgressOptions {
  onProgress?: (progress: Progress) => void;
}

export interface PipelineOptions extends ProgressOptions {
  /**
   * Called once the file's header is known (opening: verified, and with who signed it when the
   * open's `trust` accepted a signature), before any segment is written.
   */
  onHeader?: (header: SealedHeader, signer?: ProvenSigner) => void;
}

/** The plaintext size a file's metadata declares (a progress total), if it declares one. */
function declaredSize(metadata: SealedMetadata): number | undefined {
  const size = metadata.originalSize;
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
  private readonly queue: { task: Promise<TaskOutput>; use: (out: TaskOutput) => Promise<void>; done: boolean }[] = [];
  constructor(private readonly limit: number) {}

  async add(task: Promise<TaskOutput>, use: (out: TaskOutput) => Promise<void>): Promise<void> {
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

  /**
   * After a failure: waits until every task still out has ended, so nothing touches the caller's
   * buffers or descriptors once the pipeline has returned (a descriptor closed and reused by then
   * would take another file's writes).
   */
  async abandon(): Promise<void> {
    await Promise.allSettled(this.queue.splice(0).map((e) => e.task));
  }

  private async settle(limit: number): Promise<void> {
    while (this.queue.length > 0 && (this.queue[0]!.done || this.queue.length >= limit)) {
      const entry = this.queue.shift()!;
      await entry.use(await entry.task);
    }
  }
}

/** What every task of one file shares, copied out of the header once so a task clones only these bytes. */
type FileTask = Omit<SegmentRun, 'firstIndex' | 'endsFile'>;

function fileTask(op: 'seal' | 'open', engine: EngineName, payloadKey: Uint8Array, context: SegmentContext): FileTask {
  return { op, engine, payloadKey, context: { prefix: context.prefix.slice(), headerMac: context.headerMac.slice(), segmentSize: context.segmentSize } };
}

/** One task's worth of the body: what it carries, and how its result is finished. */
interface Chunk {
  carries: { input: Uint8Array } | { files: NonNullable<SegmentTask['files']> };
  segments: number;
  endsFile: boolean;
  /** Takes the task's output (writes it, recycles its buffer) and returns the plaintext bytes it covered. */
  finish(out: TaskOutput): Promise<number>;
}

/** How a file's body divides: stored bytes per segment on the input side, segments per task. */
interface Shape {
  seal: boolean;
  segmentSize: number;
  perTask: number;
  /** Input bytes per whole segment: S when sealing, S + 16 when opening. */
  unit: number;
}

/**
 * The body read from `io` into task buffers: a full buffer is held back until the next read shows
 * whether the file goes on, so the last task is the one that ends the file. `atEnd` sees the
 * body's length before the last task goes (the layout checks of opening).
 */
async function* bufferedChunks(io: BufferIO, shape: Shape, atEnd: (bodyLength: number) => void): AsyncGenerator<Chunk> {
  const { seal, unit, perTask } = shape;
  const spares: ArrayBuffer[] = [];
  /** A task buffer for one task's input, with room after it for the tags a seal adds in place. */
  const buffer = (): Uint8Array => {
    const bytes = perTask * unit + (seal ? perTask * TAG : 0);
    const reuse = spares.pop();
    return new Uint8Array(reuse !== undefined && reuse.byteLength >= bytes ? reuse : new ArrayBuffer(bytes), 0, perTask * unit);
  };
  const chunk = (input: Uint8Array, endsFile: boolean): Chunk => {
    const segments = endsFile ? Math.max(1, Math.ceil(input.length / unit)) : input.length / unit;
    return {
      carries: { input },
      segments,
      endsFile,
      finish: async (out) => {
        const bytes = out as Uint8Array;
        await io.write(bytes);
        spares.push(bytes.buffer as ArrayBuffer);
        return seal ? bytes.length - segments * TAG : bytes.length;
      },
    };
  };
  let current = buffer();
  let filled = await io.read(current);
  let total = filled;
  for (;;) {
    const next = filled === current.length ? buffer() : undefined;
    const more = next === undefined ? 0 : await io.read(next);
    total += more;
    if (more === 0) {
      if (next !== undefined) spares.push(next.buffer as ArrayBuffer);
      atEnd(total);
      yield chunk(current.subarray(0, filled), true);
      return;
    }
    yield chunk(current, false);
    current = next!;
    filled = more;
  }
}

/**
 * The body of a file pair as ranges the workers read and write themselves: input from
 * `bodyStart` to the measured end, output from `outputStart`. The body's length is known before
 * the first task, so `atEnd` checks the layout before any work.
 */
function* fileChunks(files: FilePair, shape: Shape, bodyStart: number, outputStart: number, atEnd: (bodyLength: number) => void): Generator<Chunk> {
  const { seal, unit, perTask, segmentSize } = shape;
  const bodyLength = files.size - bodyStart;
  atEnd(bodyLength);
  const count = Math.max(1, Math.ceil(bodyLength / unit));
  const outUnit = seal ? segmentSize + TAG : segmentSize;
  for (let first = 0; first < count; first += perTask) {
    const segments = Math.min(perTask, count - first);
    const length = Math.min(segments * unit, bodyLength - first * unit);
    const ranges = { input: files.input, output: files.output, readAt: bodyStart + first * unit, length, writeAt: outputStart + first * outUnit, name: files.name, size: files.size };
    yield {
      carries: { files: ranges },
      segments,
      endsFile: first + segments === count,
      finish: async (out) => {
        files.onRead?.(length);
        return out as number;
      },
    };
  }
}

/** Runs the body's chunks as tasks, a bounded window of them in flight, finished in file order. */
async function runBody(runner: TaskRunner, file: FileTask, chunks: Iterable<Chunk> | AsyncIterable<Chunk>, report: (plaintextBytes: number) => void): Promise<void> {
  const tasks = new InOrder(runner.window);
  let firstIndex = 0;
  try {
    for await (const chunk of chunks) {
      const task = runner.run({ ...file, firstIndex, endsFile: chunk.endsFile, ...chunk.carries });
      firstIndex += chunk.segments;
      await tasks.add(task, async (out) => report(await chunk.finish(out)));
    }
    await tasks.drain();
  } catch (err) {
    await tasks.abandon();
    throw err;
  }
}

function shapeOf(runner: TaskRunner, file: FileTask): Shape {
  const segmentSize = file.context.segmentSize;
  const seal = file.op === 'seal';
  return { seal, segmentSize, perTask: runner.segmentsPerTask(segmentSize), unit: seal ? segmentSize : segmentSize + TAG };
}

/** Seals what `io` reads into what it writes under a header just built for it, which it writes first. Wipes the payload key. */
export async function sealThrough(runner: TaskRunner, io: BufferIO, created: CreatedHeader, options: PipelineOptions & { engine?: EngineName } = {}): Promise<void> {
  try {
    options.onHeader?.(created.header);
    await io.write(created.bytes);
    const file = fileTask('seal', options.engine ?? runner.engine, created.payloadKey, segmentContext(created.header));
    const shape = shapeOf(runner, file);
    const none = (): void => undefined;
    const chunks = io.files ? fileChunks(io.files, shape, io.files.readAt(), io.files.writeAt(), none) : bufferedChunks(io, shape, none);
    await runBody(runner, file, chunks, progressReporter(options.onProgress, declaredSize(created.header.metadata)));
  } finally {
    created.payloadKey.fill(0);
  }
}

/** Reads a header from `io`: the fixed 16 bytes, whose checks bound the length, then the rest. */
async function readHeader(io: BufferIO): Promise<SealedHeader> {
  const head = new Uint8Array(16);
  const got = await io.read(head);
  // The header length is checked against its limits before anything is allocated for it.
  const bytes = new Uint8Array(peekHeaderLength(head.subarray(0, got)));
  bytes.set(head);
  const rest = await io.read(bytes.subarray(16));
  return parseHeader(bytes.subarray(0, 16 + rest));
}

/**
 * Verifies and opens a sealed file from `io` into what it writes, and returns its header.
 * Plaintext is written task by task, each only after its tags verified; a truncated or altered
 * file ends in an error after some tasks were written, so the sink must be a temporary file (or
 * memory) that the failure discards, as the CLI's writeAtomic does.
 */
export async function openThrough(runner: TaskRunner, io: BufferIO, options: OpenOptions & PipelineOptions): Promise<SealedHeader> {
  const header = await readHeader(io);
  const engine = options.engine ?? runner.engine;
  const { payloadKey, signer } = await unlockHeader(header, { ...options, engine });
  try {
    options.onHeader?.(header, signer);
    const file = fileTask('open', engine, payloadKey, segmentContext(header));
    const report = progressReporter(options.onProgress, declaredSize(header.metadata));
    const shape = shapeOf(runner, file);
    const layout = (bodyLength: number): void => void segmentLayout(bodyLength, header.segmentSize);
    const chunks = io.files ? fileChunks(io.files, shape, io.files.readAt(), io.files.writeAt(), layout) : bufferedChunks(io, shape, layout);
    await runBody(runner, file, chunks, report);
  } finally {
    payloadKey.fill(0);
  }
  return header;
}
