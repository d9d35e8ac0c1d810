import { existsSync, type Stats } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import type { EngineName } from '../engine/types.js';
import { SealcamError } from '../errors.js';
import { openRawIO, sealRawIO } from '../formats/raw.js';
import type { KekSealing, OpenOptions, RecipientSealing } from '../formats/sealed.js';
import { detectFormat, openSidecarIO, parseSidecarMetadata, sealSidecarIO, serializeSidecarMetadata, type SidecarMetadata } from '../formats/sidecar.js';
import { fsError, writeAtomic, writeFileAtomic } from '../io/atomic.js';
import { fileIO } from '../io/file-io.js';
import type { SealPool } from '../pool/pool.js';

/**
 * One file in, one file out, for each layout: the files are opened and measured here, and the
 * format modules stream between them (fileIO), so memory stays bounded whatever the size.
 * Outputs go through writeAtomic, so an output appears only complete; opened plaintext reaches
 * only the temp file until every tag verified (the `sealed` segments as they arrive, a raw or
 * sidecar message at its end), and a failure removes the temp file.
 */

export type Layout = 'sealed' | 'raw' | 'sidecar';
export const LAYOUTS: readonly Layout[] = ['sealed', 'raw', 'sidecar'];

/** A sidecar metadata file is a few hundred bytes; anything this large is not one. */
const MAX_SIDECAR_JSON = 64 * 1024;
const MODE_PLAINTEXT = 0o600;

export interface FileJob {
  input: string;
  /** The input's size as measured before any work started: reads that find another size fail (ECHANGED). */
  size: number;
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

/** How a new sealed file's header holds its key: a KEK with its name (v1), or the recipients' wrap with the signer (v2). */
export type HeaderKeys = Pick<KekSealing, 'kek' | 'keyId' | 'keyVersion'> | Pick<RecipientSealing, 'wrap' | 'signer' | 'deviceId'>;

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

/**
 * Runs `work` on the input, open for reading, and closes it (after any read still pending).
 * `size` is what inputSize measured; without it the open file is measured.
 */
async function withInput<T>(path: string, size: number | undefined, work: (input: Input) => Promise<T>): Promise<T> {
  let fd: FileHandle;
  try {
    fd = await open(path, 'r');
  } catch (err) {
    throw inputError(err, path);
  }
  try {
    let measured = size;
    if (measured === undefined) {
      try {
        measured = regularFile(await fd.stat(), path);
      } catch (err) {
        throw inputError(err, path);
      }
    }
    return await work({ fd, size: measured });
  } finally {
    await fd.close();
  }
}

/** Which layout a stored file has (sealed magic, else a `.json` sidecar beside it, else raw). */
export async function detectLayout(path: string): Promise<Layout> {
  return withInput(path, 0, async ({ fd }) => {
    const start = new Uint8Array(8);
    const { bytesRead } = await fd.read(start, 0, start.length, 0);
    return detectFormat(start.subarray(0, bytesRead), existsSync(sidecarPath(path)));
  });
}

export function sidecarPath(ciphertextPath: string): string {
  return `${ciphertextPath}.json`;
}

/** The input to the output, reads checked against the size measured at open. */
function filesIO(job: FileJob, input: Input, output: FileHandle) {
  return fileIO(input.fd, output, { name: job.input, size: input.size, onRead: job.onBytes });
}

// --- sealed: through the pool's own task buffers, so no chunk is allocated or copied on the main thread ---

export async function sealSealedFile(job: FileJob, keys: HeaderKeys, pool: SealPool, segmentSize: number): Promise<void> {
  await withInput(job.input, job.size, async (input) => {
    const options = {
      ...keys,
      segmentSize,
      engine: job.engine,
      metadata: { originalName: basename(job.input), originalSize: input.size },
    };
    await writeAtomic(job.output, { force: job.force }, (fd) => pool.sealIO(filesIO(job, input, fd), options));
  });
}

export async function openSealedFile(job: FileJob, keys: Pick<OpenOptions, 'kek' | 'fileKey' | 'trust'>, pool: SealPool): Promise<void> {
  await withInput(job.input, job.size, async (input) => {
    const write = (fd: FileHandle) => pool.openIO(filesIO(job, input, fd), { ...keys, engine: job.engine }).then(() => undefined);
    await writeAtomic(job.output, { force: job.force, mode: MODE_PLAINTEXT }, write);
  });
}

// --- raw: nonce(16) || tag(16) || ciphertext ---

export async function sealRawFile(job: FileJob, key: Uint8Array): Promise<void> {
  await withInput(job.input, job.size, (input) => writeAtomic(job.output, { force: job.force }, (fd) => sealRawIO(filesIO(job, input, fd), key, { engine: job.engine })));
}

export async function openRawFile(job: FileJob, key: Uint8Array): Promise<void> {
  await withInput(job.input, job.size, (input) =>
    writeAtomic(job.output, { force: job.force, mode: MODE_PLAINTEXT }, (fd) => openRawIO(filesIO(job, input, fd), key, { engine: job.engine, name: job.input })),
  );
}

// --- sidecar: ciphertext file + <file>.json ---

export async function sealSidecarFile(job: FileJob, kek: SealingKey): Promise<void> {
  const metadataPath = sidecarPath(job.output);
  await withInput(job.input, job.size, async (input) => {
    let metadata: SidecarMetadata | undefined;
    const fields = { keyName: kek.name, keyVersion: kek.version, originalName: basename(job.input), engine: job.engine };
    await writeAtomic(job.output, { force: job.force }, async (fd) => {
      metadata = await sealSidecarIO(filesIO(job, input, fd), kek.key, fields);
    });
    try {
      await writeFileAtomic(metadataPath, new TextEncoder().encode(serializeSidecarMetadata(metadata!)), { force: job.force });
    } catch (err) {
      await unlink(job.output).catch(() => undefined);
      throw err;
    }
  });
}

async function readSidecarMetadata(path: string): Promise<SidecarMetadata> {
  return withInput(path, undefined, async ({ fd, size }) => {
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
  await withInput(job.input, job.size, (input) =>
    writeAtomic(job.output, { force: job.force, mode: MODE_PLAINTEXT }, (fd) =>
      openSidecarIO(filesIO(job, input, fd), key, metadata, { engine: job.engine, metadataName: metadataPath }),
    ),
  );
}
