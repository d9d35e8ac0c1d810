import { mkdir, rmdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { SealcamError } from '../errors.js';
import type { SealedMetadata } from '../formats/sealed.js';
import { assertWritable, fsError } from '../io/atomic.js';

/**
 * Where an opened image goes: `<outputDir>/<device>/<yyyy-mm-dd>/<name>`. The name comes from the
 * verified sealed header (originalName), reduced to a plain, safe file name; the date is the
 * capture date in UTC. OutputPlacer reserves the path and its directories for one image.
 */

const MAX_NAME = 200;

/** A plain file name from untrusted text: no directories, no leading dots, only [A-Za-z0-9._-]. */
export function safeFileName(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const base = raw.split(/[\\/]/).pop() ?? '';
  let name = base.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '');
  if (!/[A-Za-z0-9]/.test(name)) return undefined;
  if (name.length > MAX_NAME) {
    const ext = extname(name).slice(0, 16);
    name = name.slice(0, MAX_NAME - ext.length) + ext;
  }
  return name;
}

/** The image's file name: the header's originalName, else the blob's base name without `.sealed`. */
export function imageName(metadata: SealedMetadata, blobName: string): string {
  const fromHeader = safeFileName(metadata.originalName);
  if (fromHeader !== undefined) return fromHeader;
  const base = blobName.slice(blobName.lastIndexOf('/') + 1);
  return safeFileName(base.replace(/\.sealed$/, '')) ?? base;
}

/** `name`, then `name-1`, `name-2`, ... before the extension: a different image never takes an existing name. */
export function withSuffix(name: string, n: number): string {
  if (n === 0) return name;
  const ext = extname(name);
  return `${name.slice(0, name.length - ext.length)}-${n}${ext}`;
}

/** The first capture time that parses, in ms since the epoch. */
function firstTime(times: unknown[]): number | undefined {
  for (const time of times) {
    const ms = typeof time === 'string' ? Date.parse(time) : NaN;
    if (!Number.isNaN(ms)) return ms;
  }
  return undefined;
}

/** yyyy-mm-dd (UTC) of the first capture time that parses, else the date in the blob name, else today. */
export function captureDay(times: unknown[], blobName: string): string {
  const ms = firstTime(times);
  if (ms !== undefined) return new Date(ms).toISOString().slice(0, 10);
  const m = /^[^/]+\/(\d{4})\/(\d{2})\/(\d{2})\//.exec(blobName);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : new Date().toISOString().slice(0, 10);
}

/** Milliseconds from capture to now, when a capture time is known. */
export function sinceCapture(times: unknown[]): number | undefined {
  const ms = firstTime(times);
  return ms === undefined ? undefined : Date.now() - ms;
}

/** An output path reserved for one image; release() once the write is over, saying whether the image was written. */
export interface Placement {
  path: string;
  release(written: boolean): Promise<void>;
}

/**
 * Where opened images go on disk: a name no other image has, on disk or in flight, in a
 * `<device>/<yyyy-mm-dd>` directory that exists while anything is written there and is removed
 * again when nothing was (a blob that failed leaves no empty directories behind).
 */
export class OutputPlacer {
  /** Paths chosen by images in flight, so two images never pick the same free name. */
  private readonly reserved = new Set<string>();
  /** Images being written under each device directory: an empty one is removed only when none is. */
  private readonly writers = new Map<string, number>();
  /** Each device directory's pending changes: creating and removing its directories never interleave. */
  private readonly deviceOps = new Map<string, Promise<void>>();

  constructor(private readonly root: string) {}

  /** Reserves `<root>/<device>/<day>/<name>` (or the first free `name-N`), creating its directory. */
  async place(deviceId: string, day: string, name: string): Promise<Placement> {
    const deviceDir = join(this.root, deviceId);
    const dir = join(deviceDir, day);
    await this.inDevice(deviceDir, async () => {
      this.writers.set(deviceDir, (this.writers.get(deviceDir) ?? 0) + 1);
      await mkdir(dir, { recursive: true }).catch((err) => {
        throw fsError(err, 'create output directory', dir);
      });
    });
    let path: string | undefined;
    const release = async (written: boolean) => {
      if (path !== undefined) this.reserved.delete(path);
      await this.inDevice(deviceDir, async () => {
        const left = (this.writers.get(deviceDir) ?? 1) - 1;
        if (left > 0) return void this.writers.set(deviceDir, left);
        this.writers.delete(deviceDir);
        if (!written) for (const d of [dir, deviceDir]) await rmdir(d).catch(() => undefined);
      });
    };
    try {
      path = await this.claim(dir, name);
    } catch (err) {
      await release(false);
      throw err;
    }
    return { path, release };
  }

  private inDevice(deviceDir: string, change: () => Promise<void>): Promise<void> {
    const next = (this.deviceOps.get(deviceDir) ?? Promise.resolve()).then(change);
    const settled = next.catch(() => undefined);
    this.deviceOps.set(deviceDir, settled);
    void settled.then(() => this.deviceOps.get(deviceDir) === settled && this.deviceOps.delete(deviceDir));
    return next;
  }

  /** The first free name among name, name-1, name-2, ... that no other image in flight has chosen. */
  private async claim(dir: string, name: string): Promise<string> {
    for (let n = 0; ; n++) {
      const candidate = join(dir, withSuffix(name, n));
      if (this.reserved.has(candidate)) continue;
      this.reserved.add(candidate);
      const taken = await pathExists(candidate).catch((err) => {
        this.reserved.delete(candidate);
        throw err;
      });
      if (!taken) return candidate;
      this.reserved.delete(candidate);
    }
  }
}

/** Whether anything (a file, a link) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  return assertWritable(path).then(
    () => false,
    (err: SealcamError) => {
      if (err.code === 'EEXIST') return true;
      throw err;
    },
  );
}
