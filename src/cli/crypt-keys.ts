import { basename, extname } from 'node:path';
import type { SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';
import { KekCache } from '../keys/cache.js';
import { createKeyProvider } from '../keys/index.js';
import { readKeyFile } from '../keys/keyfile.js';
import type { KeyLookup, SealingKey } from './layouts.js';
import { announceCreatedKey } from './output.js';

/**
 * Where `encrypt` and `decrypt` get their keys: a key file (-k), or else the configured key
 * provider through a KekCache, so a batch of a hundred files reads its key once, and every key is
 * wiped when the run ends.
 */
export class CryptKeys {
  private readonly cache: KekCache;
  private readonly keyName: string;

  private constructor(
    config: SealcamConfig,
    private readonly file?: { key: Uint8Array; name: string; path: string },
  ) {
    this.cache = new KekCache(() => createKeyProvider(config, { onCreated: announceCreatedKey }));
    this.keyName = config.keys.name;
  }

  /**
   * With a key file, files are sealed under the name `keyName` (default: the file's base name
   * without extension) and version "1"; without one, under the newest version of keys.name.
   */
  static async load(config: SealcamConfig, keyFile: string | undefined, keyName: string | undefined): Promise<CryptKeys> {
    if (keyFile === undefined) return new CryptKeys(config);
    const key = await readKeyFile(keyFile);
    return new CryptKeys(config, { key, name: keyName ?? (basename(keyFile, extname(keyFile)) || 'key'), path: keyFile });
  }

  /** The -k file as the user gave it, for messages (a wrong key names the file that was passed). */
  get keyFilePath(): string | undefined {
    return this.file?.path;
  }

  /** The key file's key, for the raw layout, which records no key name. */
  fileKey(why: string): Uint8Array {
    if (this.file === undefined) throw new SealcamError('ENOKEY', `${why} needs -k/--key-file: the raw layout records no key name to look up`);
    return this.file.key;
  }

  /** The key new files are sealed under (created on first use when it comes from the provider). */
  async sealing(): Promise<SealingKey> {
    if (this.file !== undefined) return { key: this.file.key, name: this.file.name, version: '1' };
    const { kek, keyId, keyVersion } = await this.cache.current(this.keyName);
    return { key: kek, name: keyId, version: keyVersion };
  }

  /** Looks up the key a header or sidecar names: exactly that version, so files sealed before a rotation still open. */
  readonly lookup: KeyLookup = async (name, version) => (this.file !== undefined ? this.file.key : this.cache.get(name, version));

  /** Wipes every key this run fetched. */
  async wipe(): Promise<void> {
    this.file?.key.fill(0);
    await this.cache.wipe();
  }
}
