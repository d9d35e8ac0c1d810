/**
 * BufferIO: a source and a sink that work on the caller's buffers. The pool's pipeline reads each
 * task's input straight into a task buffer and writes each output straight from one, so nothing is
 * allocated or copied per chunk in between. Files (file-io.ts), memory (here) and streams
 * (pool/streams.ts) all come in this way.
 */
export interface BufferIO {
  /** Fill `into` from where the last read stopped; resolves to the bytes read, fewer than `into.length` only at the end. */
  read(into: Uint8Array): Promise<number>;
  /** Write `bytes` after the last write. The buffer is reused once this resolves. */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Present when both ends are files open in this process: then whoever runs the work (the pool's
   * workers) may read and write byte ranges of them itself instead of going through read/write.
   */
  readonly files?: FilePair;
}

/**
 * Two open files by descriptor, for positional reads and writes from any thread of the process
 * (worker threads share the descriptors): the input as measured when it was opened, and the output.
 */
export interface FilePair {
  input: number;
  output: number;
  /** The input's name, for errors. */
  name: string;
  /** The input's size when it was opened: a read that finds another size means it changed. */
  size: number;
  /** Where the input's next byte is: where read() would read next. */
  readAt(): number;
  /** Where the output's next byte goes: where write() would write next. */
  writeAt(): number;
  /** Input bytes read, as they are read (for progress). */
  onRead?: (bytes: number) => void;
}

/** Reads `input` from the start, in whatever sizes are asked for. */
export function memoryReader(input: Uint8Array): BufferIO['read'] {
  let at = 0;
  return async (into) => {
    const n = Math.min(into.length, input.length - at);
    into.set(input.subarray(at, at + n));
    at += n;
    return n;
  };
}

/**
 * Memory to memory: reads `input`, writes one after the other into the array `output()` returns
 * (asked on each write, so it may be allocated once the size is known, e.g. from a header).
 */
export function memoryIO(input: Uint8Array, output: () => Uint8Array): BufferIO {
  let at = 0;
  return {
    read: memoryReader(input),
    async write(bytes) {
      output().set(bytes, at);
      at += bytes.length;
    },
  };
}

/** A BufferIO whose sink also takes writes at an offset (a file): for a layout that fills a field in at the end. */
export interface RandomAccessIO extends BufferIO {
  writeAt(bytes: Uint8Array, position: number): Promise<void>;
}

/** Where output goes: one write after the other, and, for a file, writes at an offset. */
export interface ByteSink {
  /** Write `bytes` after the last write; the buffer is reused once this resolves. */
  write(bytes: Uint8Array): Promise<void>;
  /** Present when the sink can seek (a file), absent for a pipe, a device or stdout. */
  writeAt?(bytes: Uint8Array, position: number): Promise<void>;
  /** Present when the sink is a regular file open in this process: its descriptor and where write() goes next. */
  readonly file?: { readonly fd: number; readonly next: number };
}

/** A reader and a sink as one BufferIO (with writeAt when the sink has it). */
export function joinIO(read: BufferIO['read'], sink: ByteSink): BufferIO & Pick<ByteSink, 'writeAt'> {
  return { read, write: (bytes) => sink.write(bytes), ...(sink.writeAt ? { writeAt: sink.writeAt.bind(sink) } : {}) };
}

/** Bytes per chunk when one message streams through: large enough that per-call costs vanish. */
const CHUNK = 1 << 20;

/**
 * Everything `io` reads, passed to what it writes chunk by chunk through `each` (which may change a
 * chunk in place), in one reused buffer, so memory stays bounded whatever the size. Returns the
 * bytes passed.
 */
export async function passThrough(io: BufferIO, each: (chunk: Uint8Array) => void): Promise<number> {
  const buffer = new Uint8Array(CHUNK);
  let total = 0;
  for (;;) {
    const n = await io.read(buffer);
    if (n === 0) return total;
    const chunk = buffer.subarray(0, n);
    each(chunk);
    await io.write(chunk);
    total += n;
    if (n < buffer.length) return total;
  }
}
