/** A fresh temp directory, removed after the enclosing describe block (or file) has run. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Makes a fresh directory below one tempDir at each call (a test's own, so "nothing left behind" can be checked by listing it). */
export function dirMaker(prefix: string): () => string {
  const root = tempDir(prefix);
  let n = 0;
  return () => {
    const dir = join(root, `t${n++}`);
    mkdirSync(dir);
    return dir;
  };
}
