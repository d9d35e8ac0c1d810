import type { FileHandle } from 'node:fs/promises';
import { SealcamError } from '../errors.js';
import type { RandomAccessIO } from './buffer-io.js';
import { writeAll } from './atomic.js';

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
export function fileReader(input: FileHandle, options: FileIOOptions): (into: Uint8Array) => Promise<number> {
  const { name, size } = options;
  let readAt = options.start ?? 0;
  return async (into) => {
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
}

/**
 * File to file for the pool (SealPool.sealIO/openIO) and the single-message layouts: fileReader
 * into the caller's buffers, and writes from them to `output` from offset 0 (or at an offset). No
 * chunk is allocated or copied here. `files` names both descriptors, so the pool's workers can
 * read and write their segments themselves; the handles must stay open until the work is done.
 */
export function fileIO(input: FileHandle, output: FileHandle, options: FileIOOptions): RandomAccessIO {
  let next = 0;
  return {
    files: { input: input.fd, output: output.fd, name: options.name, size: options.size, start: options.start ?? 0, onRead: options.onRead },
    read: fileReader(input, options),
    async write(bytes) {
      await writeAll(output, bytes, next);
      next += bytes.length;
    },
    writeAt: (bytes, position) => writeAll(output, bytes, position),
  };
}
