import { crc32, deflateSync } from 'node:zlib';

/**
 * A minimal PNG writer (8-bit truecolour, no interlace), enough for synthetic camera frames and
 * the committed sample images (src/device/samples/make-samples.mjs uses it from the build).
 */

const SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(Buffer.from(type, 'latin1'), 4);
  out.set(data, 8);
  // The CRC covers the type and the data, not the length.
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

export interface PngOptions {
  /** zlib level: 0 stores the pixels (the file size is then known in advance), 9 compresses hardest. */
  level?: number;
  /** tEXt entries (Latin-1), e.g. { Software: 'sealcam' }. */
  text?: Record<string, string>;
}

/** Encodes `rgb` (width * height * 3 bytes, rows top to bottom) as a PNG. */
export function encodePng(width: number, height: number, rgb: Uint8Array, options: PngOptions = {}): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 1 << 14 || height > 1 << 14) {
    throw new RangeError(`PNG size ${width}x${height} is out of range (1 to 16384 pixels a side)`);
  }
  const stride = width * 3;
  if (rgb.length !== stride * height) throw new RangeError(`PNG pixels: expected ${stride * height} bytes, got ${rgb.length}`);
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, truecolour, deflate, adaptive filtering, no interlace
  // Filter type 0 (none) on every row: simple, and exact for level 0.
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const texts = Object.entries(options.text ?? {}).map(([k, v]) => chunk('tEXt', Buffer.from(`${k}\0${v}`, 'latin1')));
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), ...texts, chunk('IDAT', deflateSync(raw, { level: options.level ?? 9 })), chunk('IEND', new Uint8Array(0))]);
}
