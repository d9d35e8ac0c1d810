import { randomBytes } from 'node:crypto';
import { constants, fstat, unlinkSync, type Stats } from 'node:fs';
import { lstat, link, open, readdir, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { SealcamError } from '../errors.js';
import type { ByteSink } from './buffer-io.js';
// file-io.ts imports writeAll from here: a cycle of function declarations only, resolved before either runs.
import { handleSink, streamSink } from './file-io.js';

/**
 * Atomic file output: the data goes to a fresh temp file beside the target, is fsynced, and only
 * then takes the target's name. A reader never sees half a file, a crash leaves at most a temp
 * file (never a truncated target), and a failure removes the temp file. Temp files are created
 * 0600 whatever they will become (they may hold unverified plaintext) and carry the writer's pid,
 * so a later run can tell a dead writer's leftovers (sweepStaleTemps) from a live one's.
 *
 * Outputs that are not regular files (OutputTarget): a character device, a FIFO or stdout is
 * written into directly, never renamed over; a symlink is followed to an existing target (a
 * regular file there is replaced atomically, the link stays) and refused when it dangles; the
 * target must not be an input (same inode). What may not reach such a target unverified (one EAX
 * message, checked at its end) is spooled to a private temp file first and copied out after.
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

/**
 * A unique hidden name in the target's directory, so the final rename never crosses devices:
 * `.<name>.<12 hex>.<pid>.tmp`.
 */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.${process.pid}.tmp`);
}

/** Ours: `.<name>.<12 hex>.<pid>.tmp` (or `.<name>.<12 hex>.tmp` from before the pid was added). */
const TEMP_NAME = /^\.(.+)\.[0-9a-f]{12}(?:\.([1-9][0-9]{0,9}))?\.tmp$/;

/** The target and writer's pid of one of our temp names, or undefined when the name is not ours. */
function parseTempName(name: string): { target: string; pid?: number } | undefined {
  const m = TEMP_NAME.exec(name);
  return m ? { target: m[1]!, ...(m[2] === undefined ? {} : { pid: Number(m[2]) }) } : undefined;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError(err, 'list', dir);
  }
}

/**
 * Removes the temp files a process killed mid-write (SIGKILL, power loss) left beside `path`:
 * they may hold unverified plaintext. Call it only for a target no live writer is working on.
 */
export async function removeStaleTemps(path: string): Promise<void> {
  const dir = dirname(path);
  const stale = (await listDir(dir)).filter((n) => parseTempName(n)?.target === basename(path));
  await Promise.all(stale.map((n) => unlink(join(dir, n)).catch(() => undefined)));
}

/** Whether process `pid` runs on this machine (a pid we may not signal still runs). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A temp file from before names carried the pid is stale once nobody has written to it for this long. */
const UNNAMED_STALE_MS = 60 * 60 * 1000;

/**
 * Removes, from `dir`, the temp files of our naming whose writer is gone (its pid no longer runs,
 * or, for an old name without a pid, nothing wrote to it for an hour): what a killed raw or
 * sidecar decrypt leaves holds unverified plaintext. A live writer's temp files are left alone.
 * With `target`, only the temp files of that target name. Returns the names removed.
 */
export async function sweepStaleTemps(dir: string, target?: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listDir(dir)) {
    const parsed = parseTempName(name);
    if (parsed === undefined || (target !== undefined && parsed.target !== target)) continue;
    const path = join(dir, name);
    if (liveTemps.has(path)) continue;
    let stale: boolean;
    if (parsed.pid !== undefined) stale = parsed.pid !== process.pid && !alive(parsed.pid);
    else stale = await lstat(path).then((st) => st.isFile() && Date.now() - st.mtimeMs > UNNAMED_STALE_MS, () => false);
    if (stale && (await unlink(path).then(() => true, () => false))) removed.push(name);
  }
  return removed;
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
  await writeStreamTarget({ kind: 'file', path, name: path }, source, options);
}

/** writeStreamAtomic() for any target (writeTarget): a file atomically, a device, FIFO or stdout as the stream runs. */
export async function writeStreamTarget(target: OutputTarget, source: Readable | AsyncIterable<Uint8Array>, options: TargetWriteOptions = {}): Promise<void> {
  await writeTarget(target, options, (sink) => pipeline(source, sinkWritable(sink)));
}

/**
 * A Writable onto a ByteSink (an open file from offset 0, a device, stdout). Not fs streams: on a
 * FileHandle with autoClose off they keep a reference that makes the handle's close() wait
 * forever (Node 20), and on a numeric fd they close it when destroyed by an error.
 */
export function sinkWritable(sink: ByteSink): Writable {
  return new Writable({
    write(chunk: Uint8Array, _encoding, callback) {
      sink.write(chunk).then(() => callback(), callback);
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

const TEMP_MODE = 0o600;

/** The process umask (read by setting it and putting it back, as process.umask() without arguments is deprecated). */
function currentUmask(): number {
  const mask = process.umask(0o077);
  process.umask(mask);
  return mask;
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
    // 0600 while it is being written (it may hold unverified plaintext); its own mode only once complete.
    const fd = await open(temp, 'wx', TEMP_MODE);
    created = true;
    track(temp);
    try {
      await fill(fd);
      if ((mode & 0o777) !== TEMP_MODE) await fd.chmod(mode & ~currentUmask());
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

// --- outputs that are not regular files ---------------------------------------------------------

/** Where an output goes once checked: a regular file (written atomically), a device or FIFO (written into), or stdout. */
export type OutputTarget =
  | { kind: 'file'; path: string; name: string }
  | { kind: 'device'; path: string; name: string; type: 'character device' | 'FIFO' }
  | { kind: 'stdout'; name: string };

/** `-`: stdin as an input, stdout as an output. */
export const STDIO = '-';

/**
 * Names of this process's stdout: written as stdout (the shell's descriptor, its offset and
 * append mode kept), never resolved to whatever file it is redirected to and replaced.
 */
const STDOUT_PATHS = ['/dev/stdout', '/dev/fd/1', '/proc/self/fd/1'];

function unsupported(name: string, st: Stats): SealcamError {
  const what = st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : st.isDirectory() ? 'a directory' : 'not a regular file';
  return new SealcamError('EOUTPUT', `output ${name} is ${what}: sealcam writes regular files, character devices, FIFOs and stdout (-)`);
}

function kindOf(path: string, name: string, st: Stats): OutputTarget {
  if (st.isFile()) return { kind: 'file', path, name };
  if (st.isCharacterDevice()) return { kind: 'device', path, name, type: 'character device' };
  if (st.isFIFO()) return { kind: 'device', path, name, type: 'FIFO' };
  throw unsupported(name, st);
}

/**
 * What `path` is as an output. A new path is a file; an existing regular file needs `force`; a
 * character device or FIFO is written into (no force needed: nothing is replaced); a symlink is
 * followed when its target exists (and judged by that target: a regular file there is replaced in
 * its own directory, the link stays) and refused when it dangles, so a planted link cannot make
 * sealcam create a file somewhere else.
 */
export async function resolveOutput(path: string, force = false): Promise<OutputTarget> {
  if (path === STDIO || STDOUT_PATHS.includes(path)) return { kind: 'stdout', name: 'stdout' };
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'file', path, name: path };
    throw fsError(err, 'check output', path);
  }
  if (st.isSymbolicLink()) {
    let target = path;
    try {
      st = await stat(path);
      // A regular file is replaced in its own directory (the link stays); a device or FIFO is opened through the link.
      if (st.isFile()) target = await realpath(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') throw new SealcamError('EOUTPUT', `output ${path} is a symlink to nothing: sealcam follows a symlink only to an existing file or device`);
      throw fsError(err, 'check output', path);
    }
    const resolved = kindOf(target, path, st);
    if (resolved.kind === 'file' && !force) throw existsError(path);
    return resolved;
  }
  const resolved = kindOf(path, path, st);
  if (resolved.kind === 'file' && !force) throw existsError(path);
  return resolved;
}

/** A file's identity: two paths (or a path and a descriptor) with the same one are the same file. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

const fstatAsync = promisify(fstat);

/** The identity of what `target` would write over, if it exists (stdout's when it is redirected to a file). */
export async function targetIdentity(target: OutputTarget): Promise<FileIdentity | undefined> {
  try {
    const st = target.kind === 'stdout' ? await fstatAsync(1) : await stat(target.path);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

/** Refuses an output that is one of the inputs (same device and inode): writing it would destroy the input. */
export async function refuseSameFile(target: OutputTarget, inputs: readonly { name: string; id?: FileIdentity }[]): Promise<void> {
  const out = await targetIdentity(target);
  if (out === undefined) return;
  const same = inputs.find((input) => input.id !== undefined && input.id.dev === out.dev && input.id.ino === out.ino);
  if (same !== undefined) throw new SealcamError('ESAMEFILE', `output ${target.name} is the input ${same.name} itself: writing it would destroy the input; write somewhere else`);
}

export interface TargetWriteOptions extends AtomicWriteOptions {
  /**
   * What `fill` writes is unverified until it resolves (one EAX message, checked at its end): a
   * target that is not a regular file then gets it only afterwards, from a private spool.
   */
  unverified?: boolean;
  /** `fill` needs writes at an offset (a tag filled in at the end): a target that cannot seek is spooled too. */
  positional?: boolean;
}

/** A private spool in the temp directory, 0600, removed on failure or signal as the temp files are; named as a temp file of `SPOOL`. */
const SPOOL = 'sealcam-spool';
function spoolPath(): string {
  return tempPathFor(join(tmpdir(), SPOOL));
}
/** The first spool of a process removes those of dead processes. */
let sweptSpools = false;

const COPY_CHUNK = 1 << 20;

/** Writes straight into a device, a FIFO or stdout. */
async function writeInto(target: Exclude<OutputTarget, { kind: 'file' }>, fill: (sink: ByteSink) => Promise<void>): Promise<void> {
  if (target.kind === 'stdout') {
    const sink = streamSink(process.stdout);
    await fill(sink);
    await sink.end();
    return;
  }
  let fd: FileHandle;
  try {
    // No O_CREAT: if the device or FIFO went away meanwhile, fail rather than make a regular file.
    fd = await open(target.path, constants.O_WRONLY | constants.O_NOCTTY);
  } catch (err) {
    throw fsError(err, `open ${target.type}`, target.name);
  }
  try {
    const st = await fd.stat();
    if (!st.isCharacterDevice() && !st.isFIFO()) throw unsupported(target.name, st);
    await fill({ write: (bytes) => writeAll(fd, bytes, undefined) });
  } catch (err) {
    throw fsError(err, 'write', target.name);
  } finally {
    await fd.close();
  }
}

/**
 * Writes what `fill` produces to `target`: atomically for a regular file (writeAtomic), into it for
 * a device, FIFO or stdout. With `unverified` or `positional`, a target that is not a regular file
 * gets the bytes only once `fill` succeeded, copied from a private 0600 spool that is removed
 * either way; so unverified plaintext never reaches a pipe, a terminal or a device.
 */
export async function writeTarget(target: OutputTarget, options: TargetWriteOptions, fill: (sink: ByteSink) => Promise<void>): Promise<void> {
  if (target.kind === 'file') {
    await writeAtomic(target.path, options, (fd) => fill(handleSink(fd)));
    return;
  }
  if (!options.unverified && !options.positional) {
    await writeInto(target, fill);
    return;
  }
  await withSpool(async (fd) => {
    await fill(handleSink(fd));
    await writeInto(target, (sink) => copyOut(fd, sink));
  });
}

/** Copies all of `fd` (from offset 0) into `sink`. */
async function copyOut(fd: FileHandle, sink: ByteSink): Promise<void> {
  const chunk = new Uint8Array(COPY_CHUNK);
  for (let at = 0; ; ) {
    const { bytesRead } = await fd.read(chunk, 0, chunk.length, at);
    if (bytesRead === 0) return;
    await sink.write(chunk.subarray(0, bytesRead));
    at += bytesRead;
  }
}

/**
 * Runs `use` on a fresh private file in the temp directory (0600, opened for reading and writing)
 * and removes it afterwards, on failure, and on SIGINT/SIGTERM: a spool for what may not go
 * straight to its target, or for stdin when a layout must be read at offsets.
 */
export async function withSpool<T>(use: (fd: FileHandle, path: string) => Promise<T>): Promise<T> {
  if (!sweptSpools) {
    sweptSpools = true;
    await sweepStaleTemps(tmpdir(), SPOOL).catch(() => undefined);
  }
  const spool = spoolPath();
  let fd: FileHandle | undefined;
  track(spool);
  try {
    fd = await open(spool, 'wx+', TEMP_MODE).catch((err: unknown) => {
      throw fsError(err, 'create a spool file', spool);
    });
    return await use(fd, spool);
  } finally {
    await fd?.close();
    await unlink(spool).catch(() => undefined);
    untrack(spool);
  }
}
