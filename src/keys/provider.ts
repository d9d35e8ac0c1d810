/** Where key-encryption keys can live. */
export const KEY_PROVIDER_KINDS = ['local', 'azure-keyvault'] as const;
export type KeyProviderKind = (typeof KEY_PROVIDER_KINDS)[number];

/**
 * Where key-encryption keys (KEKs) live. A key has a name and numbered versions; sealed files
 * record the name and version they were sealed under, so after a rotation new files use the new
 * version and every old file still opens. Key bytes never appear in logs, errors or metadata.
 */
export interface KeyVersion {
  name: string;
  /** Provider-assigned version id (a number for `local`, Key Vault's secret version id for Azure). */
  version: string;
  createdOn?: Date;
  enabled?: boolean;
}

export interface KeyMaterial extends KeyVersion {
  key: Uint8Array;
}

export interface KeyProvider {
  readonly kind: string;
  /** The newest enabled version of `name`, created (16 random bytes by default) if none exists. */
  getOrCreate(name: string, options?: { bits?: 128 | 192 | 256 }): Promise<KeyMaterial>;
  /** A given version (as recorded in a sealed header); refuses an unknown one with a clear error. */
  get(name: string, version: string): Promise<KeyMaterial>;
  /** Generate and store a new version (rotation); it becomes the newest. */
  rotate(name: string, options?: { bits?: 128 | 192 | 256 }): Promise<KeyMaterial>;
  /** All versions, newest first, without key material. */
  list(name: string): Promise<KeyVersion[]>;
}
