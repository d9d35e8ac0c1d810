import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { SealcamError } from '../errors.js';
import { MAGIC, parseHeader, peekHeaderLength, type SealedHeader, type SealedMetadata } from '../formats/sealed.js';
import { detectFormat } from '../formats/sidecar.js';
import { fsError } from '../io/atomic.js';
import { checkName, contentTypeOf, datedPrefix } from '../storage/index.js';

/**
 * What `sealcam upload` will do with each file, decided before any upload starts: whether it is
 * sealed already (it starts with the sealed magic) or is sealed on the way, its blob name
 * `<device>/<yyyy>/<mm>/<dd>/<name>.sealed` (date of the capture time, in UTC), and the metadata
 * for the sealed header and for the blob. Blob metadata holds only format, device and capture time.
 */

export interface UploadInput {
  path: string;
  /** The name the blob and header take (default: the file's base name); stdin's is --name. */
  name?: string;
  /** A spool of ours (stdin sealed on arrival): moved into the outbox, or removed once stored. */
  temporary?: boolean;
  /** Bytes on disk: plaintext to seal, or the sealed file as it is. */
  size: number;
  /** The parsed (not yet verified) header of a file that is sealed already. */
  sealed?: SealedHeader;
  device: string;
  /** ISO 8601, UTC. */
  captureTime: string;
  blobName: string;
}

const DEVICE = /^[A-Za-z0-9._-]{1,64}$/;

/** `--capture-time`: any date Date understands, normalised to ISO 8601 UTC. */
export function parseCaptureTime(text: string): string {
  const time = new Date(text);
  if (Number.isNaN(time.getTime())) throw new SealcamError('EUSAGE', `--capture-time ${JSON.stringify(text)} is not a date: use ISO 8601, e.g. 2024-05-01T12:30:00Z`);
  return time.toISOString();
}

function validTime(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}

/** A file name as one blob-name segment: characters the stores do not share become '_'. */
function blobBaseName(path: string): string {
  return basename(path).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_');
}

export function blobNameFor(device: string, captureTime: string, path: string, alreadySealed: boolean): string {
  const base = blobBaseName(path);
  return checkName(`${datedPrefix(device, new Date(captureTime))}${alreadySealed && base.endsWith('.sealed') ? base : `${base}.sealed`}`);
}

/** The sealed header of `path` when the file starts with the sealed magic; refuses a damaged one. */
async function readSealedHeader(path: string, start: Uint8Array, file: FileHandle): Promise<SealedHeader | undefined> {
  if (detectFormat(start, false) !== 'sealed') return undefined;
  try {
    const header = new Uint8Array(peekHeaderLength(start));
    const { bytesRead } = await file.read(header, 0, header.length, 0);
    return parseHeader(header.subarray(0, bytesRead));
  } catch (err) {
    if (err instanceof SealcamError && err.code === 'EFORMAT') {
      throw new SealcamError('EFORMAT', `${path} starts like a sealed file but its header is damaged (${err.message}); nothing was uploaded`);
    }
    throw fsError(err, 'read input file', path);
  }
}

export interface PlanOptions {
  device: string;
  /** The name for the blob instead of the file's (stdin, sealed into a spool first). */
  name?: string;
  /** From --capture-time; otherwise a sealed header's capture time, otherwise the file's mtime. */
  captureTime?: string;
}

/**
 * Inspects `path`. A file sealed elsewhere keeps the device and capture time its header records
 * (when they are valid); a file sealed here takes `options.device`.
 */
export async function planUpload(path: string, options: PlanOptions): Promise<UploadInput> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SealcamError('ENOENT', `input file ${path} not found`);
    throw fsError(err, 'read input file', path);
  }
  try {
    const info = await file.stat();
    if (!info.isFile()) throw new SealcamError('EINPUT', `${path} is not a regular file`);
    const start = new Uint8Array(16);
    const { bytesRead } = await file.read(start, 0, start.length, 0);
    const sealed = bytesRead >= MAGIC.length ? await readSealedHeader(path, start.subarray(0, bytesRead), file) : undefined;
    const recorded: SealedMetadata = sealed?.metadata ?? {};
    const device = typeof recorded.deviceId === 'string' && DEVICE.test(recorded.deviceId) ? recorded.deviceId : options.device;
    const captureTime = options.captureTime ?? validTime(recorded.captureTime) ?? info.mtime.toISOString();
    const name = options.name ?? path;
    return { path, name: options.name, size: info.size, sealed, device, captureTime, blobName: blobNameFor(device, captureTime, name, sealed !== undefined) };
  } catch (err) {
    throw fsError(err, 'read input file', path);
  } finally {
    await file.close();
  }
}

/** Two inputs with one blob name would overwrite each other: refuse the batch before it starts. */
export function refuseCollisions(inputs: UploadInput[]): void {
  const seen = new Map<string, string>();
  for (const input of inputs) {
    const other = seen.get(input.blobName);
    if (other !== undefined) throw new SealcamError('EINPUT', `${other} and ${input.path} would both be stored as ${input.blobName}; upload them separately or rename one`);
    seen.set(input.blobName, input.path);
  }
}

/** The sealed header's public (authenticated) metadata for a file sealed here. */
export function headerMetadata(input: UploadInput): SealedMetadata {
  const name = basename(input.name ?? input.path);
  return { contentType: contentTypeOf(name), originalSize: input.size, deviceId: input.device, captureTime: input.captureTime, originalName: name };
}

/** The blob's metadata: non-secret fields only. */
export function blobMetadata(input: UploadInput): Record<string, string> {
  return { format: 'sealed', device: input.device, capture_time: input.captureTime };
}
