import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBackend, createEax, tagsEqual } from '../engine/eax.js';
import type { EaxState, EngineName } from '../engine/types.js';
import { AuthenticationError, InputError, SealcamError } from '../errors.js';
import { RAW_NONCE_LENGTH, RAW_OVERHEAD, RAW_TAG_LENGTH } from '../formats/raw.js';
import type { OpenOptions } from '../formats/sealed.js';
import {
  detectFormat,
  parseSidecarMetadata,
  serializeSidecarMetadata,
  sidecarMetadata,
  type SidecarMetadata,
} from '../formats/sidecar.js';
import { fileSink, fsError, writeAtomic, writeFileAtomic, writeStreamAtomic } from '../io/atomic.js';
import { fileIO, fileReader } from '../io/file-io.js';
import type { SealPool } from '../pool/pool.js';
import { chain, tap, through } from './streams.js';

/**
 * One file in, one file out, for each layout, streamed: memory stays bounded whatever the size.
 * Outputs go through the atomic writers, so an output appears only complete; opened plaintext
 * reaches only the temp file until every tag verified (the `sealed` segments as they arrive, a raw
 * or sidecar message at its end), and a failure removes the temp file.
 */

export type Layout = 'sealed' | 'raw' | 'sidecar';
export const LAYOUTS: readonly Layout[] = ['sealed', 'raw', 'sidecar'];

/** Read size per chunk: the pool's task size, so a task is one read. */
const READ_CHUNK = 1 << 20;
/** A sidecar metadata file is a few hundred bytes; anything this large is not one. */
const MAX_SIDECAR_JSON = 64 * 1024;
const MODE_PLAINTEXT = 0o600;

export interface FileJob {
  input: string;
  output: string;
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

/** The key a header or sidecar names (a fixed key file ignores the names). */
export type KeyLookup = (name: string, version: string) => Promise<Uint8Array>;

interface Input {
  fd: FileHandle;
  size: number;
}

function inputError(err: unknown, path: string): SealcamError {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new SealcamError('ENOENT', `input file ${path} not found`);
  return fsError(err, 'read input file', path);
}

function regularFile(st: Stats, path: string): number {
  if (!st.isFile()) throw new SealcamError('EINPUT', `input ${path} is not a regular file`);
  return st.size;
}

/** The size of an input, checked before any work starts. */
export async function inputSize(path: string): Promise<number> {
  try {
    return regularFile(await stat(path), path);
  } catch (err) {
    throw inputError(err, path);
  }
}

async function openInput(path: string): Promise<Input> {
  let fd: FileHandle;
  try {
    fd = await open(path, 'r');
  } catch (err) {
    throw inputError(err, path);
  }
  try {
    return { fd, size: regularFile(await fd.stat(), path) };
  } catch (err) {
    await fd.close();
    throw inputError(err, path);
  }
}

/** Runs `work` on the open input and closes it (after any read still pending). */
async function withInput<T>(path: string, work: (input: Input) => Promise<T>): Promise<T> {
  const input = await openInput(path);
  try {
    return await work(input);
  } finally {
    await input.fd.close();
  }
}

/**
 * The input from `start` to the size measured at open, in chunks (fileReader: a file that changes
 * meanwhile fails the stream). Not fs.createReadStream: see fileSink in io/atomic.ts.
 */
function readInput(job: FileJob, { fd, size }: Input, start = 0): Readable {
  const read = fileReader(fd, { name: job.input, size, start, onRead: job.onBytes });
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let left = size - start; ; ) {
      // Sized to what is left; past the end, one byte shows whether the file grew.
      const buffer = new Uint8Array(Math.min(READ_CHUNK, Math.max(left, 0)) || 1);
      const n = await read(buffer);
      if (n === 0) return;
      left -= n;
      yield buffer.subarray(0, n);
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: READ_CHUNK });
}

/** Which layout a stored file has (sealed magic, else a `.json` sidecar beside it, else raw). */
export async function detectLayout(path: string): Promise<Layout> {
  return withInput(path, async ({ fd }) => {
    const start = new Uint8Array(8);
    const { bytesRead } = await fd.read(start, 0, start.length, 0);
    return detectFormat(start.subarray(0, bytesRead), existsSync(sidecarPath(path)));
  });
}

export function sidecarPath(ciphertextPath: string): string {
  return `${ciphertextPath}.json`;
}

// --- sealed ---------------------------------------------------------------------------------------

// Through the pool's own task buffers (SealPool.sealIO/openIO), not streams: no chunk is
// allocated or copied on the main thread, which on two cores is what kept the workers waiting.

function sealedFileIO(job: FileJob, input: Input, output: FileHandle) {
  return fileIO(input.fd, output, { name: job.input, size: input.size, onRead: job.onBytes });
}

export async function sealSealedFile(job: FileJob, kek: SealingKey, pool: SealPool, segmentSize: number): Promise<void> {
  await withInput(job.input, async (input) => {
    const options = {
      kek: kek.key,
      keyId: kek.name,
      keyVersion: kek.version,
      segmentSize,
      engine: job.engine,
      metadata: { originalName: basename(job.input), originalSize: input.size },
    };
    await writeAtomic(job.output, { force: job.force }, (fd) => pool.sealIO(sealedFileIO(job, input, fd), options));
  });
}

export async function openSealedFile(job: FileJob, kek: OpenOptions['kek'], pool: SealPool): Promise<void> {
  await withInput(job.input, async (input) => {
    const write = (fd: FileHandle) => pool.openIO(sealedFileIO(job, input, fd), { kek, engine: job.engine }).then(() => undefined);
    await writeAtomic(job.output, { force: job.force, mode: MODE_PLAINTEXT }, write);
  });
}

// --- one EAX message (raw and sidecar) ----------------------------------------------------------------

/** Encrypts one message chunk by chunk; `done` receives the tag. */
function encryptMessage(key: Uint8Array, engine: EngineName, nonce: Uint8Array, done: (tag: Uint8Array) => void) {
  const eax = createEax(key, { engine });
  const encryptor = eax.start(nonce, { tagLength: 16 });
  return through((chunk) => encryptor.update(chunk), { end: () => done(encryptor.final()), cleanup: () => eax.dispose() });
}

/**
 * Decrypts one message chunk by chunk and checks the tag at the end. The plaintext passes on
 * before the tag is known, so it may only flow into a temp file that the failure removes: that
 * is why this uses the backend's message state, not EaxDecryptor (which holds all of it in memory).
 */
function decryptMessage(key: Uint8Array, engine: EngineName, nonce: Uint8Array, tag: Uint8Array, failure: () => SealcamError) {
  const backend = createBackend(key, engine);
  let state: EaxState | undefined = backend.eax(nonce);
  return through((chunk) => state!.decrypt(chunk), {
    end: () => {
      const computed = state!.tag();
      const ok = tagsEqual(computed, tag);
      computed.fill(0);
      if (!ok) throw failure();
    },
    cleanup: () => {
      state?.dispose();
      state = undefined;
      backend.dispose();
    },
  });
}

// --- raw: nonce(16) || tag(16) || ciphertext --------------------------------------------------------

export async function sealRawFile(job: FileJob, key: Uint8Array): Promise<void> {
  await withInput(job.input, async (input) => {
    const nonce = new Uint8Array(randomBytes(RAW_NONCE_LENGTH));
    let tag: Uint8Array | undefined;
    await writeAtomic(job.output, { force: job.force }, async (fd) => {
      // Nonce and a placeholder first; the tag is known only at the end and goes into its place.
      const head = new Uint8Array(RAW_OVERHEAD);
      head.set(nonce);
      await fd.write(head, 0, head.length, 0);
      const encrypt = encryptMessage(key, job.engine, nonce, (t) => (tag = t));
      await pipeline(readInput(job, input), encrypt, fileSink(fd, RAW_OVERHEAD));
      await fd.write(tag!, 0, RAW_TAG_LENGTH, RAW_NONCE_LENGTH);
    });
  });
}

export async function openRawFile(job: FileJob, key: Uint8Array): Promise<void> {
  await withInput(job.input, async (input) => {
    if (input.size < RAW_OVERHEAD) {
      throw new SealcamError(
        'EFORMAT',
        `input is ${input.size} bytes, too short to be a raw sealed file (at least ${RAW_OVERHEAD}: nonce 16 + tag 16)`,
      );
    }
    const head = new Uint8Array(RAW_OVERHEAD);
    await input.fd.read(head, 0, RAW_OVERHEAD, 0);
    const failure = () =>
      new AuthenticationError(
        `authentication failed: ${job.input} does not verify under this key as a raw file (wrong key, or the file was altered); nothing was written`,
      );
    const decrypt = decryptMessage(key, job.engine, head.subarray(0, RAW_NONCE_LENGTH), head.subarray(RAW_NONCE_LENGTH), failure);
    await writeStreamAtomic(job.output, chain(readInput(job, input, RAW_OVERHEAD), decrypt), { force: job.force, mode: MODE_PLAINTEXT });
  });
}

// --- sidecar: ciphertext file + <file>.json -----------------------------------------------------------


export async function sealSidecarFile(job: FileJob, kek: SealingKey): Promise<void> {
  const metadataPath = sidecarPath(job.output);
  await withInput(job.input, async (input) => {
    const nonce = new Uint8Array(randomBytes(16));
    let tag: Uint8Array | undefined;
    const encrypt = encryptMessage(kek.key, job.engine, nonce, (t) => (tag = t));
    const hash = createHash('sha256');
    await writeStreamAtomic(job.output, chain(readInput(job, input), encrypt, tap((chunk) => hash.update(chunk))), { force: job.force });
    try {
      const metadata = sidecarMetadata(kek.key, nonce, tag!, {
        keyName: kek.name,
        keyVersion: kek.version,
        originalName: basename(job.input),
        originalSize: input.size,
        ciphertextSha256: hash.digest('hex'),
      });
      await writeFileAtomic(metadataPath, new TextEncoder().encode(serializeSidecarMetadata(metadata)), { force: job.force });
    } catch (err) {
      await unlink(job.output).catch(() => undefined);
      throw err;
    }
  });
}

async function readSidecarMetadata(path: string): Promise<SidecarMetadata> {
  return withInput(path, async ({ fd, size }) => {
    if (size > MAX_SIDECAR_JSON) throw new SealcamError('EFORMAT', `sidecar ${path} is ${size} bytes, too large to be sidecar metadata`);
    try {
      return parseSidecarMetadata(await fd.readFile());
    } catch (err) {
      if (err instanceof SealcamError) throw new SealcamError(err.code, `${path}: ${err.message}`);
      throw fsError(err, 'read sidecar', path);
    }
  });
}

export async function openSidecarFile(job: FileJob, keyFor: KeyLookup): Promise<void> {
  const metadataPath = sidecarPath(job.input);
  const metadata = await readSidecarMetadata(metadataPath);
  const key = await keyFor(metadata.keyName, metadata.keyVersion);
  const keyBits = Number(metadata.algorithm.slice(4, 7));
  if (key.length * 8 !== keyBits) {
    throw new InputError(`wrong key: ${metadataPath} says ${metadata.algorithm} but the key is ${key.length * 8}-bit`);
  }
  await withInput(job.input, async (input) => {
    if (input.size !== metadata.originalSize) {
      throw new AuthenticationError(
        `sidecar mismatch: the ciphertext is ${input.size} bytes but ${metadataPath} says ${metadata.originalSize} (truncated, extended, or not this metadata's file)`,
      );
    }
    const hash = createHash('sha256');
    const expected = Buffer.from(metadata.ciphertextSha256, 'hex');
    const checkHash = tap((chunk) => hash.update(chunk), {
      end: () => {
        if (!timingSafeEqual(hash.digest(), expected)) {
          throw new AuthenticationError(`sidecar mismatch: the ciphertext does not match the ciphertextSha256 in ${metadataPath} (altered, or not this metadata's file)`);
        }
      },
    });
    const failure = () => new AuthenticationError('sidecar tag does not verify: wrong key, or the ciphertext, nonce or tag was altered');
    const nonce = Buffer.from(metadata.nonce, 'base64');
    const tag = Buffer.from(metadata.tag, 'base64');
    const decrypt = decryptMessage(key, job.engine, nonce, tag, failure);
    await writeStreamAtomic(job.output, chain(readInput(job, input), checkHash, decrypt), { force: job.force, mode: MODE_PLAINTEXT });
  });
}
