import { link, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fsError } from '../io/atomic.js';
import { isImageName } from './frames.js';
import { pause } from '../retry.js';

/**
 * A camera directory: image files (.jpg, .png, .heic, .dng ...) appear in it, and each is taken
 * once complete, that is once its size and modification time have stayed unchanged for `settleMs`
 * (default 1000 ms). A writer that may pause longer than that in the middle of a file should
 * rename it in: write under a hidden name (`.x.jpg`) or a non-image extension (`x.jpg.part`), then
 * rename it to its final name; such files are never looked at before the rename.
 *
 * A file that was sent is moved into `<dir>/sent/` (or deleted with `remove`), so a restart does
 * not send it again, and files left from before a restart are sent first.
 */

export interface WatchOptions {
  signal: AbortSignal;
  /** Between directory scans; default 250 ms. */
  pollMs?: number;
  /** How long size and mtime must stay unchanged; default 1000 ms. */
  settleMs?: number;
}

export const SENT_DIR = 'sent';

/** Complete image files of `dir`, oldest first, until `signal` aborts. */
export async function* watchImages(dir: string, options: WatchOptions): AsyncGenerator<string> {
  const { signal } = options;
  const settleMs = options.settleMs ?? 1000;
  const pollMs = options.pollMs ?? 250;
  /** Size and mtime per name at the last scan: a file still growing is not taken, even where mtime is coarse. */
  const seen = new Map<string, { size: number; mtimeMs: number }>();
  /** Handed out already: a file the caller could not move away is not taken twice. */
  const taken = new Map<string, number>();
  while (!signal.aborted) {
    let names: Set<string>;
    try {
      const entries = await readdir(dir, { withFileTypes: true });
      names = new Set(entries.filter((e) => e.isFile() && !e.name.startsWith('.') && isImageName(e.name)).map((e) => e.name));
    } catch (err) {
      throw fsError(err, 'watch directory', dir);
    }
    const ready: { name: string; mtimeMs: number }[] = [];
    const now = Date.now();
    for (const name of names) {
      const info = await stat(join(dir, name)).catch(() => undefined);
      if (!info) continue; // renamed or removed since the listing
      if (taken.get(name) === info.mtimeMs) continue;
      const last = seen.get(name);
      seen.set(name, { size: info.size, mtimeMs: info.mtimeMs });
      const changed = last !== undefined && (last.size !== info.size || last.mtimeMs !== info.mtimeMs);
      if (!changed && now - info.mtimeMs >= settleMs) ready.push({ name, mtimeMs: info.mtimeMs });
    }
    for (const name of seen.keys()) if (!names.has(name)) seen.delete(name);
    for (const name of taken.keys()) if (!names.has(name)) taken.delete(name);
    ready.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const { name, mtimeMs } of ready) {
      if (signal.aborted) return;
      taken.set(name, mtimeMs);
      seen.delete(name);
      yield join(dir, name);
    }
    await pause(pollMs, signal);
  }
}

/** Moves a sent image `<dir>/<name>` into `<dir>/sent/` under a name not yet used there (never replacing a file), or deletes it. */
export async function retire(dir: string, name: string, remove: boolean): Promise<string | undefined> {
  const path = join(dir, name);
  try {
    if (!remove) {
      const sent = join(dir, SENT_DIR);
      await mkdir(sent, { recursive: true });
      const ext = extname(name);
      for (let n = 0; ; n++) {
        const target = join(sent, n === 0 ? name : `${name.slice(0, name.length - ext.length)}-${n}${ext}`);
        try {
          // link(2) fails on an existing target, where rename(2) would replace it.
          await link(path, target);
          await unlink(path);
          return target;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
      }
    }
    await unlink(path);
    return undefined;
  } catch (err) {
    throw fsError(err, remove ? 'delete sent image' : 'move sent image from', path);
  }
}
