import { webcrypto } from 'node:crypto';
import { refuseConfig, type SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';
import type { LocalKeyOptions } from './local.js';
import type { KeyProvider } from './provider.js';

/**
 * The key provider named by the configuration. Both providers are loaded on demand: the Azure one
 * pulls in the Azure SDK, which a device using local keys should never pay for at start-up.
 */
export async function createKeyProvider(config: SealcamConfig, options: LocalKeyOptions = {}): Promise<KeyProvider> {
  refuseConfig(config, ['keys']);
  if (config.keys.provider === 'azure-keyvault') {
    const { AzureKeyVaultProvider } = await import('./azure.js');
    return new AzureKeyVaultProvider({ vaultUrl: config.keys.vaultUrl! });
  }
  const { LocalKeyProvider } = await import('./local.js');
  return new LocalKeyProvider(config.keys.dir, options);
}

export type KeyBits = 128 | 192 | 256;

/** The key length in bytes for `bits` (128 unless told); refuses any other size. */
export function keyLength(bits: unknown = 128): 16 | 24 | 32 {
  if (bits !== 128 && bits !== 192 && bits !== 256) {
    throw new SealcamError('EINPUT', `key size must be 128, 192 or 256 bits, got ${String(bits)}`);
  }
  return (bits / 8) as 16 | 24 | 32;
}

/** A fresh random key, shared by both providers. */
export function generateKey(bits?: KeyBits): Uint8Array {
  // getRandomValues fills our own array: no intermediate Buffer left holding a copy of the key.
  return webcrypto.getRandomValues(new Uint8Array(keyLength(bits)));
}
