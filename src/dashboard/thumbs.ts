import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';

/**
 * Thumbnails of opened images, scaled down on the server with sharp (libvips) so the page loads a
 * few kilobytes per camera instead of full frames. Paths come from records, so each is resolved
 * strictly inside the output root, symbolic links included. Made thumbnails are kept (keyed by
 * path, size and modification time) in a small least-recently-used cache; sharp loads on first use.
 */

export const THUMB_WIDTH = 320;
export const THUMB_HEIGHT = 240;
const CACHED = 256;
/** Larger images get no thumbnail: libvips would decode them, but a dashboard need not. */
const MAX_PIXELS = 16384 * 16384;

type Sharp = import('sharp').SharpConstructor;
let sharpModule: Promise<Sharp> | undefined;

function loadSharp(): Promise<Sharp> {
  return (sharpModule ??= import('sharp').then((m) => {
    const sharp = m.default;
    sharp.cache(false); // this module caches the results; libvips need not hold files open
    return sharp;
  }));
}

/** `relativePath` inside `root`, or undefined when it would leave it (by '..', an absolute path or a link). */
export async function pathInside(root: string, relativePath: string): Promise<string | undefined> {
  if (isAbsolute(relativePath) || relativePath.split(/[\\/]/).some((part) => part === '..' || part === '')) return undefined;
  const path = resolve(root, relativePath);
  const inside = (base: string, p: string) => {
    const rel = relative(base, p);
    return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
  };
  if (!inside(resolve(root), path)) return undefined;
  try {
    const [realRoot, realPath] = await Promise.all([realpath(root), realpath(path)]);
    return inside(realRoot, realPath) ? realPath : undefined;
  } catch {
    return undefined; // missing
  }
}

export class Thumbnails {
  private readonly cache = new Map<string, Promise<Buffer | undefined>>();

  constructor(private readonly root: string) {}

  /** A JPEG thumbnail of the image at `outputPath` (relative to the root); undefined when it is missing, outside the root or not decodable. */
  async get(outputPath: string): Promise<Buffer | undefined> {
    const path = await pathInside(this.root, outputPath);
    if (path === undefined) return undefined;
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) return undefined;
    const key = `${path}\0${info.size}\0${info.mtimeMs}`;
    let thumb = this.cache.get(key);
    if (thumb === undefined) {
      thumb = this.make(path);
      thumb.then((made) => made === undefined && this.cache.delete(key));
    } else this.cache.delete(key); // re-inserted below: most recently used last
    this.cache.set(key, thumb);
    while (this.cache.size > CACHED) this.cache.delete(this.cache.keys().next().value!);
    return thumb;
  }

  private async make(path: string): Promise<Buffer | undefined> {
    const sharp = await loadSharp();
    try {
      return await sharp(path, { limitInputPixels: MAX_PIXELS, failOn: 'none' })
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
