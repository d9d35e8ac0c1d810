import type { OpenOptions } from '../formats/sealed.js';
import type { KeyProvider } from './provider.js';

/**
 * The bridge between a key provider and the sealed format: a sealed header names its KEK by key
 * id and version, and opening asks the provider for exactly that version, so files sealed before
 * a rotation keep opening.
 */
export function kekFromProvider(provider: KeyProvider): OpenOptions['kek'] {
  return async (keyId, keyVersion) => (await provider.get(keyId, keyVersion)).key;
}

/** What a sealed header needs from the newest version of `name` (created on first use). */
export async function currentKek(provider: KeyProvider, name: string): Promise<{ kek: Uint8Array; keyId: string; keyVersion: string }> {
  const material = await provider.getOrCreate(name);
  return { kek: material.key, keyId: material.name, keyVersion: material.version };
}
