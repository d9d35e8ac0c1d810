import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { lstat, link, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { basename, dirname, join } from 'node:path';
import { SealcamError } from '../errors.js';

/**
 * Atomic file output: the data goes to a fresh temp file beside the target, is fsynced, and only
 * then takes the target's name. A reader never sees half a file, a crash leaves at most a temp
 * file (never a truncated target), and a failure removes the temp file.
 */

export interface AtomicWriteOptions {
  /** Replace an existing target. Without it an existing target is an error and stays untouched. */
  force?: boolean;
  /** Permission bits for a new file (the umask still applies, so it can only get stricter). */
  mode?: number;
  /** What a failure says the write was for ("cannot <what> <path>"); default "write". */
  what?: string;
}

/** Names a file-system failure in one line: the file we meant and the errno, never a stack. */
export function fsError(err: unknown, what: string, path: string): SealcamError {
  if (err instanceof SealcamError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  const reason: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'is a directory',
    ENOTDIR: 'a path component is not a directory',
    ENOSPC: 'no space left on device',
    EROFS: 'read-only file system',
    EEXIST: 'file exists',
  };
  const why = code ? (reason[code] ?? code) : String((err as Error)?.message ?? err);
  return new SealcamError(code ?? 'EIO', `cannot ${what} ${path}: ${why}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fsError(err, 'check output file', path);
  }
}

function existsError(path: string): SealcamError {
  return new SealcamError('EEXIST', `output file ${path} exists; use --force to overwrite`);
}

/** Fails early (before any work) when `path` exists and force is off. */
export async function assertWritable(path: string, force = false): Promise<void> {
  if (!force && (await exists(path))) throw existsError(path);
}

/**
 * Temp files being written now. If SIGINT or SIGTERM arrives while some exist and nobody else
 * listens for it, they are removed (they may hold unverified plaintext) and the signal is raised
 * again, so the process still ends as the signal says. An application with its own handler
 * (sealcam device, receive) stops its writers itself, and their failures remove the files.
 */
const liveTemps = new Set<string>();

function removeLiveTemps(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  for (const temp of liveTemps) {
    try {
      unlinkSync(temp);
    } catch {
      /* already gone */
    }
  }
  liveTemps.clear();
  watchSignals(false);
  process.kill(process.pid, signal);
}

function watchSignals(on: boolean): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    if (on) process.on(signal, removeLiveTemps);
    else process.off(signal, removeLiveTemps);
  }
}

function track(temp: string): void {
  if (liveTemps.size === 0) watchSignals(true);
  liveTemps.add(temp);
}

function untrack(temp: string): void {
  if (liveTemps.delete(temp) && liveTemps.size === 0) watchSignals(false);
}

/** A unique hidden name in the target's directory, so the final rename never crosses devices. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Removes the temp files a process killed mid-write (SIGKILL, power loss) left beside `path`:
 * they may hold unverified plaintext. Call it only for a target no live writer is working on.
 */
export async function removeStaleTemps(path: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fsError(err, 'list', dir);
  }
  const stale = names.filter((n) => n.startsWith(prefix) && /^[0-9a-f]{12}\.tmp$/.test(n.slice(prefix.length)));
  await Promise.all(stale.map((n) => unlink(join(dir, n)).catch(() => undefined)));
}

async function syncDirectory(dir: string): Promise<void> {
  // Makes the rename itself durable; some platforms cannot open a directory, which is harmless.
  try {
    const fd = await open(dir, 'r');
    try {
      await fd.sync();
    } finally {
      await fd.close();
    }
  } catch {
    /* best effort */
  }
}

/**
 * Puts the finished temp file at `path`. Without force this is link(2), which fails if the target
 * appeared meanwhile, so an existing file is never replaced; rename(2) replaces atomically.
 */
async function publish(temp: string, path: string, force: boolean): Promise<void> {
  if (force) {
    await rename(temp, path);
    return;
  }
  try {
    await link(temp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw existsError(path);
    // File systems without hard links: re-check, then rename (a narrow race, but no worse).
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    if (await exists(path)) throw existsError(path);
    await rename(temp, path);
    return;
  }
  // The target is in place; a temp name that cannot be removed is only a stray hard link.
  await unlink(temp).catch(() => undefined);
}

/** Writes `data` to `path` atomically; see the module comment. */
export async function writeFileAtomic(path: string, data: Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  if (!(data instanceof Uint8Array)) throw new SealcamError('EINPUT', 'data must be a Uint8Array');
  await writeAtomic(path, options, (fd) => fd.writeFile(data));
}

/**
 * Streams `source` to `path` atomically: the target appears only if the source ended without an
 * error (an open stream that fails verification leaves nothing behind). The source's own error is
 * rethrown as it is, so the caller's message (which segment failed) reaches the user.
 */
export async function writeStreamAtomic(
  path: string,
  source: Readable | AsyncIterable<Uint8Array>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  await writeAtomic(path, options, (fd) => pipeline(source, fileSink(fd)));
}

/**
 * A Writable onto an open file, from `position` on (default: the file's current position). Not
 * fs streams: on a FileHandle with autoClose off they keep a reference that makes the handle's
 * close() wait forever (Node 20), and on a numeric fd they close it when destroyed by an error.
 */
export function fileSink(fd: FileHandle, position?: number): Writable {
  let at = position;
  return new Writable({
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(fd, chunk, at).then(() => {
        if (at !== undefined) at += chunk.length;
        callback();
      }, callback);
    },
  });
}

/** Writes all of `data` at `position` (or the file position), however many writes that takes. */
export async function writeAll(fd: FileHandle, data: Uint8Array, position: number | undefined): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await fd.write(data, done, data.length - done, position === undefined ? null : position + done);
    done += bytesWritten;
  }
}

/** Runs `fill` on a fresh temp file beside `path` (sequential writes, or writes at offsets), then publishes it as above. */
export async function writeAtomic(path: string, options: AtomicWriteOptions, fill: (fd: FileHandle) => Promise<void>): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) throw new SealcamError('EINPUT', 'output path must be a non-empty string');
  const force = options.force === true;
  const mode = options.mode ?? 0o666;
  await assertWritable(path, force);

  const temp = tempPathFor(path);
  let created = false;
  try {
    const fd = await open(temp, 'wx', mode);
    created = true;
    track(temp);
    try {
      await fill(fd);
      await fd.sync();
    } finally {
      await fd.close();
    }
    await publish(temp, path, force);
    created = false;
    await syncDirectory(dirname(path));
  } catch (err) {
    if (created) await unlink(temp).catch(() => undefined);
    throw fsError(err, options.what ?? 'write', path);
  } finally {
    untrack(temp);
  }
}
