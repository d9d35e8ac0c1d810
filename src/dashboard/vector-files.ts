import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VectorIndex } from '../browser/vectors.js';
import { vectorsDir } from '../paths.js';
import { listVectorFiles } from '../vectors/files.js';
import { PUBLIC_KEY_FILES } from '../vectors/public-key.js';

/**
 * The published vectors as the /vectors page fetches them: an index of the files (the engine
 * files `sealcam vectors` runs, the public-key files, the frozen .sealed files they name) and each
 * listed file by its name. Only listed names are served, so a request names no other path.
 */

export interface ServedVectors {
  dir: string;
  index: VectorIndex;
  listed: ReadonlySet<string>;
}

function sealedFiles(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel)).flatMap((name) => {
    const child = rel === '' ? name : `${rel}/${name}`;
    if (statSync(join(dir, child)).isDirectory()) return sealedFiles(dir, child);
    return name.endsWith('.sealed') ? [child] : [];
  });
}

export function vectorIndex(dir: string = vectorsDir): ServedVectors {
  const index: VectorIndex = { engine: listVectorFiles(dir), publicKey: [...PUBLIC_KEY_FILES], companions: sealedFiles(dir).sort() };
  return { dir, index, listed: new Set([...index.engine, ...index.publicKey, ...index.companions]) };
}

/** A listed file's bytes, or undefined for any other name. */
export async function vectorFile(served: ServedVectors, name: string): Promise<Buffer | undefined> {
  return served.listed.has(name) ? readFile(join(served.dir, name)) : undefined;
}
