import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { EngineName } from '../engine/types.js';
import { LocalRsaIdentity } from '../keys/rsa-oaep.js';
import { vectorsDir } from '../paths.js';
import { parseVectorFile, PUBLIC_KEY_VECTORS, runEach, VectorFormatError, x25519VectorIdentity, type FileResult, type VectorFile } from './run.js';

/** The vector files on disk (vectors/ by default) for run.ts, which reads nothing itself. */

/** Every engine vector file under `dir` (every .json but PUBLIC_KEY_VECTORS, recursively), relative, `/`-separated, sorted. */
export function listVectorFiles(dir: string = vectorsDir): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel))) {
      const child = rel === '' ? name : `${rel}/${name}`;
      if (statSync(join(dir, child)).isDirectory()) walk(child);
      else if (name.endsWith('.json') && !PUBLIC_KEY_VECTORS.includes(child)) out.push(child);
    }
  };
  walk('');
  return out.sort();
}

/**
 * Parse the vector file at `path`, named `name` in results and errors; a v2 vector's RSA recipient
 * opens with its PEM key through node:crypto. Companion files are read beside it.
 */
function loadAt(name: string, path: string): VectorFile {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new VectorFormatError(name, `cannot read: ${(err as Error).message}`);
  }
  return parseVectorFile(name, doc, {
    read: (companion) => new Uint8Array(readFileSync(join(dirname(path), companion))),
    identity: (type, fields) => x25519VectorIdentity(type, fields) ?? LocalRsaIdentity.fromPem(fields.rsaPrivateKeyPem, fields.file),
  });
}

/** Parse one file (path relative to `dir`, which names it). */
export function loadVectorFile(file: string, dir: string = vectorsDir): VectorFile {
  return loadAt(file, join(dir, file));
}

/** Run every file in `dir` on each engine; results are ordered by file, then engine. */
export function runVectors(engines: readonly EngineName[], dir: string = vectorsDir): Promise<FileResult[]> {
  return runEach(listVectorFiles(dir), (file) => loadVectorFile(file, dir), engines);
}

/** runVectors() for files of one's own (paths as given, which name them), in any of the three schemas. */
export function runVectorPaths(paths: readonly string[], engines: readonly EngineName[]): Promise<FileResult[]> {
  return runEach(paths, (path) => loadAt(path, path), engines);
}
