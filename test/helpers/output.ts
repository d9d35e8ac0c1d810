import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The files of a receiver's output directory, as paths relative to it, sorted. The fleet records
 * the receivers keep in `.sealcam/records` and `.sealcam/receivers` are left out unless asked for;
 * anything else hidden (staging a receiver left behind) is listed, since nothing stray may stay.
 */
export function outputFiles(dir: string, options: { records?: boolean } = {}): string[] {
  if (!existsSync(dir)) return [];
  const records = [join('.sealcam', 'records'), join('.sealcam', 'receivers')];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .filter((f) => options.records === true || !records.some((r) => f.startsWith(r)))
    .sort();
}
