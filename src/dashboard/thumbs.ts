import { createHash } from 'node:crypto';
import type { Output } from '../receiver/output.js';

/**
 * Thumbnails of opened images, scaled down on the server with sharp (libvips) so the page loads a
 * few kilobytes per camera instead of full frames. The image is read through the output it was
 * published to (a directory or a store prefix: `Output.read`, which refuses names that would leave
 * it), at most MAX_SOURCE_BYTES, and used only when its SHA-256 is the one its record gives: so a
 * thumbnail shows exactly the bytes the receiver recorded, and made thumbnails can be kept by name
 * and hash in a small least-recently-used cache without asking the output again. sharp loads on
 * first use.
 */

export const THUMB_WIDTH = 320;
export const THUMB_HEIGHT = 240;
const CACHED = 256;
/** Larger images get no thumbnail: libvips would decode them, but a dashboard need not. */
const MAX_PIXELS = 16384 * 16384;
/** Nor do larger files (a camera frame is a few megabytes; a store output holds at most 256 MiB per image). */
export const MAX_SOURCE_BYTES = 64 * 1024 * 1024;

/** Where the images are: a receiver output, or anything that reads published names the same way. */
export type ImageReader = Pick<Output, 'read'>;

type Sharp = import('sharp').SharpConstructor;
let sharpModule: Promise<Sharp> | undefined;

function loadSharp(): Promise<Sharp> {
  return (sharpModule ??= import('sharp').then((m) => {
    const sharp = m.default;
    sharp.cache(false); // this module caches the results; libvips need not hold anything
    return sharp;
  }));
}

export class Thumbnails {
  private readonly cache = new Map<string, Promise<Buffer | undefined>>();

  constructor(private readonly images: ImageReader) {}

  /**
   * A JPEG thumbnail of the image published as `outputPath` whose SHA-256 is `sha256`; undefined
   * when it is missing, outside the output, too large, not those bytes or not decodable (and then
   * asked for again next time: the output may have been unreachable).
   */
  async get(outputPath: string, sha256: string): Promise<Buffer | undefined> {
    const key = `${outputPath}\0${sha256}`;
    let thumb = this.cache.get(key);
    if (thumb === undefined) {
      thumb = this.make(outputPath, sha256);
      thumb.then((made) => made === undefined && this.cache.delete(key));
    } else this.cache.delete(key); // re-inserted below: most recently used last
    this.cache.set(key, thumb);
    while (this.cache.size > CACHED) this.cache.delete(this.cache.keys().next().value!);
    return thumb;
  }

  private async make(outputPath: string, sha256: string): Promise<Buffer | undefined> {
    const bytes = await this.images.read(outputPath, MAX_SOURCE_BYTES).catch(() => undefined);
    if (bytes === undefined || createHash('sha256').update(bytes).digest('hex') !== sha256) return undefined;
    const sharp = await loadSharp();
    try {
      return await sharp(bytes, { limitInputPixels: MAX_PIXELS, failOn: 'none' })
        .rotate() // EXIF orientation
        .resize(THUMB_WIDTH, THUMB_HEIGHT, { fit: 'inside', withoutEnlargement: true })
        .flatten({ background: '#ffffff' })
        .jpeg({ quality: 78, mozjpeg: true })
        .toBuffer();
    } catch {
      return undefined; // not an image libvips can read
    }
  }
}
