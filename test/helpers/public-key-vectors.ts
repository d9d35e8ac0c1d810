/**
 * Loading the public-key vector files (vectors/hpke-rfc9180-x25519.json and the Wycheproof
 * originals in vectors/wycheproof/) for the tests that run them. Counts are checked on load, so a
 * test that silently skipped cases would not match the file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { vectorsDir } from '../../src/paths.js';

export const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'));
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

export function readVectorJson<T>(file: string): T {
  return JSON.parse(readFileSync(join(vectorsDir, file), 'utf8')) as T;
}

export interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: 'valid' | 'invalid' | 'acceptable';
  [field: string]: unknown;
}

export interface WycheproofGroup<T extends WycheproofTest> {
  tests: T[];
  [field: string]: unknown;
}

/** Every test of a Wycheproof file with its group, after checking numberOfTests against the tests present. */
export function wycheproof<G extends WycheproofGroup<T>, T extends WycheproofTest>(file: string): { group: G; test: T }[] {
  const doc = readVectorJson<{ numberOfTests: number; testGroups: G[] }>(join('wycheproof', file));
  const all = doc.testGroups.flatMap((group) => group.tests.map((test) => ({ group, test })));
  if (all.length !== doc.numberOfTests) throw new Error(`${file}: numberOfTests ${doc.numberOfTests}, present ${all.length}`);
  return all;
}
