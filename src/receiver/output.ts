import { extname } from 'node:path';
import type { SealedMetadata } from '../formats/sealed.js';

/**
 * Where an opened image goes: `<outputDir>/<device>/<yyyy-mm-dd>/<name>`. The name comes from the
 * verified sealed header (originalName), reduced to a plain, safe file name; the date is the
 * capture date in UTC.
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
