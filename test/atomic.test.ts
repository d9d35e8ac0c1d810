import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeStaleTemps, tempPathFor } from '../src/io/atomic.js';

const root = mkdtempSync(join(tmpdir(), 'sealcam-atomic-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('removeStaleTemps', () => {
  it('removes the temp files a killed writer left for one target, and nothing else', async () => {
    const dir = mkdtempSync(join(root, 't'));
    const target = join(dir, 'photo.jpg');
    const stale = [tempPathFor(target), tempPathFor(target)];
    const keep = [target, join(dir, '.photo.jpg.meta.json'), tempPathFor(join(dir, 'other.jpg')), join(dir, '.photo.jpg.123.tmp')];
    for (const f of [...stale, ...keep]) writeFileSync(f, 'x');
    await removeStaleTemps(target);
    expect(readdirSync(dir).sort()).toEqual(keep.map((f) => f.slice(dir.length + 1)).sort());
  });

  it('is quiet when the directory does not exist', async () => {
    await expect(removeStaleTemps(join(root, 'missing', 'photo.jpg'))).resolves.toBeUndefined();
  });
});
