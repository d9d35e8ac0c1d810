import type { EngineName } from '../engine/types.js';
import type { BufferIO } from '../io/buffer-io.js';
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
import type { SegmentTask } from './worker.js';

/**
 * One sealed file through the pool, whatever it comes from: the header, then the body cut into
 * tasks of whole segments (about 1 MiB each, so a task's round trip is small beside its work), read
 * straight into reused task buffers, run on the workers, and written back in file order from the
 * same buffers.
 * Buffers (SealPool.seal/open), files (fileIO) and streams (streams.ts) all come through here as
 * a BufferIO, so there is one batching loop and one header reader.
 */

/** What the pipeline needs of a pool. */
export interface TaskRunner {
  readonly engine: EngineName;
  /** Tasks one file keeps in flight. */
  readonly window: number;
  segmentsPerTask(segmentSize: number): number;
  /** Runs one task; its input buffer is transferred. */
  run(task: SegmentTask): Promise<Uint8Array>;
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
  private readonly queue: { task: Promise<Uint8Array>; use: (out: Uint8Array) => Promise<void>; done: boolean }[] = [];
  constructor(private readonly limit: number) {}

  async add(task: Promise<Uint8Array>, use: (out: Uint8Array) => Promise<void>): Promise<void> {
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

/** What every task of one file shares, copied out of the header once so a task clones only these bytes. */
type FileTask = Pick<SegmentTask, 'op' | 'engine' | 'payloadKey' | 'context'>;

function fileTask(op: 'seal' | 'open', engine: EngineName, payloadKey: Uint8Array, context: SegmentContext): FileTask {
  return { op, engine, payloadKey, context: { prefix: context.prefix.slice(), headerMac: context.headerMac.slice(), segmentSize: context.segmentSize } };
}

/**
 * Reads the body from `io` in task buffers and runs them: a full buffer is held back until the next
 * read shows whether the file goes on, so the last task is the one that ends the file.
 * `atEnd` sees the body's length before the last task goes (the layout checks of opening).
 */
async function runBody(
  runner: TaskRunner,
  file: FileTask,
  io: BufferIO,
  report: (plaintextBytes: number) => void,
  atEnd: (bodyLength: number) => void = () => undefined,
): Promise<void> {
  const seal = file.op === 'seal';
  const size = file.context.segmentSize;
  const per = runner.segmentsPerTask(size);
  const unit = seal ? size : size + TAG;
  const tasks = new InOrder(runner.window);
  const spares: ArrayBuffer[] = [];
  /** A task buffer for one task's input, with room after it for the tags a seal adds in place. */
  const buffer = (): Uint8Array => {
    const bytes = per * unit + (seal ? per * TAG : 0);
    const reuse = spares.pop();
    return new Uint8Array(reuse !== undefined && reuse.byteLength >= bytes ? reuse : new ArrayBuffer(bytes), 0, per * unit);
  };
  let nextIndex = 0;
  const submit = async (input: Uint8Array, endsFile: boolean): Promise<void> => {
    const firstIndex = nextIndex;
    const segments = endsFile ? Math.max(1, Math.ceil(input.length / unit)) : input.length / unit;
    nextIndex += segments;
    const task = runner.run({ ...file, firstIndex, endsFile, input });
    await tasks.add(task, async (out) => {
      await io.write(out);
      spares.push(out.buffer as ArrayBuffer);
      report(seal ? out.length - segments * TAG : out.length);
    });
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
      await submit(current.subarray(0, filled), true);
      return tasks.drain();
    }
    await submit(current, false);
    current = next!;
    filled = more;
  }
}

/** Seals what `io` reads into what it writes under a header just built for it, which it writes first. Wipes the payload key. */
export async function sealThrough(runner: TaskRunner, io: BufferIO, created: CreatedHeader, options: PipelineOptions & { engine?: EngineName } = {}): Promise<void> {
  try {
    options.onHeader?.(created.header);
    await io.write(created.bytes);
    const file = fileTask('seal', options.engine ?? runner.engine, created.payloadKey, segmentContext(created.header));
    await runBody(runner, file, io, progressReporter(options.onProgress, declaredSize(created.header.metadata)));
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
    await runBody(runner, file, io, report, (bodyLength) => segmentLayout(bodyLength, header.segmentSize));
  } finally {
    payloadKey.fill(0);
  }
  return header;
}
