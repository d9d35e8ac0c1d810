import type { FileHandle } from 'node:fs/promises';
import { SealcamError } from '../errors.js';
import type { BufferIO } from '../pool/pool.js';
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

export function inputChanged(name: string, size: number): SealcamError {
  return new SealcamError('ECHANGED', `${name} changed while it was read (expected ${size} bytes)`);
}

/**
 * File to file for SealPool.sealIO/openIO: positioned reads from `input` into the pool's task
 * buffers, and writes from them to `output` from offset 0. No chunk is allocated or copied here.
 */
export function fileIO(input: FileHandle, output: FileHandle, options: FileIOOptions): BufferIO {
  const { name, size } = options;
  let readAt = options.start ?? 0;
  let writeAt = 0;
  return {
    async read(into) {
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
    },
    async write(bytes) {
      await writeAll(output, bytes, writeAt);
      writeAt += bytes.length;
    },
  };
}
