import type { FileHandle } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { SealcamError } from '../errors.js';
import { joinIO, type BufferIO, type ByteSink, type FilePair, type RandomAccessIO } from './buffer-io.js';
import { writeAll } from './atomic.js';

/**
 * Files, pipes and the standard streams as the two halves of a BufferIO: readers that fill the
 * caller's buffer, and sinks that write from it.
 */

export interface FileIOOptions {
  /** The input's name, for errors. */
  name: string;
  /** The input's size when it was opened: reading past it, or ending short of it, means it changed. */
  size: number;
  /** Where reading starts (default 0). */
  start?: number;
  /** Input bytes read, as they are read (for progress). */
  onRead?: (bytes: number) => void;
}

/** The error of a read that found the input another size than it was measured at. */
export function inputChanged(name: string, size: number): SealcamError {
  return new SealcamError('ECHANGED', `${name} changed while it was read (expected ${size} bytes)`);
}

/**
 * Positioned reads of `input` from `options.start`: each call fills `into` (fewer bytes only at the
 * end) and fails with ECHANGED once the file is seen to have grown or shrunk since it was measured.
 */
export function fileReader(input: FileHandle, options: FileIOOptions): BufferIO['read'] & { readonly at: number } {
  const { name, size } = options;
  let readAt = options.start ?? 0;
  const read = async (into: Uint8Array): Promise<number> => {
    let n = 0;
    while (n < into.length) {
      const { bytesRead } = await input.read(into, n, into.length - n, readAt);
      if (bytesRead === 0) break;
      n += bytesRead;
      readAt += bytesRead;
    }
    if (readAt > size || (n < into.length && readAt !== size)) throw inputChanged(name, size);
    options.onRead?.(n);
    return n;
  };
  return Object.defineProperty(read, 'at', { get: () => readAt }) as BufferIO['read'] & { readonly at: number };
}

/**
 * fileReader() over byte ranges of `input` read one after another, as if they were one stream (a
 * raw file whose parts are in another order than the opener reads them). The file must still be
 * `options.size` bytes.
 */
export function rangesReader(input: FileHandle, ranges: readonly { start: number; length: number }[], options: FileIOOptions): BufferIO['read'] {
  const { name, size } = options;
  let index = 0;
  let done = 0;
  return async (into) => {
    let n = 0;
    while (n < into.length && index < ranges.length) {
      const range = ranges[index]!;
      const want = Math.min(into.length - n, range.length - done);
      const { bytesRead } = want === 0 ? { bytesRead: 0 } : await input.read(into, n, want, range.start + done);
      if (want > 0 && bytesRead === 0) throw inputChanged(name, size);
      n += bytesRead;
      done += bytesRead;
      if (done === range.length) {
        index += 1;
        done = 0;
      }
    }
    if (n < into.length && (await input.stat()).size !== size) throw inputChanged(name, size);
    options.onRead?.(n);
    return n;
  };
}

/** Writes to an open file from offset 0 on, and at offsets. */
export function handleSink(output: FileHandle): Required<ByteSink> {
  let next = 0;
  return {
    async write(bytes) {
      await writeAll(output, bytes, next);
      next += bytes.length;
    },
    writeAt: (bytes, position) => writeAll(output, bytes, position),
    file: {
      fd: output.fd,
      get next() {
        return next;
      },
    },
  };
}

/**
 * fileReader() of `input` joined with `sink`; when the sink is a regular file too, `files` names
 * both descriptors so the pool's workers can read and write their segments themselves (the main
 * thread then reads and writes the header alone). The handles must stay open until the work is done.
 */
export function filesIO(input: FileHandle, options: FileIOOptions, sink: ByteSink): BufferIO & Pick<ByteSink, 'writeAt'> {
  const read = fileReader(input, options);
  const io = joinIO(read, sink);
  const out = sink.file;
  if (out === undefined) return io;
  const files: FilePair = { input: input.fd, output: out.fd, name: options.name, size: options.size, readAt: () => read.at, writeAt: () => out.next, onRead: options.onRead };
  return { ...io, files };
}

/**
 * File to file for the pool (SealPool.sealIO/openIO) and the single-message layouts: filesIO with
 * writes to `output` from offset 0 (or at an offset). No chunk is allocated or copied here.
 */
export function fileIO(input: FileHandle, output: FileHandle, options: FileIOOptions): RandomAccessIO {
  return filesIO(input, options, handleSink(output)) as RandomAccessIO;
}

/** A reader over a stream (stdin, a pipe) that can also look at its first bytes without taking them. */
export interface StreamReader {
  read: BufferIO['read'];
  /** Up to `n` bytes from the start, which read() then still returns. */
  peek(n: number): Promise<Uint8Array>;
  /** Bytes read so far. */
  readonly bytes: number;
}

/** Reads `stream` chunk by chunk into the caller's buffers: fewer bytes than asked only at its end. */
export function streamReader(stream: Readable, onRead?: (bytes: number) => void): StreamReader {
  const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let held: Uint8Array = new Uint8Array(0);
  let ended = false;
  let total = 0;
  const more = async (): Promise<boolean> => {
    if (ended) return false;
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      return false;
    }
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
    return true;
  };
  return {
    get bytes() {
      return total;
    },
    async peek(n) {
      while (held.length < n && (await more()));
      return held.subarray(0, Math.min(n, held.length));
    },
    async read(into) {
      let n = 0;
      while (n < into.length) {
        if (held.length === 0 && !(await more())) break;
        const take = Math.min(into.length - n, held.length);
        into.set(held.subarray(0, take), n);
        held = held.subarray(take);
        n += take;
      }
      total += n;
      onRead?.(n);
      return n;
    },
  };
}

/**
 * Writes into a stream (stdout), waiting for each write to be taken so the caller may reuse its
 * buffer, and for the stream to drain when it is behind. A stream cannot seek: no writeAt.
 */
export function streamSink(stream: Writable): ByteSink & { end(): Promise<void> } {
  let failed: Error | undefined;
  const onError = (err: Error) => (failed ??= err);
  stream.on('error', onError);
  return {
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        if (failed) return reject(failed);
        stream.write(bytes, (err) => (err ? reject(err) : resolve()));
      }),
    end: async () => {
      stream.off('error', onError);
      if (failed) throw failed;
    },
  };
}
