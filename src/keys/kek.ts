import type { KeyProvider } from './provider.js';

/**
 * The bridge between a key provider and the sealed format: a sealed header names its KEK by key
 * id and version, and opening asks the provider for exactly that version, so files sealed before
 * a rotation keep opening. KekCache (cache.ts) keeps what these fetch.
 */

/** What a new sealed header needs: the key, and the name and version it records. */
export interface CurrentKek {
  kek: Uint8Array;
  keyId: string;
  keyVersion: string;
}

/** A lookup of the version a header names, for the sealed format's OpenOptions.kek. */
export function kekFromProvider(provider: KeyProvider): (keyId: string, keyVersion: string) => Promise<Uint8Array> {
  return async (keyId, keyVersion) => (await provider.get(keyId, keyVersion)).key;
}

/** The newest version of `name` (created on first use). */
export async function currentKek(provider: KeyProvider, name: string): Promise<CurrentKek> {
  const material = await provider.getOrCreate(name);
  return { kek: material.key, keyId: material.name, keyVersion: material.version };
}
