import { SealcamError } from '../errors.js';
import { PUBLIC_KEY_FILES, runPublicKeyFile, type PublicKeyFile, type PublicKeyResult } from '../vectors/public-key.js';
import { parseVectorFile, runEach, x25519VectorIdentity, type FileResult } from '../vectors/run.js';

/**
 * The published vectors in a browser: every engine file of vectors/ (AES, CTR, CMAC, EAX, the
 * frozen sealed v1 and v2 files, rebuilt byte for byte and opened) on the WASM engine, and the
 * public-key files (HPKE, X25519, Ed25519) on the browser's primitives, by the same runners as
 * `sealcam vectors` and the tests. The files come from a folder served over HTTP with an
 * `index.json` that lists them (the dashboard serves /vectors/files/). v2 vectors open with their
 * x25519 identities; their RSA-OAEP identities need node:crypto and are left out here (the file
 * is still rebuilt byte for byte, stanzas included).
 */

/** `index.json`: the engine vector files, the public-key files, and every other file they name. */
export interface VectorIndex {
  engine: string[];
  publicKey: string[];
  companions: string[];
}

export interface BrowserVectorResults {
  engine: FileResult[];
  publicKey: PublicKeyResult[];
  passed: number;
  failed: number;
}

async function fetchBytes(base: URL, file: string): Promise<Uint8Array> {
  const response = await fetch(new URL(file, base));
  if (!response.ok) throw new SealcamError('EVECTORS', `vector file ${file}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

const json = (bytes: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(bytes));
const dirOf = (file: string) => file.slice(0, file.lastIndexOf('/') + 1);

/** Runs every file `baseUrl/index.json` lists; the engine must be loaded (loadEngine). */
export async function runPublishedVectors(baseUrl: string | URL, onFile?: (file: string) => void): Promise<BrowserVectorResults> {
  const base = new URL(baseUrl);
  const index = json(await fetchBytes(base, 'index.json')) as VectorIndex;
  const files = new Map<string, Uint8Array>();
  for (const file of [...index.engine, ...index.publicKey, ...index.companions]) files.set(file, await fetchBytes(base, file));
  const engine = await runEach(
    index.engine,
    (file) => {
      onFile?.(file);
      return parseVectorFile(file, json(files.get(file)!), {
        read: (name) => {
          const bytes = files.get(dirOf(file) + name);
          if (bytes === undefined) throw new SealcamError('EVECTORS', `${name} is not in the index`);
          return bytes;
        },
        identity: x25519VectorIdentity,
      });
    },
    ['wasm'],
  );
  const publicKey = index.publicKey.map((file) => {
    onFile?.(file);
    if (!(PUBLIC_KEY_FILES as readonly string[]).includes(file)) return { file, passed: 0, failed: 1, failures: [{ id: null, reason: 'not a public-key file this runner knows' }] };
    return runPublicKeyFile(file as PublicKeyFile, json(files.get(file)!));
  });
  const all = [...engine, ...publicKey];
  return { engine, publicKey, passed: all.reduce((n, r) => n + r.passed, 0), failed: all.reduce((n, r) => n + r.failed, 0) };
}
