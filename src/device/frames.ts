import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { contentTypeOf } from '../storage/index.js';
import { InputError } from '../errors.js';
import { fsError } from '../io/atomic.js';
import { packageRoot } from '../paths.js';
import { encodePng } from './png.js';

/** What a camera hands the device: the image bytes and how to name and type them. */
export interface Frame {
  name: string;
  bytes: Uint8Array;
  contentType: string;
}

/** The committed sample images (make-samples.mjs writes them); read from the package, under src/ or dist/ alike. */
export const samplesDir = join(packageRoot, 'src', 'device', 'samples');

/** True for the file names a camera directory is expected to hold (.jpg, .png, .heic, .dng ...). */
export function isImageName(name: string): boolean {
  return contentTypeOf(name).startsWith('image/');
}

export async function sampleImages(): Promise<Frame[]> {
  let names: string[];
  try {
    names = (await readdir(samplesDir)).filter(isImageName).sort();
  } catch (err) {
    throw fsError(err, 'read sample images in', samplesDir);
  }
  if (names.length === 0) throw new InputError(`no sample images in ${samplesDir}: run node src/device/samples/make-samples.mjs`);
  return Promise.all(names.map(async (name) => ({ name, bytes: new Uint8Array(await readFile(join(samplesDir, name))), contentType: contentTypeOf(name) })));
}

export const DEFAULT_FRAME_BYTES = 64 * 1024;
const MIN_FRAME_BYTES = 1024;
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * A deterministic frame for (deviceId, index): a gradient with a bar that moves from frame to
 * frame, under noise seeded by both, so every frame differs and none compresses away. Pixels are
 * stored uncompressed, so the PNG is about `size` bytes (a little over).
 */
export function syntheticFrame(deviceId: string, index: number, size = DEFAULT_FRAME_BYTES): Frame {
  if (typeof deviceId !== 'string' || deviceId.length === 0) throw new InputError('syntheticFrame: deviceId must be a non-empty string');
  if (!Number.isSafeInteger(index) || index < 0) throw new InputError(`syntheticFrame: index must be a non-negative integer, got ${String(index)}`);
  if (!Number.isSafeInteger(size) || size < MIN_FRAME_BYTES || size > MAX_FRAME_BYTES) {
    throw new InputError(`frame size must be ${MIN_FRAME_BYTES} to ${MAX_FRAME_BYTES} bytes, got ${String(size)}`);
  }
  // Rows of 1 filter byte + 3 bytes a pixel, about square; the chunks add under 100 bytes.
  const width = Math.max(16, Math.round(Math.sqrt(size / 3)));
  const height = Math.max(16, Math.ceil((size - 100) / (1 + 3 * width)));
  let state = createHash('sha256').update(`${deviceId}\0${index}`).digest().readUInt32LE(0) || 1;
  const next = () => {
    // xorshift32: fast, and plenty for pixel noise.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const bar = (index * 7) % width;
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0, at = 0; y < height; y++) {
    for (let x = 0; x < width; x++, at += 3) {
      const noise = next();
      const lit = Math.abs(x - bar) < 4 ? 96 : 0;
      rgb[at] = Math.min(255, ((x * 255) / width + lit + (noise & 31)) | 0);
      rgb[at + 1] = Math.min(255, ((y * 255) / height + lit + ((noise >>> 8) & 31)) | 0);
      rgb[at + 2] = Math.min(255, (96 + lit + ((noise >>> 16) & 63)) | 0);
    }
  }
  const bytes = encodePng(width, height, rgb, { level: 0, text: { Software: 'sealcam synthetic frame', Source: `${deviceId} #${index}` } });
  return { name: `frame-${String(index).padStart(6, '0')}.png`, bytes, contentType: 'image/png' };
}
