import { existsSync, readdirSync } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { EngineName } from '../engine/types.js';
import { SealcamError } from '../errors.js';
import { openRawIO, PYCRYPTODOME_LAYOUT, rawReadRanges, rawSealNeedsSeek, sealRawIO, type RawLayout } from '../formats/raw.js';
import type { KekSealing, OpenOptions, RecipientSealing, SealedMetadata } from '../formats/sealed.js';
import {
  detectFormat,
  metadataNames,
  openForeignIO,
  SEED_FILES,
  openSidecarIO,
  parseAnyMetadata,
  sealSidecarIO,
  serializeSidecarMetadata,
  type AnyMetadata,
  type SidecarMetadata,
} from '../formats/sidecar.js';
import { joinIO, type BufferIO, type ByteSink } from '../io/buffer-io.js';
import { fsError, STDIO, withSpool, writeFileAtomic, writeTarget, type FileIdentity, type OutputTarget, type TargetWriteOptions } from '../io/atomic.js';
import { fileReader, filesIO, handleSink, rangesReader, streamReader, type StreamReader } from '../io/file-io.js';
import { MESSAGE_TASK_MAX_BYTES, type SealedSidecar } from '../pool/messages.js';
import type { SealPool } from '../pool/pool.js';

/**
 * One input to one output, for each layout. This module handles files (and stdin and stdout):
 * it opens and measures them and hands the format modules a BufferIO between them, so memory stays
 * bounded whatever the size. Outputs go through io/atomic.ts writeTarget: a regular file appears
 * only complete; a device, FIFO or stdout is written into, and gets a raw or sidecar message (one
 * EAX message, verified only at its end) only after it verified, through a private spool. `sealed`
 * verifies each segment before it is written, so it streams straight through.
 */

export type Layout = 'sealed' | 'raw' | 'sidecar';
export const LAYOUTS: readonly Layout[] = ['sealed', 'raw', 'sidecar'];

/** A metadata file is a few hundred bytes; anything this large is not one. */
const MAX_METADATA_JSON = 64 * 1024;
const MODE_PLAINTEXT = 0o600;

/** An input measured before any work starts: a regular file, or stdin (`-`). */
export type Input = { kind: 'file'; path: string; name: string; size: number; id: FileIdentity; mtime: Date } | { kind: 'stdin'; name: 'stdin' };

export interface FileJob {
  input: Input;
  output: OutputTarget;
  /** Write here instead of to `output`: a spool the caller owns (sealcam convert opens into one, then seals from it). */
  into?: ByteSink;
  force: boolean;
  engine: EngineName;
  /** Input bytes read, as they are read (for progress). */
  onBytes: (n: number) => void;
}

/** A KEK and the name and version recorded beside what it seals. */
export interface SealingKey {
  key: Uint8Array;
  name: string;
  version: string;
}

/** How a new sealed file's header holds its key: a KEK with its name (v1), or the recipients' wrap with the signer (v2). */
export type HeaderKeys = Pick<KekSealing, 'kek' | 'keyId' | 'keyVersion'> | Pick<RecipientSealing, 'wrap' | 'signer' | 'deviceId'>;

/** The key a header or sidecar names (a fixed key file ignores the names). */
export type KeyLookup = (name: string, version: string) => Promise<Uint8Array>;

function inputError(err: unknown, path: string): SealcamError {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new SealcamError('ENOENT', `input file ${path} not found`);
  return fsError(err, 'read input file', path);
}

/** Measures an input before any work starts: `-` is stdin, anything else must be a regular file. */
export async function measureInput(path: string): Promise<Input> {
  if (path === STDIO) return { kind: 'stdin', name: 'stdin' };
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new SealcamError('EINPUT', `input ${path} is not a regular file`);
    return { kind: 'file', path, name: path, size: st.size, id: { dev: st.dev, ino: st.ino }, mtime: st.mtime };
  } catch (err) {
    throw inputError(err, path);
  }
}

export const inputSize = (input: Input): number => (input.kind === 'file' ? input.size : 0);

let stdin: StreamReader | undefined;
/** Stdin, read once per process (its first bytes may be looked at before it is read). */
function stdinReader(onBytes?: (n: number) => void): StreamReader {
  stdin ??= streamReader(process.stdin, (n) => onBytes?.(n));
  return stdin;
}

/** Runs `work` on a file input, open for reading, and closes it (after any read still pending). */
async function withFile<T>(input: Extract<Input, { kind: 'file' }>, work: (fd: FileHandle) => Promise<T>): Promise<T> {
  let fd: FileHandle;
  try {
    fd = await open(input.path, 'r');
  } catch (err) {
    throw inputError(err, input.path);
  }
  try {
    return await work(fd);
  } finally {
    await fd.close();
  }
}

/** Runs `work` on a reader of the whole input: a file (reads checked against the size measured) or stdin. */
async function withReader<T>(job: FileJob, work: (read: BufferIO['read']) => Promise<T>): Promise<T> {
  const { input } = job;
  if (input.kind === 'stdin') return work(stdinReader(job.onBytes).read);
  return withFile(input, (fd) => work(fileReader(fd, { name: input.path, size: input.size, onRead: job.onBytes })));
}

/**
 * Runs `work` on a way to join the whole input to a sink: stdin's reader, or a file's (filesIO:
 * between two regular files the pool's workers then read and write their segments themselves).
 */
async function withSource<T>(job: FileJob, work: (through: (sink: ByteSink) => BufferIO) => Promise<T>): Promise<T> {
  const { input } = job;
  if (input.kind === 'stdin') {
    const read = stdinReader(job.onBytes).read;
    return work((sink) => joinIO(read, sink));
  }
  return withFile(input, (fd) => work((sink) => filesIO(fd, { name: input.path, size: input.size, onRead: job.onBytes }, sink)));
}

/**
 * Runs `work` on the input as a file at offsets: a file as it is, stdin copied to a private
 * spool first (a layout whose parts are out of reading order must be read at offsets).
 */
async function withPositional<T>(job: FileJob, work: (fd: FileHandle, size: number, name: string) => Promise<T>): Promise<T> {
  const { input } = job;
  if (input.kind === 'file') return withFile(input, (fd) => work(fd, input.size, input.path));
  return withSpool(async (fd) => {
    const sink = handleSink(fd);
    const read = stdinReader(job.onBytes).read;
    const chunk = new Uint8Array(1 << 20);
    let size = 0;
    for (let n; (n = await read(chunk)) > 0; size += n) await sink.write(chunk.subarray(0, n));
    return work(fd, size, 'stdin');
  });
}

/** Writes what `fill` produces to the job's output (see writeTarget), or into the caller's own sink. */
function writeOut(job: FileJob, options: TargetWriteOptions, fill: (sink: ByteSink) => Promise<void>): Promise<void> {
  return job.into !== undefined ? fill(job.into) : writeTarget(job.output, { force: job.force, ...options }, fill);
}

/**
 * The metadata file beside `path`, if there is one: `<name>.json` or `<stem>.json`, else the seed's
 * `encryption_metadata.json` when `path` is the seed's `encrypted_image.bin` or the only other file
 * in its directory (it describes one file, not each file there).
 */
export function findMetadata(path: string): string | undefined {
  const dir = dirname(path);
  const own = metadataNames(basename(path))
    .map((name) => join(dir, name))
    .find((candidate) => existsSync(candidate));
  if (own !== undefined) return own;
  const seed = join(dir, SEED_FILES.metadata);
  if (basename(path) === SEED_FILES.metadata || !existsSync(seed)) return undefined;
  return basename(path) === SEED_FILES.ciphertext || onlyCiphertext(dir, basename(path)) ? seed : undefined;
}

/** Whether `name` is the only file in `dir` that is neither hidden nor JSON. */
function onlyCiphertext(dir: string, name: string): boolean {
  try {
    const others = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile() && !e.name.startsWith('.') && !e.name.endsWith('.json'));
    return others.length === 1 && others[0]!.name === name;
  } catch {
    return false;
  }
}

/** Which layout a stored input has: sealed magic, else sidecar when it has metadata (given, or found beside it), else raw. */
export async function detectLayout(input: Input, metadata: string | undefined): Promise<Layout> {
  let start: Uint8Array;
  if (input.kind === 'stdin') start = await stdinReader().peek(8);
  else {
    start = await withFile(input, async (fd) => {
      const bytes = new Uint8Array(8);
      const { bytesRead } = await fd.read(bytes, 0, bytes.length, 0);
      return bytes.subarray(0, bytesRead);
    });
  }
  return detectFormat(start, metadata !== undefined || (input.kind === 'file' && findMetadata(input.path) !== undefined));
}

export function sidecarPath(ciphertextPath: string): string {
  return `${ciphertextPath}.json`;
}

// --- sealed: between two files the workers do the I/O; otherwise through the pool's own task buffers, so no chunk is allocated or copied on the main thread ---

export async function sealSealedFile(job: FileJob, keys: HeaderKeys, pool: SealPool, segmentSize: number, metadata: SealedMetadata = {}): Promise<void> {
  const recorded: SealedMetadata = job.input.kind === 'file' ? { originalName: basename(job.input.path), originalSize: job.input.size, ...metadata } : metadata;
  const options = { ...keys, segmentSize, engine: job.engine, metadata: recorded };
  await withSource(job, (through) => writeOut(job, {}, (sink) => pool.sealIO(through(sink), options)));
}

export async function openSealedFile(job: FileJob, keys: Pick<OpenOptions, 'kek' | 'fileKey' | 'trust'>, pool: SealPool): Promise<void> {
  // Each run of segments is verified before it is written: straight into any target.
  await withSource(job, (through) =>
    writeOut(job, { mode: MODE_PLAINTEXT }, (sink) => pool.openIO(through(sink), { ...keys, engine: job.engine }).then(() => undefined)),
  );
}

// --- raw: nonce(16) || tag(16) || ciphertext, or the three in another order ---

/**
 * The file whole, when a worker of `pool` should seal or open it (a file of at most
 * MESSAGE_TASK_MAX_BYTES in a batch that runs on workers); undefined when it streams on this thread.
 */
async function wholeForWorker(job: FileJob, pool: SealPool | undefined): Promise<Uint8Array | undefined> {
  const { input } = job;
  if (pool === undefined || input.kind !== 'file' || input.size > MESSAGE_TASK_MAX_BYTES || pool.runsInline(input.size)) return undefined;
  return withFile(input, async (fd) => {
    const read = fileReader(fd, { name: input.path, size: input.size, onRead: job.onBytes });
    const bytes = new Uint8Array(input.size);
    await read(bytes);
    await read(new Uint8Array(1)); // a file that grew since it was measured is refused (ECHANGED)
    return bytes;
  });
}

/** Writes plaintext a worker verified (nothing unverified, so no spool), then wipes it. */
async function writeVerified(job: FileJob, plaintext: Uint8Array): Promise<void> {
  try {
    await writeOut(job, { mode: MODE_PLAINTEXT }, (sink) => sink.write(plaintext));
  } finally {
    plaintext.fill(0);
  }
}

/** Seals a raw file: on a worker of `pool` when the batch runs on workers (SealPool.runRaw), else streamed here. */
export async function sealRawFile(job: FileJob, key: Uint8Array, layout: RawLayout = PYCRYPTODOME_LAYOUT, pool?: SealPool): Promise<void> {
  const whole = await wholeForWorker(job, pool);
  if (whole !== undefined) {
    const sealed = (await pool!.runMessage({ kind: 'raw', op: 'seal', engine: job.engine, key, layout, input: whole, name: job.input.name })) as Uint8Array;
    await writeOut(job, {}, (sink) => sink.write(sealed));
    return;
  }
  await withReader(job, (read) =>
    writeOut(job, { positional: rawSealNeedsSeek(layout) }, (sink) => sealRawIO(joinIO(read, sink), key, { engine: job.engine, layout })),
  );
}

/** Opens a raw file: on a worker of `pool` (verified there before anything is written) or streamed here into a temp file. */
export async function openRawFile(job: FileJob, key: Uint8Array, layout: RawLayout = PYCRYPTODOME_LAYOUT, pool?: SealPool): Promise<void> {
  const whole = await wholeForWorker(job, pool);
  if (whole !== undefined) {
    await writeVerified(job, (await pool!.runMessage({ kind: 'raw', op: 'open', engine: job.engine, key, layout, input: whole, name: job.input.name })) as Uint8Array);
    return;
  }
  await withPositional(job, (fd, size, name) => {
    const read = rangesReader(fd, rawReadRanges(layout, size), { name, size, onRead: job.input.kind === 'file' ? job.onBytes : undefined });
    return writeOut(job, { mode: MODE_PLAINTEXT, unverified: true }, (sink) => openRawIO(joinIO(read, sink), key, { engine: job.engine, name: job.input.name }));
  });
}

// --- sidecar: ciphertext file + <file>.json (sealcam's schema, or a reference script's) ---

/** Seals a sidecar pair: the ciphertext on a worker of `pool` when the batch runs on workers, else streamed here; then its .json. */
export async function sealSidecarFile(job: FileJob, kek: SealingKey, pool?: SealPool): Promise<void> {
  if (job.output.kind !== 'file') throw new SealcamError('EUSAGE', `--format sidecar writes two files (the ciphertext and its .json), so -o must name a file, not ${job.output.name}`);
  const output = job.output;
  const metadataPath = sidecarPath(output.path);
  let metadata: SidecarMetadata | undefined;
  const fields = { keyName: kek.name, keyVersion: kek.version, originalName: job.input.kind === 'file' ? basename(job.input.path) : 'stdin', engine: job.engine };
  const whole = await wholeForWorker(job, pool);
  if (whole !== undefined) {
    const sealed = (await pool!.runMessage({ kind: 'sidecar', op: 'seal', engine: job.engine, key: kek.key, fields, input: whole, name: job.input.name })) as SealedSidecar;
    metadata = sealed.metadata;
    await writeTarget(output, { force: job.force }, (sink: ByteSink) => sink.write(sealed.ciphertext));
  } else {
    await withReader(job, (read) =>
      writeTarget(output, { force: job.force }, async (sink: ByteSink) => {
        metadata = await sealSidecarIO(joinIO(read, sink), kek.key, fields);
      }),
    );
  }
  try {
    await writeFileAtomic(metadataPath, new TextEncoder().encode(serializeSidecarMetadata(metadata!)), { force: job.force });
  } catch (err) {
    await unlink(output.path).catch(() => undefined);
    throw err;
  }
}

/** Reads and parses a metadata file: sealcam's sidecar schema, or the nonce and tag of a reference script's. */
export async function readMetadata(path: string): Promise<AnyMetadata> {
  const input = await measureInput(path);
  if (input.kind !== 'file') throw new SealcamError('EUSAGE', 'the metadata must be a file, not stdin');
  if (input.size > MAX_METADATA_JSON) throw new SealcamError('EFORMAT', `metadata file ${path} is ${input.size} bytes, too large to be one`);
  const text = await withFile(input, (fd) => fd.readFile()).catch((err: unknown) => {
    throw fsError(err, 'read metadata file', path);
  });
  return parseAnyMetadata(text, path);
}

/** How a sidecar's key is found: by the names its metadata records, or (a reference script's metadata records none) the -k key. */
export interface SidecarKeys {
  lookup: KeyLookup;
  /** The -k key, or a one-line refusal saying it is needed. */
  fileKey: (why: string) => Uint8Array;
}

export async function openSidecarFile(job: FileJob, keys: SidecarKeys, metadataPath: string, pool?: SealPool): Promise<void> {
  const metadata = await readMetadata(metadataPath);
  const key =
    metadata.kind === 'sealcam'
      ? await keys.lookup(metadata.metadata.keyName, metadata.metadata.keyVersion)
      : keys.fileKey(`${job.input.name} is described by ${metadataPath}, which records no key name, so opening it`);
  const options = { engine: job.engine, metadataName: metadataPath };
  const whole = await wholeForWorker(job, pool);
  if (whole !== undefined) {
    await writeVerified(job, (await pool!.runMessage({ kind: 'sidecar', op: 'open', engine: job.engine, key, metadata, metadataName: metadataPath, input: whole, name: job.input.name })) as Uint8Array);
    return;
  }
  await withReader(job, (read) =>
    writeOut(job, { mode: MODE_PLAINTEXT, unverified: true }, (sink) =>
      metadata.kind === 'sealcam' ? openSidecarIO(joinIO(read, sink), key, metadata.metadata, options) : openForeignIO(joinIO(read, sink), key, metadata.metadata, options),
    ),
  );
}
