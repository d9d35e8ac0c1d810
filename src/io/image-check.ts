import { open, type FileHandle } from 'node:fs/promises';
import { extname } from 'node:path';
import { crc32 } from 'node:zlib';
import { InputError } from '../errors.js';
import { fsError } from './atomic.js';

/**
 * Checks that an opened image is what its metadata claims: its structure (PNG chunks and CRCs,
 * JPEG markers and segments), that the claimed content type and file extension match what the
 * bytes are, and that its dimensions are within limits. The file is walked with positioned reads
 * through one small window (chunk headers, segment lengths; CRCs and JPEG scans stream through
 * it), so a 1 GiB image costs 64 KiB of memory. A bad image yields warnings, one line each, never
 * an exception: the receiver records them beside a verified image and does not refuse it.
 */

export interface ImageLimits {
  maxWidth: number;
  maxHeight: number;
}

/** 16384 pixels a side: larger than any camera frame, and the limit of the project's own PNG writer. */
export const DEFAULT_IMAGE_LIMITS: ImageLimits = { maxWidth: 16384, maxHeight: 16384 };

export interface ImageCheckOptions {
  /** The content type the metadata claims (e.g. the sealed header's contentType). */
  contentType?: string;
  /** The image's file name; its extension is checked too. */
  name?: string;
  limits?: Partial<ImageLimits>;
}

export type ImageFormat = 'png' | 'jpeg' | 'unknown';

export interface ImageCheck {
  /** What the bytes are. */
  format: ImageFormat;
  width?: number;
  height?: number;
  /** Empty when the image is well-formed, of the claimed type and within the limits. */
  warnings: string[];
}

const WINDOW = 64 * 1024;

/** A structural problem: ends the walk, becomes one warning. */
class Malformed extends Error {}

/** Text from the file or its metadata, quoted and cut short, so a warning stays one harmless line. */
const quote = (text: string) => JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
const hex = (n: number, digits = 2) => `0x${n.toString(16).toUpperCase().padStart(digits, '0')}`;

/** What the walk reads from: an open file, or an image already in memory. */
interface PositionedSource {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

function memorySource(bytes: Uint8Array): PositionedSource {
  return {
    async read(buffer, offset, length, position) {
      const piece = bytes.subarray(position, position + length);
      buffer.set(piece, offset);
      return { bytesRead: piece.length };
    },
  };
}

/** Positioned reads through one reused buffer. */
class Window {
  private readonly buffer = new Uint8Array(WINDOW);
  private start = 0;
  private filled = 0;

  constructor(
    private readonly fd: PositionedSource,
    readonly size: number,
  ) {}

  /** `length` (at most WINDOW) bytes at `offset`, valid until the next call; fewer at the end of the file. */
  async at(offset: number, length: number): Promise<Uint8Array> {
    if (offset < this.start || offset + length > this.start + this.filled) {
      this.start = offset;
      this.filled = 0;
      const want = Math.min(WINDOW, this.size - offset);
      while (this.filled < want) {
        const { bytesRead } = await this.fd.read(this.buffer, this.filled, want - this.filled, offset + this.filled);
        if (bytesRead === 0) break;
        this.filled += bytesRead;
      }
    }
    const from = offset - this.start;
    return this.buffer.subarray(from, Math.min(from + length, this.filled));
  }

  /** Exactly `length` bytes at `offset`, or a Malformed error that says what was cut short. */
  async exactly(offset: number, length: number, what: string): Promise<Uint8Array> {
    const bytes = await this.at(offset, length);
    if (bytes.length < length) throw new Malformed(`truncated: the file ends inside ${what} at byte ${offset}`);
    return bytes;
  }
}

const u16 = (b: Uint8Array, i: number) => (b[i]! << 8) | b[i + 1]!;
const u32 = (b: Uint8Array, i: number) => ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;

interface Dimensions {
  width?: number;
  height?: number;
}

// --- PNG -----------------------------------------------------------------------------------------

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const PNG_CRITICAL = new Set(['IHDR', 'PLTE', 'IDAT', 'IEND']);
/** Bit depths allowed for each colour type (PNG specification, table 11.1). */
const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
const PNG_MAX = 2 ** 31 - 1;

function checkIhdr(data: Uint8Array, dims: Dimensions): number {
  const width = u32(data, 0);
  const height = u32(data, 4);
  const [depth, colour, compression, filter, interlace] = data.subarray(8, 13);
  if (width === 0 || height === 0 || width > PNG_MAX || height > PNG_MAX) throw new Malformed(`IHDR gives an impossible size ${width}x${height}`);
  if (!PNG_DEPTHS[colour!]?.includes(depth!)) throw new Malformed(`IHDR has bit depth ${depth} with colour type ${colour}, which PNG does not allow`);
  if (compression !== 0 || filter !== 0 || (interlace !== 0 && interlace !== 1)) {
    throw new Malformed(`IHDR has compression ${compression}, filter ${filter}, interlace ${interlace} (PNG defines 0, 0, 0 or 1)`);
  }
  dims.width = width;
  dims.height = height;
  return colour!;
}

/** The CRC of a chunk's type and data, streamed through the window. */
async function chunkCrc(win: Window, offset: number, length: number): Promise<number> {
  let crc = crc32(await win.exactly(offset + 4, 4, 'a chunk type'));
  for (let done = 0; done < length; ) {
    const piece = await win.exactly(offset + 8 + done, Math.min(WINDOW, length - done), 'chunk data');
    crc = crc32(piece, crc);
    done += piece.length;
  }
  return crc;
}

async function walkPng(win: Window, dims: Dimensions, warnings: string[]): Promise<void> {
  let offset = PNG_SIGNATURE.length;
  let colour = -1;
  let chunks = 0;
  let idat = false;
  let plte = false;
  while (offset < win.size) {
    const head = await win.exactly(offset, 8, 'a chunk header');
    const length = u32(head, 0);
    const typeBytes = head.subarray(4, 8);
    if (!typeBytes.every((c) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a))) {
      throw new Malformed(`the chunk at byte ${offset} has an invalid type ${hex(u32(typeBytes, 0), 8)}`);
    }
    const type = Buffer.from(typeBytes).toString('latin1');
    if (length > PNG_MAX) throw new Malformed(`the ${type} chunk at byte ${offset} claims ${length} bytes, more than PNG allows`);
    const end = offset + 12 + length;
    if (end > win.size) throw new Malformed(`truncated: the ${type} chunk at byte ${offset} needs ${end - offset} bytes, the file ends after ${win.size - offset}`);
    if (chunks === 0 && type !== 'IHDR') throw new Malformed(`the first chunk is ${type}, not IHDR`);
    if (chunks > 0 && type === 'IHDR') throw new Malformed(`a second IHDR chunk at byte ${offset}`);

    const crc = await chunkCrc(win, offset, length);
    const stored = u32(await win.exactly(end - 4, 4, 'a chunk CRC'), 0);
    if (crc !== stored) throw new Malformed(`the ${type} chunk at byte ${offset} has a bad CRC (stored ${hex(stored, 8)}, computed ${hex(crc, 8)})`);

    if (type === 'IHDR') {
      if (length !== 13) throw new Malformed(`IHDR is ${length} bytes long, not 13`);
      colour = checkIhdr(await win.exactly(offset + 8, 13, 'IHDR'), dims);
    } else if (type === 'IDAT') idat = true;
    else if (type === 'PLTE') plte = true;
    else if (type === 'IEND') {
      if (length !== 0) throw new Malformed(`IEND has ${length} bytes of data, not 0`);
      if (end < win.size) throw new Malformed(`${win.size - end} bytes after IEND`);
      if (!idat) throw new Malformed('no IDAT chunk: the image has no pixel data');
      if (colour === 3 && !plte) throw new Malformed('a palette image without a PLTE chunk');
      return;
    } else if (!PNG_CRITICAL.has(type) && type.charCodeAt(0) < 0x61) {
      warnings.push(`unknown critical chunk ${type} at byte ${offset}: decoders must refuse the image`);
    }
    chunks++;
    offset = end;
  }
  throw new Malformed('truncated: no IEND chunk');
}

// --- JPEG ----------------------------------------------------------------------------------------

/** Start-of-frame markers (SOF0-SOF15 without DHT, JPG and DAC). */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
/** Markers without a length: TEM, RST0-RST7 (SOI and EOI are handled apart). */
const isStandalone = (m: number) => m === 0x01 || (m >= 0xd0 && m <= 0xd7);

/** The offset of the marker that ends the entropy-coded data starting at `offset` (0xFF not followed by 0x00, a fill 0xFF or an RST). */
async function scanEnd(win: Window, offset: number, scanStart: number): Promise<number> {
  let at = offset;
  for (;;) {
    const bytes = await win.at(at, WINDOW);
    if (bytes.length < 2) throw new Malformed(`no EOI: the file ends inside the scan that starts at byte ${scanStart}`);
    const ff = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length - 1).indexOf(0xff);
    if (ff < 0) {
      at += bytes.length - 1;
      continue;
    }
    const next = bytes[ff + 1]!;
    if (next !== 0x00 && next !== 0xff && !(next >= 0xd0 && next <= 0xd7)) return at + ff;
    at += ff + 1;
  }
}

async function walkJpeg(win: Window, dims: Dimensions): Promise<void> {
  let offset = 2; // after SOI
  let sof = false;
  let scans = 0;
  while (offset < win.size) {
    let head = await win.exactly(offset, 2, 'a marker');
    if (head[0] !== 0xff) throw new Malformed(`expected a marker at byte ${offset}, found ${hex(head[0]!)}`);
    while (head[1] === 0xff) head = await win.exactly(++offset, 2, 'a marker'); // fill bytes
    const marker = head[1]!;
    const name = hex(0xff00 | marker, 4);
    if (marker === 0xd9) {
      if (!sof) throw new Malformed('no SOF (frame header) before EOI');
      if (scans === 0) throw new Malformed('no SOS (scan) before EOI: the image has no pixel data');
      const end = offset + 2;
      if (end < win.size) throw new Malformed(`${win.size - end} bytes after EOI`);
      return;
    }
    if (marker === 0x00 || marker === 0xd8) throw new Malformed(`unexpected marker ${name} at byte ${offset}`);
    if (isStandalone(marker)) {
      offset += 2;
      continue;
    }
    const length = u16(await win.exactly(offset + 2, 2, `the length of segment ${name}`), 0);
    if (length < 2) throw new Malformed(`segment ${name} at byte ${offset} has an impossible length ${length}`);
    const end = offset + 2 + length;
    if (end > win.size) throw new Malformed(`truncated: segment ${name} at byte ${offset} needs ${length + 2} bytes, the file ends after ${win.size - offset}`);
    if (isSof(marker)) {
      const frame = await win.exactly(offset + 4, Math.min(length - 2, 6), `frame header ${name}`);
      const components = frame[5] ?? 0;
      if (length !== 8 + 3 * components || components === 0) throw new Malformed(`frame header ${name} at byte ${offset} has length ${length} for ${components} components`);
      if (!sof) {
        dims.height = u16(frame, 1);
        dims.width = u16(frame, 3);
        if (dims.width === 0) throw new Malformed(`frame header ${name} gives width 0`);
      }
      sof = true;
    }
    if (marker === 0xda) {
      if (!sof) throw new Malformed(`a scan (SOS) at byte ${offset} before any frame header (SOF)`);
      scans++;
      offset = await scanEnd(win, end, offset);
      continue;
    }
    offset = end;
  }
  throw new Malformed('truncated: no EOI marker');
}

// --- Claims --------------------------------------------------------------------------------------

const FORMAT_NAMES: Record<ImageFormat, string> = { png: 'a PNG', jpeg: 'a JPEG', unknown: 'neither PNG nor JPEG' };

/** The format a content type claims (parameters and case ignored), if it is one we check. */
function claimedByType(contentType: string): ImageFormat | undefined {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'image/png') return 'png';
  if (type === 'image/jpeg' || type === 'image/jpg' || type === 'image/pjpeg') return 'jpeg';
  return undefined;
}

function claimedByName(name: string): ImageFormat | undefined {
  const ext = extname(name).toLowerCase();
  if (ext === '.png') return 'png';
  if (ext === '.jpg' || ext === '.jpeg' || ext === '.jpe' || ext === '.jfif') return 'jpeg';
  return undefined;
}

function detect(head: Uint8Array): ImageFormat {
  if (head.length >= 8 && PNG_SIGNATURE.every((b, i) => head[i] === b)) return 'png';
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  return 'unknown';
}

function claimWarnings(format: ImageFormat, options: ImageCheckOptions): string[] {
  const warnings: string[] = [];
  const is = FORMAT_NAMES[format];
  if (options.contentType !== undefined) {
    const claimed = claimedByType(options.contentType);
    // A type we do not check (image/webp) is only a mismatch when the bytes are one we do.
    if (claimed !== undefined ? claimed !== format : format !== 'unknown') warnings.push(`content type ${quote(options.contentType)} does not match the file, which is ${is}`);
  }
  if (options.name !== undefined) {
    const claimed = claimedByName(options.name);
    if (claimed !== undefined && claimed !== format) warnings.push(`the name ${quote(options.name)} does not match the file, which is ${is}`);
  }
  return warnings;
}

function limitsFrom(options: ImageCheckOptions): ImageLimits {
  const limits = { ...DEFAULT_IMAGE_LIMITS, ...options.limits };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new InputError(`image limit ${key} must be a positive integer, got ${String(value)}`);
  }
  return limits;
}

/**
 * Checks the image at `path`, or the image `bytes` in memory (an image bound for an object
 * store); see the module comment. Throws only for invalid options.
 */
export async function checkImage(image: string | Uint8Array, options: ImageCheckOptions = {}): Promise<ImageCheck> {
  const limits = limitsFrom(options);
  if (image instanceof Uint8Array) return walk(memorySource(image), image.length, limits, options, (err) => String((err as Error)?.message ?? err));
  let fd: FileHandle;
  try {
    fd = await open(image, 'r');
  } catch (err) {
    return { format: 'unknown', warnings: [`could not check the image: ${fsError(err, 'read', image).message}`] };
  }
  try {
    return await walk(fd, (await fd.stat()).size, limits, options, (err) => fsError(err, 'read', image).message);
  } finally {
    await fd.close();
  }
}

async function walk(source: PositionedSource, size: number, limits: ImageLimits, options: ImageCheckOptions, describe: (err: unknown) => string): Promise<ImageCheck> {
  const result: ImageCheck = { format: 'unknown', warnings: [] };
  try {
    const win = new Window(source, size);
    if (win.size === 0) return { format: 'unknown', warnings: ['the file is empty'] };
    result.format = detect(await win.at(0, 8));
    result.warnings.push(...claimWarnings(result.format, options));
    if (result.format === 'unknown') return result;
    try {
      if (result.format === 'png') await walkPng(win, result, result.warnings);
      else await walkJpeg(win, result);
    } catch (err) {
      if (!(err instanceof Malformed)) throw err;
      result.warnings.push(`malformed ${result.format === 'png' ? 'PNG' : 'JPEG'}: ${err.message}`);
    }
    if (result.width !== undefined && result.width > limits.maxWidth) result.warnings.push(`width ${result.width} exceeds the limit of ${limits.maxWidth}`);
    if (result.height !== undefined && result.height > limits.maxHeight) result.warnings.push(`height ${result.height} exceeds the limit of ${limits.maxHeight}`);
    return result;
  } catch (err) {
    result.warnings.push(`could not check the image: ${describe(err)}`);
    return result;
  }
}
